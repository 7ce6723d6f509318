//! Models: MLP and LeNet-style CNN for 28×28×1, ResNet-20 for CIFAR-10, built from quantized layers.
//!
//! Quantization points (simulated exactly by the fake-quant evaluation, and exported as such):
//!
//! * input: raw `u8`, real `x/255` (no mean subtraction);
//! * conv / dense followed by ReLU: unsigned `a`-bit activation with a learned PACT clip `c`:
//!   `q = clamp(round(y/scale), 0, 2^a−1)`, `scale = c/(2^a−1)`;
//! * ResNet conv2 / downsample outputs and the logits: signed 8-bit with a calibrated scale
//!   (`max|y|/127` over calibration batches), applied with a straight-through rounding during the
//!   quantized training phases (scales from the latest calibration) and at evaluation;
//! * residual add: unsigned `a`-bit PACT on the sum; max pooling keeps the quantization;
//!   global average pooling gives `round(mean(q))` (half away from zero) at the input scale.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::bsq::{QWeight, WMode, round_half_away, ste_round};
use crate::data::Rng;

/// The model architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// 784 → 256 → classes.
    Mlp,
    /// conv5×5(16) → pool → conv5×5(32) → pool → 128 → classes.
    Lenet,
    /// ResNet-20 (CIFAR, 3×3 stages of 16/32/64 channels, 1×1 downsample shortcuts).
    Resnet20,
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mlp" => Ok(Arch::Mlp),
            "lenet" => Ok(Arch::Lenet),
            "resnet20" | "resnet-20" => Ok(Arch::Resnet20),
            _ => Err(format!("unknown model {s:?} (expected mlp, lenet or resnet20)")),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::Mlp => "mlp",
            Arch::Lenet => "lenet",
            Arch::Resnet20 => "resnet20",
        })
    }
}

/// Forward-pass context: whether activations are quantized, and the signed quantization points'
/// calibration state.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Quantize activations (PACT) — off during float pretraining.
    pub quant: bool,
    /// Apply the signed 8-bit points with `scales` (quantized training and evaluation).
    pub eval: bool,
    /// Record `max|y|` of the signed points into `maxes`.
    pub calibrate: bool,
    /// Scales of the signed points, in forward order.
    pub scales: Vec<f32>,
    /// Observed maxima (calibration).
    pub maxes: Vec<f32>,
    /// Observed 99.9th percentiles of each unsigned activation, one entry per calibration batch.
    pub act_obs: Vec<Vec<f32>>,
    idx: usize,
    act_idx: usize,
}

impl Ctx {
    /// A training context without the signed points (float pretraining, or before any calibration).
    pub fn train(quant: bool) -> Self {
        Ctx { quant, ..Default::default() }
    }

    /// A quantized-training context: PACT activations and the signed 8-bit points at the given calibrated
    /// scales, both with straight-through rounding, so training sees the quantization that is exported.
    /// With no scales (nothing calibrated yet) the signed points pass values through.
    pub fn train_quantized(scales: &[f32]) -> Self {
        Ctx { quant: true, eval: !scales.is_empty(), scales: scales.to_vec(), ..Default::default() }
    }

    /// An evaluation context with the given signed scales.
    pub fn eval(quant: bool, scales: &[f32]) -> Self {
        Ctx { quant, eval: quant, scales: scales.to_vec(), ..Default::default() }
    }

    /// A calibration context (records the signed points' maxima).
    pub fn calibration(quant: bool) -> Self {
        Ctx { quant, calibrate: true, ..Default::default() }
    }

    /// Call before each forward pass.
    pub fn start(&mut self) {
        self.idx = 0;
        self.act_idx = 0;
    }

