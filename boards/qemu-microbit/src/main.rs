//! The bsq suite on QEMU `-machine microbit` (Cortex-M0 (BBC micro:bit, nRF51822)): every case that fits the board, output bytes
//! and per-layer checksums in `BSQ` lines (see `docs/boards.md`), exit code 0 when all ran.
#![no_std]
#![no_main]

use bsq_board::suite::Workspace;

mod suite {
    include!(concat!(env!("OUT_DIR"), "/suite.rs"));
}

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut ARENA: [u8; suite::ARENA_BYTES] = [0; suite::ARENA_BYTES];
    static mut SCRATCH: [i16; suite::SCRATCH_LEN] = [0; suite::SCRATCH_LEN];
    let mut ws = Workspace { arena: ARENA, scratch: SCRATCH };
    bsq_board::suite::run(&suite::MACHINE, "suite", &suite::ITEMS, &suite::SKIPPED, &mut ws)
}
