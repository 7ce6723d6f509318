//! Differential tester for bsq.
//!
//! Everything here is written from the documentation only (`docs/artifact.md`, the file format and its
//! validation rules; `docs/runtime.md`, the integer semantics), never from the source of `bsq-codegen` or
//! `bsq-runtime`, so that a disagreement between this crate and the implementation points at a bug in one
//! of them (or at a gap in the documentation) instead of at a shared misunderstanding.
//!
//! - [`generate`]: random, valid model artifacts (`*.bsq.json`) and network inputs, deterministic per seed;
//! - [`spec`]: the independent model of the integer contract.

pub mod generate;
pub mod spec;
