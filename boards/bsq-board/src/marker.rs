//! Marker functions around each measured inference.
//!
//! The exact-count QEMU plugin (`insncount.c`, see `docs/boards.md`) counts the instructions executed
//! between entering [`bsq_mark_start`] and entering [`bsq_mark_stop`]; the host finds both by symbol name.
//! They are `#[inline(never)]`, exported unmangled, and have different bodies so that no linker merges them.

use core::sync::atomic::{AtomicU32, Ordering, compiler_fence};

static LAST_START: AtomicU32 = AtomicU32::new(u32::MAX);
static LAST_STOP: AtomicU32 = AtomicU32::new(u32::MAX);

/// Entered just before measured region `region` (0, 1, 2, … in the order of the `BSQ … region=` lines).
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bsq_mark_start(region: u32) {
    // black_box: the store must survive LTO, or both functions become `bx lr` and the linker merges them.
    core::hint::black_box(&LAST_START).store(region, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

/// Entered just after measured region `region`.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bsq_mark_stop(region: u32) {
    compiler_fence(Ordering::SeqCst);
    core::hint::black_box(&LAST_STOP).store(region, Ordering::Relaxed);
}
