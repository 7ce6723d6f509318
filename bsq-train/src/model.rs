//! The building blocks of a trainable model: quantized conv and dense layers ([`QConv`], [`QDense`]),
//! activation quantization ([`Act`]), the forward context ([`Ctx`]), and the [`QModel`] trait the trainer
//! drives. Networks are built from model descriptions by [`crate::graph::Graph`].
//!
//! Quantization points (simulated exactly by the fake-quant evaluation, and exported as such):
//!
//! * input: raw `u8`, real `scale·(x − zero_point)` (images: `x/255`);
//! * conv / dense / add with a ReLU: unsigned `a`-bit activation with a clip `c` (learned: PACT;
//!   calibrated; or 6 for ReLU6): `q = clamp(round(y/scale), 0, 2^a−1)`, `scale = c/(2^a−1)`;
//! * conv / dense / add without activation: signed 8-bit with a calibrated scale (`max|y|/127` over
//!   calibration batches), applied with a straight-through rounding during the quantized training phases
//!   (scales from the latest calibration) and at evaluation;
//! * max pooling keeps the quantization; average pooling gives `round(mean(q))` (half away from zero)
//!   at the input scale.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::bsq::{QWeight, WMode};
use crate::data::Rng;

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
    /// Scales of the signed points, by index.
    pub scales: Vec<f32>,
    /// Observed maxima (calibration).
    pub maxes: Vec<f32>,
    /// Observed 99.9th percentiles of each unsigned activation, one entry per calibration batch.
    pub act_obs: Vec<Vec<f32>>,
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

    /// Records the 99.9th percentile of unsigned activation `i` (calibration only).
    pub fn observe_act<const D: usize>(&mut self, i: usize, y: &Tensor<D>) {
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

    /// Signed 8-bit quantization point `i`.
    pub fn signed<const D: usize>(&mut self, i: usize, y: Tensor<D>) -> Tensor<D> {
        if self.calibrate {
            let m = crate::bsq::to_vec(y.clone().abs().max())[0];
            if self.maxes.len() <= i {
                self.maxes.resize(i + 1, 0.0);
            }
            self.maxes[i] = self.maxes[i].max(m);
        }
        match self.signed_scale(i) {
            // Straight-through rounding; the clamp passes no gradient outside [−128, 127] (saturation).
            Some(s) => crate::cpu_ops::signed8(y, s),
            None => y,
        }
    }

    /// The scale of signed point `i` when the signed points are applied (quantized training with
    /// calibrated scales, and evaluation).
    pub fn signed_scale(&self, i: usize) -> Option<f32> {
        self.eval.then(|| self.scales.get(i).copied().unwrap_or(1.0))
    }
}

/// How an unsigned activation's clip is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClipKind {
    /// Learned (PACT), initialised from the float model's activations.
    Learned,
    /// Calibrated from the float model's activations when quantized training starts, then fixed.
    Calibrated,
    /// Fixed at 6 (ReLU6).
    Six,
}

/// An unsigned activation: ReLU, quantized to `bits` with a clip when `ctx.quant`.
#[derive(Module, Debug)]
pub struct Act {
    /// Clip value `c` `[1]`; `scale = c/(2^bits−1)`.
    pub clip: Param<Tensor<1>>,
    /// Activation bits.
    #[module(skip)]
    pub bits: u8,
    /// How the clip is set.
    #[module(skip)]
    pub kind: ClipKind,
    /// Index of this activation among the model's (calibration statistics).
    #[module(skip)]
    pub index: usize,
}

impl Act {
    /// A new activation of `bits` bits.
    pub fn new(bits: u8, kind: ClipKind, index: usize, device: &Device) -> Self {
        let c = if kind == ClipKind::Six { 6.0f32 } else { 4.0 };
        Act { clip: Param::from_tensor(Tensor::from_data(TensorData::new(vec![c], [1]), device)), bits, kind, index }
    }

    /// `2^bits − 1`.
    pub fn levels(&self) -> f32 {
        ((1u32 << self.bits) - 1) as f32
    }

    fn clip_val(&self) -> Tensor<1> {
        let c = self.clip.val();
        if self.kind == ClipKind::Learned { c } else { c.detach() }
    }

