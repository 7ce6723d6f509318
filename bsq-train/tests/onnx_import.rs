//! `bsq import`: ONNX models exported from PyTorch (and built with the onnx helper API) import into a
//! description plus float weights that the trainer's [`Graph`] runs to the same outputs as onnxruntime;
//! the weights survive their `.npz`; every refusal names the file, the node and the op.
//!
//! The fixtures and the reference outputs are written by `tests/fixtures/onnx/make_fixtures.py` (see its
//! docstring); these tests need no Python.

use std::path::{Path, PathBuf};

use bsq_codegen::desc::{Activation, DataShape, Description, LayerSpec};
use bsq_train::data::InputMap;
use bsq_train::graph::{Build, Graph};
use bsq_train::model::{Ctx, QModel};
use bsq_train::onnx::{ImportError, import};
use bsq_train::weights::{load_npz, save_npz};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx").join(name)
}

fn npy(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().iter().map(|&d| d as usize).collect();
    (f.into_vec::<f32>().unwrap(), shape)
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bsq-onnx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn layer<'a>(d: &'a Description, name: &str) -> &'a LayerSpec {
    d.layers
        .iter()
        .find(|l| l.name() == name)
        .unwrap_or_else(|| panic!("no layer `{name}` in {:?}", d.layers.iter().map(|l| l.name()).collect::<Vec<_>>()))
}

fn activation(l: &LayerSpec) -> Option<Activation> {
    match l {
        LayerSpec::Conv2d(c) => Some(c.activation),
        LayerSpec::Dense(d) => Some(d.activation),
        LayerSpec::Add(a) => Some(a.activation),
        _ => None,
    }
}

/// Imports `<name>.onnx`, builds the trainer's model with the imported weights and runs the float forward
/// pass on the recorded inputs; returns the description.
fn forward_matches_onnxruntime(name: &str) -> Description {
    let (desc, weights) = import(&fixture(&format!("{name}.onnx")), None).unwrap();
    let (x, xs) = npy(&format!("{name}_x.npy"));
    let (y, ys) = npy(&format!("{name}_y.npy"));
    let input = desc.input.shape.expect("the import records the input shape");
    assert_eq!([xs[2], xs[3], xs[1]], input, "{name}: input [H, W, C]");
    let device = Device::flex();
    let build = Build {
        data: DataShape { input, outputs: ys[1] },
        input: InputMap::IMAGE,
        act_bits: 8,
        seed: 0,
        pretrained: Some(&weights),
    };
    // On a device without autodiff and after `valid()` (as `training::evaluate` does), BatchNorm runs in
    // inference mode with the imported running statistics.
    let model = Graph::new(&desc, None, &build, &device).unwrap().valid();
    let xt = Tensor::<4>::from_data(TensorData::new(x, [xs[0], xs[1], xs[2], xs[3]]), &device);
    let got: Vec<f32> = model.forward(xt, &mut Ctx::train(false)).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(got.len(), y.len(), "{name}: output size");
    // Float32 on both sides, but the sums run in another order than onnxruntime's (Burn's conv
    // blocking, HWC instead of CHW dense columns, BatchNorm applied rather than fused): rounding differs
    // by a few ulps per accumulation. Measured: at most 7e-7 on outputs of magnitude ~0.1–5, so 1e-5
    // (absolute plus relative) leaves a margin of over 10×; a layout mistake (a kernel or the dense
    // columns in the wrong order) changes outputs by ~0.1–1.
    for (i, (g, w)) in got.iter().zip(&y).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-5 * w.abs(),
            "{name}: output {i} (sample {}, class {}): bsq {g}, onnxruntime {w}",
            i / ys[1],
            i % ys[1]
        );
    }
    // Not a trivial model: the outputs differ between samples.
    assert!(y[..ys[1]] != y[ys[1]..2 * ys[1]], "{name}: degenerate reference");
    desc
}

#[test]
fn lenet_from_pytorch_runs_like_onnxruntime() {
    let d = forward_matches_onnxruntime("lenet");
    let names: Vec<&str> = d.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"]);
    assert_eq!(d.input.shape, Some([28, 28, 1]));
    let LayerSpec::Conv2d(c2) = layer(&d, "conv2") else { panic!("conv2 is not a conv") };
    assert!(c2.batch_norm && c2.bias.is_none(), "conv2: BN fused, no bias: {c2:?}");
    assert_eq!(activation(layer(&d, "conv1")), Some(Activation::Pact));
    assert_eq!(activation(layer(&d, "fc1")), Some(Activation::Pact));
    assert_eq!(activation(layer(&d, "fc2")), Some(Activation::None));
    assert_eq!(d.output, None);
}

