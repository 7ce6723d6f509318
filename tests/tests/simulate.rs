//! `simulate`: a user's artifact built into `boards/example-app` by its build.rs, run under QEMU, and
//! compared byte for byte with the host executor; a model too big for the board is refused at build time
//! with a message naming the budget.

use std::time::Duration;

use bsq_tests::simulate::{SimOptions, simulate};

fn opts(machine: &str, fixture: &str) -> SimOptions {
    SimOptions {
        machine: machine.into(),
        artifact: bsq_tests::repo_root().join(format!("codegen/fixtures/{fixture}.bsq.json")),
        inputs: Vec::new(),
        count: 3,
        work_dir: None,
        root: None,
        timeout: Duration::from_secs(60),
    }
}

#[test]
fn example_app_is_bit_exact_on_cortex_m4_and_m3() {
    for (machine, fixture) in [("mps2-an386", "resblock"), ("lm3s6965evb", "convnet")] {
        let r = simulate(&opts(machine, fixture)).unwrap_or_else(|e| panic!("{machine}: {e}"));
        assert_eq!(r.inputs.len(), 3);
        for (i, x) in r.inputs.iter().enumerate() {
            assert!(x.matches.is_ok(), "{machine} {fixture} input {i}: {:?}", x.matches);
            assert_eq!(x.device.as_deref(), Some(&x.host[..]), "{machine} input {i}");
        }
        assert!(r.bit_exact());
        assert!(r.instructions().is_some_and(|n| n > r.macs), "{machine}: instruction count {:?}", r.instructions());
        assert!(r.flash > 0 && r.ram > 0);
    }
}

#[test]
fn a_model_too_big_for_the_board_fails_the_build_naming_the_budget() {
    // The Cortex-M0 micro:bit has 16 KiB of RAM; a 64x64x16 activation (65536 B) cannot fit.
    let dir = std::env::temp_dir().join(format!("bsq-sim-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = bsq_codegen::fixtures::fixture("convnet").unwrap();
    a.input.shape = [64, 64, 1];
    a.scheme.clear();
    if let bsq_codegen::artifact::Layer::Dense(d) = a.layers.last_mut().unwrap() {
        d.in_features = 16 * 16 * 16;
        d.weight.values = vec![1; 10 * 16 * 16 * 16];
    }
    let path = dir.join("big.bsq.json");
    a.save(&path).unwrap();
    let mut o = opts("microbit", "convnet");
    o.artifact = path;
    o.work_dir = Some(dir.clone());
    let e = simulate(&o).unwrap_err().to_string();
    assert!(e.contains("bytes of RAM but the budget is"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression (issue 15, bug 3): an artifact whose `output` is not its last layer. The device prints the
/// output tensor; `simulate` must compare it with the host's output tensor, not with the last layer's bytes.
#[test]
fn an_output_that_is_not_the_last_layer_is_compared_as_the_output() {
    let dir = std::env::temp_dir().join(format!("bsq-sim-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = bsq_codegen::fixtures::fixture("mlp").unwrap();
    // mlp is flatten → fc1 (32) → fc2 (10); make fc1 the output, fc2 then runs but is not the output.
    a.output = "fc1".into();
    a.labels = (0..32).map(|i| format!("u{i}")).collect();
    let path = dir.join("mid-output.bsq.json");
    a.save(&path).unwrap();
    let mut o = opts("mps2-an386", "mlp");
    o.artifact = path;
    o.work_dir = Some(dir.clone());
    let r = simulate(&o).unwrap_or_else(|e| panic!("{e}"));
    for (i, x) in r.inputs.iter().enumerate() {
        assert!(x.matches.is_ok(), "input {i}: {:?}", x.matches);
        assert_eq!(x.host.len(), 32, "the host output is fc1's tensor");
        assert_eq!(x.device.as_deref(), Some(&x.host[..]), "input {i}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
