//! # bsq-cli
//!
//! The library behind the `bsq` command: [`deploy`] (codegen, evaluation, reports, simulation, flashing —
//! no Burn) and, with the default `train` feature, [`demo`] (training through simulation in one command).
//! Training itself is the `bsq-train` crate.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "train")]
pub mod demo;
pub mod deploy;
