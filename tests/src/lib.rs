//! # bsq-tests
//!
//! The host side of the device suite (`docs/boards.md`) and the integration tests: build a firmware from
//! `boards/`, run it under `qemu-system-arm`, and compare its `BSQ` lines with the host's results and the
//! golden files. This crate sits on top of the crate graph: it depends on everything, nothing depends on
//! it. The QEMU runner, the line protocol, the comparison and `simulate` live in `bsq-sim` (re-exported
//! here under their old paths).
//!
//! * [`firmware`]: build a firmware crate (`cargo build --release` inside `boards/<crate>`), once per process;
//! * [`check`]: the whole check of one device run against the host and the goldens;
//! * [`golden`]: golden files under `tests/golden/`, re-blessed from host results with `BSQ_BLESS=1`;
//! * [`qemu`], [`protocol`], [`compare`], [`elf`], [`simulate`]: from `bsq-sim`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod check;
pub mod firmware;
pub mod golden;
pub mod insn;

pub use bsq_board_build::{Board, QEMU_BOARDS, REAL_BOARDS};
pub use bsq_sim::{EXIT_HARDFAULT, EXIT_PANIC, Error, board_for_machine, compare, elf, protocol, qemu, simulate};

use std::path::PathBuf;

/// Repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".."))
}
