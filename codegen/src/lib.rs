//! # bsq-codegen
//!
//! Compiles a BSQ model artifact ([`artifact`]) into `no_std` Rust source with packed weights, fixed-point
//! multipliers and a static memory plan, the way prost-build turns `.proto` files into Rust.
//!
//! Stages, one module each: [`artifact`] (schema, load/save) → [`validate`] → lower → plan → emit.
//!
//! Features (all off by default, so a firmware's build-dependency compiles only the compiler): `cli` (the
//! `bsq-codegen` command, clap), `fixtures` (deterministic example models and inputs), `plot` (SVG plots
//! with plotters).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod artifact;
mod builder;
pub mod desc;
pub mod emit;
mod error;
pub mod exec;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod io;
pub mod lower;
pub mod plan;
#[cfg(feature = "plot")]
pub mod plot;
#[cfg(feature = "fixtures")]
pub mod random;
pub mod report;
pub mod validate;

pub use artifact::Artifact;
pub use builder::{Builder, Generated, sanitize};
pub use error::{ArtifactError, CodegenError};
pub use exec::{Compiled, Executor, compile};
pub use io::write_atomic;
