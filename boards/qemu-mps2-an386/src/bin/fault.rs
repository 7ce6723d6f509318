//! Harness check: executes an undefined instruction; the HardFault handler prints `BSQ hardfault …` and
//! exits with code 102.
#![no_std]
#![no_main]

use bsq_board as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    bsq_board::protocol::begin("mps2-an386", "fault", 0);
    cortex_m::asm::udf()
}
