//! The whole pipeline at small scale, as `bsq demo` runs it: BSQ training on the built-in dataset (one short
//! epoch per phase) → artifact → codegen → firmware on QEMU (Cortex-M4 mps2-an386 and the Cortex-M3
//! lm3s6965evb budget) → every output byte-identical to the host executor, and a sane accuracy.

use bsq_cli::demo::{DemoConfig, demo};

#[test]
fn demo_pipeline_is_bit_exact_on_qemu_with_a_sane_accuracy() {
    let out = std::env::temp_dir().join(format!("bsq-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg = DemoConfig {
        out: out.clone(),
        epochs: [1, 1, 1],
        train_limit: 2000,
        device_inputs: 8,
        verbose: false,
        ..DemoConfig::default()
    };
    let r = demo(&cfg).unwrap_or_else(|e| panic!("demo failed: {e}"));
    // Byte-exact on both machines, every input.
    assert_eq!(r.sims.len(), 2);
    for (sim, device_acc) in &r.sims {
        assert!(sim.bit_exact(), "{}: {:?}", sim.machine, sim.inputs.iter().map(|x| &x.matches).collect::<Vec<_>>());
        assert_eq!(sim.inputs.len(), 8);
        assert!(sim.instructions().is_some_and(|n| n > sim.macs), "{}: no instruction count", sim.machine);
        assert!(device_acc.is_some_and(|a| a >= 50.0), "{}: device accuracy {device_acc:?}", sim.machine);
    }
    // The built-in dataset is easy: far above chance (10 classes) after one epoch per phase.
    let acc = r.train.accuracy.integer.expect("integer accuracy measured");
    assert!(acc >= 80.0, "integer accuracy {acc}");
    assert!(
        (acc - r.train.accuracy.fake_quant).abs() <= 2.0,
        "integer {acc} vs fake-quant {}",
        r.train.accuracy.fake_quant
    );
    // Every promised file exists.
    for f in
        ["model.bsq.json", "scheme.txt", "scheme.svg", "summary.json", "metrics.jsonl", "model.rs", "memory-report.txt"]
    {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(r.text.contains("bit-exact host ≡ device: yes"));
    // `bsq export` rebuilds the same integer model from the checkpoint.
    let again =
        bsq_train::training::export_run(&out, Some(&out.join("copy.bsq.json"))).expect("export from the checkpoint");
    assert_eq!(again.accuracy.integer, r.train.accuracy.integer);
    let a = bsq_codegen::Artifact::load(&out.join("copy.bsq.json")).unwrap();
    let b = bsq_codegen::Artifact::load(&r.train.artifact).unwrap();
    assert_eq!(a.layers, b.layers, "re-exported layers differ");
    std::fs::remove_dir_all(&out).ok();
}
