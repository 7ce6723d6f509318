//! The trainer on the user's own network and data: a description file and an image folder, a float
//! `.npz` reconstruction task (autoencoder, signed features with a zero point), each trained for real on
//! small files this test writes, through to an artifact that the host executor runs.

use std::path::{Path, PathBuf};

use bsq_train::training::{TrainConfig, train};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bsq-any-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A 16×16 grey image: a horizontal (class 0) or vertical (class 1) bar at a seeded position, over noise.
fn bar(class: usize, seed: u64) -> image::GrayImage {
    let mut rng = bsq_train::data::Rng::new(seed);
    let mut next = move || rng.next_u64();
    let at = 3 + (next() % 10) as u32;
    image::GrayImage::from_fn(16, 16, |x, y| {
        let on = if class == 0 { y == at || y == at + 1 } else { x == at || x == at + 1 };
        image::Luma([if on { 200 + (next() % 55) as u8 } else { (next() % 60) as u8 }])
    })
}

fn write_folder(root: &Path, split: &str, per_class: usize, seed: u64) {
    for (c, name) in ["horizontal", "vertical"].iter().enumerate() {
        let d = root.join(split).join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..per_class {
            bar(c, seed + (i * 2 + c) as u64).save(d.join(format!("{i:04}.png"))).unwrap();
        }
    }
}

const CNN: &str = r#"
format = "bsq-model"
version = 1
name = "bars"

[[layers]]
op = "conv2d"
name = "features"
out_channels = 8
kernel = [3, 5]
padding = "same"
activation = "pact"

[[layers]]
op = "max_pool"
name = "pool"
kernel = 3
stride = 2
padding = 1

[[layers]]
op = "avg_pool"
name = "smooth"
kernel = 3
stride = 1
padding = [1, 1, 1, 1]

[[layers]]
op = "dense"
name = "classifier"
activation = "none"
"#;

