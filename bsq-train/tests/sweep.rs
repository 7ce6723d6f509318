//! `bsq sweep`: a real tiny α sweep on the built-in dataset (one float model, reuse and resume on re-run),
//! the accuracy-vs-bits SVG on degenerate inputs, and the validation errors.

use std::path::{Path, PathBuf};

use bsq_train::sweep::{SweepConfig, SweepError, SweepPoint, sweep, sweep_svg, sweep_table};
use bsq_train::training::TrainConfig;

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).lines().map(String::from).collect()
}

/// A minimal well-formedness check: every tag is closed in order, attributes are quoted.
fn assert_balanced_xml(s: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        let j = rest[i..].find('>').map(|j| i + j).expect("unclosed `<`");
        let tag = &rest[i + 1..j];
        assert!(!tag.contains('<'), "`<` inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') && !tag.starts_with('?') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
        rest = &rest[j + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
}

fn point(alpha: f64, bits: f64, integer: Option<f64>, fake_quant: f64) -> SweepPoint {
    SweepPoint {
        alpha,
        avg_bits: bits,
        avg_stored_bits: bits + 1.0,
        compression: 32.0 / bits.max(1e-9),
        float: Some(99.0),
        fake_quant,
        integer,
        run_dir: PathBuf::from(format!("out/alpha-{alpha:e}")),
    }
}

fn assert_finite_svg(s: &str) {
    assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"), "{s}");
    assert_balanced_xml(s);
    for bad in ["NaN", "inf"] {
        assert!(!s.contains(bad), "{bad} in\n{s}");
    }
}

#[test]
fn tiny_sweep_trains_the_float_model_once_and_reuses_finished_runs() {
    let out = std::env::temp_dir().join(format!("bsq-sweep-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg = SweepConfig {
        base: TrainConfig {
            builtin_size: 600,
            epochs_float: 1,
            epochs_bsq: 1,
            epochs_finetune: 1,
            verbose: false,
            ..TrainConfig::default()
        },
        alphas: vec![1e-2, 5e-2],
        out: out.clone(),
    };
    let r = sweep(&cfg).expect("sweep");
    assert_eq!(r.points.len(), 2);
    assert_eq!(r.reused, [false, false]);
    assert_eq!(r.points.iter().map(|p| p.alpha).collect::<Vec<_>>(), [1e-2, 5e-2]);

    // The float model was trained once, in OUT/float; the α runs started from it.
    let float_dir = out.join("float");
    assert_eq!(r.float_model, float_dir.join("ckpt").join("float.bpk"));
    assert!(r.float_model.is_file());
    let float_metrics = lines(&float_dir.join("metrics.jsonl"));
    assert_eq!(float_metrics.len(), 1, "{float_metrics:?}");
    assert!(float_metrics[0].contains("\"phase\":\"float\""));
    let float_acc = r.float_acc.expect("float accuracy");
    let mut metric_lines = Vec::new();
    for p in &r.points {
        assert_eq!(p.run_dir, out.join(format!("alpha-{:e}", p.alpha)));
        assert!(!p.run_dir.join("ckpt").join("float.bpk").exists(), "{}: pretrained again", p.run_dir.display());
        let m = lines(&p.run_dir.join("metrics.jsonl"));
        assert_eq!(m.len(), 2, "one BSQ and one finetune epoch: {m:?}");
        assert!(m.iter().all(|l| !l.contains("\"phase\":\"float\"")), "{m:?}");
        assert!(p.run_dir.join("summary.json").is_file() && p.run_dir.join("model.bsq.json").is_file());
        let f = p.float.expect("float accuracy of the starting model");
        assert!((f - float_acc).abs() < 1e-6, "run float {f} vs the float run's {float_acc}");
        assert!(p.avg_bits > 0.0 && p.avg_bits <= 8.0 && p.integer.is_some(), "{p:?}");
        metric_lines.push(m.len());
    }

    // The result files.
    let json: Vec<SweepPoint> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).expect("sweep.json");
    assert_eq!(json, r.points);
    let csv = lines(&out.join("sweep.csv"));
    assert_eq!(csv.len(), 3, "{csv:?}");
    assert_eq!(csv[0], "alpha,avg_bits,avg_stored_bits,compression,float,fake_quant,integer,run_dir");
    assert!(csv[1].starts_with("0.01,") && csv[2].starts_with("0.05,"), "{csv:?}");
    assert!(csv[1..].iter().all(|l| l.split(',').count() == 8), "{csv:?}");
    let svg = std::fs::read_to_string(out.join("sweep.svg")).unwrap();
    assert_finite_svg(&svg);
    assert_eq!(svg.matches("<circle").count(), 2);
    assert!(svg.contains("α=1e-2") && svg.contains("α=5e-2"), "{svg}");
    assert!(polylines(&svg, "#777777") > 1 && polylines(&svg, "#3B7DD8") == 1, "float line and curve");
    let table = sweep_table(&r.points);
    assert_eq!(table.lines().count(), 3);
    assert!(table.contains("1e-2") && table.contains("5e-2"));
    for (_, f) in &r.files {
        assert!(f.exists(), "{}", f.display());
    }

    // Re-running the same sweep reuses everything: no epoch is trained again.
    let t = std::time::Instant::now();
    let again = sweep(&cfg).expect("second sweep");
    assert_eq!(again.reused, [true, true]);
    assert_eq!(again.points, r.points);
    assert_eq!(lines(&float_dir.join("metrics.jsonl")).len(), 1);
    for (p, n) in again.points.iter().zip(&metric_lines) {
        assert_eq!(lines(&p.run_dir.join("metrics.jsonl")).len(), *n, "{}", p.run_dir.display());
    }
    assert!(t.elapsed().as_secs_f64() < 10.0, "reuse took {:?}", t.elapsed());

    // A run that lost its summary (killed during export) is resumed from its checkpoint: exported again
    // without training another epoch.
    let second = &r.points[1].run_dir;
    std::fs::remove_file(second.join("summary.json")).unwrap();
    let resumed = sweep(&cfg).expect("third sweep");
    assert_eq!(resumed.reused, [true, false]);
    assert!(second.join("summary.json").is_file());
    assert_eq!(lines(&second.join("metrics.jsonl")).len(), metric_lines[1]);
    assert_eq!(resumed.points[1].avg_bits, r.points[1].avg_bits);
    assert_eq!(lines(&float_dir.join("metrics.jsonl")).len(), 1);

    // Another recipe in the same directory is refused, naming the run and the setting (the float run does
    // not depend on the BSQ learning rate, so the first α run is the one refused).
    let mut other = cfg.clone();
    other.base.lr_bsq *= 2.0;
    match sweep(&other) {
        Err(e @ SweepError::Invalid(_)) => {
            let m = e.to_string();
            assert!(m.contains("alpha-1e-2") && m.contains("lr_bsq") && !m.contains("float was"), "{m}");
        }
        r => panic!("expected a recipe mismatch, got {r:?}"),
    }
    let mut other = cfg.clone();
    other.base.epochs_float = 2;
    match sweep(&other) {
        Err(e @ SweepError::Invalid(_)) => assert!(e.to_string().contains("epochs_float"), "{e}"),
        r => panic!("expected a recipe mismatch, got {r:?}"),
    }
    assert_eq!(lines(&float_dir.join("metrics.jsonl")).len(), 1, "nothing trained by refused sweeps");

    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn svg_of_a_single_point() {
    let s = sweep_svg("one <point> & more", &[point(1e-2, 2.5, Some(98.5), 98.4)], Some(99.0));
    assert_finite_svg(&s);
    assert_eq!(s.matches("<circle").count(), 1);
    assert_eq!(polylines(&s, "#3B7DD8"), 0, "no line through a single point");
    assert!(s.contains("α=1e-2") && s.contains("float 99.00%"));
    assert!(s.contains("one &lt;point&gt; &amp; more"), "title escaped");
    // Without a float accuracy there is no dashed line.
    let s = sweep_svg("t", &[point(1e-2, 2.5, Some(98.5), 98.4)], None);
    assert_finite_svg(&s);
    assert!(polylines(&s, "#777777") == 0 && !s.contains("float "));
}

#[test]
fn svg_with_equal_values() {
    // Equal bits, different accuracies; then everything equal; then 0 bits at 100%.
    for pts in [
        vec![point(1e-2, 2.0, Some(98.0), 97.0), point(2e-2, 2.0, Some(97.5), 97.0)],
        vec![point(1e-2, 2.0, Some(98.0), 97.0), point(2e-2, 2.0, Some(98.0), 97.0)],
        vec![point(1.0, 0.0, Some(100.0), 100.0), point(2.0, 0.0, Some(100.0), 100.0)],
    ] {
        let s = sweep_svg("equal", &pts, Some(98.0));
        assert_finite_svg(&s);
        assert_eq!(s.matches("<circle").count(), 2);
        assert_eq!(polylines(&s, "#3B7DD8"), 1);
    }
    // The integer accuracy is plotted; without one, the fake-quant one (a hollow point, explained).
    let s = sweep_svg("fallback", &[point(1e-2, 2.0, None, 97.0), point(2e-2, 1.5, Some(96.0), 95.0)], None);
    assert_finite_svg(&s);
    assert!(s.contains("hollow") && s.matches("fill=\"none\" stroke=\"#3B7DD8\"").count() == 1, "one hollow point");
    // No points at all: still a valid (empty) plot.
    assert_finite_svg(&sweep_svg("empty", &[], None));
}

#[test]
fn invalid_sweeps_are_refused_before_training() {
    let out = std::env::temp_dir().join(format!("bsq-sweep-invalid-{}", std::process::id()));
    let cfg = |alphas: Vec<f64>| SweepConfig { base: TrainConfig::default(), alphas, out: out.clone() };
    let msg = |c: SweepConfig| match sweep(&c) {
        Err(e @ SweepError::Invalid(_)) => e.to_string(),
        other => panic!("expected a validation error, got {other:?}"),
    };
    assert!(msg(cfg(vec![])).contains("no α given"));
    assert!(msg(cfg(vec![1e-2, -1e-2])).contains("-0.01"));
    assert!(msg(cfg(vec![f64::NAN])).contains("finite"));
    assert!(msg(cfg(vec![f64::INFINITY])).contains("finite"));
    assert!(msg(cfg(vec![1e-2, 2e-2, 0.01])).contains("1e-2 is given twice"));
    let mut c = cfg(vec![1e-2]);
    c.base.epochs_float = 0;
    assert!(msg(c).contains("nothing to start"));
    let mut c = cfg(vec![1e-2]);
    c.base.pretrained = Some(out.join("missing.bpk"));
    assert!(msg(c).contains("does not exist"));
    assert!(!out.exists(), "nothing written for an invalid sweep");
}

/// The number of `<polyline>` elements stroked in `color`: the curve is the only one in blue (`#3B7DD8`),
/// the float line's dashes are grey (`#777777`, plotters draws a dashed line as one polyline per dash);
/// the axes and ticks are black.
fn polylines(s: &str, color: &str) -> usize {
    s.split("<polyline")
        .skip(1)
        .filter(|t| t[..t.find('>').unwrap_or(0)].contains(&format!("stroke=\"{color}\"")))
        .count()
}
