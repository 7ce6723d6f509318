//! A trainable model built from a model description ([`bsq_codegen::desc`]), generically: bit-plane BSQ
//! weights on every conv and dense layer, quantization points placed by rule, export 1:1 to the artifact.
//!
//! The rules (docs/models.md):
//! * a conv2d, dense or add with a ReLU activation (`pact`, `relu`, `relu6`) ends in an unsigned
//!   [`Act`]; one with activation `none` ends in a signed 8-bit point;
//! * pools, flatten and global average pooling keep their input's quantization (average pools round the
//!   mean at the input's scale, like the runtime);
//! * every layer is exported under its own name, reading the layers it reads in the description.
//!
//! Each node knows its parameter slot, its activation index and its signed-point index: nothing depends
//! on the order in which the forward pass or a visitor happens to meet them.
//!
//! The built-in networks (`mlp`, `lenet`, `resnet20`) are description files in `bsq-train/models/`,
//! compiled in ([`builtin`]).

use std::path::{Path, PathBuf};

use bsq_codegen::artifact::{Layer, Quant};
use bsq_codegen::desc::{self, Activation, DataShape, DescError, Description, FloatWeights, Node, Op, Resolved, Src};
use burn::module::Module;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::bsq::{QWeight, round_half_away};
use crate::data::{InputMap, Rng};
use crate::model::{Act, ClipKind, ConvGeom, Ctx, QConv, QDense, QModel, QVisit, flatten_hwc, to_artifact};

/// The built-in model descriptions: `(name, TOML text)`. The last four are the MLPerf Tiny reference
/// models.
pub const BUILTINS: [(&str, &str); 7] = [
    ("mlp", include_str!("../models/mlp.toml")),
    ("lenet", include_str!("../models/lenet.toml")),
    ("resnet20", include_str!("../models/resnet20.toml")),
    ("resnet8", include_str!("../models/resnet8.toml")),
    ("ds-cnn", include_str!("../models/ds-cnn.toml")),
    ("mobilenet-v1-0.25", include_str!("../models/mobilenet-v1-0.25.toml")),
    ("fc-autoencoder", include_str!("../models/fc-autoencoder.toml")),
];

/// The built-in description `name` (`resnet-20` is accepted for `resnet20`).
pub fn builtin(name: &str) -> Option<Description> {
    let name = if name == "resnet-20" { "resnet20" } else { name };
    let (n, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
    // The built-in files are tested (tests below); a parse failure here would be a build defect.
    Description::parse(text, true, Path::new(&format!("<built-in {n}>"))).ok()
}

/// A model given on the command line: a built-in name or a description file.
pub fn load_model_ref(model: &str) -> Result<(Description, Option<PathBuf>), DescError> {
    if let Some(d) = builtin(model) {
        return Ok((d, None));
    }
    let path = PathBuf::from(model);
    if !path.exists() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
        return Err(DescError {
            origin: Some(path),
            layer: None,
            field: None,
            message: format!(
                "no such file, and not a built-in model ({}): give a built-in name or a model description \
                 file (.toml or .json, docs/models.md)",
                names.join(", ")
            ),
        });
    }
    Ok((Description::load(&path)?, Some(path)))
}

/// Where a node's parameters and quantization live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// No quantization point of its own (pools, flatten, global average pool).
    Keep,
    /// Unsigned activation `i` ([`Graph::acts`]).
    Act(usize),
    /// Signed 8-bit point `i`.
    Signed(usize),
}

/// A node's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`Graph::convs`] or [`Graph::denses`] (by the node's op).
    pub param: Option<usize>,
    /// Its output quantization point.
    pub point: Point,
}

/// The structure of a [`Graph`] (not a parameter: it is not saved in checkpoints).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved description.
    pub resolved: Resolved,
    /// One slot per node.
    pub slots: Vec<Slot>,
    /// Number of signed points.
    pub n_signed: usize,
    /// How the input bytes map to real values.
    pub input: InputMapRepr,
}

/// [`InputMap`] as plain fields (a module's skipped field).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMapRepr {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: u8,
}

/// What a [`Graph`] is built for, besides its description.
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    /// The data's input shape and number of outputs.
    pub data: DataShape,
    /// How the data's bytes map to real values (the description's `input.scale` / `zero_point` win).
    pub input: InputMap,
    /// Default activation bits (the description's `act_bits` wins).
    pub act_bits: u8,
    /// Seed of the initial weights (He-uniform).
    pub seed: u64,
    /// Pretrained float weights, used where given.
    pub pretrained: Option<&'a FloatWeights>,
}

