//! Exit codes, the panic handler and the HardFault handler: every error ends the run with a failure code.

use cortex_m_rt::{ExceptionFrame, exception};

/// Exit code of a firmware whose suite reported an error (a kernel error or a self-check that failed).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code after a panic.
pub const EXIT_PANIC: i32 = 101;
/// Exit code after a HardFault.
pub const EXIT_HARDFAULT: i32 = 102;

/// Ends the run with `code` (0 = success).
///
/// With `semihosting`: `SYS_EXIT` with the code (QEMU exits with it; `probe-rs run` forwards it). With
/// `defmt` only: prints `BSQ exit code=<code>` and stops at a breakpoint (the probe-rs convention).
pub fn exit(code: i32) -> ! {
    #[cfg(feature = "semihosting")]
    semihosting::process::exit(code);
    #[cfg(not(feature = "semihosting"))]
    {
        crate::line!("BSQ exit code={}", code);
        loop {
            cortex_m::asm::bkpt();
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    crate::line!("BSQ panic {}", info);
    exit(EXIT_PANIC)
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    crate::line!("BSQ hardfault pc={:#010x} lr={:#010x} xpsr={:#010x}", ef.pc(), ef.lr(), ef.xpsr());
    exit(EXIT_HARDFAULT)
}
