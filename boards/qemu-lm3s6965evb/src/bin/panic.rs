//! Harness check: panics on purpose; the panic handler prints `BSQ panic …` and exits with code 101.
#![no_std]
#![no_main]

use bsq_board as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    bsq_board::protocol::begin("lm3s6965evb", "panic", 0);
    let index = core::hint::black_box(7usize);
    panic!("deliberate panic (index {index})")
}
