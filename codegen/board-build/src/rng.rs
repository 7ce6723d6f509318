//! The deterministic generator of the cases: codegen's SplitMix64 (one implementation for fixtures and
//! cases; same numbers on every host).

pub use bsq_codegen::fixtures::Rng;
