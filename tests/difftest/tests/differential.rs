//! The differential test (issue 15): random valid artifacts from [`bsq_difftest::generate`] run by the
//! independent model [`bsq_difftest::spec`] and by bsq (`bsq_codegen`: loader, lowering, host executor),
//! byte for byte on every layer and the network output; models either side refuses must be refused by
//! both, for the same documented reason and layer. `cargo run --release -p bsq-difftest --example difftest
//! -- --count 100000` runs the same check on many more models.

mod common;

use bsq_difftest::generate::GenOptions;
use common::{Agreement, Tally, check_seed, failures_dir};

/// Models per test run (about 4 s in release).
const MODELS: u64 = 2000;
/// Inputs per model.
const INPUTS: usize = 4;

#[test]
fn random_models_agree_with_the_independent_model_byte_for_byte() {
    let opts = GenOptions::default();
    let dir = failures_dir();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for seed in 0..MODELS {
        match check_seed(seed, &opts, INPUTS, Some(&dir)) {
            Ok((a, n)) => tally.add(a, n),
            Err(e) => failures.push(e),
        }
    }
    println!("{}", tally.summary());
    assert!(failures.is_empty(), "{} of {MODELS} models disagree:\n{}", failures.len(), failures.join("\n"));
    // The generator's mix: most models run, some are refused by lowering; none is invalid.
    assert!(tally.ran() as f64 >= 0.7 * MODELS as f64, "{}", tally.summary());
    assert_eq!(tally.by_kind.get(&Agreement::Invalid), None, "{}", tally.summary());
    assert!(tally.by_kind.keys().filter(|k| matches!(k, Agreement::Refused(_))).count() >= 3, "{}", tally.summary());
}

/// Corrupting a model (one field set to a value the rules forbid) is refused by both sides for the same
/// layer: the validators agree, not only the executors.
#[test]
fn corrupted_models_are_refused_by_both_at_the_same_layer() {
    let opts = GenOptions::default();
    let mut checked = 0;
    for seed in 0..60u64 {
        let mut doc = bsq_difftest::generate::artifact(seed, &opts);
        let layers = doc["layers"].as_array_mut().expect("layers");
        let i = (seed as usize * 7) % layers.len();
        let layer = &mut layers[i];
        // One forbidden value per op kind.
        match layer["op"].as_str().unwrap_or_default() {
            "conv2d" => layer["padding"][0] = 1000.into(),
            "dense" => layer["in_features"] = 0.into(),
            "max_pool" | "avg_pool" => layer["stride"][1] = 0.into(),
            "add" => layer["out"]["bits"] = 9.into(),
            "concat" => layer["inputs"] = serde_json::json!([layer["inputs"][0].clone()]),
            "flatten" | "global_avg_pool" => layer["input"] = "nowhere".into(),
            op => panic!("unknown op {op}"),
        }
        let text = serde_json::to_string(&doc).unwrap();
        let r = common::compare_text(&text, &[]);
        assert_eq!(r, Ok(Agreement::Invalid), "seed {seed}, layer {i}");
        checked += 1;
    }
    assert_eq!(checked, 60);
}