    fn observe_act<const D: usize>(&mut self, y: &Tensor<D>) {
        let i = self.act_idx;
        self.act_idx += 1;
        if !self.calibrate {
            return;
        }
        let mut v = crate::bsq::to_vec(y.clone());
        if v.is_empty() {
            return;
        }
        let k = ((v.len() as f64) * 0.999) as usize;
        let k = k.min(v.len() - 1);
        let (_, p, _) = v.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
        let p = *p;
        if self.act_obs.len() <= i {
            self.act_obs.resize(i + 1, Vec::new());
        }
        self.act_obs[i].push(p);
    }

    /// A signed 8-bit quantization point.
    pub fn signed<const D: usize>(&mut self, y: Tensor<D>) -> Tensor<D> {
        let i = self.idx;
        self.idx += 1;
        if self.calibrate {
            let m = crate::bsq::to_vec(y.clone().abs().max())[0];
            if self.maxes.len() <= i {
                self.maxes.resize(i + 1, 0.0);
            }
            self.maxes[i] = self.maxes[i].max(m);
        }
        if self.eval {
            let s = self.scales.get(i).copied().unwrap_or(1.0);
            // Straight-through rounding; the clamp passes no gradient outside [−128, 127] (saturation).
            ste_round(y / s).clamp(-128.0, 127.0) * s
        } else {
            y
        }
    }
}

/// An unsigned activation: ReLU, quantized to `bits` with a learned PACT clip when `ctx.quant`.
#[derive(Module, Debug)]
pub struct Act {
    /// Clip value `c` `[1]`; `scale = c/(2^bits−1)`.
    pub clip: Param<Tensor<1>>,
    /// Activation bits.
    #[module(skip)]
    pub bits: u8,
}

impl Act {
    fn new(bits: u8, device: &Device) -> Self {
        Act { clip: Param::from_tensor(Tensor::from_data(TensorData::new(vec![4.0f32], [1]), device)), bits }
    }

    fn levels(&self) -> f32 {
        ((1u32 << self.bits) - 1) as f32
    }

    /// `[..] → [..]`: ReLU, or `scale·clamp(round(y/scale), 0, 2^a−1)` with a straight-through rounding.
    pub fn forward<const D: usize>(&self, y: Tensor<D>, ctx: &mut Ctx) -> Tensor<D> {
        let y = burn::tensor::activation::relu(y);
        ctx.observe_act(&y);
        if !ctx.quant {
            return y;
        }
        let c = self.clip.val();
        let y = y.clone() - burn::tensor::activation::relu(y - c.clone().unsqueeze::<D>());
        let scale = (c / self.levels()).unsqueeze::<D>();
        ste_round(y / scale.clone()) * scale
    }

    /// The activation's quantization step.
    pub fn scale(&self) -> f32 {
        crate::bsq::to_vec(self.clip.val())[0] / self.levels()
    }

    /// Keeps the clip positive after an optimizer step.
    pub fn clamped(self) -> Self {
        Act {
            clip: self.clip.map(|t| {
                let rg = t.is_require_grad();
                let ad = t.is_autodiff();
                let v = t.inner().clamp_min(1e-3);
                if ad {
                    let v = Tensor::from_inner(v);
                    if rg { v.require_grad() } else { v }
                } else {
                    v
                }
            }),
            bits: self.bits,
        }
    }
}

/// He-uniform initial weights from our seeded RNG.
fn he_uniform(n: usize, fan_in: usize, rng: &mut Rng) -> Vec<f32> {
    let b = (6.0 / fan_in as f32).sqrt();
    (0..n).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * b).collect()
}

/// A quantized 2-D convolution (+ float bias or BatchNorm). Weight in Burn's `[out, in, kh, kw]` order.
#[derive(Module, Debug)]
pub struct QConv {
    /// Quantized weight.
    pub w: QWeight,
    /// Float bias (LeNet).
    pub bias: Option<Param<Tensor<1>>>,
    /// BatchNorm (ResNet).
    pub bn: Option<BatchNorm>,
    /// `[in, out, k, stride, pad]`.
    #[module(skip)]
    pub cfg: [usize; 5],
}

