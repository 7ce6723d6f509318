//! # bsq-codegen
//!
//! Compiles a BSQ model artifact ([`artifact`]) into `no_std` Rust source with packed weights, fixed-point
//! multipliers and a static memory plan, the way prost-build turns `.proto` files into Rust.
//!
//! Stages, one module each: [`artifact`] (schema, load/save) → [`validate`] → lower → plan → emit.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod artifact;
mod error;
mod io;
pub mod validate;

pub use artifact::Artifact;
pub use error::ArtifactError;
pub use io::write_atomic;