/// A network built from a description.
#[derive(Module, Debug)]
pub struct Graph {
    /// The conv layers, in description order.
    pub convs: Vec<QConv>,
    /// The dense layers, in description order.
    pub denses: Vec<QDense>,
    /// The unsigned activations, by index.
    pub acts: Vec<Act>,
    /// The graph.
    #[module(skip)]
    pub plan: Plan,
}

/// A 4-D (`[B, C, H, W]`) or 2-D (`[B, N]`, a `[1, 1, N]` tensor of the artifact) activation.
#[derive(Clone, Debug)]
enum T {
    D4(Tensor<4>),
    D2(Tensor<2>),
}

impl T {
    fn d4(self) -> Tensor<4> {
        match self {
            T::D4(t) => t,
            T::D2(t) => {
                let [b, n] = t.dims();
                t.reshape([b, n, 1, 1])
            }
        }
    }

    fn flat(self) -> Tensor<2> {
        match self {
            T::D4(t) => flatten_hwc(t),
            T::D2(t) => t,
        }
    }
}

/// Why a description cannot be trained.
fn refuse(node: &Node, field: Option<&str>, message: String) -> DescError {
    DescError { origin: None, layer: Some(node.name.clone()), field: field.map(str::to_string), message }
}

impl Graph {
    /// Builds the model of a description (`origin`: its file, named in errors) for the data and options
    /// of `build`. Refuses, naming the layer, a
    /// non-zero input zero point read by anything but a conv or dense.
    pub fn new(
        desc: &Description,
        origin: Option<&Path>,
        build: &Build<'_>,
        device: &Device,
    ) -> Result<Self, DescError> {
        let Build { data, input, act_bits, seed, pretrained } = *build;
        let mut d = desc.clone();
        d.act_bits = Some(desc.act_bits.unwrap_or(act_bits));
        let resolved = d.resolve(data, origin)?;
        let at = |e: DescError| DescError { origin: origin.map(Path::to_path_buf), ..e };
        let input = InputMapRepr {
            scale: desc.input.scale.unwrap_or(input.scale),
            zero_point: desc.input.zero_point.unwrap_or(input.zero_point),
        };
        let mut rng = Rng::new(seed);
        let (mut convs, mut denses, mut acts) = (Vec::new(), Vec::new(), Vec::new());
        let mut slots = Vec::new();
        let mut n_signed = 0;
        for node in &resolved.nodes {
            if input.zero_point != 0
                && node.inputs.contains(&Src::Input)
                && !matches!(node.op, Op::Conv { .. } | Op::Dense { .. })
            {
                return Err(at(refuse(
                    node,
                    Some("input"),
                    format!(
                        "a {} reads the network input, whose zero point is {}: only conv2d and dense may read \
                         an input with a zero point",
                        node.op.name(),
                        input.zero_point
                    ),
                )));
            }
            let mut point = |act: Activation, bits: u8| match act {
                Activation::None => {
                    n_signed += 1;
                    Point::Signed(n_signed - 1)
                }
                a => {
                    let kind = match a {
                        Activation::Pact => ClipKind::Learned,
                        Activation::Relu => ClipKind::Calibrated,
                        _ => ClipKind::Six,
                    };
                    acts.push(Act::new(bits, kind, acts.len(), device));
                    Point::Act(acts.len() - 1)
                }
            };
            let bits = match node.quant {
                desc::TensorQuant::Unsigned(b) => b,
                _ => 8,
            };
            let slot = match &node.op {
                Op::Conv {
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    groups,
                    bias,
                    batch_norm,
                    activation,
                    ..
                } => {
                    let geom = ConvGeom {
                        in_channels: *in_channels,
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                        groups: *groups,
                    };
                    let mut c = QConv::new(geom, *bias, *batch_norm, &mut rng, device);
                    if let Some(w) = pretrained.and_then(|p| p.layers.get(&node.name)) {
                        c = load_conv(c, node, w, device).map_err(at)?;
                    }
                    convs.push(c);
                    Slot { param: Some(convs.len() - 1), point: point(*activation, bits) }
                }
                Op::Dense { in_features, out_features, bias, batch_norm, activation, .. } => {
                    let mut l = QDense::new(*in_features, *out_features, *bias, *batch_norm, &mut rng, device);
                    if let Some(w) = pretrained.and_then(|p| p.layers.get(&node.name)) {
                        l = load_dense(l, node, w, device).map_err(at)?;
                    }
                    denses.push(l);
                    Slot { param: Some(denses.len() - 1), point: point(*activation, bits) }
                }
                Op::Add { activation } => Slot { param: None, point: point(*activation, bits) },
                // The joined tensor is quantized once, like a sum: signed 8-bit (calibrated) when an input is
                // signed, else unsigned at the widest input's bits with a calibrated clip; codegen rescales
                // every input to that scale.
                Op::Concat => {
                    let act = if node.quant == desc::TensorQuant::Signed { Activation::None } else { Activation::Relu };
                    Slot { param: None, point: point(act, bits) }
                }
                _ => Slot { param: None, point: Point::Keep },
            };
            slots.push(slot);
        }
        Ok(Graph { convs, denses, acts, plan: Plan { resolved, slots, n_signed, input } })
    }