impl QConv {
    fn new(cfg: [usize; 5], bias: bool, bn: bool, rng: &mut Rng, device: &Device) -> Self {
        let [i, o, k, _, _] = cfg;
        let n = o * i * k * k;
        QConv {
            w: QWeight::float(he_uniform(n, i * k * k, rng), device),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([o], device))),
            bn: bn.then(|| BatchNormConfig::new(o).init(device)),
            cfg,
        }
    }

    /// `[B, in, H, W] → [B, out, H', W']` (conv, bias, BatchNorm).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [i, o, k, s, p] = self.cfg;
        let w: Tensor<4> = self.w.weight().reshape([o, i, k, k]);
        let y = conv2d(x, w, self.bias.as_ref().map(|b| b.val()), ConvOptions::new([s, s], [p, p], [1, 1], 1));
        match &self.bn {
            Some(bn) => bn.forward(y),
            None => y,
        }
    }
}

/// A quantized dense layer, weight `[out][in]` (row-major), bias quantized as its own [`QWeight`].
#[derive(Module, Debug)]
pub struct QDense {
    /// Weight `[out·in]`.
    pub w: QWeight,
    /// Bias `[out]`.
    pub b: QWeight,
    /// `[in, out]`.
    #[module(skip)]
    pub cfg: [usize; 2],
}

impl QDense {
    fn new(i: usize, o: usize, rng: &mut Rng, device: &Device) -> Self {
        let b = (1.0 / i as f32).sqrt();
        let bias = (0..o).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * b).collect();
        QDense { w: QWeight::float(he_uniform(o * i, i, rng), device), b: QWeight::float(bias, device), cfg: [i, o] }
    }

    /// `[B, in] → [B, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [i, o] = self.cfg;
        let w: Tensor<2> = self.w.weight().reshape([o, i]);
        x.matmul(w.transpose()) + self.b.weight().unsqueeze::<2>()
    }
}

/// NCHW → flattened in HWC order (the artifact's dense input order).
fn flatten_hwc(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([b, h * w * c])
}

/// Visits every quantized weight: `(name, weight, counted)` where `counted` says whether it takes part in
/// BSQ and the parameter count (ResNet downsample convs do not).
pub type QVisit<'a> = &'a mut dyn FnMut(&str, &mut QWeight, bool);

/// What the trainer needs from a model.
pub trait QModel: Module + Sized {
    /// `[B, C, H, W]` (values `x/255`) → logits `[B, classes]`.
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2>;
    /// Visits every quantized weight.
    fn visit_q(&mut self, f: QVisit<'_>);
    /// Clamps the PACT clips (positive) and the bit planes (`[0, 2]`) after an optimizer step.
    fn clamp_params(self) -> Self;
    /// Visits the unsigned activations in forward order.
    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act));
    /// Exports to artifact layers (see [`to_artifact`]).
    fn export_layers(&self, signed_scales: &[f32], input_shape: [usize; 3]) -> Vec<bsq_codegen::artifact::Layer>;
}

/// Applies `f` to every quantized weight by value.
pub fn map_q<M: QModel>(mut m: M, f: &mut dyn FnMut(&str, QWeight, bool) -> QWeight) -> M {
    m.visit_q(&mut |name, q, counted| {
        let cur = q.clone();
        *q = f(name, cur, counted);
    });
    m
}

fn clamp_q(q: &mut QWeight) {
    *q = q.clone().clamp_bits();
}

fn clamp_act(a: &mut Act) {
    *a = a.clone().clamped();
}

/// Multi-layer perceptron for 28×28×1: flatten → dense 256 (ReLU, a-bit) → dense classes (signed 8-bit logits).
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layer.
    pub fc1: QDense,
    /// Its activation.
    pub act1: Act,
    /// Output layer.
    pub fc2: QDense,
}

impl Mlp {
    /// A new MLP for `input` `[H, W, C]` images.
    pub fn new(input: [usize; 3], classes: usize, act_bits: u8, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::new(seed);
        let n = input.iter().product();
        Mlp {
            fc1: QDense::new(n, 256, &mut rng, device),
            act1: Act::new(act_bits, device),
            fc2: QDense::new(256, classes, &mut rng, device),
        }
    }
}

