//! Lowering: from a validated artifact to integer operations over tensors.
//!
//! * BatchNorm (or an already-folded per-channel scale) and the bias become, per output channel, an `i32`
//!   bias at the accumulator's scale and a fixed-point multiplier + shift — the integer weights never change:
//!   `y = c_o·S·acc + B_o` with `S = s_in·s/(2^n−1)`, so `q = round((c_o·S/s_out)·(acc + round(B_o/(c_o·S))))`.
//! * The input scale is the first layers' `s_in`: the input normalization is folded there.
//! * A 0-bit layer (all weights 0) becomes a constant per-channel tensor: `q_o = clamp(round(B_o/s_out))`.
//! * Flatten is a renaming (HWC data is already flat).
//! * Residual adds rescale both inputs to an intermediate scale `s_out/2^K` (`K` as large as the `i32`
//!   range allows, at most 20), sum, and requantize by `2^−K` to the output.
//! * A channel concat rescales each input to the output scale on its own (`s_in/s_out`, one
//!   requantization, then the output clamp); an input at the output's scale gets the identity
//!   ([`Requant::IDENTITY`]), which the runtime copies or only clamps. No sum, so nothing to prove.
//! * Every convolution and dense layer gets a proof that its `i32` accumulator cannot overflow:
//!   `(Σ_i |k_oi| · max_activation)·2^max(shift,0) + |bias_o| ≤ 2^31 − 1` for every channel `o`; otherwise
//!   the model is refused.
//! * An input zero point `z` (real input `s_in·(x − z)`): a layer reading the input computes
//!   `Σ k·(x − z) = Σ k·x − z·Σ k`, so `−z·Σ_i k_oi` (per output channel, over its fan-in) is folded into its
//!   integer bias and the kernels run unchanged on the raw bytes. A padded convolution on such an input
//!   first copies it into an arena buffer padded with the byte `z` (the real value 0; [`InputPad`]) and then
//!   runs without padding: every window then has all its `k_h·k_w·in` elements, so the folded `−z·Σ k` is
//!   exact at the border too. (The alternative, a pad value inside the kernels, would touch every convolution
//!   path — portable, DSP, gathered, grouped/depthwise — and their assembly, for a copy of one layer's input.)

use std::collections::HashMap;

use bsq_runtime::{Conv2dShape, GroupedConv2dShape, PadShape, PoolShape, Requant};
use fixed::types::I1F31;

use crate::CodegenError;
use crate::artifact::{Artifact, BatchNorm, Layer, Quant, Weight};
use crate::validate::{INPUT, Tensors};

/// Index into [`Lowered::tensors`]; tensor 0 is the network input.
pub type TensorId = usize;

/// A tensor of the lowered model.
#[derive(Debug, Clone, PartialEq)]
pub struct LTensor {
    /// Name of the layer that produces it (`"input"` for tensor 0).
    pub name: String,
    /// `[H, W, C]`.
    pub shape: [usize; 3],
    /// Bytes (one per element).
    pub len: usize,
    /// Quantization.
    pub quant: Quant,
    /// The byte that stands for the real value 0 (real value `scale · (x − zero_point)`): the artifact's
    /// `input.zero_point` for the network input and the padded copies of it, 0 for every other tensor.
    pub zero_point: u8,
}

/// Bias, requantization and clamp of a layer's output (owned form of [`bsq_runtime::OutputStage`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Per-channel `i32` bias at the accumulator scale (empty: none).
    pub bias: Vec<i32>,
    /// Per-channel requantization (or one for all).
    pub requant: Vec<Requant>,
    /// Clamp minimum.
    pub min: i32,
    /// Clamp maximum.
    pub max: i32,
    /// Signed output bytes.
    pub signed: bool,
}

impl Stage {
    /// Borrowed runtime form.
    pub fn as_runtime(&self) -> bsq_runtime::OutputStage<'_> {
        bsq_runtime::OutputStage {
            bias: &self.bias,
            requant: &self.requant,
            min: self.min,
            max: self.max,
            signed: self.signed,
        }
    }
}

