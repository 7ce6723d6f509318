//! α sweep: one float model, then one BSQ run per α starting from it, and the accuracy-vs-bits curve.
//!
//! `OUT/float` is a float-only [`train`] run (`epochs_bsq = epochs_finetune = 0`) whose
//! `ckpt/float.bpk` is the `pretrained` model of every `OUT/alpha-<α>` run (`α` written like `5e-3`).
//! The results go to `OUT/sweep.json`, `OUT/sweep.csv` and `OUT/sweep.svg` (written atomically).
//!
//! Re-running the same sweep continues it: a run whose `summary.json` is newer than its checkpoint and
//! whose checkpoint has finished the requested epochs is reused as is; a run with a checkpoint is resumed
//! (`resume: true`); anything else is trained from the start. A run whose checkpoint was trained with other
//! settings (α, epochs, learning rates, data, seed, …; not the paths, the device or the verbosity) is an
//! error rather than a point of a mixed curve.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::pipeline::xml;
use crate::training::{CkptState, Summary, TrainConfig, TrainError, read_state, train};

/// Errors of [`sweep`].
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep is not well specified (no α, a negative or duplicate α, nothing to start from), or a run
    /// directory holds a run of other settings.
    #[error("invalid sweep: {0}")]
    Invalid(String),
    /// One of the training runs failed (the cause is the error's source).
    #[error("training run {}", run.display())]
    Train {
        /// The run directory.
        run: PathBuf,
        /// The error.
        source: TrainError,
    },
    /// A result file could not be written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What [`sweep`] runs.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The training recipe of every run. Its `alpha`, `out`, `resume` and `summary_json` are ignored
    /// (set per run); with `pretrained: Some(..)` no float model is trained and every run starts from it.
    pub base: TrainConfig,
    /// The α values, one run each (finite, ≥ 0, no duplicates).
    pub alphas: Vec<f64>,
    /// The sweep directory.
    pub out: PathBuf,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig { base: TrainConfig::default(), alphas: vec![1e-2, 2e-2, 4e-2], out: "bsq-sweep".into() }
    }
}

/// One point of the sweep (a row of `sweep.json` / `sweep.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// α.
    pub alpha: f64,
    /// Average magnitude bits of the counted layers.
    pub avg_bits: f64,
    /// Average stored bits including the sign.
    pub avg_stored_bits: f64,
    /// `32·#params / Σ params·n`.
    pub compression: f64,
    /// Float accuracy (percent) of the model the run started from.
    pub float: Option<f64>,
    /// Fake-quant accuracy (percent).
    pub fake_quant: f64,
    /// Integer accuracy (percent) of the exported artifact on the host executor.
    pub integer: Option<f64>,
    /// The run directory.
    pub run_dir: PathBuf,
}

impl SweepPoint {
    /// The point of a finished run.
    pub fn from_summary(s: &Summary, run_dir: &Path) -> Self {
        SweepPoint {
            alpha: s.alpha,
            avg_bits: s.avg_bits,
            avg_stored_bits: s.avg_stored_bits,
            compression: s.compression,
            float: s.accuracy.float,
            fake_quant: s.accuracy.fake_quant,
            integer: s.accuracy.integer,
            run_dir: run_dir.to_path_buf(),
        }
    }

    /// The plotted accuracy: integer, else fake-quant.
    pub fn accuracy(&self) -> f64 {
        self.integer.unwrap_or(self.fake_quant)
    }
}

/// The outcome of [`sweep`].
#[derive(Debug, Clone)]
pub struct SweepResult {
    /// One point per α, in the order of [`SweepConfig::alphas`].
    pub points: Vec<SweepPoint>,
    /// The runs' summaries (same order).
    pub summaries: Vec<Summary>,
    /// Per point: the finished run was reused without training.
    pub reused: Vec<bool>,
    /// The float checkpoint every run started from.
    pub float_model: PathBuf,
    /// Float accuracy (percent), if known.
    pub float_acc: Option<f64>,
    /// The files written: `(what, path)`.
    pub files: Vec<(String, PathBuf)>,
}

/// `α` as written in run directories and labels: `5e-3`, `1.5e-2`, `0e0`.
pub fn alpha_label(alpha: f64) -> String {
    format!("{alpha:e}")
}

/// The run directory of `alpha` in the sweep directory `out`: `out/alpha-5e-3`.
pub fn run_dir(out: &Path, alpha: f64) -> PathBuf {
    out.join(format!("alpha-{}", alpha_label(alpha)))
}