impl QModel for Mlp {
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2> {
        ctx.start();
        let x = self.act1.forward(self.fc1.forward(flatten_hwc(x)), ctx);
        let y = self.fc2.forward(x);
        ctx.signed(y)
    }
    fn visit_q(&mut self, f: QVisit<'_>) {
        f("fc1", &mut self.fc1.w, true);
        f("fc1.bias", &mut self.fc1.b, true);
        f("fc2", &mut self.fc2.w, true);
        f("fc2.bias", &mut self.fc2.b, true);
    }
    fn clamp_params(mut self) -> Self {
        self.visit_q(&mut |_, q, _| clamp_q(q));
        clamp_act(&mut self.act1);
        self
    }
    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act)) {
        f(&mut self.act1);
    }
    fn export_layers(&self, s: &[f32], input: [usize; 3]) -> Vec<bsq_codegen::artifact::Layer> {
        use to_artifact::*;
        let _ = input;
        vec![dense("fc1", "input", &self.fc1, unsigned(&self.act1)), dense("fc2", "fc1", &self.fc2, signed8(s[0]))]
    }
}

/// LeNet-style CNN for 28×28×1: conv5×5(16) → maxpool2 → conv5×5(32) → maxpool2 → dense 128 → dense classes.
#[derive(Module, Debug)]
pub struct LeNet {
    /// First conv (1 → 16, 5×5).
    pub conv1: QConv,
    /// Its activation.
    pub act1: Act,
    /// Second conv (16 → 32, 5×5).
    pub conv2: QConv,
    /// Its activation.
    pub act2: Act,
    /// Hidden dense (512 → 128).
    pub fc1: QDense,
    /// Its activation.
    pub act3: Act,
    /// Output dense.
    pub fc2: QDense,
}

impl LeNet {
    /// A new LeNet for `input` `[H, W, C]` images (28×28 expected).
    pub fn new(input: [usize; 3], classes: usize, act_bits: u8, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::new(seed);
        let [h, w, c] = input;
        let (h2, w2) = (((h - 4) / 2 - 4) / 2, ((w - 4) / 2 - 4) / 2);
        LeNet {
            conv1: QConv::new([c, 16, 5, 1, 0], true, false, &mut rng, device),
            act1: Act::new(act_bits, device),
            conv2: QConv::new([16, 32, 5, 1, 0], true, false, &mut rng, device),
            act2: Act::new(act_bits, device),
            fc1: QDense::new(h2 * w2 * 32, 128, &mut rng, device),
            act3: Act::new(act_bits, device),
            fc2: QDense::new(128, classes, &mut rng, device),
        }
    }
}

fn pool2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions {
            kernel_size: [2, 2],
            stride: [2, 2],
            padding: [(0, 0), (0, 0)],
            dilation: [1, 1],
            ceil_mode: false,
        },
    )
}

impl QModel for LeNet {
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2> {
        ctx.start();
        let x = pool2(self.act1.forward(self.conv1.forward(x), ctx));
        let x = pool2(self.act2.forward(self.conv2.forward(x), ctx));
        let x = self.act3.forward(self.fc1.forward(flatten_hwc(x)), ctx);
        let y = self.fc2.forward(x);
        ctx.signed(y)
    }
    fn visit_q(&mut self, f: QVisit<'_>) {
        f("conv1", &mut self.conv1.w, true);
        f("conv2", &mut self.conv2.w, true);
        f("fc1", &mut self.fc1.w, true);
        f("fc1.bias", &mut self.fc1.b, true);
        f("fc2", &mut self.fc2.w, true);
        f("fc2.bias", &mut self.fc2.b, true);
    }
    fn clamp_params(mut self) -> Self {
        self.visit_q(&mut |_, q, _| clamp_q(q));
        self.visit_acts(&mut clamp_act);
        self
    }
    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act)) {
        f(&mut self.act1);
        f(&mut self.act2);
        f(&mut self.act3);
    }
    fn export_layers(&self, s: &[f32], _input: [usize; 3]) -> Vec<bsq_codegen::artifact::Layer> {
        use to_artifact::*;
        vec![
            conv("conv1", "input", &self.conv1, unsigned(&self.act1)),
            maxpool("pool1", "conv1"),
            conv("conv2", "pool1", &self.conv2, unsigned(&self.act2)),
            maxpool("pool2", "conv2"),
            dense("fc1", "pool2", &self.fc1, unsigned(&self.act3)),
            dense("fc2", "fc1", &self.fc2, signed8(s[0])),
        ]
    }
}

