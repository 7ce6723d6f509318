//! Must-hold properties of the trainer: ResNet-20 parameter count and the HAWQ compression check, and a
//! short real training run on the built-in dataset whose exported artifact loads and runs.

use bsq_train::graph::Graph;
use bsq_train::model::QModel;
use bsq_train::training::{TrainConfig, bit_totals, compression, scheme_of, train};
use burn::tensor::Device;

#[test]
fn resnet20_quantized_parameter_count_is_268346() {
    let mut m = Graph::builtin("resnet20", [32, 32, 3], 10, 4, 0, &Device::flex()).unwrap();
    let scheme = scheme_of(&mut m);
    let (params, _) = bit_totals(&scheme);
    assert_eq!(params, 268_346, "convs + fc weights + fc bias, downsample excluded");
    let downsample: usize = scheme.iter().filter(|s| !s.3).map(|s| s.1).sum();
    assert_eq!(downsample, 16 * 32 + 32 * 64);
}

#[test]
fn hawq_scheme_gives_13_107x() {
    let mut m = Graph::builtin("resnet20", [32, 32, 3], 10, 4, 0, &Device::flex()).unwrap();
    let bits = |name: &str| -> u8 {
        if name == "stem" {
            8
        } else if name.starts_with("layer1.0") || name.starts_with("layer1.1") {
            6
        } else if name.starts_with("layer1.2") {
            8
        } else if name.starts_with("layer2") {
            3
        } else if name.starts_with("layer3") {
            2
        } else {
            assert!(name.starts_with("fc"), "{name}");
            3
        }
    };
    let pb: Vec<(usize, u8)> = scheme_of(&mut m).iter().filter(|s| s.3).map(|s| (s.1, bits(&s.0))).collect();
    let c = compression(&pb);
    assert!((c - 13.107).abs() < 5e-4, "compression {c}");
}