/// The padding step of a padded convolution whose input has a non-zero zero point `z`: the input is copied
/// into an arena buffer with a border of the byte `z` (the real value 0) by [`bsq_runtime::pad`], and the
/// convolution runs on that buffer without padding (its shape's `in_h`/`in_w` are the padded ones, its
/// paddings 0). The buffer is live during this op only.
#[derive(Debug, Clone, PartialEq)]
pub struct InputPad {
    /// The input's geometry and the layer's padding.
    pub shape: PadShape,
    /// The border byte: the input's zero point.
    pub value: u8,
    /// The tensor (in the arena) that holds the padded copy.
    pub buffer: TensorId,
}

/// What an operation computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// 2-D convolution with packed weights.
    Conv {
        /// Shape.
        shape: Conv2dShape,
        /// Weight bits.
        bits: u8,
        /// Packed weights (`bsq_runtime::pack` layout).
        packed: Vec<u8>,
        /// Output stage.
        stage: Stage,
        /// The padding step before it (a padded convolution on a zero-pointed input), if any.
        pad: Option<InputPad>,
    },
    /// Grouped 2-D convolution (`groups > 1`; depthwise when `groups = in_c`) with packed weights.
    GroupedConv {
        /// Shape (with the groups).
        shape: GroupedConv2dShape,
        /// Weight bits.
        bits: u8,
        /// Packed weights (`bsq_runtime::pack` layout), one row of `k_h·k_w·in_c/groups` per output channel.
        packed: Vec<u8>,
        /// Output stage.
        stage: Stage,
        /// The padding step before it (a padded convolution on a zero-pointed input), if any.
        pad: Option<InputPad>,
    },
    /// Fully connected layer with packed weights.
    Dense {
        /// Input features.
        in_len: usize,
        /// Output features.
        out_len: usize,
        /// Weight bits.
        bits: u8,
        /// Packed weights.
        packed: Vec<u8>,
        /// Output stage.
        stage: Stage,
    },
    /// A 0-bit layer: one constant byte per output channel.
    Fill {
        /// Per-channel values.
        values: Vec<u8>,
    },
    /// Max pooling.
    MaxPool {
        /// Window.
        shape: PoolShape,
        /// Signed input (and output) bytes.
        signed: bool,
    },
    /// Average pooling (also global average pooling).
    AvgPool {
        /// Window.
        shape: PoolShape,
        /// Signed input (and output) bytes.
        signed: bool,
    },
    /// Residual add.
    Add {
        /// Rescale of input 0 to the intermediate scale.
        ra: Requant,
        /// Rescale of input 1 to the intermediate scale.
        rb: Requant,
        /// Input 0 is signed.
        a_signed: bool,
        /// Input 1 is signed.
        b_signed: bool,
        /// Intermediate → output stage (one requant, no bias).
        stage: Stage,
    },
    /// Channel concat.
    Concat {
        /// Pixels (`H·W`) of every input and of the output.
        pixels: usize,
        /// Per input, in order: its channels and whether its bytes are signed.
        parts: Vec<(usize, bool)>,
        /// Output stage: one requantization per input (input scale → output scale; a single one when all
        /// are equal), no bias, the output clamp.
        stage: Stage,
    },
}

/// One lowered operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Layer name in the artifact.
    pub name: String,
    /// The artifact's op name (`conv2d`, `dense`, …).
    pub op: &'static str,
    /// Weight bits of the original layer (`None` for ops without weights).
    pub weight_bits: Option<u8>,
    /// Number of weights of the original layer.
    pub params: usize,
    /// What it computes.
    pub kind: Kind,
    /// Input tensors.
    pub inputs: Vec<TensorId>,
    /// Output tensor.
    pub output: TensorId,
    /// Multiply-accumulates per inference.
    pub macs: u64,
}

impl Op {
    /// Bytes of flash this op's constants take on the device: packed weights, biases (4 B each),
    /// requantizations (8 B each: `i32` + `i8`, padded) and constant fills.
    pub fn flash_bytes(&self) -> usize {
        let stage = |s: &Stage| s.bias.len() * 4 + s.requant.len() * 8;
        match &self.kind {
            Kind::Conv { packed, stage: s, .. }
            | Kind::GroupedConv { packed, stage: s, .. }
            | Kind::Dense { packed, stage: s, .. } => packed.len() + stage(s),
            Kind::Fill { values } => values.len(),
            Kind::Add { stage: s, .. } => 16 + stage(s),
            Kind::Concat { stage: s, .. } => stage(s),
            Kind::MaxPool { .. } | Kind::AvgPool { .. } => 0,
        }
    }