    /// A built-in model (`mlp`, `lenet`, `resnet20`) for `input` `[H, W, C]` images (`x/255`) and `classes`
    /// outputs, with `act_bits`-bit activations and weights from `seed`.
    pub fn builtin(
        name: &str,
        input: [usize; 3],
        classes: usize,
        act_bits: u8,
        seed: u64,
        device: &Device,
    ) -> Result<Self, DescError> {
        let desc = builtin(name).ok_or_else(|| DescError {
            origin: None,
            layer: None,
            field: None,
            message: format!("no built-in model {name:?}"),
        })?;
        let data = DataShape { input, outputs: classes };
        Graph::new(&desc, None, &Build { data, input: InputMap::IMAGE, act_bits, seed, pretrained: None }, device)
    }

    /// The input map the model was built for.
    pub fn input_map(&self) -> InputMap {
        InputMap { scale: self.plan.input.scale, zero_point: self.plan.input.zero_point }
    }

    /// The quantization step of a tensor as a `[1]` tensor, when it is quantized in this pass.
    fn step(&self, src: Src, ctx: &Ctx, device: &Device) -> Option<Tensor<1>> {
        if !ctx.quant {
            return None;
        }
        match src {
            Src::Input => Some(Tensor::from_data(TensorData::new(vec![self.plan.input.scale], [1]), device)),
            Src::Node(j) => match self.plan.slots[j].point {
                Point::Act(k) => Some(self.acts[k].scale_tensor()),
                Point::Signed(k) => {
                    ctx.signed_scale(k).map(|s| Tensor::from_data(TensorData::new(vec![s], [1]), device))
                }
                Point::Keep => self.step(self.plan.resolved.nodes[j].inputs[0], ctx, device),
            },
        }
    }

    fn point(&self, p: Point, y: T, ctx: &mut Ctx) -> T {
        match (p, y) {
            (Point::Keep, y) => y,
            (Point::Act(k), T::D4(y)) => T::D4(self.acts[k].forward(y, ctx)),
            (Point::Act(k), T::D2(y)) => T::D2(self.acts[k].forward(y, ctx)),
            (Point::Signed(k), T::D4(y)) => T::D4(ctx.signed(k, y)),
            (Point::Signed(k), T::D2(y)) => T::D2(ctx.signed(k, y)),
        }
    }

    /// The name of a node's input as the artifact writes it.
    fn src_name(&self, s: Src) -> String {
        match s {
            Src::Input => "input".into(),
            Src::Node(j) => self.plan.resolved.nodes[j].name.clone(),
        }
    }
}

/// `round(mean)` (half away from zero) of a pool at the input's step, straight through: the forward
/// value is the runtime's, the gradient the float mean's.
fn rounded<const D: usize>(mean: Tensor<D>, step: Option<Tensor<1>>) -> Tensor<D> {
    match step {
        Some(s) => {
            let s = s.unsqueeze::<D>();
            let q = round_half_away(mean.clone().detach() / s.clone()) * s;
            mean.clone() + (q - mean).detach()
        }
        None => mean,
    }
}

