//! The rest of the path after training, for the `bsq` CLI: codegen, integer evaluation, reports (with an
//! SVG plot of the scheme), simulation on QEMU, flashing a real board, and the end-to-end demo.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bsq_codegen::{Artifact, Builder, Executor, Generated, compile, report::report};
use bsq_tests::simulate::{SimOptions, SimResult, simulate as qemu_simulate};

use crate::data::{self, Dataset, DatasetKind};
use crate::model::Arch;
use crate::training::{Summary, TrainConfig, train};

/// Errors of the pipeline commands; each says what to do next where it can.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The artifact could not be loaded or compiled.
    #[error(transparent)]
    Codegen(#[from] bsq_codegen::CodegenError),
    /// The artifact could not be loaded.
    #[error(transparent)]
    Artifact(#[from] bsq_codegen::ArtifactError),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] crate::training::TrainError),
    /// Building or running firmware failed (QEMU missing: the message names the install command).
    #[error("{0}")]
    Device(String),
    /// The dataset does not fit the model.
    #[error("{0}")]
    Mismatch(String),
    /// A file could not be written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Re-exports the artifact of a finished run from its checkpoint (`RUN/ckpt/state.json` and the files it names):
/// re-calibrates the static activation scales, re-evaluates (fake-quant and integer) and writes
/// `RUN/model.bsq.json`, `scheme.txt` and `summary.json` — and a copy at `to` if given. The run's own
/// configuration (dataset, model, seed) is read from the checkpoint.
pub fn export(run: &Path, to: Option<&Path>) -> Result<Summary, PipelineError> {
    let state_path = run.join("ckpt").join("state.json");
    if !state_path.is_file() {
        return Err(PipelineError::Io {
            path: state_path,
            message: format!("no checkpoint (is {} the --out directory of a `bsq train` run?)", run.display()),
        });
    }
    let state = crate::training::read_state(&state_path)?;
    if !state.finished(&state.config) {
        return Err(PipelineError::Mismatch(format!(
            "{}: training is not finished ({:?} epoch {}); finish it with `bsq train --out {} --resume`",
            run.display(),
            state.phase,
            state.epoch,
            run.display()
        )));
    }
    let mut cfg = state.config;
    cfg.resume = true;
    cfg.out = run.to_path_buf();
    cfg.summary_json = None;
    let summary = train(&cfg)?;
    if let Some(to) = to {
        let bytes = std::fs::read(&summary.artifact)
            .map_err(|e| PipelineError::Io { path: summary.artifact.clone(), message: e.to_string() })?;
        bsq_codegen::write_atomic(to, &bytes)
            .map_err(|e| PipelineError::Io { path: to.into(), message: e.to_string() })?;
    }
    Ok(summary)
}

/// Flash and RAM of a QEMU machine, for `--board` budgets: `(flash, ram)` minus code/stack reserves.
pub fn machine_budget(machine: &str) -> Option<(usize, usize)> {
    bsq_tests::board_for_machine(machine).map(|b| (b.flash_budget(), b.ram_budget()))
}

/// Generates `out` (a `.rs` file) from `artifact`, refusing models over the budgets.
pub fn codegen(
    artifact: &Path,
    out: &Path,
    flash: Option<usize>,
    ram: Option<usize>,
) -> Result<Generated, PipelineError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::Io { path: dir.into(), message: e.to_string() })?;
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let artifact = std::path::absolute(artifact).unwrap_or_else(|_| artifact.to_path_buf());
    let mut b = Builder::new(artifact).cargo_metadata(false).out_dir(dir).module_name(stem);
    if let Some(f) = flash {
        b = b.flash_budget(f);
    }
    if let Some(r) = ram {
        b = b.ram_budget(r);
    }
    Ok(b.generate()?)
}

/// Integer accuracy (percent) of `artifact` on the held-out split of a dataset, run by the host executor
/// (the bytes every device must reproduce). `limit` = 0: the whole split.
pub fn eval(
    artifact: &Path,
    kind: DatasetKind,
    data_dir: Option<&Path>,
    limit: usize,
) -> Result<(f64, usize), PipelineError> {
    let a = Artifact::load(artifact)?;
    let test = held_out(kind, data_dir, limit)?;
    check_fits(&a, &test)?;
    let mut ex = Executor::new(&a)?;
    let acc = ex.accuracy((0..test.len()).map(|i| (test.image(i), test.labels[i] as usize)))?;
    Ok((acc, test.len()))
}