    /// The padding step of a padded convolution on a zero-pointed input.
    pub fn input_pad(&self) -> Option<&InputPad> {
        match &self.kind {
            Kind::Conv { pad, .. } | Kind::GroupedConv { pad, .. } => pad.as_ref(),
            _ => None,
        }
    }

    /// Scratch (`i16` elements) the op needs.
    pub fn scratch_len(&self) -> usize {
        match &self.kind {
            Kind::Conv { shape, .. } => bsq_runtime::conv_scratch_len(shape),
            Kind::GroupedConv { shape, .. } => bsq_runtime::grouped_scratch_len(shape),
            Kind::Dense { in_len, .. } => bsq_runtime::scratch_len(*in_len),
            _ => 0,
        }
    }
}

/// The lowered model: integer operations in execution order over numbered tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// Model name.
    pub name: String,
    /// FNV-1a 64 hash of the artifact's canonical JSON (names the source in generated code).
    pub hash: u64,
    /// Class labels.
    pub labels: Vec<String>,
    /// Tensors; 0 is the network input.
    pub tensors: Vec<LTensor>,
    /// Operations in execution order.
    pub ops: Vec<Op>,
    /// The network output tensor.
    pub output: TensorId,
}

impl Lowered {
    /// Total multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        self.ops.iter().map(|o| o.macs).sum()
    }
    /// Largest scratch any op needs (`i16` elements).
    pub fn scratch_len(&self) -> usize {
        self.ops.iter().map(Op::scratch_len).max().unwrap_or(0)
    }
}

/// FNV-1a, 64 bit.
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A real multiplier as Q31 multiplier + shift (computed with `fixed`'s `I1F31`, round to nearest).
/// `Err` if `|real| ≥ 2^30` (no representable shift).
pub fn quantize_multiplier(real: f64) -> Result<Requant, String> {
    if real == 0.0 {
        return Ok(Requant { multiplier: 0, shift: 0 });
    }
    if !real.is_finite() {
        return Err(format!("multiplier {real} is not finite"));
    }
    let mag = real.abs();
    // mag = m · 2^e with m in [0.5, 1).
    let mut e = mag.log2().floor() as i32 + 1;
    let mut m = mag / 2f64.powi(e);
    while m >= 1.0 {
        m /= 2.0;
        e += 1;
    }
    while m < 0.5 {
        m *= 2.0;
        e -= 1;
    }
    if e > bsq_runtime::requant::MAX_SHIFT as i32 {
        return Err(format!("multiplier {real} is too large (≥ 2^30)"));
    }
    if e < bsq_runtime::requant::MIN_SHIFT as i32 {
        // Denormalize: keep shift -31, shrink the mantissa (possibly to 0).
        m *= 2f64.powi(e - bsq_runtime::requant::MIN_SHIFT as i32);
        e = bsq_runtime::requant::MIN_SHIFT as i32;
    }
    let q = match I1F31::checked_from_num(m) {
        Some(q) => q.to_bits(),
        None => {
            // m rounded up to 1.0: use 0.5 · 2^(e+1).
            if e + 1 > bsq_runtime::requant::MAX_SHIFT as i32 {
                return Err(format!("multiplier {real} is too large (≥ 2^30)"));
            }
            e += 1;
            1 << 30
        }
    };
    Ok(Requant { multiplier: if real < 0.0 { -q } else { q }, shift: e as i8 })
}

/// The activation range of a quantization.
pub fn clamp_range(q: &Quant) -> (i32, i32) {
    if q.signed { (-(1 << (q.bits - 1)), (1 << (q.bits - 1)) - 1) } else { (0, (1 << q.bits) - 1) }
}

struct Affine<'a> {
    name: &'a str,
    weight: &'a Weight,
    bias: &'a Option<Vec<f32>>,
    bn: &'a Option<BatchNorm>,
    channel_scale: &'a Option<Vec<f32>>,
    out: Quant,
    channels: usize,
    row_len: usize,
    in_quant: Quant,
    /// The input's zero point (folded into the bias).
    zero_point: u8,
}

