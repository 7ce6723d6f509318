//! # bsq-board
//!
//! What every bsq firmware shares, so that a firmware binary is a few lines: pick the machine, hand the
//! generated suite to [`suite::run`], exit.
//!
//! * [`led`]: pass/fail on a board LED (real boards);
//! * [`log`]: text lines over semihosting (QEMU, `probe-rs run`) or defmt-rtt (feature `defmt`);
//! * [`exit`]: end the run with an exit code (semihosting `SYS_EXIT`, any code);
//! * panic and HardFault handlers that print a `BSQ panic …` / `BSQ hardfault …` line and exit with
//!   [`EXIT_PANIC`] / [`EXIT_HARDFAULT`]: a firmware never hangs on an error;
//! * [`cost`]: a deterministic cost counter (SysTick under QEMU `-icount`, DWT CYCCNT with feature `dwt`);
//! * [`marker`]: the `#[inline(never)]` functions `bsq_mark_start` / `bsq_mark_stop` around each measured
//!   inference, for the exact-count QEMU plugin;
//! * [`protocol`]: the `BSQ …` line protocol the host harness parses (`docs/boards.md`);
//! * [`suite`]: a tiny interpreter for build-time generated kernel test cases and the suite runner.
#![no_std]
#![deny(missing_docs)]

#[cfg(all(feature = "semihosting", feature = "defmt"))]
compile_error!(
    "features `semihosting` and `defmt` select two loggers: enable one (default-features = false for defmt)"
);

pub mod cost;
mod handlers;
pub mod led;
pub mod log;
pub mod marker;
pub mod protocol;
pub mod suite;

pub use handlers::{EXIT_FAILURE, EXIT_HARDFAULT, EXIT_PANIC, exit};

/// The machine or board a firmware runs on, as the host names it (`-machine` for QEMU).
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// Name (`lm3s6965evb`, `mps2-an386`, …; `nrf52840-dk` for real boards).
    pub name: &'static str,
}