#[test]
fn resnet_block_from_pytorch_runs_like_onnxruntime() {
    let d = forward_matches_onnxruntime("resnet");
    let names: Vec<&str> = d.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["stem", "layer1.0.conv1", "layer1.0.conv2", "layer1.0.downsample.0", "layer1.0", "pool", "fc"]);
    let LayerSpec::Add(add) = layer(&d, "layer1.0") else { panic!("layer1.0 is not an add") };
    assert_eq!(add.inputs, ["layer1.0.conv2".to_string(), "layer1.0.downsample.0".to_string()]);
    assert_eq!(add.activation, Activation::Pact);
    assert_eq!(activation(layer(&d, "layer1.0.conv2")), Some(Activation::None));
    let LayerSpec::Conv2d(ds) = layer(&d, "layer1.0.downsample.0") else { panic!() };
    assert_eq!((ds.input.as_deref(), ds.batch_norm, ds.activation), (Some("stem"), true, Activation::None));
}

#[test]
fn asymmetric_same_depthwise_relu6_avgpool_and_matmul_run_like_onnxruntime() {
    let d = forward_matches_onnxruntime("ops");
    let LayerSpec::Conv2d(a) = layer(&d, "a") else { panic!() };
    assert_eq!(a.activation, Activation::Relu6);
    assert_eq!(a.padding, Some(bsq_codegen::desc::Padding::Four([1, 0, 2, 1])));
    let LayerSpec::Conv2d(dw) = layer(&d, "dw") else { panic!() };
    assert_eq!((dw.groups, dw.batch_norm, dw.activation), (Some(8), true, Activation::Pact));
    // The ReLU after the max pool became the activation of the conv before it.
    assert_eq!(activation(layer(&d, "pw")), Some(Activation::Pact));
    assert!(matches!(layer(&d, "ap"), LayerSpec::AvgPool(_)));
    let LayerSpec::Dense(fc) = layer(&d, "fc") else { panic!() };
    assert!(fc.bias && fc.out_features == Some(10));
}

#[test]
fn concat_and_gemm_alpha_beta_import() {
    let (d, w) = import(&fixture("concat.onnx"), Some("two_branches")).unwrap();
    assert_eq!(d.name, "two_branches");
    let names: Vec<&str> = d.layers.iter().map(|l| l.name()).collect();
    // The Gemm is named `input` in the file: reserved, so renamed.
    assert_eq!(names, ["left", "right", "cat", "gap", "input_2"]);
    let LayerSpec::Concat(cat) = layer(&d, "cat") else { panic!() };
    assert_eq!(cat.inputs, ["left", "right"]);
    let LayerSpec::Conv2d(right) = layer(&d, "right") else { panic!() };
    assert_eq!(right.input.as_deref(), Some("input"));
    // Gemm(transB = 0, alpha 0.5, beta 2): weight [out][in] = 0.5·Bᵀ, bias = 2·C.
    let (b, bs) = npy("concat_gemm_b.npy");
    let (c, _) = npy("concat_gemm_c.npy");
    let fc = &w.layers["input_2"];
    let (inn, out) = (bs[0], bs[1]);
    for o in 0..out {
        for i in 0..inn {
            assert_eq!(fc.weight[o * inn + i], 0.5 * b[i * out + o]);
        }
    }
    assert_eq!(fc.bias.as_deref(), Some(&c.iter().map(|v| 2.0 * v).collect::<Vec<_>>()[..]));
}

#[test]
fn a_vector_model_ending_in_softmax_imports_as_its_logits() {
    let (d, w) = import(&fixture("mlp_softmax.onnx"), None).unwrap();
    assert_eq!(d.input.shape, Some([1, 1, 6]));
    let names: Vec<&str> = d.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["fc1", "fc2"]);
    assert_eq!(activation(layer(&d, "fc1")), Some(Activation::Pact));
    assert_eq!(activation(layer(&d, "fc2")), Some(Activation::None));
    assert_eq!((w.layers["fc1"].weight.len(), w.layers["fc2"].weight.len()), (30, 15));
}