    /// `[..] → [..]`: ReLU (ReLU6 for a fixed clip of 6), or `scale·clamp(round(y/scale), 0, 2^a−1)` with
    /// a straight-through rounding.
    pub fn forward<const D: usize>(&self, y: Tensor<D>, ctx: &mut Ctx) -> Tensor<D> {
        if ctx.quant && !ctx.calibrate {
            // The ReLU, the ReLU6 clamp (its clip is 6) and the clip are the quantizer's own `min(relu(y), c)`.
            return crate::cpu_ops::pact(y, self.clip_val(), self.levels());
        }
        let mut y = burn::tensor::activation::relu(y);
        if self.kind == ClipKind::Six {
            y = y.clamp_max(6.0);
        }
        ctx.observe_act(self.index, &y);
        if !ctx.quant {
            return y;
        }
        crate::cpu_ops::pact(y, self.clip_val(), self.levels())
    }

    /// The activation's quantization step as a `[1]` tensor (no gradient).
    pub fn scale_tensor(&self) -> Tensor<1> {
        self.clip.val().detach() / self.levels()
    }

    /// The activation's quantization step.
    pub fn scale(&self) -> f32 {
        crate::bsq::to_vec(self.clip.val())[0] / self.levels()
    }

    /// Keeps the clip positive after an optimizer step.
    pub fn clamped(self) -> Self {
        let Act { clip, bits, kind, index } = self;
        let clip = clip.map(|t| {
            let rg = t.is_require_grad();
            let ad = t.is_autodiff();
            let v = t.inner().clamp_min(1e-3);
            if ad {
                let v = Tensor::from_inner(v);
                if rg { v.require_grad() } else { v }
            } else {
                v
            }
        });
        Act { clip, bits, kind, index }
    }
}

/// He-uniform initial weights from our seeded RNG.
fn he_uniform(n: usize, fan_in: usize, rng: &mut Rng) -> Vec<f32> {
    let b = (6.0 / fan_in as f32).sqrt();
    (0..n).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * b).collect()
}

/// The geometry of a [`QConv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeom {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[k_h, k_w]`.
    pub kernel: [usize; 2],
    /// `[s_h, s_w]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub padding: [usize; 4],
    /// Groups.
    pub groups: usize,
}

impl ConvGeom {
    /// Number of weights, `out·k_h·k_w·in/groups`.
    pub fn numel(&self) -> usize {
        self.out_channels * self.kernel[0] * self.kernel[1] * (self.in_channels / self.groups.max(1))
    }
}

/// A quantized 2-D convolution (+ float bias and/or BatchNorm). Weight in Burn's `[out, in/groups, kh, kw]`
/// order.
#[derive(Module, Debug)]
pub struct QConv {
    /// Quantized weight.
    pub w: QWeight,
    /// Float bias.
    pub bias: Option<Param<Tensor<1>>>,
    /// BatchNorm.
    pub bn: Option<BatchNorm>,
    /// Geometry.
    #[module(skip)]
    pub geom: ConvGeom,
}

impl QConv {
    /// A new convolution with He-uniform weights from `rng`.
    pub fn new(geom: ConvGeom, bias: bool, bn: bool, rng: &mut Rng, device: &Device) -> Self {
        let fan_in = geom.numel() / geom.out_channels.max(1);
        QConv {
            w: QWeight::float(he_uniform(geom.numel(), fan_in, rng), device),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([geom.out_channels], device))),
            bn: bn.then(|| BatchNormConfig::new(geom.out_channels).init(device)),
            geom,
        }
    }

    /// `[B, in, H, W] → [B, out, H', W']` (conv, bias, BatchNorm). Asymmetric padding pads the input
    /// with zeros first.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let g = self.geom;
        let [t, l, b, r] = g.padding;
        let w: Tensor<4> =
            self.w.weight().reshape([g.out_channels, g.in_channels / g.groups.max(1), g.kernel[0], g.kernel[1]]);
        let (x, pad) = if t == b && l == r { (x, [t, l]) } else { (x.pad((l, r, t, b), 0.0), [0, 0]) };
        let y = crate::cpu_ops::conv2d(
            x,
            w,
            self.bias.as_ref().map(|b| b.val()),
            ConvOptions::new(g.stride, pad, [1, 1], g.groups),
        );
        match &self.bn {
            Some(bn) => crate::cpu_ops::batch_norm(bn, y),
            None => y,
        }
    }
}

/// A quantized dense layer, weight `[out][in]` (row-major), its bias quantized as its own [`QWeight`]
/// (the official code counts the fc bias among the BSQ parameters), optionally followed by BatchNorm.
#[derive(Module, Debug)]
pub struct QDense {
    /// Weight `[out·in]`.
    pub w: QWeight,
    /// Bias `[out]`.
    pub b: Option<QWeight>,
    /// BatchNorm over the output features.
    pub bn: Option<BatchNorm>,
    /// `[in, out]`.
    #[module(skip)]
    pub cfg: [usize; 2],
}

