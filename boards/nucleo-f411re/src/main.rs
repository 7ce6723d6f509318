//! The bsq suite on an ST NUCLEO-F411RE: every case and codegen fixture that fits, `BSQ` lines over
//! defmt-rtt, cost in core cycles (DWT CYCCNT) at 84 MHz from the HSI. LD2 blinks once at start;
//! afterwards it stays on if every item passed and blinks fast if one failed; then the firmware stops at a
//! breakpoint (`probe-rs run` returns).
#![no_std]
#![no_main]

use bsq_board::led::StatusLed;
use bsq_board::suite::Workspace;
use stm32f4xx_hal::{pac, prelude::*, rcc::Config};

mod suite {
    include!(concat!(env!("OUT_DIR"), "/suite.rs"));
}

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut ARENA: [u8; suite::ARENA_BYTES] = [0; suite::ARENA_BYTES];
    static mut SCRATCH: [i16; suite::SCRATCH_LEN] = [0; suite::SCRATCH_LEN];
    let Some(dp) = pac::Peripherals::take() else { bsq_board::exit(bsq_board::EXIT_FAILURE) };
    let mut rcc = dp.RCC.freeze(Config::hsi().sysclk(84.MHz()));
    let gpioa = dp.GPIOA.split(&mut rcc);
    // LD2 (PA5) is active high.
    let mut led = StatusLed::new(gpioa.pa5.into_push_pull_output(), false);
    let mut delay = dp.TIM5.delay_us(&mut rcc);
    led.hello(&mut delay);

    let mut ws = Workspace { arena: ARENA, scratch: SCRATCH };
    let errors = bsq_board::suite::run_items(&suite::MACHINE, "suite", &suite::ITEMS, &suite::SKIPPED, &mut ws);
    led.finish(errors, &mut delay)
}
