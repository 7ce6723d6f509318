//! Single-layer benchmark cases (DESIGN §7 shapes, weight widths 1..=8) on QEMU `-machine mps2-an386`;
//! run by `bench-qemu` with the exact-count plugin.
#![no_std]
#![no_main]

use bsq_board::suite::Workspace;

mod bench {
    include!(concat!(env!("OUT_DIR"), "/bench.rs"));
}

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut ARENA: [u8; bench::ARENA_BYTES] = [0; bench::ARENA_BYTES];
    static mut SCRATCH: [i16; bench::SCRATCH_LEN] = [0; bench::SCRATCH_LEN];
    let mut ws = Workspace { arena: ARENA, scratch: SCRATCH };
    bsq_board::suite::run(&bench::MACHINE, "bench", &bench::ITEMS, &bench::SKIPPED, &mut ws)
}