/// Checks the sweep's parameters without running anything.
pub fn validate(cfg: &SweepConfig) -> Result<(), SweepError> {
    if cfg.alphas.is_empty() {
        return Err(SweepError::Invalid("no α given (e.g. --alpha 5e-3,1e-2,2e-2)".into()));
    }
    for (i, &a) in cfg.alphas.iter().enumerate() {
        if !a.is_finite() || a < 0.0 {
            return Err(SweepError::Invalid(format!("α must be a finite number ≥ 0, got {a}")));
        }
        if cfg.alphas[..i].contains(&a) {
            return Err(SweepError::Invalid(format!("α {} is given twice", alpha_label(a))));
        }
    }
    match &cfg.base.pretrained {
        Some(p) if !p.is_file() => {
            Err(SweepError::Invalid(format!("the pretrained float model {} does not exist", p.display())))
        }
        None if cfg.base.epochs_float == 0 => Err(SweepError::Invalid(
            "epochs_float is 0 and no pretrained float model is given: nothing to start the BSQ runs from".into(),
        )),
        _ => Ok(()),
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("ckpt").join("state.json")
}

/// Settings that may differ between the checkpoint of a run and a re-run of the sweep: where things are,
/// how the run is driven, not what is trained.
const FREE_SETTINGS: [&str; 7] = ["out", "resume", "summary_json", "verbose", "device", "data_dir", "pretrained"];

/// Settings of the BSQ and finetune phases, free for the float pretraining run.
const BSQ_SETTINGS: [&str; 3] = ["requant_every", "lr_bsq", "lr_finetune"];

/// Refuses to continue or reuse a run trained with another recipe (it would mix recipes in one curve);
/// `free`: further settings that do not matter to this run.
fn check_same_recipe(saved: &TrainConfig, wanted: &TrainConfig, free: &[&str]) -> Result<(), SweepError> {
    let (Ok(saved), Ok(wanted)) = (serde_json::to_value(saved), serde_json::to_value(wanted)) else {
        return Ok(());
    };
    let Some(fields) = wanted.as_object() else { return Ok(()) };
    let differ: Vec<String> = fields
        .iter()
        .filter(|(k, v)| {
            !FREE_SETTINGS.contains(&k.as_str()) && !free.contains(&k.as_str()) && saved.get(k.as_str()) != Some(*v)
        })
        .map(|(k, v)| {
            let was = saved.get(k.as_str()).map_or("(not recorded)".to_string(), |x| x.to_string());
            format!("{k} = {was} (this sweep: {v})")
        })
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    let dir = wanted.get("out").and_then(|o| o.as_str()).unwrap_or("the run directory");
    Err(SweepError::Invalid(format!(
        "{dir} was trained with {}; re-run the sweep with the same options, use another --out, or delete {dir}",
        differ.join(", ")
    )))
}

/// The summary of the finished run of `cfg` whose checkpoint is `state`: `summary.json` of the same α, not
/// older than the checkpoint, which has done the requested epochs.
fn finished_summary(cfg: &TrainConfig, state: &CkptState) -> Option<Summary> {
    let summary_path = cfg.out.join("summary.json");
    let summary: Summary = serde_json::from_str(&std::fs::read_to_string(&summary_path).ok()?).ok()?;
    let fresh = mtime(&summary_path)? >= mtime(&state_path(&cfg.out))?;
    (fresh && summary.alpha == cfg.alpha && state.finished(cfg)).then_some(summary)
}

/// Runs `cfg` in `cfg.out`, reusing a finished run or resuming an interrupted one. Returns the summary and
/// whether it was reused.
fn run_or_reuse(
    mut cfg: TrainConfig,
    free: &[&str],
    what: &str,
    say: &dyn Fn(&str),
) -> Result<(Summary, bool), SweepError> {
    let dir = cfg.out.clone();
    let path = state_path(&dir);
    cfg.resume = path.exists();
    if cfg.resume {
        // A checkpoint this trainer cannot read (an older format) is an error, not silently overwritten.
        let state = read_state(&path).map_err(|source| SweepError::Train { run: dir.clone(), source })?;
        check_same_recipe(&state.config, &cfg, free)?;
        if let Some(s) = finished_summary(&cfg, &state) {
            say(&format!("{what}: reusing the finished run in {} (summary.json)", dir.display()));
            return Ok((s, true));
        }
        say(&format!("{what}: resuming {} ({:?} epoch {})", dir.display(), state.phase, state.epoch));
    } else {
        say(&format!("{what} → {}", dir.display()));
    }
    let s = train(&cfg).map_err(|source| SweepError::Train { run: dir.clone(), source })?;
    Ok((s, false))
}

fn write(path: &Path, text: &str) -> Result<(), SweepError> {
    bsq_codegen::write_atomic(path, text.as_bytes())
        .map_err(|e| SweepError::Io { path: path.to_path_buf(), message: e.to_string() })
}

/// Runs the sweep (see the module documentation) and writes `sweep.json`, `sweep.csv` and `sweep.svg` into
/// `cfg.out`.
pub fn sweep(cfg: &SweepConfig) -> Result<SweepResult, SweepError> {
    validate(cfg)?;
    let verbose = cfg.base.verbose;
    let say = |m: &str| {
        if verbose {
            eprintln!("[sweep] {m}");
        }
    };
    std::fs::create_dir_all(&cfg.out).map_err(|e| SweepError::Io { path: cfg.out.clone(), message: e.to_string() })?;
    let base = TrainConfig { summary_json: None, resume: false, ..cfg.base.clone() };

    let (float_model, mut float_acc) = match &base.pretrained {
        Some(p) => {
            say(&format!("every run starts from the float model {}", p.display()));
            (p.clone(), None)
        }
        None => {
            let float_dir = cfg.out.join("float");
            let fc =
                TrainConfig { alpha: 0.0, epochs_bsq: 0, epochs_finetune: 0, out: float_dir.clone(), ..base.clone() };
            let float_model = float_dir.join("ckpt").join("float.bpk");
            let what = format!("float pretraining (epochs: {})", fc.epochs_float);
            if !float_model.is_file() {
                // No float model yet: the summary of an older run (if any) is not to be trusted.
                let _ = std::fs::remove_file(float_dir.join("summary.json"));
            }
            let (s, _) = run_or_reuse(fc, &BSQ_SETTINGS, &what, &say)?;
            if !float_model.is_file() {
                return Err(SweepError::Invalid(format!(
                    "the float pretraining run in {} left no {}; delete {} to train it again",
                    float_dir.display(),
                    float_model.display(),
                    float_dir.display()
                )));
            }
            (float_model, s.accuracy.float)
        }
    };

    let (mut points, mut summaries, mut reused) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &alpha) in cfg.alphas.iter().enumerate() {
        let alpha = alpha + 0.0; // -0 → 0 (one directory name)
        let dir = run_dir(&cfg.out, alpha);
        let rc = TrainConfig { alpha, out: dir.clone(), pretrained: Some(float_model.clone()), ..base.clone() };
        let what = format!("run {}/{}: α = {}", i + 1, cfg.alphas.len(), alpha_label(alpha));
        let (s, r) = run_or_reuse(rc, &[], &what, &say)?;
        say(&format!(
            "α = {}: {:.3} bits, integer {}, fake-quant {:.2}%",
            alpha_label(alpha),
            s.avg_bits,
            pct(s.accuracy.integer),
            s.accuracy.fake_quant
        ));
        points.push(SweepPoint::from_summary(&s, &dir));
        summaries.push(s);
        reused.push(r);
    }
    float_acc = float_acc.or_else(|| points.iter().find_map(|p| p.float));

    let json_path = cfg.out.join("sweep.json");
    let csv_path = cfg.out.join("sweep.csv");
    let svg_path = cfg.out.join("sweep.svg");
    write(&json_path, &(serde_json::to_string_pretty(&points).unwrap_or_default() + "\n"))?;
    write(&csv_path, &sweep_csv(&points))?;
    let title = format!("{} on {} — accuracy vs bits (α sweep)", base.model, base.dataset);
    write(&svg_path, &sweep_svg(&title, &points, float_acc))?;
    let mut files = vec![
        ("points (JSON)".to_string(), json_path),
        ("points (CSV)".to_string(), csv_path),
        ("accuracy vs bits".to_string(), svg_path),
    ];
    if base.pretrained.is_none() {
        files.push(("float model".into(), float_model.clone()));
    }
    for p in &points {
        files.push((format!("run α = {}", alpha_label(p.alpha)), p.run_dir.clone()));
    }
    Ok(SweepResult { points, summaries, reused, float_model, float_acc, files })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.2}%"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// `sweep.csv`: a header line, then one line per point (empty fields for unknown accuracies).