/// A ResNet basic block: conv1 → BN → ReLU (a-bit) → conv2 → BN (signed 8-bit), shortcut (identity or
/// 1×1 stride-2 conv + BN, signed 8-bit), add → ReLU (a-bit).
#[derive(Module, Debug)]
pub struct Block {
    /// First conv.
    pub conv1: QConv,
    /// Its activation.
    pub act1: Act,
    /// Second conv.
    pub conv2: QConv,
    /// Downsample shortcut (8-bit, outside BSQ).
    pub down: Option<QConv>,
    /// Activation of the sum.
    pub act_out: Act,
}

impl Block {
    fn new(i: usize, o: usize, stride: usize, act_bits: u8, rng: &mut Rng, device: &Device) -> Self {
        Block {
            conv1: QConv::new([i, o, 3, stride, 1], false, true, rng, device),
            act1: Act::new(act_bits, device),
            conv2: QConv::new([o, o, 3, 1, 1], false, true, rng, device),
            down: (stride != 1 || i != o).then(|| QConv::new([i, o, 1, stride, 0], false, true, rng, device)),
            act_out: Act::new(act_bits, device),
        }
    }

    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<4> {
        let y = self.act1.forward(self.conv1.forward(x.clone()), ctx);
        let y = ctx.signed(self.conv2.forward(y));
        let sc = match &self.down {
            Some(d) => ctx.signed(d.forward(x)),
            None => x,
        };
        self.act_out.forward(y + sc, ctx)
    }
}

/// ResNet-20 for 32×32×3: stem conv 3×3(16) → 3 stages × 3 blocks (16, 32, 64) → global avg pool → dense.
#[derive(Module, Debug)]
pub struct ResNet20 {
    /// Stem conv.
    pub stem: QConv,
    /// Its activation.
    pub act: Act,
    /// The 9 blocks.
    pub blocks: Vec<Block>,
    /// Output dense (64 → classes).
    pub fc: QDense,
}

impl ResNet20 {
    /// A new ResNet-20 for `input` `[H, W, C]` images.
    pub fn new(input: [usize; 3], classes: usize, act_bits: u8, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::new(seed);
        let mut blocks = Vec::new();
        let mut i = 16;
        for (stage, o) in [16usize, 32, 64].into_iter().enumerate() {
            for b in 0..3 {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(Block::new(i, o, stride, act_bits, &mut rng, device));
                i = o;
            }
        }
        ResNet20 {
            stem: QConv::new([input[2], 16, 3, 1, 1], false, true, &mut rng, device),
            act: Act::new(act_bits, device),
            blocks,
            fc: QDense::new(64, classes, &mut rng, device),
        }
    }

    fn block_name(i: usize) -> String {
        format!("layer{}.{}", i / 3 + 1, i % 3)
    }
}

