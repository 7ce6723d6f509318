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
