//! The bsq suite on a Nordic nRF52840-DK: every case and codegen fixture that fits, `BSQ` lines over
//! defmt-rtt, cost in core cycles (DWT CYCCNT). LED1 blinks once at start; afterwards it stays on if every
//! item passed and blinks fast if one failed; then the firmware stops at a breakpoint (`probe-rs run`
//! returns).
#![no_std]
#![no_main]

use bsq_board::led::StatusLed;
use bsq_board::suite::Workspace;
use nrf52840_hal::{Timer, gpio::Level, pac};

mod suite {
    include!(concat!(env!("OUT_DIR"), "/suite.rs"));
}

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut ARENA: [u8; suite::ARENA_BYTES] = [0; suite::ARENA_BYTES];
    static mut SCRATCH: [i16; suite::SCRATCH_LEN] = [0; suite::SCRATCH_LEN];
    let Some(p) = pac::Peripherals::take() else { bsq_board::exit(bsq_board::EXIT_FAILURE) };
    let port0 = nrf52840_hal::gpio::p0::Parts::new(p.P0);
    // LED1 (P0.13) is active low.
    let mut led = StatusLed::new(port0.p0_13.into_push_pull_output(Level::High), true);
    let mut timer = Timer::new(p.TIMER0);
    led.hello(&mut timer);

    let mut ws = Workspace { arena: ARENA, scratch: SCRATCH };
    let errors = bsq_board::suite::run_items(&suite::MACHINE, "suite", &suite::ITEMS, &suite::SKIPPED, &mut ws);
    led.finish(errors, &mut timer)
}
