//! Channel concat in the trainer: a description with an inception-like block (three branches joined,
//! unsigned) and a signed join before the output trains on built-in data, exports each concat 1:1 as the
//! artifact's `concat` layer, and the exported integer model (run by the host executor) scores like the
//! trainer's fake-quantized one; an ONNX `Concat` imports into a description the trainer builds and runs.

use std::path::Path;

use bsq_codegen::artifact::Layer;
use bsq_codegen::desc::{DataShape, LayerSpec};
use bsq_train::data::InputMap;
use bsq_train::graph::{Build, Graph};
use bsq_train::model::{Ctx, QModel};
use bsq_train::onnx::import;
use bsq_train::training::{TrainConfig, train};
use burn::tensor::{Device, Tensor, TensorData};

const INCEPTION: &str = r#"
format = "bsq-model"
version = 1
name = "inception"

[[layers]]
op = "conv2d"
name = "stem"
out_channels = 8
kernel = 3
stride = 2
padding = "same"
activation = "relu"

[[layers]]
op = "conv2d"
name = "wide"
input = "stem"
out_channels = 8
kernel = 3
padding = "same"
activation = "pact"

[[layers]]
op = "conv2d"
name = "narrow"
input = "stem"
out_channels = 2
kernel = 1
activation = "relu"

[[layers]]
op = "concat"
name = "cat"
inputs = ["wide", "narrow", "stem"]

[[layers]]
op = "max_pool"
name = "pool"
kernel = 2
stride = 2

[[layers]]
op = "conv2d"
name = "left"
out_channels = 4
kernel = 3
padding = "same"
activation = "none"

[[layers]]
op = "conv2d"
name = "right"
input = "pool"
out_channels = 4
kernel = 1
activation = "relu"

[[layers]]
op = "concat"
name = "mix"
inputs = ["left", "right"]

[[layers]]
op = "max_pool"
name = "mp"
kernel = 2
stride = 2

[[layers]]
op = "add"
name = "relu"
inputs = ["mp", "mp"]
activation = "relu"

[[layers]]
op = "dense"
name = "classifier"
activation = "none"
"#;

#[test]
fn a_description_with_concats_trains_and_exports_them() {
    let dir = std::env::temp_dir().join(format!("bsq-concat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inception.toml"), INCEPTION).unwrap();
    let cfg = TrainConfig {
        model: dir.join("inception.toml").display().to_string(),
        dataset: "builtin".into(),
        builtin_size: 800,
        epochs_float: 8,
        epochs_bsq: 1,
        epochs_finetune: 2,
        lr_steps_bsq: Some(vec![]),
        out: dir.join("run"),
        verbose: false,
        ..Default::default()
    };
    let s = train(&cfg).expect("training");
    let integer = s.accuracy.integer.expect("the artifact runs on the host executor");
    let a = bsq_codegen::Artifact::load(&dir.join("run/model.bsq.json")).unwrap();
    let names: Vec<&str> = a.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["stem", "wide", "narrow", "cat", "pool", "left", "right", "mix", "mp", "relu", "classifier"]);
    let Layer::Concat(cat) = &a.layers[3] else { panic!("{:?}", a.layers[3]) };
    assert_eq!(cat.inputs, ["wide", "narrow", "stem"]);
    assert!(!cat.out.signed, "three unsigned branches join unsigned: {:?}", cat.out);
    let Layer::Concat(mix) = &a.layers[7] else { panic!("{:?}", a.layers[7]) };
    assert_eq!(mix.inputs, ["left", "right"]);
    assert!(mix.out.signed && mix.out.bits == 8, "a signed branch joins signed 8-bit: {:?}", mix.out);
    // The exported integer model computes what was trained (the concat points are quantized in training at
    // the scale codegen rescales every input to). Small test set: allow a few images of difference.
    assert!(
        (integer - s.accuracy.fake_quant).abs() <= 6.0,
        "integer {integer} vs fake-quant {}",
        s.accuracy.fake_quant
    );
    assert!(s.accuracy.fake_quant > 40.0, "4 classes: learned something ({})", s.accuracy.fake_quant);
    // The artifact compiles and runs in the host executor.
    let mut ex = bsq_codegen::Executor::new(&a).unwrap();
    assert_eq!(ex.run(&[100u8; 28 * 28]).unwrap().len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The ONNX fixture `concat.onnx` (two conv + ReLU branches concatenated on channels, global average
/// pooling, Gemm) imports into a description the trainer now builds: the float forward runs, and the
/// exported layers carry the concat with its two inputs, unsigned (both branches are ReLUs).
#[test]
fn an_imported_onnx_concat_builds_runs_and_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/concat.onnx");
    let (desc, weights) = import(&path, None).unwrap();
    assert!(desc.layers.iter().any(|l| matches!(l, LayerSpec::Concat(_))));
    let input = desc.input.shape.expect("the import records the input shape");
    let device = Device::flex();
    let build = Build {
        data: DataShape { input, outputs: 5 },
        input: InputMap::IMAGE,
        act_bits: 8,
        seed: 0,
        pretrained: Some(&weights),
    };
    let model = Graph::new(&desc, None, &build, &device).expect("an imported concat is trainable");
    let n: usize = input.iter().product();
    let x: Vec<f32> = (0..2 * n).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
    let xt = Tensor::<4>::from_data(TensorData::new(x, [2, input[2], input[0], input[1]]), &device);
    let y: Vec<f32> = model.forward(xt, &mut Ctx::train(false)).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(y.len(), 10);
    assert!(y.iter().all(|v| v.is_finite()) && y[..5] != y[5..], "{y:?}");
    let layers = model.export_layers(&[1.0], input);
    let cat = layers.iter().find_map(|l| if let Layer::Concat(c) = l { Some(c) } else { None }).expect("a concat");
    assert_eq!((cat.inputs.as_slice(), cat.out.signed), (&["left".to_string(), "right".to_string()][..], false));
}
