//! Pass/fail on a board LED (real boards): one blink at start, then on if every item passed, ten fast
//! blinks if one failed.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;

/// A status LED.
pub struct StatusLed<P> {
    pin: P,
    active_low: bool,
}

impl<P: OutputPin> StatusLed<P> {
    /// Wraps an output pin; `active_low` for an LED wired to the supply (lit when the pin is low).
    pub fn new(pin: P, active_low: bool) -> Self {
        Self { pin, active_low }
    }

    fn set(&mut self, on: bool) {
        // A failing GPIO write cannot be reported anywhere better than the result lines: ignore it.
        let _ = if on != self.active_low { self.pin.set_high() } else { self.pin.set_low() };
    }

    /// One 200 ms blink: the firmware started.
    pub fn hello(&mut self, delay: &mut impl DelayNs) {
        self.set(true);
        delay.delay_ms(200);
        self.set(false);
    }

    /// Shows the result of a run with `errors` failed items (on: pass; ten fast blinks: fail) and ends the
    /// run with the matching exit code.
    pub fn finish(mut self, errors: usize, delay: &mut impl DelayNs) -> ! {
        if errors == 0 {
            self.set(true);
        } else {
            for _ in 0..10 {
                self.set(true);
                delay.delay_ms(100);
                self.set(false);
                delay.delay_ms(100);
            }
        }
        crate::exit(if errors == 0 { 0 } else { crate::EXIT_FAILURE })
    }
}