fn held_out(kind: DatasetKind, data_dir: Option<&Path>, limit: usize) -> Result<Dataset, PipelineError> {
    let splits = data::load(kind, data_dir, 1, 4000)?;
    Ok(if limit > 0 && limit < splits.test.len() { splits.test.take(limit) } else { splits.test })
}

fn check_fits(a: &Artifact, ds: &Dataset) -> Result<(), PipelineError> {
    if a.input.shape != ds.shape {
        return Err(PipelineError::Mismatch(format!(
            "the model `{}` takes {:?} (HWC) images but the dataset has {:?}",
            a.name, a.input.shape, ds.shape
        )));
    }
    Ok(())
}

/// The report of an artifact: provenance, scheme and memory report; optionally an SVG plot of bits per
/// layer written to `svg`.
pub fn report_text(artifact: &Path, svg: Option<&Path>) -> Result<String, PipelineError> {
    let a = Artifact::load(artifact)?;
    let r = report(&compile(&a)?);
    let mut s = String::new();
    let p = &a.provenance;
    let _ = writeln!(s, "model `{}` — {} ({}), created {}", a.name, p.tool, p.dataset, p.created);
    let acc = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.2}%"));
    let _ = writeln!(
        s,
        "accuracy: float {}, fake-quant {}, integer {}; alpha {}",
        acc(p.accuracy.float),
        acc(p.accuracy.fake_quant),
        acc(p.accuracy.integer),
        p.alpha.map_or("n/a".into(), |a| format!("{a:e}"))
    );
    let _ = writeln!(s, "{r}");
    if let Some(path) = svg {
        let rows: Vec<(String, u8, usize)> =
            a.derived_scheme().into_iter().map(|e| (e.layer, e.bits, e.params)).collect();
        bsq_codegen::write_atomic(path, bits_svg(&a.name, &rows).as_bytes())
            .map_err(|e| PipelineError::Io { path: path.into(), message: e.to_string() })?;
        let _ = writeln!(s, "plot: {}", path.display());
    }
    Ok(s)
}

