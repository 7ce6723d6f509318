//! `bsq_codegen::random`: artifacts with random weights from a model description.

use bsq_codegen::artifact::{Input, Layer};
use bsq_codegen::desc::{Description, Op};
use bsq_codegen::random::{RandomError, RandomSpec, artifact};
use bsq_codegen::{Executor, compile};
use std::path::Path;

const NET: &str = r#"
format = "bsq-model"
version = 1
name = "tiny"
[input]
shape = [8, 6, 1]
[[layers]]
op = "conv2d"
name = "conv1"
out_channels = 4
kernel = [3, 2]
stride = 2
padding = "same"
batch_norm = true
activation = "relu"
[[layers]]
op = "conv2d"
name = "dw"
out_channels = 4
kernel = 3
padding = 1
groups = 4
batch_norm = true
activation = "relu"
[[layers]]
op = "add"
name = "sum"
inputs = ["dw", "conv1"]
activation = "relu"
[[layers]]
op = "conv2d"
name = "pw"
out_channels = 3
kernel = 1
activation = "relu"
[[layers]]
op = "concat"
name = "cat"
inputs = ["sum", "pw", "conv1"]
[[layers]]
op = "avg_pool"
name = "pool"
kernel = 2
stride = 2
padding = [0, 0, 1, 1]
[[layers]]
op = "flatten"
name = "flat"
[[layers]]
op = "dense"
name = "fc"
out_features = 3
activation = "none"
"#;

fn spec(zero_point: u8) -> RandomSpec {
    RandomSpec { input: Input { shape: [8, 6, 1], scale: 0.05, zero_point }, outputs: 3, seed: 7 }
}

fn desc() -> Description {
    Description::parse(NET, true, Path::new("tiny.toml")).expect("parses")
}

#[test]
fn layers_follow_the_description_at_the_asked_widths() {
    let widths = |name: &str| match name {
        "conv1" => 8,
        "dw" => 3,
        _ => 1,
    };
    let a = artifact(&desc(), None, &spec(128), |n| widths(&n.name)).expect("builds");
    let names: Vec<&str> = a.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["conv1", "dw", "sum", "pw", "cat", "pool", "flat", "fc"]);
    assert_eq!(a.output, "fc");
    assert_eq!(a.input.zero_point, 128);
    for l in &a.layers {
        match l {
            Layer::Conv2d(c) => {
                assert_eq!(c.weight.bits, widths(&c.name));
                assert_eq!(c.bn.is_some(), c.name != "pw", "{}: batch norm as described", c.name);
                assert!(c.out.scale > 0.0 && c.out.scale != 1.0, "{}: calibrated scale {}", c.name, c.out.scale);
            }
            Layer::Dense(d) => {
                assert_eq!((d.weight.bits, d.in_features, d.out_features), (1, 2 * 2 * 11, 3));
                assert!(d.out.signed, "the output layer without activation is signed");
            }
            Layer::Concat(c) => {
                assert_eq!(c.inputs, ["sum", "pw", "conv1"]);
                assert!(!c.out.signed && c.out.scale != 1.0, "calibrated unsigned concat: {:?}", c.out);
            }
            _ => {}
        }
    }
    // conv1: 3×2 kernel, stride 2, "same" on 8×6: output 4×3, padding [0, 0, 1, 0].
    let Some(Layer::Conv2d(c)) = a.layers.first() else { panic!("conv1 first") };
    assert_eq!((c.kernel, c.stride, c.padding), ([3, 2], [2, 2], [0, 0, 1, 0]));
    // It compiles and runs; the same seed gives the same artifact.
    let mut ex = Executor::new(&a).expect("compiles");
    assert_eq!(ex.run(&[7u8; 48]).expect("runs").len(), 3);
    assert_eq!(artifact(&desc(), None, &spec(128), |n| widths(&n.name)).unwrap(), a);
    let other = artifact(&desc(), None, &RandomSpec { seed: 8, ..spec(128) }, |n| widths(&n.name)).unwrap();
    assert_ne!(other, a);
    assert!(compile(&a).is_ok());
}

#[test]
fn zero_bit_layers_and_errors() {
    let a = artifact(&desc(), None, &spec(0), |n| if n.name == "dw" { 0 } else { 4 }).expect("0-bit layer");
    assert!(a.layers.iter().any(|l| matches!(l, Layer::Conv2d(c) if c.name == "dw" && c.weight.bits == 0)));

    let e = artifact(&desc(), None, &spec(0), |n| if matches!(n.op, Op::Dense { .. }) { 9 } else { 4 }).unwrap_err();
    assert!(matches!(&e, RandomError::Bits { layer, bits: 9 } if layer == "fc"), "{e}");
    assert_eq!(e.to_string(), "layer `fc`: weight width 9 is out of range (0..=8)");

    // The data's input shape must be the description's: the description error names the file and field.
    let wrong = RandomSpec { input: Input { shape: [8, 8, 1], scale: 0.05, zero_point: 0 }, ..spec(0) };
    let e = artifact(&desc(), Some(Path::new("tiny.toml")), &wrong, |_| 4).unwrap_err();
    assert!(matches!(e, RandomError::Description(_)), "{e}");
    assert!(e.to_string().contains("tiny.toml"), "{e}");
}