impl QModel for ResNet20 {
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2> {
        ctx.start();
        let mut x = self.act.forward(self.stem.forward(x), ctx);
        for b in &self.blocks {
            x = b.forward(x, ctx);
        }
        let [bsz, c, h, w] = x.dims();
        let mut m: Tensor<2> = x.clone().reshape([bsz, c, h * w]).mean_dim(2).reshape([bsz, c]);
        if ctx.quant {
            // round(mean(q)) (half away from zero) at the input scale, q = x/scale of the last activation.
            let s = self.blocks.last().map(|b| b.act_out.clip.val() / b.act_out.levels()).expect("blocks");
            let s4 = s.clone().unsqueeze::<4>();
            let q = round_half_away(x / s4).detach();
            let mq: Tensor<2> = q.reshape([bsz, c, h * w]).sum_dim(2).reshape([bsz, c]) / (h * w) as f32;
            let mq = round_half_away(mq) * s.unsqueeze::<2>();
            m = m.clone() + (mq - m).detach();
        }
        let y = self.fc.forward(m);
        ctx.signed(y)
    }
    fn visit_q(&mut self, f: QVisit<'_>) {
        f("stem", &mut self.stem.w, true);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let n = Self::block_name(i);
            f(&format!("{n}.conv1"), &mut b.conv1.w, true);
            f(&format!("{n}.conv2"), &mut b.conv2.w, true);
            if let Some(d) = &mut b.down {
                f(&format!("{n}.downsample"), &mut d.w, false);
            }
        }
        f("fc", &mut self.fc.w, true);
        f("fc.bias", &mut self.fc.b, true);
    }
    fn clamp_params(mut self) -> Self {
        self.visit_q(&mut |_, q, _| clamp_q(q));
        self.visit_acts(&mut clamp_act);
        self
    }
    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act)) {
        f(&mut self.act);
        for b in &mut self.blocks {
            f(&mut b.act1);
            f(&mut b.act_out);
        }
    }
    fn export_layers(&self, s: &[f32], _input: [usize; 3]) -> Vec<bsq_codegen::artifact::Layer> {
        use to_artifact::*;
        let mut out = vec![conv("stem", "input", &self.stem, unsigned(&self.act))];
        let mut prev = "stem".to_string();
        let mut si = 0;
        for (i, b) in self.blocks.iter().enumerate() {
            let n = Self::block_name(i);
            out.push(conv(&format!("{n}.conv1"), &prev, &b.conv1, unsigned(&b.act1)));
            out.push(conv(&format!("{n}.conv2"), &format!("{n}.conv1"), &b.conv2, signed8(s[si])));
            si += 1;
            let sc = match &b.down {
                Some(d) => {
                    out.push(conv(&format!("{n}.downsample"), &prev, d, signed8(s[si])));
                    si += 1;
                    format!("{n}.downsample")
                }
                None => prev.clone(),
            };
            out.push(add(&format!("{n}.add"), [format!("{n}.conv2"), sc], unsigned(&b.act_out)));
            prev = format!("{n}.add");
        }
        out.push(gap("pool", &prev));
        out.push(dense("fc", "pool", &self.fc, signed8(s[si])));
        out
    }
}

/// Sets a layer's mode for every quantized weight (used to build checkpoint placeholders).
pub fn apply_scheme<M: QModel>(m: M, scheme: &[(String, WMode)]) -> M {
    map_q(m, &mut |name, q, _| match scheme.iter().find(|(n, _)| n == name) {
        Some((_, mode)) if *mode != q.mode => {
            let dev = q.s.device();
            QWeight::placeholder(q.numel, *mode, &dev)
        }
        _ => q,
    })
}

/// Conversions of trained layers to artifact layers (used by each model's [`QModel::export_layers`]).
pub mod to_artifact {
    use bsq_codegen::artifact::{self as art, Layer, Quant};

    use super::{Act, QConv, QDense};
    use crate::bsq::{IntWeight, to_vec};

    /// The unsigned output quantization of an activation.
    pub fn unsigned(a: &Act) -> Quant {
        Quant { bits: a.bits, scale: a.scale(), signed: false }
    }

    /// A signed 8-bit output quantization.
    pub fn signed8(scale: f32) -> Quant {
        Quant { bits: 8, scale, signed: true }
    }

    fn weight(iw: &IntWeight) -> art::Weight {
        art::Weight { bits: iw.bits, scale: if iw.bits == 0 { 1.0 } else { iw.scale }, values: iw.k.clone() }
    }