/// An SVG bar chart of weight bits per layer (bar width ∝ log of the layer's weights).
pub fn bits_svg(title: &str, rows: &[(String, u8, usize)]) -> String {
    let (w, bar_h, left, top) = (640.0, 22.0, 150.0, 40.0);
    let h = top + bar_h * rows.len() as f64 + 40.0;
    let unit = (w - left - 60.0) / 8.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">{} — weight bits per layer</text>\n",
        xml(title)
    );
    for b in 0..=8 {
        let x = left + unit * b as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{b}</text>",
            h - 30.0,
            h - 15.0
        );
    }
    for (i, (name, bits, params)) in rows.iter().enumerate() {
        let y = top + bar_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#3b7dd8\"/><text x=\"{}\" y=\"{}\">{bits} b · {params}</text>",
            left - 6.0,
            y + 15.0,
            xml(name),
            y + 3.0,
            unit * *bits as f64,
            bar_h - 6.0,
            left + unit * *bits as f64 + 4.0,
            y + 15.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Escapes `&`, `<` and `>` for SVG text content.
pub(crate) fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Simulates `artifact` on a QEMU machine. Inputs: the first `count` held-out images of `dataset` (then
/// the device accuracy on them is reported), or deterministic inputs when `dataset` is `None`.
pub fn simulate(
    artifact: &Path,
    machine: &str,
    dataset: Option<(DatasetKind, Option<&Path>)>,
    count: usize,
) -> Result<(SimResult, Option<f64>), PipelineError> {
    let a = Artifact::load(artifact)?;
    let signed = compile(&a)?.output_signed();
    let (inputs, labels) = match dataset {
        Some((kind, dir)) => {
            let test = held_out(kind, dir, count.max(1))?;
            check_fits(&a, &test)?;
            ((0..test.len()).map(|i| test.image(i).to_vec()).collect(), Some(test.labels))
        }
        None => (Vec::new(), None),
    };
    let opts = SimOptions {
        machine: machine.to_string(),
        artifact: artifact.to_path_buf(),
        inputs,
        count: count.max(1),
        work_dir: None,
        timeout: Duration::from_secs(300),
    };
    let r = qemu_simulate(&opts).map_err(|e| PipelineError::Device(e.to_string()))?;
    let accuracy = labels.map(|labels| {
        let right = r
            .inputs
            .iter()
            .zip(&labels)
            .filter(|(x, y)| {
                x.device.as_deref().and_then(|d| bsq_runtime::argmax(d, signed).ok()) == Some(**y as usize)
            })
            .count();
        100.0 * right as f64 / labels.len().max(1) as f64
    });
    Ok((r, accuracy))
}

/// One line per simulation: machine, bit-exactness, cost, memory.
pub fn describe_sim(r: &SimResult, accuracy: Option<f64>) -> String {
    let exact = r.inputs.iter().filter(|x| x.matches.is_ok()).count();
    let insns = r
        .instructions()
        .map_or("n/a".into(), |n| format!("{n} instructions/inference ({:.2}/MAC)", n as f64 / r.macs.max(1) as f64));
    let mut s = format!(
        "{} ({}): {exact}/{} inputs byte-identical to the host; {insns}; firmware flash {} B, static RAM {} B",
        r.machine,
        r.core,
        r.inputs.len(),
        r.flash,
        r.ram
    );
    if let Some(a) = accuracy {
        let _ = write!(s, "; device accuracy {a:.1}% on these inputs");
    }
    for (i, x) in r.inputs.iter().enumerate() {
        if let Err(e) = &x.matches {
            let _ = write!(s, "\n  input {i}: MISMATCH {e}");
        }
    }
    s
}

/// Real boards `bsq flash` knows: `(name, directory under boards/, probe-rs chip)`.
pub const REAL_BOARDS: [(&str, &str, &str); 3] = [
    ("nrf52840-dk", "nrf52840-dk", "nRF52840_xxAA"),
    ("rpi-pico", "rpi-pico", "RP2040"),
    ("nucleo-f411re", "nucleo-f411re", "STM32F411RETx"),
];

/// Builds the real-board firmware with `artifact` and runs it through `probe-rs run` (the board crate's
/// cargo runner). Needs a probe and `probe-rs` (`cargo install probe-rs-tools`); not testable in CI.
pub fn flash(artifact: &Path, board: &str) -> Result<(), PipelineError> {
    let Some(&(_, dir, chip)) = REAL_BOARDS.iter().find(|b| b.0 == board) else {
        let names: Vec<&str> = REAL_BOARDS.iter().map(|b| b.0).collect();
        return Err(PipelineError::Mismatch(format!("unknown board `{board}`; known boards: {}", names.join(", "))));
    };
    let dir = bsq_tests::repo_root().join("boards").join(dir);
    if !dir.is_dir() {
        return Err(PipelineError::Device(format!("{} does not exist in this checkout", dir.display())));
    }
    let model = std::fs::canonicalize(artifact)
        .map_err(|e| PipelineError::Io { path: artifact.into(), message: e.to_string() })?;
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["run", "--release"])
        .env("BSQ_MODEL", &model)
        .status()
        .map_err(|e| PipelineError::Device(format!("running cargo in {}: {e}", dir.display())))?;
    if !status.success() {
        return Err(PipelineError::Device(format!(
            "`cargo run --release` in {} failed ({status}); it needs `probe-rs` on PATH (cargo install probe-rs-tools) and a {board} connected (chip {chip})",
            dir.display()
        )));
    }
    Ok(())
}

/// What `bsq demo` does.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Output directory.
    pub out: PathBuf,
    /// `None`: the built-in generated dataset; `Some(dir)`: MNIST from `dir/mnist`.
    pub data_dir: Option<PathBuf>,
    /// Machines to simulate on.
    pub machines: Vec<String>,
    /// Test images run on each machine.
    pub device_inputs: usize,
    /// Training epochs per phase (float, BSQ, finetune).
    pub epochs: [usize; 3],
    /// Cap on training images (0 = all).
    pub train_limit: usize,
    /// α.
    pub alpha: f64,
    /// Progress output.
    pub verbose: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            out: PathBuf::from("bsq-out"),
            data_dir: None,
            machines: vec!["mps2-an386".into(), "lm3s6965evb".into()],
            device_inputs: 16,
            // Long enough on the built-in data for BSQ to drop bits (≈ 25 s of training on 2 cores).
            epochs: [1, 6, 2],
            train_limit: 0,
            alpha: 2e-2,
            verbose: true,
        }
    }
}

/// The result of the demo.
#[derive(Debug, Clone)]
pub struct DemoResult {
    /// Training summary.
    pub train: Summary,
    /// Generated code.
    pub generated: Generated,
    /// Per machine: simulation and device accuracy.
    pub sims: Vec<(SimResult, Option<f64>)>,
    /// The printed summary.
    pub text: String,
}

