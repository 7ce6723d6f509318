//! Cost counter.
//!
//! * Default: SysTick on the core clock, 24-bit, with a wrap interrupt extending it to 64 bits. Under QEMU
//!   with `-icount shift=0,align=off,sleep=off` every instruction takes 1 ns of virtual time, so a tick is a
//!   fixed number of instructions per machine (mps2 boards at 25 MHz: 40; lm3s6965evb: 80; microbit: 62.5;
//!   mps2-an505: 50) and counts are identical on every run. Without `-icount` they vary several-fold.
//! * Feature `dwt`: DWT CYCCNT, core cycles on real ARMv7-M / ARMv8-M.main silicon (QEMU reads it as 0).

/// Name of the clock reported in `BSQ … ticks=` lines (`systick` or `dwt`).
pub const CLOCK: &str = if cfg!(feature = "dwt") { "dwt" } else { "systick" };

#[cfg(not(feature = "dwt"))]
mod imp {
    use core::sync::atomic::{AtomicU32, Ordering};
    use cortex_m::peripheral::{SYST, syst::SystClkSource};
    use cortex_m_rt::exception;

    const RELOAD: u32 = 0x00ff_ffff;
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[exception]
    fn SysTick() {
        // Only this handler writes WRAPS (load/store: ARMv6-M has no atomic read-modify-write).
        WRAPS.store(WRAPS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    pub fn init() {
        // SAFETY: called once at start-up, before anything else uses SysTick.
        let mut p = unsafe { cortex_m::Peripherals::steal() };
        p.SYST.set_clock_source(SystClkSource::Core);
        p.SYST.set_reload(RELOAD);
        p.SYST.clear_current();
        p.SYST.enable_interrupt();
        p.SYST.enable_counter();
    }

    pub fn now() -> u64 {
        loop {
            let w1 = WRAPS.load(Ordering::Relaxed);
            let cur = SYST::get_current();
            let w2 = WRAPS.load(Ordering::Relaxed);
            if w1 == w2 {
                return ((w1 as u64) << 24) | (RELOAD - cur) as u64;
            }
        }
    }
}

#[cfg(feature = "dwt")]
mod imp {
    use cortex_m::peripheral::DWT;

    pub fn init() {
        // SAFETY: called once at start-up, before anything else uses DCB/DWT.
        let mut p = unsafe { cortex_m::Peripherals::steal() };
        p.DCB.enable_trace();
        DWT::unlock();
        p.DWT.enable_cycle_counter();
    }

    pub fn now() -> u64 {
        DWT::cycle_count() as u64
    }
}

/// Starts the counter. Call once at start-up.
pub fn init() {
    imp::init()
}

/// The current count (SysTick ticks since [`init`], or CYCCNT).
pub fn now() -> u64 {
    imp::now()
}
