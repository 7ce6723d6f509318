//! # bsq-codegen
//!
//! Compiles a BSQ model artifact ([`artifact`]) into `no_std` Rust source with packed weights, fixed-point
//! multipliers and a static memory plan, the way prost-build turns `.proto` files into Rust.
//!
//! Stages, one module each: [`artifact`] (schema, load/save) → [`validate`] → lower → plan → emit.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod artifact;
mod builder;
pub mod emit;
mod error;
pub mod exec;
pub mod fixtures;
mod io;
pub mod lower;
pub mod plan;
pub mod report;
pub mod validate;

pub use artifact::Artifact;
pub use builder::{Builder, Generated, sanitize};
pub use error::{ArtifactError, CodegenError};
pub use exec::{Compiled, Executor, compile};
pub use io::write_atomic;