/// Data → BSQ training → artifact → codegen → QEMU on each machine → byte-exact check → summary.
pub fn demo(cfg: &DemoConfig) -> Result<DemoResult, PipelineError> {
    let t0 = Instant::now();
    let (kind, dataset) = match &cfg.data_dir {
        Some(_) => (DatasetKind::Mnist, "mnist"),
        None => (DatasetKind::Builtin, "builtin"),
    };
    let say = |m: &str| {
        if cfg.verbose {
            eprintln!("{m}");
        }
    };
    say(&format!("[1/4] BSQ training of LeNet on the {dataset} dataset → {}", cfg.out.display()));
    let tc = TrainConfig {
        model: Arch::Lenet,
        dataset: dataset.into(),
        data_dir: cfg.data_dir.clone(),
        alpha: cfg.alpha,
        epochs_float: cfg.epochs[0],
        epochs_bsq: cfg.epochs[1],
        epochs_finetune: cfg.epochs[2],
        train_limit: cfg.train_limit,
        // A short schedule needs a larger BSQ step than the library's MNIST recipe to drop bits in 6 epochs.
        lr_bsq: 1e-2,
        lr_finetune: 5e-4,
        out: cfg.out.clone(),
        verbose: cfg.verbose,
        ..TrainConfig::default()
    };
    let summary = train(&tc)?;
    say("[2/4] code generation");
    let (flash, ram) = cfg
        .machines
        .iter()
        .filter_map(|m| machine_budget(m))
        .fold((usize::MAX, usize::MAX), |a, b| (a.0.min(b.0), a.1.min(b.1)));
    let generated = codegen(&summary.artifact, &cfg.out.join("model.rs"), Some(flash), Some(ram))?;
    let report_path = cfg.out.join("memory-report.txt");
    bsq_codegen::write_atomic(&report_path, format!("{}\n", generated.report).as_bytes())
        .map_err(|e| PipelineError::Io { path: report_path.clone(), message: e.to_string() })?;
    let mut sims = Vec::new();
    for (i, m) in cfg.machines.iter().enumerate() {
        say(&format!("[{}/4] firmware for QEMU {m}: build, run, compare with the host", 3 + i.min(1)));
        sims.push(simulate(&summary.artifact, m, Some((kind, cfg.data_dir.as_deref())), cfg.device_inputs)?);
    }
    // Written by `train` with the scheme table.
    let svg = cfg.out.join("scheme.svg");

    let mut t = String::new();
    let acc = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.2}%"));
    let _ = writeln!(t, "\n== bsq demo: {} ==", summary.dataset);
    let _ = writeln!(
        t,
        "accuracy (held-out): float {}, fake-quant {:.2}%, integer (host executor) {}",
        acc(summary.accuracy.float),
        summary.accuracy.fake_quant,
        acc(summary.accuracy.integer)
    );
    let bits: Vec<String> = summary.layers.iter().map(|l| format!("{} {}b", l.layer, l.bits)).collect();
    let _ = writeln!(
        t,
        "scheme: {} | avg {:.2} bits ({:.2} stored with sign), compression {:.1}x",
        bits.join(", "),
        summary.avg_bits,
        summary.avg_stored_bits,
        summary.compression
    );
    let r = &generated.report;
    let _ = writeln!(
        t,
        "model memory: flash {} B of constants (ideal packed weights {:.0} B), RAM {} B arena (liveness bound {} B) + {} B scratch; {} MACs",
        r.flash_bytes, r.ideal_weight_bytes, r.arena_bytes, r.arena_lower_bound, r.scratch_bytes, r.macs
    );
    for (sim, a) in &sims {
        let _ = writeln!(t, "{}", describe_sim(sim, *a));
    }
    let all_exact = sims.iter().all(|(s, _)| s.bit_exact());
    let _ = writeln!(t, "bit-exact host ≡ device: {}", if all_exact { "yes" } else { "NO" });
    let _ = writeln!(t, "files:");
    for (what, p) in [
        ("artifact", summary.artifact.clone()),
        ("scheme", cfg.out.join("scheme.txt")),
        ("scheme plot", svg),
        ("summary", cfg.out.join("summary.json")),
        ("metrics", cfg.out.join("metrics.jsonl")),
        ("generated Rust", generated.path.clone()),
        ("memory report", report_path),
        ("checkpoints", cfg.out.join("ckpt")),
    ] {
        let _ = writeln!(t, "  {what:<15} {}", p.display());
    }
    for (sim, _) in &sims {
        let _ = writeln!(t, "  {:<15} {}", format!("ELF {}", sim.machine), sim.elf.display());
    }
    let _ = writeln!(t, "total {:.0} s", t0.elapsed().as_secs_f64());
    if !all_exact {
        return Err(PipelineError::Device(format!(
            "{t}\nthe device output differs from the host (see MISMATCH lines)"
        )));
    }
    Ok(DemoResult { train: summary, generated, sims, text: t })
}