impl QDense {
    /// A new dense layer with He-uniform weights (and a uniform `±1/√in` bias) from `rng`.
    pub fn new(i: usize, o: usize, bias: bool, bn: bool, rng: &mut Rng, device: &Device) -> Self {
        let w = QWeight::float(he_uniform(o * i, i, rng), device);
        let bound = (1.0 / i as f32).sqrt();
        let b = bias.then(|| {
            let v = (0..o).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound).collect();
            QWeight::float(v, device)
        });
        QDense { w, b, bn: bn.then(|| BatchNormConfig::new(o).init(device)), cfg: [i, o] }
    }

    /// `[B, in] → [B, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [i, o] = self.cfg;
        let w: Tensor<2> = self.w.weight().reshape([o, i]);
        let mut y = x.matmul(w.transpose());
        if let Some(b) = &self.b {
            y = y + b.weight().unsqueeze::<2>();
        }
        match &self.bn {
            Some(bn) => {
                let [n, f] = y.dims();
                bn.forward(y.reshape([n, f, 1])).reshape([n, f])
            }
            None => y,
        }
    }
}

/// NCHW → flattened in HWC order (the artifact's dense input order).
pub fn flatten_hwc(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([b, h * w * c])
}

/// Visits every quantized weight: `(name, weight, counted)` where `counted` says whether it takes part in
/// BSQ and the parameter count (ResNet downsample convs do not).
pub type QVisit<'a> = &'a mut dyn FnMut(&str, &mut QWeight, bool);

/// What the trainer needs from a model: implement it for your own Burn module to train it with BSQ
/// ([`crate::training::train_model`]); [`crate::graph::Graph`] implements it for model descriptions.
///
/// Rules an implementation follows (they are what makes the export exact):
/// * every conv and dense weight is a [`QWeight`] (built with [`QConv`] / [`QDense`]) and is visited by
///   [`QModel::visit_q`] under the name of the artifact layer it becomes (a dense bias as `"<layer>.bias"`);
/// * every unsigned activation is an [`Act`] with its own `index` (0, 1, …), visited by
///   [`QModel::visit_acts`]; every signed point is a [`Ctx::signed`] call with its own index, and
///   [`QModel::export_layers`] gives each layer the scale of the point its output passes through;
/// * [`QModel::forward`] does in float exactly what the exported integer layers do (see the module docs).
pub trait QModel: Module + Sized {
    /// `[B, C, H, W]` real input values → outputs `[B, N]` (logits, or regression outputs).
    fn forward(&self, x: Tensor<4>, ctx: &mut Ctx) -> Tensor<2>;
    /// Visits every quantized weight: `(name, weight, counted)`.
    fn visit_q(&mut self, f: QVisit<'_>);
    /// Visits the unsigned activations.
    fn visit_acts(&mut self, f: &mut dyn FnMut(&mut Act));
    /// Exports to artifact layers (see [`to_artifact`]); `signed_scales[i]` is the scale of signed point `i`.
    fn export_layers(&self, signed_scales: &[f32], input_shape: [usize; 3]) -> Vec<bsq_codegen::artifact::Layer>;
    /// The name of the layer whose output is the network output (default: the last exported layer).
    fn output_layer(&self) -> Option<String> {
        None
    }
    /// Clamps the clips (positive) and the bit planes (`[0, 2]`) after an optimizer step.
    fn clamp_params(mut self) -> Self {
        self.visit_q(&mut |_, q, _| *q = q.clone().clamp_bits());
        self.visit_acts(&mut |a| *a = a.clone().clamped());
        self
    }
}

/// Applies `f` to every quantized weight by value.
pub fn map_q<M: QModel>(mut m: M, f: &mut dyn FnMut(&str, QWeight, bool) -> QWeight) -> M {
    m.visit_q(&mut |name, q, counted| {
        let cur = q.clone();
        *q = f(name, cur, counted);
    });
    m
}

/// Sets a layer's mode for every quantized weight (used to build checkpoint placeholders).
/// `scale_store` is the run's [`crate::training::TrainConfig::scale_store`].
pub fn apply_scheme<M: QModel>(m: M, scheme: &[(String, WMode)], scale_store: f32) -> M {
    map_q(m, &mut |name, q, _| match scheme.iter().find(|(n, _)| n == name) {
        Some((_, mode)) if *mode != q.mode => {
            let dev = q.s.device();
            QWeight::placeholder(q.numel, *mode, scale_store, &dev)
        }
        _ => q.with_scale_store(scale_store),
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

    /// A conv layer; weights permuted `[out][in/g][kh][kw]` → `[out][kh][kw][in/g]`.
    pub fn conv(name: &str, input: &str, c: &QConv, out: Quant) -> Layer {
        let g = c.geom;
        let ig = g.in_channels / g.groups.max(1);
        let [kh, kw] = g.kernel;
        let mut iw = c.w.int_weight();
        let src = std::mem::take(&mut iw.k);
        let mut dst = vec![0i32; src.len()];
        for oc in 0..g.out_channels {
            for ic in 0..ig {
                for y in 0..kh {
                    for x in 0..kw {
                        dst[((oc * kh + y) * kw + x) * ig + ic] = src[((oc * ig + ic) * kh + y) * kw + x];
                    }
                }
            }
        }
        iw.k = dst;
        Layer::Conv2d(art::Conv2d {
            name: name.into(),
            input: input.into(),
            in_channels: g.in_channels,
            out_channels: g.out_channels,
            kernel: g.kernel,
            stride: g.stride,
            padding: g.padding,
            groups: (g.groups != 1).then_some(g.groups),
            weight: weight(&iw),
            bias: c.bias.as_ref().map(|b| to_vec(b.val())),
            bn: c.bn.as_ref().map(batch_norm),
            channel_scale: None,
            out,
        })
    }

    fn batch_norm(bn: &burn::nn::BatchNorm) -> art::BatchNorm {
        art::BatchNorm {
            gamma: to_vec(bn.gamma.val()),
            beta: to_vec(bn.beta.val()),
            mean: to_vec(bn.running_mean.value()),
            var: to_vec(bn.running_var.value()),
            eps: bn.epsilon as f32,
        }
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
            bias: d.b.as_ref().map(|b| b.int_weight().real()),
            bn: d.bn.as_ref().map(batch_norm),
            channel_scale: None,
            out,
        })
    }

    /// A max pooling; `padding` `[top, left, bottom, right]` (written only when not all zero).
    pub fn maxpool(name: &str, input: &str, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 4]) -> Layer {
        let padding = padding.iter().any(|&p| p > 0).then_some(padding);
        Layer::MaxPool(art::Pool { name: name.into(), input: input.into(), kernel, stride, padding })
    }

