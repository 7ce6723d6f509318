//! The bsq suite on a Raspberry Pi Pico (RP2040, Cortex-M0+ at 125 MHz): every case and codegen fixture
//! that fits, `BSQ` lines over defmt-rtt, cost in SysTick ticks (core clock; the M0+ has no cycle
//! counter). The LED blinks once at start; afterwards it stays on if every item passed and blinks fast if
//! one failed; then the firmware stops at a breakpoint (`probe-rs run` returns).
#![no_std]
#![no_main]

use bsq_board::led::StatusLed;
use bsq_board::suite::Workspace;
use rp_pico::hal::{self, pac};

mod suite {
    include!(concat!(env!("OUT_DIR"), "/suite.rs"));
}

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut ARENA: [u8; suite::ARENA_BYTES] = [0; suite::ARENA_BYTES];
    static mut SCRATCH: [i16; suite::SCRATCH_LEN] = [0; suite::SCRATCH_LEN];
    let Some(mut pac) = pac::Peripherals::take() else { bsq_board::exit(bsq_board::EXIT_FAILURE) };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        rp_pico::XOSC_CRYSTAL_FREQ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        bsq_board::exit(bsq_board::EXIT_FAILURE)
    };
    let mut timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    let sio = hal::Sio::new(pac.SIO);
    let pins = rp_pico::Pins::new(pac.IO_BANK0, pac.PADS_BANK0, sio.gpio_bank0, &mut pac.RESETS);
    let mut led = StatusLed::new(pins.led.into_push_pull_output(), false);
    led.hello(&mut timer);

    let mut ws = Workspace { arena: ARENA, scratch: SCRATCH };
    let errors = bsq_board::suite::run_items(&suite::MACHINE, "suite", &suite::ITEMS, &suite::SKIPPED, &mut ws);
    led.finish(errors, &mut timer)
}
