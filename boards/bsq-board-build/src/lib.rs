//! # bsq-board-build
//!
//! The host side of the firmware suite, used by two consumers so that both see exactly the same data:
//!
//! * firmware build scripts ([`build_firmware`]): link setup (`memory.x`, `-Tlink.x`) and the generated
//!   `suite.rs` / `bench.rs` with the cases that fit the board's budgets;
//! * the host harness (`bsq-tests`): the [`boards`] table, the same cases ([`catalog`]), which of them a
//!   board runs ([`select`]) and their reference results ([`case::CaseDef::run_host`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod boards;
pub mod case;
pub mod catalog;
mod emit;
pub mod rng;

pub use boards::{Board, QEMU_BOARDS, board};
pub use case::{CaseDef, LayerOutput};

use std::path::{Path, PathBuf};

/// The cases a board runs, and those left out with the reason: `(run, [(name, reason)])`.
pub type Selection = (Vec<CaseDef>, Vec<(String, String)>);

/// Splits `cases` into those that fit `board`'s budgets (flash: cumulative; RAM: the largest arena) and
/// those left out, each with a reason.
pub fn select(board: &Board, cases: Vec<CaseDef>) -> Result<Selection, bsq_runtime::Error> {
    let (mut kept, mut skipped) = (Vec::new(), Vec::new());
    let mut flash_used = 0;
    for case in cases {
        let (flash, ram) = (case.flash_bytes()?, case.ram_bytes()?);
        if ram > board.ram_budget() {
            let reason = format!("needs {ram} bytes of RAM, budget {}", board.ram_budget());
            skipped.push((case.name, reason));
        } else if flash_used + flash > board.flash_budget() {
            let reason = format!(
                "needs {flash} bytes of flash, {} left of budget {}",
                board.flash_budget() - flash_used,
                board.flash_budget()
            );
            skipped.push((case.name, reason));
        } else {
            flash_used += flash;
            kept.push(case);
        }
    }
    Ok((kept, skipped))
}

/// The suite firmware's cases on `board`: (run, skipped).
pub fn suite_cases(board: &Board) -> Result<Selection, bsq_runtime::Error> {
    select(board, catalog::selftest())
}

/// The benchmark firmware's cases on `board`: (run, skipped).
pub fn bench_cases(board: &Board) -> Result<Selection, bsq_runtime::Error> {
    select(board, catalog::bench())
}

/// Writes `path` only if its content changes (keeps cargo from rebuilding needlessly).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes)
}

/// The whole build script of a firmware crate in `boards/<krate>`:
///
/// * copies the crate's `memory.x` to `OUT_DIR`, adds it to the linker search path, links with `-Tlink.x`;
/// * writes `$OUT_DIR/suite.rs` (and `$OUT_DIR/bench.rs` for boards with a benchmark firmware).
pub fn build_firmware(krate: &str) -> Result<(), Box<dyn std::error::Error>> {
    let board = board(krate).ok_or_else(|| format!("no board named {krate} in bsq-board-build's table"))?;
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let memory = manifest.join("memory.x");
    write_if_changed(
        &out.join("memory.x"),
        &std::fs::read(&memory).map_err(|e| format!("{}: {e}", memory.display()))?,
    )?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", memory.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg=-Tlink.x");

    let (cases, skipped) = suite_cases(board)?;
    emit::write_suite(&out, "suite", board.machine, &cases, &skipped)?;
    if board.bench {
        let (cases, skipped) = bench_cases(board)?;
        emit::write_suite(&out, "bench", board.machine, &cases, &skipped)?;
    }
    Ok(())
}