pub fn sweep_csv(points: &[SweepPoint]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let mut s = String::from("alpha,avg_bits,avg_stored_bits,compression,float,fake_quant,integer,run_dir\n");
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            p.alpha,
            p.avg_bits,
            p.avg_stored_bits,
            p.compression,
            opt(p.float),
            p.fake_quant,
            opt(p.integer),
            csv_field(&p.run_dir.to_string_lossy())
        );
    }
    s
}

/// The text table printed at the end of a sweep.
pub fn sweep_table(points: &[SweepPoint]) -> String {
    let mut s = format!(
        "{:>8} {:>9} {:>11} {:>11} {:>8} {:>10} {:>8}\n",
        "alpha", "avg bits", "stored bits", "compression", "float", "fake-quant", "integer"
    );
    for p in points {
        let _ = writeln!(
            s,
            "{:>8} {:>9.3} {:>11.3} {:>10.2}x {:>8} {:>10} {:>8}",
            alpha_label(p.alpha),
            p.avg_bits,
            p.avg_stored_bits,
            p.compression,
            pct(p.float),
            format!("{:.2}%", p.fake_quant),
            pct(p.integer)
        );
    }
    s
}

/// A "nice" axis over `[lo, hi]`: `(start, step, count)` with `start + k·step` for `k in 0..=count` covering
/// the range plus a 5% margin, `step` one of 1, 2, 2.5, 5 × 10^k. A degenerate range is widened by `pad` on
/// both sides instead, an empty one is `[min, max]`; everything is clamped to `[min, max]`.
fn nice_axis(lo: f64, hi: f64, pad: f64, min: f64, max: f64) -> (f64, f64, usize) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi { (lo, hi) } else { (min, max) };
    // A margin so that no point sits on the frame; a degenerate range gets `pad` on both sides.
    let margin = if hi - lo < 1e-9 { pad } else { 0.05 * (hi - lo) };
    (lo, hi) = ((lo - margin).max(min), (hi + margin).min(max));
    if hi - lo < 1e-9 {
        (lo, hi) = (min, max);
    }
    let raw = (hi - lo) / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw * 0.999).unwrap_or(10.0 * mag);
    let start = (lo / step + 1e-9).floor() * step;
    let count = (((hi - start) / step) - 1e-9).ceil().max(1.0) as usize;
    (start, step, count)
}

