//! Harness check: never exits; the host must kill it after its timeout and report it.
#![no_std]
#![no_main]

use bsq_board as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    bsq_board::protocol::begin("mps2-an505", "hang", 0);
    loop {
        cortex_m::asm::nop();
    }
}
