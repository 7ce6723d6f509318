//! The QEMU sample of the differential tester (issue 15): a handful of random models from
//! `bsq_difftest::generate`, chosen to cover every op, an output that is not the last layer and signed
//! outputs, each built into `boards/example-app` and run under QEMU through `simulate` (what `bsq simulate`
//! runs). The device's bytes must equal the host executor's (checked by `simulate`, every layer) and the
//! independent model's (`bsq_difftest::spec`, checked here), byte for byte.

use std::collections::BTreeSet;
use std::time::Duration;

use bsq_difftest::generate::{GenOptions, artifact, input_bytes};
use bsq_difftest::spec;
use bsq_tests::simulate::{SimOptions, simulate};

/// The features a model shows: its ops, `output-not-last`, `signed-output`.
fn features(doc: &serde_json::Value) -> BTreeSet<String> {
    let layers = doc["layers"].as_array().cloned().unwrap_or_default();
    let mut f: BTreeSet<String> = layers.iter().filter_map(|l| l["op"].as_str().map(String::from)).collect();
    let output = doc["output"].as_str().unwrap_or_default();
    if layers.last().and_then(|l| l["name"].as_str()) != Some(output) {
        f.insert("output-not-last".into());
    }
    if layers.iter().any(|l| l["name"].as_str() == Some(output) && l["out"]["signed"] == true) {
        f.insert("signed-output".into());
    }
    f
}

/// Seeds of accepted models, greedily chosen so that each adds a feature not yet covered or shows at least
/// five (deterministic).
fn sample(max_models: usize) -> Vec<(u64, String, BTreeSet<String>)> {
    let opts = GenOptions::default();
    let mut covered = BTreeSet::new();
    let mut chosen = Vec::new();
    for seed in 0..5000u64 {
        let doc = artifact(seed, &opts);
        let text = serde_json::to_string_pretty(&doc).expect("json");
        if spec::load(&text).is_err() {
            continue;
        }
        let f = features(&doc);
        let new = f.iter().any(|x| !covered.contains(x));
        if f.len() >= 3 && (new || f.len() >= 5) {
            covered.extend(f.iter().cloned());
            chosen.push((seed, text, f));
            if chosen.len() == max_models {
                break;
            }
        }
    }
    for needed in ["conv2d", "dense", "max_pool", "avg_pool", "global_avg_pool", "flatten", "add", "output-not-last"] {
        assert!(covered.contains(needed), "the sample misses {needed}: {covered:?}");
    }
    chosen
}

#[test]
fn random_models_on_qemu_equal_the_independent_model() {
    let dir = std::env::temp_dir().join(format!("bsq-difftest-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let models = sample(8);
    assert_eq!(models.len(), 8);
    // Most on the Cortex-M4 (the reference machine), the others on the M33, the M0 and the M3.
    let machines =
        ["mps2-an386", "mps2-an386", "mps2-an386", "mps2-an505", "microbit", "lm3s6965evb", "mps2-an386", "mps2-an505"];
    for ((seed, text, f), machine) in models.iter().zip(machines.iter().cycle()) {
        let path = dir.join(format!("diff-{seed}.bsq.json"));
        std::fs::write(&path, text).unwrap();
        let model = spec::load(text).unwrap();
        let inputs = input_bytes(*seed, model.input_len(), 3);
        let opts = SimOptions {
            machine: machine.to_string(),
            artifact: path,
            inputs: inputs.clone(),
            count: inputs.len(),
            work_dir: Some(dir.clone()),
            root: None,
            timeout: Duration::from_secs(60),
        };
        let r = simulate(&opts).unwrap_or_else(|e| panic!("seed {seed} ({f:?}) on {machine}: {e}"));
        for (i, (x, res)) in inputs.iter().zip(&r.inputs).enumerate() {
            assert!(res.matches.is_ok(), "seed {seed} on {machine}, input {i}: {:?}", res.matches);
            let (_, expected) = model.run(x).unwrap();
            assert_eq!(res.device.as_deref(), Some(&expected[..]), "seed {seed} ({f:?}) on {machine}, input {i}");
        }
        println!("seed {seed} on {machine}: {f:?}, {} inputs byte-exact", inputs.len());
    }
    std::fs::remove_dir_all(&dir).ok();
}