#[test]
fn short_builtin_run_exports_a_loadable_artifact_and_resumes() {
    let out = std::env::temp_dir().join(format!("bsq-train-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg = TrainConfig {
        model: "lenet".into(),
        builtin_size: 1200,
        epochs_float: 1,
        epochs_bsq: 2,
        epochs_finetune: 1,
        alpha: 2e-2,
        lr_bsq: 2e-2,
        out: out.clone(),
        verbose: false,
        ..Default::default()
    };
    let s = train(&cfg).expect("training");
    assert!(s.accuracy.fake_quant > 90.0, "fake-quant accuracy {}", s.accuracy.fake_quant);
    let a = bsq_codegen::Artifact::load(&out.join("model.bsq.json")).expect("artifact loads");
    assert_eq!(a.input.shape, [28, 28, 1]);
    assert_eq!(a.layers.len(), 6);
    assert!(a.provenance.tool.starts_with("bsq-train "));
    assert!(s.accuracy.integer.is_some(), "the artifact must compile and run on the host executor");
    for f in ["metrics.jsonl", "scheme.txt", "scheme.svg", "summary.json", "ckpt/state.json", "ckpt/float.bpk"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // The state names the last epoch's model and optimizer files; older epochs' files are gone.
    let state = bsq_train::training::read_state(&out.join("ckpt/state.json")).expect("state");
    assert_eq!(state.model_file, "model-finetune-1.bpk");
    assert_eq!(state.optim_file.as_deref(), Some("optim-finetune-1.bpk"));
    assert_eq!(state.metrics_lines, 4);
    let mut files: Vec<String> =
        std::fs::read_dir(out.join("ckpt")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["float.bpk", "model-finetune-1.bpk", "optim-finetune-1.bpk", "state.json"]);
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 4);

    // Resume: the checkpoint (with the learned, possibly reduced bit widths) loads and the run finishes.
    let s2 = train(&TrainConfig { resume: true, ..cfg }).expect("resume");
    assert_eq!(s2.avg_bits, s.avg_bits);
    assert!((s2.accuracy.fake_quant - s.accuracy.fake_quant).abs() < 1e-9);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn qmodel_forward_shapes() {
    use bsq_train::model::Ctx;
    use burn::tensor::Tensor;
    let d = Device::flex();
    let x = Tensor::<4>::zeros([2, 1, 28, 28], &d);
    let l = Graph::builtin("lenet", [28, 28, 1], 10, 4, 0, &d).unwrap();
    assert_eq!(l.forward(x.clone(), &mut Ctx::train(true)).dims(), [2, 10]);
    let m = Graph::builtin("mlp", [28, 28, 1], 4, 4, 0, &d).unwrap();
    assert_eq!(m.forward(x, &mut Ctx::train(false)).dims(), [2, 4]);
}

#[test]
fn regularizer_is_memory_reweighted_sum_of_bit_group_norms() {
    use bsq_train::bsq::{IntWeight, QWeight};
    use bsq_train::model::map_q;
    use bsq_train::training::regularizer;
    let d = Device::flex().autodiff();
    // Every weight k = 1 at 2 bits: plane 0 is all zero (sqrt(ε)), plane 1 all ones (sqrt(numel)).
    let mut m = map_q(Graph::builtin("mlp", [2, 2, 1], 2, 4, 0, &d).unwrap(), &mut |_, q: QWeight, _| {
        QWeight::from_int(&IntWeight { bits: 2, scale: 1.0, k: vec![1; q.numel] }, true, &d)
    });
    let scheme = scheme_of(&mut m);
    let (total, _) = bit_totals(&scheme);
    let want: f64 = scheme
        .iter()
        .map(|(_, n, _, _)| (*n as f64 * 2.0 / total as f64) * (1e-8f64.sqrt() + (*n as f64 + 1e-8).sqrt()))
        .sum();
    let r = bsq_train::bsq::to_vec(regularizer(&mut m, total).unwrap())[0] as f64;
    assert!((r - want).abs() < 1e-3 * want, "R = {r}, want {want}");
}

/// The built-in descriptions parse and build; the four MLPerf Tiny reference models have the parameter
/// (batch norm folded) and multiply-accumulate counts of the MLPerf Tiny tables, and the trainer builds
/// and runs each of them (forward shapes).
#[test]
fn builtin_descriptions_and_mlperf_tiny_counts() {
    use bsq_codegen::desc::DataShape;
    use bsq_train::graph::{BUILTINS, Build, builtin};
    use bsq_train::model::Ctx;
    use burn::tensor::Tensor;
    let want = [
        ("resnet8", [32, 32, 3], 10, 77_706, 12_501_632),
        ("ds-cnn", [49, 10, 1], 12, 22_604, 2_656_768),
        ("mobilenet-v1-0.25", [96, 96, 3], 2, 210_850, 7_489_664),
        ("fc-autoencoder", [1, 1, 640], 640, 265_864, 264_192),
    ];
    let d = Device::flex();
    for (name, input, outputs, params, macs) in want {
        let desc = builtin(name).unwrap_or_else(|| panic!("{name} parses"));
        let data = DataShape { input, outputs };
        let r = desc.resolve(data, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.counts(), (params, macs), "{name}");
        let build = Build { data, input: bsq_train::data::InputMap::IMAGE, act_bits: 4, seed: 0, pretrained: None };
        let g = Graph::new(&desc, None, &build, &d).unwrap_or_else(|e| panic!("{name}: {e}"));
        let x = Tensor::<4>::zeros([2, input[2], input[0], input[1]], &d);
        assert_eq!(g.forward(x, &mut Ctx::train(true)).dims(), [2, outputs], "{name}");
    }
    for (name, _) in BUILTINS {
        assert!(builtin(name).is_some(), "{name}");
    }
}

/// The MLP and ResNet-20 description files train as the hand-written models did (same data as the LeNet
/// run above: the built-in dataset, one short epoch per phase) and export artifacts that run.
#[test]
fn mlp_and_resnet20_descriptions_train_on_the_builtin_data() {
    for (model, images, min_acc) in [("mlp", 1200, 70.0), ("resnet20", 400, 50.0)] {
        let out = std::env::temp_dir().join(format!("bsq-train-{model}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let cfg = TrainConfig {
            model: model.into(),
            builtin_size: images,
            epochs_float: 2,
            epochs_bsq: 1,
            epochs_finetune: 1,
            lr_steps_bsq: Some(vec![]),
            out: out.clone(),
            verbose: false,
            ..Default::default()
        };
        let s = train(&cfg).unwrap_or_else(|e| panic!("{model}: {e}"));
        let integer = s.accuracy.integer.unwrap_or_else(|| panic!("{model}: no integer accuracy"));
        assert!(integer >= min_acc, "{model}: integer accuracy {integer} (4 classes, chance 25%)");
        std::fs::remove_dir_all(&out).ok();
    }
}