/// Models with an input zero point (about a fifth of the generated ones): most of them run, byte for byte
/// equal, with padded convolutions (the border is the byte z) and dense layers on the input among them.
#[test]
fn zero_pointed_models_agree_and_mostly_run() {
    let opts = GenOptions::default();
    let dir = failures_dir();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut padded = 0;
    for seed in 0..MODELS {
        let doc = bsq_difftest::generate::artifact(seed, &opts);
        if doc["input"].get("zero_point").and_then(|z| z.as_u64()).unwrap_or(0) == 0 {
            continue;
        }
        match check_seed(seed, &opts, INPUTS, Some(&dir)) {
            Ok((a, n)) => {
                // A padded convolution reading the (zero-pointed) input directly, in a model that ran.
                let reads_input_padded = doc["layers"].as_array().unwrap().iter().any(|l| {
                    l["op"] == "conv2d"
                        && l["input"] == "input"
                        && l["padding"].as_array().unwrap().iter().any(|p| p.as_u64() != Some(0))
                });
                if a == Agreement::Ran && reads_input_padded {
                    padded += 1;
                }
                tally.add(a, n)
            }
            Err(e) => failures.push(e),
        }
    }
    println!("zero-pointed models: {}", tally.summary());
    assert!(failures.is_empty(), "{} zero-pointed models disagree:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.models() >= 300, "{}", tally.summary());
    assert!(tally.ran() as f64 >= 0.7 * tally.models() as f64, "{}", tally.summary());
    assert!(padded >= 50, "only {padded} zero-pointed models that ran have a padded convolution on the input");
}

/// A pool, a global average pool or an add reading the zero-pointed input is refused by both at that layer.
#[test]
fn readers_of_a_zero_pointed_input_are_refused_by_both() {
    let input = r#"{"shape": [4, 4, 2], "scale": 0.1, "zero_point": 100}"#;
    let cases = [
        (r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [2, 2], "stride": [2, 2]}"#, 8),
        (r#"{"op": "avg_pool", "name": "p", "input": "input", "kernel": [2, 2], "stride": [2, 2]}"#, 8),
        (r#"{"op": "global_avg_pool", "name": "p", "input": "input"}"#, 2),
        (
            r#"{"op": "add", "name": "p", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#,
            32,
        ),
        (
            r#"{"op": "flatten", "name": "f", "input": "input"},
               {"op": "avg_pool", "name": "p", "input": "f", "kernel": [1, 1], "stride": [1, 1]}"#,
            32,
        ),
        (
            r#"{"op": "concat", "name": "p", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#,
            64,
        ),
    ];
    for (layers, labels) in cases {
        let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
        let text = format!(
            r#"{{"format": "bsq-artifact", "version": 1, "name": "zp",
                "provenance": {{"tool": "t", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
                "labels": [{}], "input": {input}, "layers": [{layers}], "output": "p"}}"#,
            labels.join(",")
        );
        assert_eq!(common::compare_text(&text, &[]), Ok(Agreement::Invalid), "{layers}");
        let spec = bsq_difftest::spec::load(&text).unwrap_err();
        assert_eq!(spec.invalid_at().map(|(l, _)| l), Some("p"), "{layers}");
        // Without the zero point both load and run it.
        let plain = text.replace(r#", "zero_point": 100"#, "");
        assert_eq!(common::compare_text(&plain, &[vec![7; 32]]), Ok(Agreement::Ran), "{layers}");
    }
}

/// Models with a padded `max_pool` or `avg_pool` (about one in ten): byte for byte equal, and most of them
/// run.
#[test]
fn padded_pool_models_agree_and_mostly_run() {
    let opts = GenOptions::default();
    let dir = failures_dir();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for seed in 0..MODELS {
        let doc = bsq_difftest::generate::artifact(seed, &opts);
        let padded = doc["layers"].as_array().unwrap().iter().any(|l| {
            l["op"].as_str().is_some_and(|op| op.ends_with("_pool"))
                && l.get("padding").and_then(|p| p.as_array()).is_some_and(|p| p.iter().any(|v| v.as_u64() != Some(0)))
        });
        if !padded {
            continue;
        }
        match check_seed(seed, &opts, INPUTS, Some(&dir)) {
            Ok((a, n)) => tally.add(a, n),
            Err(e) => failures.push(e),
        }
    }
    println!("models with a padded pool: {}", tally.summary());
    assert!(failures.is_empty(), "{} models with padded pools disagree:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.ran() >= 100, "{}", tally.summary());
}

/// Models with a `concat` (about a third): byte for byte equal, most of them run, and the generated concats
/// cover what the kernel distinguishes: an input copied (the output's own quantization), rescaled inputs,
/// signed and unsigned outputs, mixed signedness, more than two inputs, a repeated input, the network input.
#[test]
fn concat_models_agree_and_cover_the_cases() {
    let opts = GenOptions::default();
    let dir = failures_dir();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for seed in 0..MODELS {
        let doc = bsq_difftest::generate::artifact(seed, &opts);
        let layers = doc["layers"].as_array().unwrap();
        let quant = |name: &str| {
            layers.iter().find(|l| l["name"] == name).map(|l| l["out"].clone()).unwrap_or(serde_json::Value::Null)
        };
        let cats: Vec<&serde_json::Value> = layers.iter().filter(|l| l["op"] == "concat").collect();
        if cats.is_empty() {
            continue;
        }
        let result = check_seed(seed, &opts, INPUTS, Some(&dir));
        let ran = matches!(result, Ok((Agreement::Ran, _)));
        match result {
            Ok((a, n)) => tally.add(a, n),
            Err(e) => failures.push(e),
        }
        for l in cats {
            let ins: Vec<&str> = l["inputs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            let out = &l["out"];
            let mut mark = |k: &'static str, cond: bool| {
                if cond {
                    *seen.entry(k).or_default() += 1;
                }
            };
            if !ran {
                continue;
            }
            mark("copied input", ins.iter().any(|i| quant(i) == *out));
            mark("rescaled input", ins.iter().any(|i| quant(i) != *out));
            mark("signed output", out["signed"] == true);
            mark("unsigned output", out["signed"] == false);
            let signs: Vec<bool> = ins.iter().map(|i| quant(i)["signed"] == true).collect();
            mark("mixed signedness", signs.contains(&true) && signs.contains(&false));
            mark("three or more inputs", ins.len() >= 3);
            mark("repeated input", (1..ins.len()).any(|k| ins[..k].contains(&ins[k])));
            mark("network input", ins.contains(&"input"));
        }
    }
    println!("models with a concat: {}; cases {seen:?}", tally.summary());
    assert!(failures.is_empty(), "{} models with concats disagree:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.ran() >= 300, "{}", tally.summary());
    for case in [
        "copied input",
        "rescaled input",
        "signed output",
        "unsigned output",
        "mixed signedness",
        "three or more inputs",
        "repeated input",
        "network input",
    ] {
        assert!(seen.get(case).copied().unwrap_or(0) >= 5, "too few concats with {case}: {seen:?}");
    }
}
