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
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use plotters::prelude::{
    BLACK, ChartBuilder, Circle, Color, DashedLineSeries, IntoDrawingArea, IntoFont, LineSeries, RGBColor, SVGBackend,
    TRANSPARENT, Text, WHITE,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

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

/// `sweep.csv` (the `csv` crate): a header line, then one line per point (empty fields for unknown
/// accuracies). Writing into memory cannot fail; were it to, the result would be empty.
pub fn sweep_csv(points: &[SweepPoint]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = std::iter::once(
        ["alpha", "avg_bits", "avg_stored_bits", "compression", "float", "fake_quant", "integer", "run_dir"]
            .map(String::from),
    )
    .chain(points.iter().map(|p| {
        [
            p.alpha.to_string(),
            p.avg_bits.to_string(),
            p.avg_stored_bits.to_string(),
            p.compression.to_string(),
            opt(p.float),
            p.fake_quant.to_string(),
            opt(p.integer),
            p.run_dir.to_string_lossy().into_owned(),
        ]
    }));
    let bytes = rows.try_for_each(|r| w.write_record(&r)).ok().and_then(|()| w.into_inner().ok()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
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

/// Colour of the sweep curve and its points.
const CURVE: RGBColor = RGBColor(0x3b, 0x7d, 0xd8);
/// Colour of the float-accuracy line and its label.
const FLOAT: RGBColor = RGBColor(0x77, 0x77, 0x77);

/// The plotted range of values in `[lo, hi]`: a 5% margin so that no point sits on the frame (a degenerate
/// range gets `pad` on both sides), clamped to `[min, max]`; `[min, max]` when there are no values
/// (`lo > hi`) or the clamped range is still degenerate. Plotters picks the ticks.
fn axis_range(lo: f64, hi: f64, pad: f64, min: f64, max: f64) -> Range<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && lo <= hi { (lo, hi) } else { (min, max) };
    let margin = if hi - lo < 1e-9 { pad } else { 0.05 * (hi - lo) };
    let (lo, hi) = ((lo - margin).max(min), (hi + margin).min(max));
    if hi - lo < 1e-9 { min..max } else { lo..hi }
}

/// Escapes `&`, `<` and `>` (only for the fallback document of [`sweep_svg`]; plotters escapes its text).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// An SVG plot (plotters) of accuracy (percent; integer, else fake-quant) against average magnitude bits,
/// one point labelled `α=…` per α joined in bits order, with a dashed line at the float accuracy if given.
/// A point with only a fake-quant accuracy is hollow. Should plotters fail, the SVG says so instead.
pub fn sweep_svg(title: &str, points: &[SweepPoint], float_acc: Option<f64>) -> String {
    let mut svg = String::new();
    match draw_sweep(&mut svg, title, points, float_acc) {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"680\" height=\"60\"><text x=\"10\" y=\"30\">{}</text></svg>\n",
            xml_text(&format!("{title}: plot failed: {e}"))
        ),
    }
}

/// Draws [`sweep_svg`]'s plot into `svg`.
fn draw_sweep(
    svg: &mut String,
    title: &str,
    points: &[SweepPoint],
    float_acc: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut order: Vec<&SweepPoint> =
        points.iter().filter(|p| p.avg_bits.is_finite() && p.accuracy().is_finite()).collect();
    order.sort_by(|a, b| a.avg_bits.total_cmp(&b.avg_bits).then(a.alpha.total_cmp(&b.alpha)));
    let float_acc = float_acc.filter(|f| f.is_finite());
    let min_max = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let (xlo, xhi) = min_max(&mut order.iter().map(|p| p.avg_bits));
    let (ylo, yhi) = min_max(&mut order.iter().map(|p| p.accuracy()).chain(float_acc));
    let (xr, yr) = (axis_range(xlo, xhi, 0.5, 0.0, 32.0), axis_range(ylo, yhi, 1.0, 0.0, 100.0));

    let root = SVGBackend::with_string(svg, (680, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.clone(), yr.clone())?;
    chart
        .configure_mesh()
        .x_desc("average magnitude bits per weight")
        .y_desc("accuracy (%)")
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let text = |color: &RGBColor, h: HPos, v: VPos| ("sans-serif", 15).into_font().color(color).pos(Pos::new(h, v));
    // Label boxes `(left, vertical centre, width)` in pixels already placed, so that labels do not overlap.
    let mut placed: Vec<(i32, i32, i32)> = Vec::new();
    // Label width estimate, pixels.
    let width = |s: &str| 7 * s.chars().count() as i32;

    if let Some(f) = float_acc {
        chart.draw_series(DashedLineSeries::new([(xr.start, f), (xr.end, f)], 6, 4, FLOAT.stroke_width(1)))?;
        let (_, y) = chart.backend_coord(&(xr.start, f));
        let label = format!("float {f:.2}%");
        // Above the line, or below it when the line runs along the top of the frame.
        let (cy, v) = if y - py.start < 18 { (y + 10, VPos::Top) } else { (y - 10, VPos::Bottom) };
        let (x, lw) = (px.end - 4, width(&label));
        placed.push((x - lw, cy, lw));
        root.draw(&Text::new(label, (x, y + (cy - y) * 3 / 10), text(&FLOAT, HPos::Right, v)))?;
    }
    if order.len() > 1 {
        chart.draw_series(LineSeries::new(order.iter().map(|p| (p.avg_bits, p.accuracy())), CURVE.stroke_width(2)))?;
    }
    // Integer accuracy: filled; fake-quant fallback: hollow.
    chart.draw_series(order.iter().map(|p| {
        let style = if p.integer.is_some() { CURVE.filled() } else { CURVE.stroke_width(2) };
        Circle::new((p.avg_bits, p.accuracy()), 5, style)
    }))?;
    // Labels below right of their point (the curve rises to the right; left of the point at the right edge),
    // moved down / up a line at a time, inside the frame, until they overlap no earlier label.
    for p in &order {
        let (x, y) = chart.backend_coord(&(p.avg_bits, p.accuracy()));
        let label = format!("α={}", alpha_label(p.alpha));
        let lw = width(&label);
        let lx = if x + 9 + lw > px.end { x - 9 - lw } else { x + 9 };
        let free = |cy: i32| {
            (py.start + 7..=py.end - 7).contains(&cy)
                && placed.iter().all(|&(bx, by, bw)| lx >= bx + bw || bx >= lx + lw || (cy - by).abs() >= 15)
        };
        let cy = (0..60)
            .map(|k| y + 9 + 15 * ((k + 1) / 2) * if k % 2 == 1 { -1 } else { 1 })
            .find(|&cy| free(cy))
            .unwrap_or(y + 9);
        placed.push((lx, cy, lw));
        root.draw(&Text::new(label, (lx, cy), text(&BLACK, HPos::Left, VPos::Center)))?;
    }
    if order.is_empty() {
        let at = ((px.start + px.end) / 2, (py.start + py.end) / 2);
        root.draw(&Text::new("no points", at, text(&FLOAT, HPos::Center, VPos::Center)))?;
    } else if order.iter().any(|p| p.integer.is_none()) {
        // The lower right corner: high bits at low accuracy, where a sweep has no points.
        let note = "hollow: fake-quant accuracy (no integer result)";
        root.draw(&Text::new(note, (px.end - 8, py.end - 8), text(&FLOAT, HPos::Right, VPos::Bottom)))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ranges() {
        let close = |r: Range<f64>, lo: f64, hi: f64| (r.start - lo).abs() < 1e-9 && (r.end - hi).abs() < 1e-9;
        // A 5% margin.
        assert!(close(axis_range(1.0, 3.0, 0.5, 0.0, 32.0), 0.9, 3.1));
        // Degenerate: `pad` on both sides, clamped.
        assert!(close(axis_range(2.0, 2.0, 0.5, 0.0, 32.0), 1.5, 2.5));
        assert!(close(axis_range(0.0, 0.0, 0.5, 0.0, 32.0), 0.0, 0.5));
        assert!(close(axis_range(100.0, 100.0, 1.0, 0.0, 100.0), 99.0, 100.0));
        assert!(close(axis_range(97.4, 100.0, 1.0, 0.0, 100.0), 97.27, 100.0));
        // No values: the whole range.
        assert!(close(axis_range(f64::INFINITY, f64::NEG_INFINITY, 1.0, 0.0, 100.0), 0.0, 100.0));
        assert!(close(axis_range(f64::NAN, 3.0, 1.0, 0.0, 100.0), 0.0, 100.0));
    }

    #[test]
    fn alpha_labels() {
        assert_eq!(alpha_label(5e-3), "5e-3");
        assert_eq!(alpha_label(0.015), "1.5e-2");
        assert_eq!(run_dir(Path::new("o"), 1e-2), Path::new("o/alpha-1e-2"));
    }
}
