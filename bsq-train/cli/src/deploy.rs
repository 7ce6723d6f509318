//! Deployment, for the `bsq` command (no Burn): codegen, integer evaluation on a dataset, reports (with an
//! SVG plot of the scheme), simulation on QEMU and flashing a real board.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bsq_codegen::{Artifact, Builder, Executor, Generated, compile, report::report};
use bsq_data::{self as data, DataSource, Dataset};
use bsq_sim::simulate::{SimOptions, SimResult, simulate as qemu_simulate};

/// Errors of the deployment commands; each says what to do next where it can.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The artifact could not be loaded or compiled.
    #[error(transparent)]
    Codegen(#[from] bsq_codegen::CodegenError),
    /// The artifact could not be loaded.
    #[error(transparent)]
    Artifact(#[from] bsq_codegen::ArtifactError),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] data::DataError),
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

/// Generates `out` (a `.rs` file) from `artifact`, refusing models over the budgets.
pub fn codegen(
    artifact: &Path,
    out: &Path,
    flash: Option<usize>,
    ram: Option<usize>,
) -> Result<Generated, DeployError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DeployError::Io { path: dir.into(), message: e.to_string() })?;
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

/// Where held-out samples come from: a dataset and the options it is read with (the trainer's: the same
/// seed and test fraction give the same test split and, for float features, the same input map).
#[derive(Debug, Clone)]
pub struct DataSpec {
    /// The dataset.
    pub source: DataSource,
    /// How it is read.
    pub options: data::Options,
}

impl DataSpec {
    /// `--dataset` as the trainer reads it (seed 1, the trainer's default), with a data directory and
    /// an optional task.
    pub fn parse(dataset: &str, data_dir: Option<&Path>, task: Option<&str>) -> Result<Self, DeployError> {
        let task = task.map(str::parse::<data::Task>).transpose()?;
        let options = data::Options { seed: 1, data_dir: data_dir.map(Path::to_path_buf), task, ..Default::default() };
        Ok(DataSpec { source: DataSource::parse(dataset)?, options })
    }
}

/// The integer model's score on the held-out split of a dataset, run by the host executor (the bytes
/// every device must reproduce): `(accuracy in percent, or for regression the mean squared error of the
/// dequantized outputs, number of samples, whether it is a regression)`. `limit` = 0: the whole split.
pub fn eval(artifact: &Path, data: &DataSpec, limit: usize) -> Result<(f64, usize, bool), DeployError> {
    let a = Artifact::load(artifact)?;
    let test = held_out(data, limit)?;
    check_fits(&a, &test)?;
    let mut ex = Executor::new(&a)?;
    if !test.is_regression() {
        let acc = ex.accuracy((0..test.len()).map(|i| (test.image(i), test.labels[i] as usize)))?;
        return Ok((acc, test.len(), false));
    }
    let q = a
        .output_quant()
        .ok_or_else(|| DeployError::Mismatch(format!("the output layer `{}` has no output scale", a.output)))?;
    let mut sq = 0f64;
    for i in 0..test.len() {
        let bytes = ex.run(test.image(i))?;
        if bytes.len() != test.target_len {
            return Err(DeployError::Mismatch(format!(
                "the model has {} outputs but the data has {} targets",
                bytes.len(),
                test.target_len
            )));
        }
        for (&b, &t) in bytes.iter().zip(test.target(i)) {
            let v = if q.signed { b as i8 as f64 } else { b as f64 } * q.scale as f64;
            sq += (v - t as f64).powi(2);
        }
    }
    Ok((sq / (test.len() * test.target_len).max(1) as f64, test.len(), true))
}

fn held_out(data: &DataSpec, limit: usize) -> Result<Dataset, DeployError> {
    let splits = data::load_source(&data.source, &data.options)?;
    Ok(if limit > 0 && limit < splits.test.len() { splits.test.take(limit) } else { splits.test })
}

fn check_fits(a: &Artifact, ds: &Dataset) -> Result<(), DeployError> {
    if a.input.shape != ds.shape {
        return Err(DeployError::Mismatch(format!(
            "the model `{}` takes {:?} (HWC) inputs but the dataset has {:?}",
            a.name, a.input.shape, ds.shape
        )));
    }
    let same_scale = (a.input.scale - ds.input.scale).abs() <= 1e-6 * a.input.scale.abs();
    if !same_scale || a.input.zero_point != ds.input.zero_point {
        return Err(DeployError::Mismatch(format!(
            "the model `{}` reads inputs as {}·(x − {}) but this dataset's bytes mean {}·(x − {}): read the data \
             with the options it was trained with (the same seed and test fraction)",
            a.name, a.input.scale, a.input.zero_point, ds.input.scale, ds.input.zero_point
        )));
    }
    Ok(())
}

/// The report of an artifact: provenance, scheme and memory report; optionally an SVG plot of bits per
/// layer written to `svg`.
pub fn report_text(artifact: &Path, svg: Option<&Path>) -> Result<String, DeployError> {
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
        let svg = bsq_codegen::plot::scheme_svg(&a.name, &rows)
            .map_err(|e| DeployError::Io { path: path.into(), message: e.to_string() })?;
        bsq_codegen::write_atomic(path, svg.as_bytes())
            .map_err(|e| DeployError::Io { path: path.into(), message: e.to_string() })?;
        let _ = writeln!(s, "plot: {}", path.display());
    }
    Ok(s)
}

/// Simulates `artifact` on a QEMU machine. Inputs: the first `count` held-out images of `dataset` (then
/// the device accuracy on them is reported), or deterministic inputs when `dataset` is `None`.
/// `root`: the bsq checkout to build the firmware from ([`bsq_sim::bsq_root`]).
pub fn simulate(
    artifact: &Path,
    machine: &str,
    dataset: Option<&DataSpec>,
    count: usize,
    root: Option<&Path>,
) -> Result<(SimResult, Option<f64>), DeployError> {
    let a = Artifact::load(artifact)?;
    let signed = compile(&a)?.output_signed();
    let (inputs, labels) = match dataset {
        Some(spec) => {
            let test = held_out(spec, count.max(1))?;
            check_fits(&a, &test)?;
            let labels = (!test.is_regression()).then_some(test.labels.clone());
            ((0..test.len()).map(|i| test.image(i).to_vec()).collect(), labels)
        }
        None => (Vec::new(), None),
    };
    let opts = SimOptions {
        machine: machine.to_string(),
        artifact: artifact.to_path_buf(),
        inputs,
        count: count.max(1),
        work_dir: None,
        root: root.map(Path::to_path_buf),
        timeout: Duration::from_secs(300),
    };
    let r = qemu_simulate(&opts).map_err(|e| DeployError::Device(e.to_string()))?;
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

/// Builds a real board's firmware with `artifact` and runs it through `probe-rs run` (see
/// [`bsq_sim::flash`]). Needs a probe and `probe-rs`; not testable in CI.
pub fn flash(artifact: &Path, board: &str, root: Option<&Path>) -> Result<(), DeployError> {
    bsq_sim::flash::flash(artifact, board, root).map_err(|e| DeployError::Device(e.to_string()))
}