impl QModel for Graph {
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2> {
        let device = x.device();
        let nodes = &self.plan.resolved.nodes;
        let mut outs: Vec<Option<T>> = vec![None; nodes.len()];
        // The last reader of each node, so that tensors are dropped as soon as they are dead.
        let mut last = vec![0usize; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for s in &n.inputs {
                if let Src::Node(j) = s {
                    last[*j] = i;
                }
            }
        }
        last[self.plan.resolved.output] = usize::MAX;
        for (i, node) in nodes.iter().enumerate() {
            let get = |k: usize, outs: &[Option<T>]| -> T {
                match node.inputs[k] {
                    Src::Input => T::D4(x.clone()),
                    Src::Node(j) => outs[j].clone().unwrap_or_else(|| T::D4(x.clone())),
                }
            };
            let slot = self.plan.slots[i];
            let y = match &node.op {
                Op::Conv { .. } => T::D4(self.convs[slot.param.unwrap_or(0)].forward(get(0, &outs).d4())),
                Op::Dense { .. } => T::D2(self.denses[slot.param.unwrap_or(0)].forward(get(0, &outs).flat())),
                Op::MaxPool { kernel, stride, padding } => T::D4(max_pool2d(
                    get(0, &outs).d4(),
                    MaxPoolOptions {
                        kernel_size: *kernel,
                        stride: *stride,
                        // Padded cells never win (Burn pads a max pool with −∞), as in the runtime.
                        padding: [(padding[0], padding[2]), (padding[1], padding[3])],
                        dilation: [1, 1],
                        ceil_mode: false,
                    },
                )),
                Op::AvgPool { kernel, stride, padding } => {
                    let opts = AvgPoolOptions {
                        kernel_size: *kernel,
                        stride: *stride,
                        // The runtime divides by the window's input cells: padded cells are not counted.
                        padding: [(padding[0], padding[2]), (padding[1], padding[3])],
                        count_include_pad: false,
                        ceil_mode: false,
                    };
                    let m = avg_pool2d(get(0, &outs).d4(), opts);
                    T::D4(rounded(m, self.step(node.inputs[0], ctx, &device)))
                }
                Op::GlobalAvgPool => {
                    let t = get(0, &outs).d4();
                    let [b, c, h, w] = t.dims();
                    let m: Tensor<2> = t.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]);
                    T::D2(rounded(m, self.step(node.inputs[0], ctx, &device)))
                }
                Op::Flatten => T::D2(get(0, &outs).flat()),
                Op::Add { .. } => match (get(0, &outs), get(1, &outs)) {
                    (T::D2(a), b) => T::D2(a + b.flat()),
                    (a, b) => T::D4(a.d4() + b.d4()),
                },
                Op::Concat => {
                    let xs: Vec<T> = (0..node.inputs.len()).map(|k| get(k, &outs)).collect();
                    // The channel axis: 1 in Burn's NCHW (and in a flat `[N, C]`), the last in HWC.
                    if xs.iter().all(|t| matches!(t, T::D2(_))) {
                        T::D2(Tensor::cat(xs.into_iter().map(T::flat).collect(), 1))
                    } else {
                        T::D4(Tensor::cat(xs.into_iter().map(T::d4).collect(), 1))
                    }
                }
            };
            outs[i] = Some(self.point(slot.point, y, ctx));
            for s in &node.inputs {
                if let Src::Node(j) = s
                    && last[*j] == i
                {
                    outs[*j] = None;
                }
            }
        }
        outs[self.plan.resolved.output].take().map(T::flat).unwrap_or_else(|| flatten_hwc(x))
    }

    fn visit_q(&mut self, f: QVisit<'_>) {
        for (node, slot) in self.plan.resolved.nodes.iter().zip(&self.plan.slots) {
            match (&node.op, slot.param) {
                (Op::Conv { bsq, .. }, Some(k)) => f(&node.name, &mut self.convs[k].w, *bsq),
                (Op::Dense { bsq, .. }, Some(k)) => {
                    let d = &mut self.denses[k];
                    f(&node.name, &mut d.w, *bsq);
                    if let Some(b) = &mut d.b {
                        f(&format!("{}.bias", node.name), b, *bsq);
                    }
                }
                _ => {}
            }
        }
    }

    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act)) {
        for a in &mut self.acts {
            f(a);
        }
    }

    fn export_layers(&self, s: &[f32], _input: [usize; 3]) -> Vec<Layer> {
        use to_artifact::*;
        let signed8 = |k: usize| Quant { bits: 8, scale: s.get(k).copied().unwrap_or(1.0), signed: true };
        let quant = |p: Point| match p {
            Point::Act(k) => unsigned(&self.acts[k]),
            Point::Signed(k) => signed8(k),
            Point::Keep => signed8(0),
        };
        let mut out = Vec::new();
        for (node, slot) in self.plan.resolved.nodes.iter().zip(&self.plan.slots) {
            let name = node.name.as_str();
            let i0 = self.src_name(node.inputs[0]);
            out.push(match &node.op {
                Op::Conv { .. } => conv(name, &i0, &self.convs[slot.param.unwrap_or(0)], quant(slot.point)),
                Op::Dense { .. } => dense(name, &i0, &self.denses[slot.param.unwrap_or(0)], quant(slot.point)),
                Op::MaxPool { kernel, stride, padding } => maxpool(name, &i0, *kernel, *stride, *padding),
                Op::AvgPool { kernel, stride, padding } => avgpool(name, &i0, *kernel, *stride, *padding),
                Op::GlobalAvgPool => gap(name, &i0),
                Op::Flatten => flatten(name, &i0),
                Op::Add { .. } => add(name, [i0, self.src_name(node.inputs[1])], quant(slot.point)),
                Op::Concat => concat(name, node.inputs.iter().map(|&i| self.src_name(i)).collect(), quant(slot.point)),
            });
        }
        out
    }

    fn output_layer(&self) -> Option<String> {
        Some(self.plan.resolved.nodes[self.plan.resolved.output].name.clone())
    }
}