/// Per-channel factor `c_o` and real bias `B_o` such that `y = c_o·(conv) + B_o`.
fn fold(a: &Affine<'_>) -> Vec<(f64, f64)> {
    (0..a.channels)
        .map(|o| {
            let b = a.bias.as_ref().map_or(0.0, |b| b[o] as f64);
            if let Some(bn) = a.bn {
                let c = bn.gamma[o] as f64 / (bn.var[o] as f64 + bn.eps as f64).sqrt();
                (c, bn.beta[o] as f64 + c * (b - bn.mean[o] as f64))
            } else if let Some(cs) = a.channel_scale {
                let c = cs[o] as f64;
                (c, c * b)
            } else {
                (1.0, b)
            }
        })
        .collect()
}

enum AffineLowered {
    Packed { packed: Vec<u8>, stage: Stage },
    Constant(Vec<u8>),
}

fn lower_affine(a: &Affine<'_>) -> Result<AffineLowered, CodegenError> {
    let folded = fold(a);
    let (min, max) = clamp_range(&a.out);
    let s_out = a.out.scale as f64;
    let n = a.weight.bits;
    let all_zero = a.weight.values.iter().all(|&v| v == 0);
    if n == 0 || all_zero {
        // Constant output per channel.
        let values =
            folded.iter().map(|&(_, b)| ((b / s_out).round().clamp(min as f64, max as f64) as i32) as u8).collect();
        return Ok(AffineLowered::Constant(values));
    }
    let s_acc = a.in_quant.scale as f64 * a.weight.scale as f64 / bsq_runtime::pack::max_magnitude(n) as f64;
    let max_in = clamp_range(&a.in_quant).1 as i64;
    let mut bias = Vec::with_capacity(a.channels);
    let mut requant = Vec::with_capacity(a.channels);
    for (o, &(c, b)) in folded.iter().enumerate() {
        let ch_scale = c * s_acc;
        if ch_scale == 0.0 {
            return Err(CodegenError::Lowering {
                layer: a.name.to_string(),
                message: format!(
                    "channel {o} has a zero multiplier (BatchNorm gamma or channel_scale is 0) but non-zero weights"
                ),
            });
        }
        let rq = quantize_multiplier(ch_scale / s_out)
            .map_err(|m| CodegenError::Lowering { layer: a.name.to_string(), message: format!("channel {o}: {m}") })?;
        // The bias is added after the requantization's left shift: it has that many extra fractional bits.
        let left = rq.shift.max(0) as i32;
        let bias_real = (b / ch_scale * 2f64.powi(left)).round();
        let row = &a.weight.values[o * a.row_len..(o + 1) * a.row_len];
        // The input zero point: Σ k·(x − z) = Σ k·x − z·Σ k, at the bias's 2^L. In i128: |z·Σ k·2^L| <
        // 2^8 · 2^39 · 2^30 (rows below 2^31 weights of magnitude below 2^8); a rounded bias of 2^100 or more
        // (or not finite) is out of range whatever is folded into it.
        let fold = (a.zero_point as i128 * row.iter().map(|&k| k as i128).sum::<i128>()) << left;
        let folded = if bias_real.abs() < 2f64.powi(100) { Some(bias_real as i128 - fold) } else { None };
        let Some(bias_int) = folded.and_then(|v| i32::try_from(v).ok()).filter(|&v| v != i32::MIN) else {
            let what = match (a.zero_point, folded) {
                (0, _) => format!("{bias_real}"),
                (z, Some(v)) => format!("{v} (with the input zero point {z})"),
                (z, None) => format!("{bias_real} (before the input zero point {z})"),
            };
            return Err(CodegenError::Lowering {
                layer: a.name.to_string(),
                message: format!("channel {o}: bias {b} is {what} accumulator steps, outside i32"),
            });
        };
        // In i128: `l1 · max_in < 2^31 · 2^8 · 2^8` and `left ≤ 30`, so nothing here can wrap (in i64 a
        // large left shift could wrap and let an overflowing layer through).
        let l1: i128 = row.iter().map(|&k| (k as i128).abs()).sum();
        let bound = ((l1 * max_in as i128) << left) + (bias_int as i128).abs();
        if bound > i32::MAX as i128 {
            let maxk = row.iter().map(|k| k.abs()).max().unwrap_or(0);
            return Err(CodegenError::AccumulatorOverflow {
                layer: a.name.to_string(),
                channel: o,
                bound,
                detail: format!(
                    "fan-in {}, max |k| {maxk}, sum |k| {l1}, max activation {max_in}, left shift {left}, |bias| {}",
                    a.row_len,
                    bias_int.unsigned_abs()
                ),
            });
        }
        bias.push(bias_int);
        requant.push(
            quantize_multiplier(ch_scale / s_out).map_err(|m| CodegenError::Lowering {
                layer: a.name.to_string(),
                message: format!("channel {o}: {m}"),
            })?,
        );
    }
    let mut packed = vec![0u8; bsq_runtime::pack::packed_len(n, a.channels, a.row_len).unwrap_or(0)];
    bsq_runtime::pack::pack(n, a.row_len, &a.weight.values, &mut packed)
        .map_err(|e| CodegenError::Lowering { layer: a.name.to_string(), message: format!("packing weights: {e}") })?;
    // One shared requantization when every channel has the same (no BatchNorm): 8 bytes instead of 8 per channel.
    if requant.windows(2).all(|w| w[0] == w[1]) {
        requant.truncate(1);
    }
    let stage = Stage { bias, requant, min, max, signed: a.out.signed };
    Ok(AffineLowered::Packed { packed, stage })
}