#[test]
fn description_file_on_an_image_folder_trains_and_exports_its_layers() {
    let dir = tmp("folder");
    write_folder(&dir.join("data"), "train", 150, 1);
    write_folder(&dir.join("data"), "test", 40, 10_000);
    std::fs::write(dir.join("bars.toml"), CNN).unwrap();
    let cfg = TrainConfig {
        model: dir.join("bars.toml").display().to_string(),
        dataset: dir.join("data").display().to_string(),
        epochs_float: 2,
        epochs_bsq: 2,
        epochs_finetune: 1,
        lr_bsq: 1e-2,
        lr_steps_bsq: Some(vec![]),
        out: dir.join("run"),
        verbose: false,
        ..Default::default()
    };
    let s = train(&cfg).expect("training");
    assert!(s.accuracy.fake_quant > 90.0, "fake-quant accuracy {}", s.accuracy.fake_quant);
    let integer = s.accuracy.integer.expect("the artifact runs on the host executor");
    assert!(integer > 90.0, "integer accuracy {integer}");
    // The padded max and average pools export what was trained (80 test images: 1 image = 1.25 pp).
    assert!(
        (integer - s.accuracy.fake_quant).abs() <= 2.5,
        "integer {integer} vs fake-quant {}",
        s.accuracy.fake_quant
    );
    let a = bsq_codegen::Artifact::load(&dir.join("run/model.bsq.json")).unwrap();
    let names: Vec<&str> = a.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["features", "pool", "smooth", "classifier"]);
    match &a.layers[2] {
        bsq_codegen::artifact::Layer::AvgPool(p) => assert_eq!(p.padding, Some([1, 1, 1, 1])),
        l => panic!("{l:?}"),
    }
    assert_eq!(a.input.shape, [16, 16, 1]);
    assert_eq!(a.labels, ["horizontal", "vertical"]);
    match &a.layers[0] {
        bsq_codegen::artifact::Layer::Conv2d(c) => {
            assert_eq!((c.kernel, c.padding), ([3, 5], [1, 2, 1, 2]));
        }
        l => panic!("{l:?}"),
    }
    // The description is saved in the checkpoint: resuming needs neither the file nor its path.
    std::fs::remove_file(dir.join("bars.toml")).unwrap();
    let s2 = train(&TrainConfig { resume: true, ..cfg }).expect("resume");
    assert_eq!(s2.avg_bits, s.avg_bits);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn description_errors_name_the_file_layer_and_field() {
    let dir = tmp("errors");
    let bad = CNN.replace("stride = 2\npadding = 1", "stride = 2\npadding = 1\ninput = \"nothing\"");
    std::fs::write(dir.join("bad.toml"), &bad).unwrap();
    let cfg = TrainConfig {
        model: dir.join("bad.toml").display().to_string(),
        dataset: "builtin".into(),
        builtin_size: 64,
        out: dir.join("run"),
        verbose: false,
        ..Default::default()
    };
    let e = train(&cfg).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("layer `pool`, field `input`: no layer is named `nothing`"), "{e}");
    let e =
        train(&TrainConfig { model: dir.join("missing.toml").display().to_string(), ..cfg }).unwrap_err().to_string();
    assert!(e.contains("missing.toml") && e.contains("not a built-in model"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn add_npz<W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    shape: &[u64],
    data: &[f32],
) {
    use npyz::WriterBuilder;
    let mut w = npz.array::<f32>(name, Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// `n` windows of 16 samples of `a·sin(2π·f·t + φ)`: signed float features, as a sensor gives.
fn waves(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = bsq_train::data::Rng::new(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32;
    let mut v = Vec::with_capacity(n * 16);
    for _ in 0..n {
        let (a, f, p) = (0.5 + uniform(), 1.0 + 2.0 * uniform(), std::f32::consts::TAU * uniform());
        v.extend((0..16).map(|t| a * (std::f32::consts::TAU * f * t as f32 / 16.0 + p).sin()));
    }
    v
}

const AUTOENCODER: &str = r#"
format = "bsq-model"
version = 1
name = "waves-ae"

[[layers]]
op = "dense"
name = "encoder"
out_features = 12
activation = "pact"

[[layers]]
op = "dense"
name = "decoder"
activation = "none"
"#;

#[test]
fn float_npz_reconstruction_gets_a_zero_point_and_an_integer_mse() {
    let dir = tmp("npz");
    let (x_train, x_test) = (waves(600, 1), waves(150, 2));
    let mut npz = npyz::npz::NpzWriter::create(dir.join("waves.npz")).unwrap();
    add_npz(&mut npz, "x_train", &[600, 16], &x_train);
    add_npz(&mut npz, "x_test", &[150, 16], &x_test);
    drop(npz);
    std::fs::write(dir.join("ae.toml"), AUTOENCODER).unwrap();
    let cfg = TrainConfig {
        model: dir.join("ae.toml").display().to_string(),
        dataset: dir.join("waves.npz").display().to_string(),
        task: Some("reconstruction".into()),
        epochs_float: 8,
        epochs_bsq: 2,
        epochs_finetune: 2,
        batch_size: 32,
        lr: 5e-3,
        alpha: 1e-3,
        out: dir.join("run"),
        verbose: false,
        ..Default::default()
    };
    let s = train(&cfg).expect("training");
    let baseline = x_test.iter().map(|v| (v * v) as f64).sum::<f64>() / x_test.len() as f64;
    let fq = s.accuracy.fake_quant;
    let integer = s.accuracy.integer.expect("the integer model runs on the host executor");
    assert!(fq < 0.5 * baseline, "fake-quant MSE {fq} vs predicting zeros {baseline}");
    assert!(
        integer < 0.5 * baseline && (integer - fq).abs() < 0.2 * fq + 0.01,
        "integer MSE {integer}, fake-quant {fq}"
    );
    let a = bsq_codegen::Artifact::load(&dir.join("run/model.bsq.json")).unwrap();
    assert_eq!(a.input.shape, [1, 1, 16]);
    // Signed features: the byte for 0 sits near the middle of the range.
    assert!((100..156).contains(&a.input.zero_point), "zero point {}", a.input.zero_point);
    std::fs::remove_dir_all(&dir).unwrap();
}