fn bad_weights(node: &Node, field: &str, message: String) -> DescError {
    refuse(node, Some(field), format!("pretrained weights: {message}"))
}

fn param1(v: &[f32], device: &Device) -> burn::module::Param<Tensor<1>> {
    burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device))
}

fn load_bn(
    bn: Option<burn::nn::BatchNorm>,
    node: &Node,
    w: &desc::LayerWeights,
    device: &Device,
) -> Result<Option<burn::nn::BatchNorm>, DescError> {
    match (bn, &w.bn) {
        (Some(mut bn), Some(p)) => {
            let n = bn.gamma.val().dims()[0];
            for (field, v) in [("bn.gamma", &p.gamma), ("bn.beta", &p.beta), ("bn.mean", &p.mean), ("bn.var", &p.var)] {
                if v.len() != n {
                    return Err(bad_weights(node, field, format!("{} values, the layer has {n} channels", v.len())));
                }
            }
            bn.gamma = param1(&p.gamma, device);
            bn.beta = param1(&p.beta, device);
            bn.running_mean =
                burn::module::RunningState::new(Tensor::from_data(TensorData::new(p.mean.clone(), [n]), device));
            bn.running_var =
                burn::module::RunningState::new(Tensor::from_data(TensorData::new(p.var.clone(), [n]), device));
            bn.epsilon = p.eps as f64;
            Ok(Some(bn))
        }
        (None, Some(_)) => Err(bad_weights(node, "bn", "given, but the layer has no batch_norm".into())),
        (bn, None) => Ok(bn),
    }
}

/// Loads pretrained weights (artifact layout `[out][kh][kw][in/g]`) into a conv (Burn's `[out][in/g][kh][kw]`).
fn load_conv(mut c: QConv, node: &Node, w: &desc::LayerWeights, device: &Device) -> Result<QConv, DescError> {
    let g = c.geom;
    if w.weight.len() != g.numel() {
        return Err(bad_weights(node, "weight", format!("{} values, the layer has {}", w.weight.len(), g.numel())));
    }
    let ig = g.in_channels / g.groups;
    let [kh, kw] = g.kernel;
    let mut oihw = vec![0f32; g.numel()];
    for o in 0..g.out_channels {
        for y in 0..kh {
            for x in 0..kw {
                for i in 0..ig {
                    oihw[((o * ig + i) * kh + y) * kw + x] = w.weight[((o * kh + y) * kw + x) * ig + i];
                }
            }
        }
    }
    c.w = QWeight::float(oihw, device);
    match (&c.bias, &w.bias) {
        (Some(_), Some(b)) if b.len() == g.out_channels => c.bias = Some(param1(b, device)),
        (Some(_), Some(b)) => {
            return Err(bad_weights(node, "bias", format!("{} values, the layer has {}", b.len(), g.out_channels)));
        }
        (None, Some(_)) => return Err(bad_weights(node, "bias", "given, but the layer has no bias".into())),
        _ => {}
    }
    c.bn = load_bn(c.bn, node, w, device)?;
    Ok(c)
}

fn load_dense(mut d: QDense, node: &Node, w: &desc::LayerWeights, device: &Device) -> Result<QDense, DescError> {
    let [i, o] = d.cfg;
    if w.weight.len() != i * o {
        return Err(bad_weights(node, "weight", format!("{} values, the layer has {}", w.weight.len(), i * o)));
    }
    d.w = QWeight::float(w.weight.clone(), device);
    match (&d.b, &w.bias) {
        (Some(_), Some(b)) if b.len() == o => d.b = Some(QWeight::float(b.clone(), device)),
        (Some(_), Some(b)) => {
            return Err(bad_weights(node, "bias", format!("{} values, the layer has {o}", b.len())));
        }
        (None, Some(_)) => return Err(bad_weights(node, "bias", "given, but the layer has no bias".into())),
        _ => {}
    }
    d.bn = load_bn(d.bn, node, w, device)?;
    Ok(d)
}