/// Decimals needed to print multiples of `step` exactly.
fn decimals(step: f64) -> usize {
    (0..6)
        .find(|&d| {
            let x = step * 10f64.powi(d as i32);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(6)
}

/// An SVG plot of accuracy (percent; integer, else fake-quant) against average magnitude bits, one labelled
/// point per α joined in bits order, with a dashed line at the float accuracy if given.
pub fn sweep_svg(title: &str, points: &[SweepPoint], float_acc: Option<f64>) -> String {
    let (w, h) = (680.0, 440.0);
    let (left, right, top, bottom) = (70.0, 30.0, 50.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let finite = |v: &f64| v.is_finite();
    let xs: Vec<f64> = points.iter().map(|p| p.avg_bits).filter(finite).collect();
    let mut ys: Vec<f64> = points.iter().map(SweepPoint::accuracy).filter(finite).collect();
    ys.extend(float_acc.filter(finite));
    let min_max = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let (xlo, xhi) = min_max(&xs);
    let (ylo, yhi) = min_max(&ys);
    let (x0, xstep, xn) = nice_axis(xlo, xhi, 0.5, 0.0, 32.0);
    let (y0, ystep, yn) = nice_axis(ylo, yhi, 1.0, 0.0, 100.0);
    let (x1, y1) = (x0 + xstep * xn as f64, y0 + ystep * yn as f64);
    let px = |v: f64| left + (v - x0) / (x1 - x0) * pw;
    let py = |v: f64| top + ph - (v - y0) / (y1 - y0) * ph;

    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        w / 2.0,
        xml(title)
    );
    let (xd, yd) = (decimals(xstep), decimals(ystep));
    for k in 0..=xn {
        let v = x0 + xstep * k as f64;
        let x = px(v);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#e4e4e4\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{v:.xd$}</text>",
            top + ph,
            top + ph + 18.0
        );
    }
    for k in 0..=yn {
        let v = y0 + ystep * k as f64;
        let y = py(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.yd$}</text>",
            left + pw,
            left - 6.0,
            y + 4.0
        );
    }
    let _ =
        writeln!(s, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">average magnitude bits per weight</text>",
        left + pw / 2.0,
        h - 16.0
    );
    let _ = writeln!(
        s,
        "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">accuracy (%)</text>",
        top + ph / 2.0,
        top + ph / 2.0
    );
    // Text boxes `(x, baseline, width)` already placed, so that labels do not overlap.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    if let Some(f) = float_acc.filter(finite) {
        let y = py(f);
        let label = format!("float {f:.2}%");
        let lw = 7.0 * label.chars().count() as f64;
        // Above the line, or below it when the line runs along the top of the frame.
        let ly = if y - top < 16.0 { y + 14.0 } else { y - 5.0 };
        placed.push((left + pw - 4.0 - lw, ly, lw));
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#888\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{ly:.1}\" text-anchor=\"end\" fill=\"#555\">{label}</text>",
            left + pw,
            left + pw - 4.0,
        );
    }
    let mut order: Vec<&SweepPoint> =
        points.iter().filter(|p| p.avg_bits.is_finite() && p.accuracy().is_finite()).collect();
    order.sort_by(|a, b| a.avg_bits.total_cmp(&b.avg_bits).then(a.alpha.total_cmp(&b.alpha)));
    if order.len() > 1 {
        let pts: Vec<String> = order.iter().map(|p| format!("{:.1},{:.1}", px(p.avg_bits), py(p.accuracy()))).collect();
        let _ =
            writeln!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"#3b7dd8\" stroke-width=\"2\"/>", pts.join(" "));
    }
    // Labels right of their point, moved down / up a line at a time until they overlap no earlier label.
    for p in &order {
        let (x, y) = (px(p.avg_bits), py(p.accuracy()));
        // Integer accuracy: filled; fake-quant fallback: hollow.
        let fill = if p.integer.is_some() { "#3b7dd8" } else { "white" };
        let kind = if p.integer.is_some() { "integer" } else { "fake-quant" };
        let label = format!("α={}", alpha_label(p.alpha));
        let lw = 7.0 * label.chars().count() as f64;
        let lx = if x + 8.0 + lw > left + pw { x - 8.0 - lw } else { x + 8.0 };
        let free =
            |ly: f64| placed.iter().all(|&(bx, by, bw)| lx >= bx + bw || bx >= lx + lw || (ly - by).abs() >= 13.0);
        let ly = (0..40)
            .map(|k| y + 4.0 + 13.0 * f64::from((k + 1) / 2) * if k % 2 == 1 { 1.0 } else { -1.0 })
            .find(|&ly| free(ly))
            .unwrap_or(y + 4.0);
        placed.push((lx, ly, lw));
        let _ = writeln!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"{fill}\" stroke=\"#3b7dd8\" stroke-width=\"2\"><title>α {}: {:.3} bits, {kind} {:.2}%</title></circle><text x=\"{lx:.1}\" y=\"{ly:.1}\">{label}</text>",
            alpha_label(p.alpha),
            p.avg_bits,
            p.accuracy(),
        );
    }
    if order.iter().any(|p| p.integer.is_none()) {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"#555\">hollow: fake-quant accuracy (no integer result)</text>",
            left + 6.0,
            top + ph - 8.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_axis(lo: f64, hi: f64, pad: f64, min: f64, max: f64) -> (f64, f64, usize) {
        let (start, step, n) = nice_axis(lo, hi, pad, min, max);
        let end = start + step * n as f64;
        assert!(step > 0.0 && (1..=10).contains(&n), "{lo}..{hi}: {start} {step} {n}");
        assert!(start >= min - 1e-9 && end <= max + step, "{lo}..{hi}: {start}..{end}");
        if lo.is_finite() && hi.is_finite() {
            assert!(start <= lo.max(min) + 1e-9 && end >= hi.min(max) - 1e-9, "{lo}..{hi}: {start}..{end}");
        }
        let mantissa = step / 10f64.powf(step.log10().floor());
        assert!([1.0, 2.0, 2.5, 5.0].iter().any(|m| (m - mantissa).abs() < 1e-9), "step {step}");
        (start, step, n)
    }

    #[test]
    fn nice_axes() {
        assert_eq!(check_axis(1.2, 3.7, 0.5, 0.0, 32.0), (1.0, 0.5, 6));
        check_axis(97.4, 99.25, 1.0, 0.0, 100.0);
        let (start, step, _) = check_axis(2.0, 2.0, 0.5, 0.0, 32.0);
        assert!(start < 2.0 && (step - 0.2).abs() < 1e-12);
        assert_eq!(check_axis(0.0, 0.0, 0.5, 0.0, 32.0).0, 0.0);
        let (start, _, n) = check_axis(100.0, 100.0, 1.0, 0.0, 100.0);
        assert!(start < 100.0 && n > 1);
        assert_eq!(check_axis(f64::INFINITY, f64::NEG_INFINITY, 1.0, 0.0, 100.0), (0.0, 20.0, 5));
        assert_eq!(decimals(0.25), 2);
        assert_eq!(decimals(5.0), 0);
        assert_eq!(decimals(0.2), 1);
    }

    #[test]
    fn alpha_labels() {
        assert_eq!(alpha_label(5e-3), "5e-3");
        assert_eq!(alpha_label(0.015), "1.5e-2");
        assert_eq!(run_dir(Path::new("o"), 1e-2), Path::new("o/alpha-1e-2"));
    }
}