/// Lowers a validated artifact (`tensors` from [`crate::validate::validate`]).
pub fn lower(a: &Artifact, tensors: &Tensors) -> Result<Lowered, CodegenError> {
    let hash = fnv64(a.to_json()?.as_bytes());
    let mut ids: HashMap<&str, TensorId> = HashMap::new();
    let input = tensors[INPUT];
    let mut lt = vec![LTensor {
        name: INPUT.to_string(),
        shape: input.shape,
        len: input.len,
        quant: input.quant,
        zero_point: a.input.zero_point,
    }];
    ids.insert(INPUT, 0);
    let mut ops = Vec::new();
    for layer in &a.layers {
        let name = layer.name();
        let info = tensors[name];
        let in_ids: Vec<TensorId> = layer.inputs().iter().map(|n| ids[n]).collect();
        if let Layer::Flatten(_) = layer {
            ids.insert(name, in_ids[0]);
            continue;
        }
        let out = lt.len();
        lt.push(LTensor { name: name.to_string(), shape: info.shape, len: info.len, quant: info.quant, zero_point: 0 });
        ids.insert(name, out);
        // The first input as this layer sees it: shape from the tensor table, because a `flatten` aliases its
        // input's bytes (same tensor id) but changes the shape to `[1, 1, N]`.
        let x = LTensor { shape: tensors[layer.inputs()[0]].shape, ..lt[in_ids[0]].clone() };
        let (kind, macs, bits, params) = match layer {
            Layer::Conv2d(c) => {
                let shape = Conv2dShape {
                    in_h: x.shape[0],
                    in_w: x.shape[1],
                    in_c: x.shape[2],
                    out_c: c.out_channels,
                    k_h: c.kernel[0],
                    k_w: c.kernel[1],
                    stride_h: c.stride[0],
                    stride_w: c.stride[1],
                    pad_top: c.padding[0],
                    pad_left: c.padding[1],
                    pad_bottom: c.padding[2],
                    pad_right: c.padding[3],
                };
                let groups = c.groups();
                let grouped = GroupedConv2dShape {
                    in_h: shape.in_h,
                    in_w: shape.in_w,
                    in_c: shape.in_c,
                    out_c: shape.out_c,
                    groups,
                    k_h: shape.k_h,
                    k_w: shape.k_w,
                    stride_h: shape.stride_h,
                    stride_w: shape.stride_w,
                    pad_top: shape.pad_top,
                    pad_left: shape.pad_left,
                    pad_bottom: shape.pad_bottom,
                    pad_right: shape.pad_right,
                };
                // Per output channel: k_h·k_w·in_c/groups weights (the fan-in of the overflow proof).
                let row_len = grouped.row_len();
                let aff = Affine {
                    name,
                    weight: &c.weight,
                    bias: &c.bias,
                    bn: &c.bn,
                    channel_scale: &c.channel_scale,
                    out: c.out,
                    channels: c.out_channels,
                    row_len,
                    in_quant: x.quant,
                    zero_point: x.zero_point,
                };
                let params = c.out_channels * row_len;
                match lower_affine(&aff)? {
                    AffineLowered::Packed { packed, stage } => {
                        let macs = (info.len * row_len) as u64;
                        let bits = c.weight.bits;
                        let (mut shape, mut grouped) = (shape, grouped);
                        let mut pad = None;
                        if x.zero_point != 0 && c.padding != [0; 4] {
                            // Pad with the zero point into a buffer, then convolve it without padding.
                            let [pt, pl, pb, pr] = c.padding;
                            let (ph, pw) = (shape.in_h + pt + pb, shape.in_w + pl + pr);
                            let buffer = lt.len();
                            lt.push(LTensor {
                                name: format!("{name} (padded input)"),
                                shape: [ph, pw, shape.in_c],
                                len: ph * pw * shape.in_c,
                                quant: x.quant,
                                zero_point: x.zero_point,
                            });
                            let pad_shape = PadShape {
                                in_h: shape.in_h,
                                in_w: shape.in_w,
                                c: shape.in_c,
                                pad_top: pt,
                                pad_left: pl,
                                pad_bottom: pb,
                                pad_right: pr,
                            };
                            pad = Some(InputPad { shape: pad_shape, value: x.zero_point, buffer });
                            shape = Conv2dShape {
                                in_h: ph,
                                in_w: pw,
                                pad_top: 0,
                                pad_left: 0,
                                pad_bottom: 0,
                                pad_right: 0,
                                ..shape
                            };
                            grouped = GroupedConv2dShape {
                                in_h: ph,
                                in_w: pw,
                                pad_top: 0,
                                pad_left: 0,
                                pad_bottom: 0,
                                pad_right: 0,
                                ..grouped
                            };
                        }
                        let kind = if groups == 1 {
                            Kind::Conv { shape, bits, packed, stage, pad }
                        } else {
                            Kind::GroupedConv { shape: grouped, bits, packed, stage, pad }
                        };
                        (kind, macs, Some(bits), params)
                    }
                    AffineLowered::Constant(values) => (Kind::Fill { values }, 0, Some(c.weight.bits), params),
                }
            }
            Layer::Dense(d) => {
                let aff = Affine {
                    name,
                    weight: &d.weight,
                    bias: &d.bias,
                    bn: &d.bn,
                    channel_scale: &d.channel_scale,
                    out: d.out,
                    channels: d.out_features,
                    row_len: d.in_features,
                    in_quant: x.quant,
                    zero_point: x.zero_point,
                };
                let params = d.out_features * d.in_features;
                match lower_affine(&aff)? {
                    AffineLowered::Packed { packed, stage } => (
                        Kind::Dense {
                            in_len: d.in_features,
                            out_len: d.out_features,
                            bits: d.weight.bits,
                            packed,
                            stage,
                        },
                        params as u64,
                        Some(d.weight.bits),
                        params,
                    ),
                    AffineLowered::Constant(values) => (Kind::Fill { values }, 0, Some(d.weight.bits), params),
                }
            }
            Layer::MaxPool(p) | Layer::AvgPool(p) => {
                let [pad_top, pad_left, pad_bottom, pad_right] = p.padding();
                let shape = PoolShape {
                    in_h: x.shape[0],
                    in_w: x.shape[1],
                    c: x.shape[2],
                    k_h: p.kernel[0],
                    k_w: p.kernel[1],
                    stride_h: p.stride[0],
                    stride_w: p.stride[1],
                    pad_top,
                    pad_left,
                    pad_bottom,
                    pad_right,
                };
                let signed = x.quant.signed;
                let kind = if matches!(layer, Layer::MaxPool(_)) {
                    Kind::MaxPool { shape, signed }
                } else {
                    Kind::AvgPool { shape, signed }
                };
                (kind, 0, None, 0)
            }
            Layer::GlobalAvgPool(_) => {
                let shape = PoolShape::unpadded(x.shape[0], x.shape[1], x.shape[2], x.shape[0], x.shape[1], 1, 1);
                (Kind::AvgPool { shape, signed: x.quant.signed }, 0, None, 0)
            }
            Layer::Add(ad) => {
                let (qa, qb) = (lt[in_ids[0]].quant, lt[in_ids[1]].quant);
                let s_out = ad.out.scale as f64;
                let (ra0, rb0) = (qa.scale as f64 / s_out, qb.scale as f64 / s_out);
                let max_a = clamp_range(&qa).0.unsigned_abs().max(clamp_range(&qa).1 as u32) as f64;
                let max_b = clamp_range(&qb).0.unsigned_abs().max(clamp_range(&qb).1 as u32) as f64;
                let peak = max_a * ra0 + max_b * rb0;
                // Largest K <= 20 with peak·2^K < 2^30.
                let mut k: i32 = 20;
                while k > 0 && peak * 2f64.powi(k) >= (1u64 << 30) as f64 {
                    k -= 1;
                }
                if peak * 2f64.powi(k) >= (1u64 << 30) as f64 {
                    return Err(CodegenError::Lowering {
                        layer: name.to_string(),
                        message: format!(
                            "input scales are {peak:.3e} times the output scale: the sum cannot be held in i32"
                        ),
                    });
                }
                let m = |r: f64| {
                    quantize_multiplier(r * 2f64.powi(k))
                        .map_err(|m| CodegenError::Lowering { layer: name.to_string(), message: m })
                };
                let (min, max) = clamp_range(&ad.out);
                let stage = Stage {
                    bias: Vec::new(),
                    requant: vec![Requant { multiplier: 1 << 30, shift: (1 - k) as i8 }],
                    min,
                    max,
                    signed: ad.out.signed,
                };
                (Kind::Add { ra: m(ra0)?, rb: m(rb0)?, a_signed: qa.signed, b_signed: qb.signed, stage }, 0, None, 0)
            }
            Layer::Concat(cc) => {
                let s_out = cc.out.scale as f64;
                let mut parts = Vec::with_capacity(cc.inputs.len());
                let mut requant = Vec::with_capacity(cc.inputs.len());
                for (i, (input, &id)) in cc.inputs.iter().zip(&in_ids).enumerate() {
                    let q = lt[id].quant;
                    // A flatten aliases its input: the channels are those the concat sees.
                    parts.push((tensors[input.as_str()].shape[2], q.signed));
                    let rq = quantize_multiplier(q.scale as f64 / s_out).map_err(|m| CodegenError::Lowering {
                        layer: name.to_string(),
                        message: format!(
                            "inputs[{i}] (`{input}`): scale {} over the output scale {s_out}: {m}",
                            q.scale
                        ),
                    })?;
                    requant.push(rq);
                }
                if requant.windows(2).all(|w| w[0] == w[1]) {
                    requant.truncate(1);
                }
                let (min, max) = clamp_range(&cc.out);
                let stage = Stage { bias: Vec::new(), requant, min, max, signed: cc.out.signed };
                (Kind::Concat { pixels: info.shape[0] * info.shape[1], parts, stage }, 0, None, 0)
            }
            Layer::Flatten(_) => unreachable!("handled above"),
        };
        ops.push(Op {
            name: name.to_string(),
            op: layer.op(),
            weight_bits: bits,
            params,
            kind,
            inputs: in_ids,
            output: out,
            macs,
        });
    }
    let output = ids[a.output.as_str()];
    if output == 0 {
        return Err(CodegenError::Lowering {
            layer: a.output.clone(),
            message: "the network output is the input itself: the model computes nothing".into(),
        });
    }
    Ok(Lowered { name: a.name.clone(), hash, labels: a.labels.clone(), tensors: lt, ops, output })
}
