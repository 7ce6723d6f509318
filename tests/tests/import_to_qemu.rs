//! Issue "any network, any data", end to end at small scale: a float ONNX network exported from PyTorch
//! (`bsq-train/tests/fixtures/onnx/lenet.onnx`) is imported (description + pretrained weights), trained
//! with BSQ from those weights on a `.npz` dataset written here (MNIST images), exported, compiled into
//! firmware and run on QEMU mps2-an386 (Cortex-M4): every output byte equals the host executor's.

use std::path::PathBuf;

use bsq_cli::deploy::{DataSpec, simulate};
use bsq_train::training::{TrainConfig, train};
use npyz::WriterBuilder;

/// The MNIST files: `../shared/data` beside the checkout (CI), else `BSQ_DATA_DIR`.
fn data_dir() -> PathBuf {
    let shared = bsq_tests::repo_root().join("../shared/data");
    let dir = if shared.join("mnist").is_dir() {
        shared
    } else {
        std::env::var_os("BSQ_DATA_DIR").map(PathBuf::from).unwrap_or(shared)
    };
    assert!(dir.join("mnist").is_dir(), "MNIST not found in {} (or BSQ_DATA_DIR)", dir.display());
    dir
}

fn add<T: npyz::AutoSerialize + Copy, W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    shape: &[u64],
    data: &[T],
) {
    let mut w = npz.array::<T>(name, Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

#[test]
fn imported_onnx_trained_on_npz_runs_byte_exact_on_qemu() {
    let out = std::env::temp_dir().join(format!("bsq-import-qemu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    // A Keras-convention .npz: uint8 images (N, 28, 28) and int64 labels.
    let mnist = bsq_train::data::load(bsq_train::data::DatasetKind::Mnist, Some(&data_dir()), 1, 0).unwrap();
    let (train_set, test_set) = (mnist.train.take(3000), mnist.test.take(300));
    let npz_path = out.join("digits.npz");
    let mut npz = npyz::npz::NpzWriter::create(&npz_path).unwrap();
    for (x, y, set) in [("x_train", "y_train", &train_set), ("x_test", "y_test", &test_set)] {
        add(&mut npz, x, &[set.len() as u64, 28, 28], &set.images);
        add(&mut npz, y, &[set.len() as u64], &set.labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
    }
    drop(npz);

    // bsq import: description + weights beside it.
    let onnx = bsq_tests::repo_root().join("bsq-train/tests/fixtures/onnx/lenet.onnx");
    let (mut desc, weights) = bsq_train::onnx::import(&onnx, Some("lenet-onnx")).expect("import");
    desc.weights = Some("lenet-onnx.npz".into());
    bsq_train::weights::save_npz(&out.join("lenet-onnx.npz"), &weights, &desc).unwrap();
    desc.save(&out.join("lenet-onnx.toml")).unwrap();

    let cfg = TrainConfig {
        model: out.join("lenet-onnx.toml").display().to_string(),
        dataset: npz_path.display().to_string(),
        epochs_float: 3, // ignored: BSQ starts from the imported weights
        epochs_bsq: 3,
        epochs_finetune: 2,
        lr_steps_bsq: Some(vec![]),
        out: out.join("run"),
        verbose: false,
        ..Default::default()
    };
    let s = train(&cfg).expect("training");
    let metrics = std::fs::read_to_string(out.join("run/metrics.jsonl")).unwrap();
    assert!(!metrics.contains("\"phase\":\"float\""), "no float pretraining from imported weights:\n{metrics}");
    let integer = s.accuracy.integer.expect("integer accuracy");
    assert!(integer >= 75.0, "integer accuracy {integer} after BSQ from the imported model");

    // The artifact's layers are the imported description's.
    let a = bsq_codegen::Artifact::load(&s.artifact).unwrap();
    let names: Vec<&str> = a.layers.iter().map(|l| l.name()).collect();
    let want: Vec<&str> = desc.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, want);

    // QEMU Cortex-M4: held-out inputs of the same .npz, every byte equal to the host's.
    let spec = DataSpec::parse(&npz_path.display().to_string(), None, None).unwrap();
    let (sim, device_acc) = simulate(&s.artifact, "mps2-an386", Some(&spec), 8, None).expect("simulate");
    assert_eq!(sim.inputs.len(), 8);
    assert!(sim.bit_exact(), "{:?}", sim.inputs.iter().map(|x| &x.matches).collect::<Vec<_>>());
    assert!(device_acc.is_some_and(|a| a >= 50.0), "device accuracy {device_acc:?}");
    std::fs::remove_dir_all(&out).ok();
}