    /// A conv layer; weights permuted OIHW → `[out][kh][kw][in]`.
    pub fn conv(name: &str, input: &str, c: &QConv, out: Quant) -> Layer {
        let [i, o, k, s, p] = c.cfg;
        let mut iw = c.w.int_weight();
        let oihw = std::mem::take(&mut iw.k);
        let mut ohwi = vec![0i32; oihw.len()];
        for oc in 0..o {
            for ic in 0..i {
                for y in 0..k {
                    for x in 0..k {
                        ohwi[((oc * k + y) * k + x) * i + ic] = oihw[((oc * i + ic) * k + y) * k + x];
                    }
                }
            }
        }
        iw.k = ohwi;
        let bn = c.bn.as_ref().map(|bn| art::BatchNorm {
            gamma: to_vec(bn.gamma.val()),
            beta: to_vec(bn.beta.val()),
            mean: to_vec(bn.running_mean.value()),
            var: to_vec(bn.running_var.value()),
            eps: bn.epsilon as f32,
        });
        Layer::Conv2d(art::Conv2d {
            name: name.into(),
            input: input.into(),
            in_channels: i,
            out_channels: o,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p, p, p],
            groups: None,
            weight: weight(&iw),
            bias: c.bias.as_ref().map(|b| to_vec(b.val())),
            bn,
            channel_scale: None,
            out,
        })
    }

    /// A dense layer; the quantized bias is exported as its real values.
    pub fn dense(name: &str, input: &str, d: &QDense, out: Quant) -> Layer {
        let [i, o] = d.cfg;
        Layer::Dense(art::Dense {
            name: name.into(),
            input: input.into(),
            in_features: i,
            out_features: o,
            weight: weight(&d.w.int_weight()),
            bias: Some(d.b.int_weight().real()),
            bn: None,
            channel_scale: None,
            out,
        })
    }

    /// A 2×2 stride-2 max pooling.
    pub fn maxpool(name: &str, input: &str) -> Layer {
        Layer::MaxPool(art::Pool { name: name.into(), input: input.into(), kernel: [2, 2], stride: [2, 2] })
    }

    /// Global average pooling.
    pub fn gap(name: &str, input: &str) -> Layer {
        Layer::GlobalAvgPool(art::Unary { name: name.into(), input: input.into() })
    }

    /// Residual add.
    pub fn add(name: &str, inputs: [String; 2], out: Quant) -> Layer {
        Layer::Add(art::Add { name: name.into(), inputs, out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsq::to_vec;

    /// The signed 8-bit points in quantized training: the forward value is the exported
    /// `clamp(round(y/s), −128, 127)·s`, the gradient passes straight through inside the range and is zero
    /// where the value saturates.
    #[test]
    fn signed_point_quantizes_in_training_with_straight_through_gradient() {
        let d = Device::flex().autodiff();
        let y = Tensor::<1>::from_data(TensorData::new(vec![0.26f32, -0.36, 20.0, -0.04], [4]), &d).require_grad();
        let mut ctx = Ctx::train_quantized(&[0.1]);
        ctx.start();
        let q = ctx.signed(y.clone());
        let v = to_vec(q.clone());
        let want = [0.3f32, -0.4, 12.7, 0.0];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{v:?}");
        }
        let g = (q * Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [4]), &d)).sum().backward();
        assert_eq!(to_vec(y.grad(&g).unwrap()), vec![1.0, 2.0, 0.0, 4.0]);
        // Before any calibration (no scales), and in float training, the point passes values through.
        let mut ctx = Ctx::train_quantized(&[]);
        ctx.start();
        assert_eq!(to_vec(ctx.signed(y.clone())), vec![0.26, -0.36, 20.0, -0.04]);
        let mut ctx = Ctx::train(false);
        ctx.start();
        assert_eq!(to_vec(ctx.signed(y)), vec![0.26, -0.36, 20.0, -0.04]);
    }
}