    /// An average pooling (padded cells not counted); `padding` as for [`maxpool`].
    pub fn avgpool(name: &str, input: &str, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 4]) -> Layer {
        let padding = padding.iter().any(|&p| p > 0).then_some(padding);
        Layer::AvgPool(art::Pool { name: name.into(), input: input.into(), kernel, stride, padding })
    }

    /// Global average pooling.
    pub fn gap(name: &str, input: &str) -> Layer {
        Layer::GlobalAvgPool(art::Unary { name: name.into(), input: input.into() })
    }

    /// Flatten.
    pub fn flatten(name: &str, input: &str) -> Layer {
        Layer::Flatten(art::Unary { name: name.into(), input: input.into() })
    }

    /// Residual add.
    pub fn add(name: &str, inputs: [String; 2], out: Quant) -> Layer {
        Layer::Add(art::Add { name: name.into(), inputs, out })
    }

    /// Channel concat (each input rescaled to `out` by codegen).
    pub fn concat(name: &str, inputs: Vec<String>, out: Quant) -> Layer {
        Layer::Concat(art::Concat { name: name.into(), inputs, out })
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
        let q = ctx.signed(0, y.clone());
        let v = to_vec(q.clone());
        let want = [0.3f32, -0.4, 12.7, 0.0];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{v:?}");
        }
        let g = (q * Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [4]), &d)).sum().backward();
        assert_eq!(to_vec(y.grad(&g).unwrap()), vec![1.0, 2.0, 0.0, 4.0]);
        // Before any calibration (no scales), and in float training, the point passes values through.
        let mut ctx = Ctx::train_quantized(&[]);
        assert_eq!(to_vec(ctx.signed(0, y.clone())), vec![0.26, -0.36, 20.0, -0.04]);
        let mut ctx = Ctx::train(false);
        assert_eq!(to_vec(ctx.signed(0, y)), vec![0.26, -0.36, 20.0, -0.04]);
    }
}
