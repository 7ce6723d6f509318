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
pub mod models;
pub mod rng;

pub use boards::{Board, QEMU_BOARDS, REAL_BOARDS, board};
pub use case::{CaseDef, LayerOutput};
pub use models::ModelDef;

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

/// What a board's suite firmware runs: kernel self-test cases, then generated models (codegen fixtures),
/// and what was left out.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Kernel cases (static data, interpreted).
    pub cases: Vec<CaseDef>,
    /// Generated models.
    pub models: Vec<ModelDef>,
    /// Left out: (name, reason), cases first.
    pub skipped: Vec<(String, String)>,
}

/// One item's expected results on the device (from the host).
#[derive(Debug, Clone)]
pub struct Expected {
    /// Item name.
    pub name: String,
    /// Whether the device prints the whole output.
    pub print_out: bool,
    /// Every layer's output, in execution order.
    pub layers: Vec<LayerOutput>,
    /// The network output: the last layer's bytes for a kernel case, the artifact's `output` tensor for a
    /// generated model (which need not be the last layer).
    pub output: Vec<u8>,
}

/// The host results of kernel cases.
pub fn expected_cases(cases: &[CaseDef]) -> Result<Vec<Expected>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for c in cases {
        let layers = c.run_host().map_err(|e| format!("host run of {}: {e}", c.name))?;
        let output = layers.last().map(|l| l.bytes.clone()).unwrap_or_default();
        out.push(Expected { name: c.name.clone(), print_out: c.print_out, layers, output });
    }
    Ok(out)
}

impl Suite {
    /// The host results of every item, in firmware order.
    pub fn expected(&self) -> Result<Vec<Expected>, Box<dyn std::error::Error>> {
        let mut out = expected_cases(&self.cases)?;
        for m in &self.models {
            let (layers, output) = m.run_host().map_err(|e| format!("host run of {}: {e}", m.name))?;
            out.push(Expected { name: m.name.clone(), print_out: true, layers, output });
        }
        Ok(out)
    }
}

/// The suite firmware's content on `board`: the self-test cases that fit, then every codegen fixture whose
/// flash (cumulative) and RAM (arena + scratch, on the stack beside the cases' static arena) fit the
/// board's budgets. Skip reasons are codegen's budget messages.
pub fn suite(board: &Board) -> Result<Suite, Box<dyn std::error::Error>> {
    let (cases, mut skipped) = select(board, catalog::selftest())?;
    let mut flash_left = board.flash_budget();
    let mut static_ram = 0;
    for c in &cases {
        flash_left = flash_left.saturating_sub(c.flash_bytes()?);
        static_ram = static_ram.max(c.ram_bytes()?);
    }
    let mut models = Vec::new();
    let user = models::user_model().transpose()?;
    let user_name = user.as_ref().map(|m| m.name.clone());
    for m in user.into_iter().chain(models::fixtures()?) {
        let ram_left = board.ram_budget().saturating_sub(static_ram.max(m.compiled.output_len()));
        match m.report.check_budget(Some(flash_left), Some(ram_left)) {
            Ok(()) => {
                flash_left -= m.report.flash_bytes;
                models.push(m);
            }
            // The user's own model must fit: refuse the build with codegen's budget message.
            Err(e) if user_name.as_deref() == Some(m.name.as_str()) && models.is_empty() => {
                return Err(format!("BSQ_MODEL {}: {e}", m.path.display()).into());
            }
            Err(e) => skipped.push((m.name.clone(), e.to_string().replace('\n', " "))),
        }
    }
    Ok(Suite { cases, models, skipped })
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
    if board.defmt {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }

    println!("cargo:rerun-if-changed={}", models::fixtures_dir().display());
    println!("cargo:rerun-if-env-changed=BSQ_MODEL");
    if let Some(p) = std::env::var_os("BSQ_MODEL") {
        println!("cargo:rerun-if-changed={}", PathBuf::from(p).display());
    }
    let suite = suite(board)?;
    let mut flash_left = board.flash_budget();
    for c in &suite.cases {
        flash_left = flash_left.saturating_sub(c.flash_bytes()?);
    }
    for m in &suite.models {
        bsq_codegen::Builder::new(&m.path)
            .module_name(m.module())
            .out_dir(&out)
            .flash_budget(flash_left)
            .ram_budget(board.ram_budget())
            .generate()
            .map_err(|e| format!("{}: {e}", m.path.display()))?;
        flash_left -= m.report.flash_bytes;
    }
    emit::write_suite(&out, "suite", board.machine, &suite.cases, &suite.models, &suite.skipped)?;
    if board.bench {
        let (cases, skipped) = bench_cases(board)?;
        emit::write_suite(&out, "bench", board.machine, &cases, &[], &skipped)?;
    }
    Ok(())
}
