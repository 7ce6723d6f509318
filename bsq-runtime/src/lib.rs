//! # bsq-runtime
//!
//! Integer-only inference kernels for networks quantized by BSQ, running unchanged on the host and on
//! Cortex-M (`no_std`, no heap, no floats).
//!
//! * Weights are stored **packed** at each layer's own bit width (see [`pack`] and `docs/packing.md`).
//! * Activations are `u8` bytes: unsigned `a`-bit values (zero point 0), or — only for tensors that feed
//!   residual adds, pooling or the network output — signed two's-complement bytes ([`OutputStage::signed`]).
//! * Accumulation is in `i32`; requantization is TFLM's "double rounding" ([`requant`]).
//!
//! Every kernel has a simple reference version in [`reference`](mod@reference) and a fast version at the crate root; both
//! share one contract and give identical bytes (checked by property tests).
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod arena;
#[allow(unsafe_code)]
mod dsp;
mod error;
pub mod kernels;
pub mod pack;
pub mod reference;
pub mod requant;
mod shapes;

pub use error::Error;
pub use kernels::*;
pub use pack::PackedWeights;
pub use requant::{OutputStage, Requant};
pub use shapes::{Conv2dShape, GroupedConv2dShape, MAX_POOL_WINDOW, PadShape, PoolShape};

/// Version of the packed-weight layout and of the kernel contract. Generated model code checks at compile
/// time that it was generated for this version.
pub const FORMAT_VERSION: u32 = 1;

/// FNV-1a (32-bit) checksum of a byte slice: the per-layer checksum reported by firmware and host alike.
pub const fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}