#[test]
fn weights_round_trip_through_npz_and_the_description_through_toml() {
    let dir = tmp_dir("roundtrip");
    for name in ["lenet", "resnet", "ops", "concat", "mlp_softmax"] {
        let (mut d, w) = import(&fixture(&format!("{name}.onnx")), None).unwrap();
        let p = dir.join(format!("{name}.npz"));
        save_npz(&p, &w, &d).unwrap();
        assert_eq!(load_npz(&p).unwrap(), w, "{name}");
        d.weights = Some(format!("{name}.npz").into());
        let toml = d.to_toml().unwrap();
        assert_eq!(Description::parse(&toml, true, Path::new("x.toml")).unwrap(), d, "{name}");
    }
    // The shapes are the artifact's.
    let mut a = npyz::npz::NpzArchive::open(dir.join("lenet.npz")).unwrap();
    assert_eq!(a.by_name("conv2.weight").unwrap().unwrap().shape(), &[16, 5, 5, 6]);
    assert_eq!(a.by_name("fc1.weight").unwrap().unwrap().shape(), &[32, 256]);
    assert_eq!(a.by_name("conv2.bn.eps").unwrap().unwrap().shape(), &[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The error of importing `file`, with its message; checks that the message names the file and each of
/// `names`.
fn refused(file: &Path, names: &[&str]) -> (ImportError, String) {
    let e = match import(file, None) {
        Err(e) => e,
        Ok((d, _)) => panic!("{} imported: {:?}", file.display(), d.layers),
    };
    let msg = e.to_string();
    assert!(msg.contains(&file.display().to_string()), "the message names the file: {msg}");
    for n in names {
        assert!(msg.contains(n), "the message names {n}: {msg}");
    }
    (e, msg)
}

#[test]
fn each_refusal_names_the_file_the_node_and_the_op() {
    let (e, msg) = refused(&fixture("bad_unsupported.onnx"), &["`/act/Sigmoid`", "Sigmoid", "Conv, Gemm"]);
    assert!(matches!(e, ImportError::Unsupported { .. }), "{msg}");
    let (e, msg) = refused(&fixture("bad_dynamic.onnx"), &["`input`", "[?, 1, ?, ?]"]);
    assert!(matches!(e, ImportError::DynamicShape { .. }), "{msg}");
    let (e, msg) = refused(&fixture("bad_dilation.onnx"), &["`/conv/Conv`", "(Conv)", "[2, 2]"]);
    assert!(matches!(e, ImportError::Dilation { .. }), "{msg}");
    let (e, msg) = refused(&fixture("bad_clip.onnx"), &["`/act/Clip`", "(Clip)", "[0, 4]"]);
    assert!(matches!(e, ImportError::ClipBounds { .. }), "{msg}");
    let (e, msg) = refused(&fixture("bad_reshape.onnx"), &["`/Reshape`", "(Reshape)", "[1, 4, -1]"]);
    assert!(matches!(e, ImportError::NotFlatten { .. }), "{msg}");
    let (e, msg) = refused(&fixture("bad_nonconst.onnx"), &["`/self/Conv`", "(Conv)", "weight"]);
    assert!(matches!(e, ImportError::NonConstant { .. }), "{msg}");
}

#[test]
fn garbage_truncated_and_missing_files_are_errors_not_panics() {
    let dir = tmp_dir("bad-bytes");
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07\x12\x05hello, this is not an ONNX model \xff\xfe\xfd\x00\x01").unwrap();
    let (e, _) = refused(&garbage, &[]);
    assert!(matches!(e, ImportError::Malformed { .. }), "{e}");
    let lenet = std::fs::read(fixture("lenet.onnx")).unwrap();
    for cut in [lenet.len() / 2, lenet.len() - 7, 40] {
        let truncated = dir.join(format!("truncated-{cut}.onnx"));
        std::fs::write(&truncated, &lenet[..cut]).unwrap();
        let (e, msg) = refused(&truncated, &[]);
        assert!(matches!(e, ImportError::Malformed { .. } | ImportError::Graph { .. }), "{msg}");
    }
    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    refused(&empty, &[]);
    let (e, _) = refused(&dir.join("absent.onnx"), &["cannot read"]);
    assert!(matches!(e, ImportError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bytes flipped, zeroed or cut anywhere in a valid model: every import returns (an error or a model),
/// none panics out of `import`.
#[test]
fn corrupted_models_never_panic() {
    let dir = tmp_dir("mutants");
    let base = std::fs::read(fixture("ops.onnx")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let p = dir.join("mutant.onnx");
    for k in 0..300 {
        let mut b = base.clone();
        let at = (next() as usize) % b.len();
        match k % 3 {
            0 => b[at] ^= 1 << (next() % 8),
            1 => b[at] = 0,
            _ => b.truncate(at),
        }
        std::fs::write(&p, &b).unwrap();
        let r = std::panic::catch_unwind(|| import(&p, None).map(|_| ()));
        assert!(r.is_ok(), "mutant {k} (byte {at}) panicked out of import");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
