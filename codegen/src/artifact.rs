//! The model artifact: the one file format between the trainer (writer) and codegen (reader).
//!
//! A JSON document (format `"bsq-artifact"`, [`VERSION`]); the full field-by-field description is
//! `docs/artifact.md`. Conventions:
//!
//! * tensors are `[H, W, C]` (HWC, batch 1, row-major), like the runtime; a flat vector is `[1, 1, N]`;
//! * convolution weights are `[out][k_h][k_w][in]`, dense weights `[out][in]` where `in` enumerates the
//!   input tensor in HWC order (a trainer working in NCHW permutes to NHWC before flattening);
//! * integer weights `k ∈ [-(2^n-1), 2^n-1]`; the real weight is `scale · k / (2^n − 1)`;
//! * activations: unsigned `bits`-bit integers `q` (real value `scale · q`, zero point 0, the clamp at 0 is
//!   the ReLU) or signed ones (`[−2^(bits−1), 2^(bits−1)−1]`, only where a residual add, a pooling or the
//!   network output consumes them);
//! * the network input is raw `u8` data, real value `input.scale · (x − input.zero_point)` (zero point 0
//!   unless given; a non-zero one is folded into the biases of the layers that read the input, and padded in
//!   around padded convolutions, so the arithmetic stays exact).
//!
//! Loading ([`Artifact::from_json`], [`Artifact::load`]) validates everything ([`crate::validate`]) and
//! never panics.

use serde::{Deserialize, Serialize};

/// The `format` field's value.
pub const FORMAT: &str = "bsq-artifact";
/// The artifact version this crate reads and writes.
pub const VERSION: u32 = 1;

/// Reads a number as the nearest `f64`, then rounds it to `f32` (ties to even; an overflow is infinity).
///
/// This is how every `f32` of a layer is read, because layers are an internally tagged enum, which serde
/// buffers as `f64`; the one `f32` outside the layers (`input.scale`) is read the same way so that one rule
/// (docs/artifact.md, "Reading the file") holds for every field.
fn f32_via_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    f64::deserialize(d).map(|v| v as f32)
}

/// A quantized network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Model name (used for generated identifiers' documentation, reports).
    pub name: String,
    /// Where the model came from.
    pub provenance: Provenance,
    /// Class labels, one per network output.
    pub labels: Vec<String>,
    /// The network input.
    pub input: Input,
    /// Layer → weight bits, for people (derived from `layers`; checked on load, filled in on save).
    #[serde(default)]
    pub scheme: Vec<SchemeEntry>,
    /// The layers, in execution order (a layer's inputs are `"input"` or earlier layers).
    pub layers: Vec<Layer>,
    /// Name of the layer whose output is the network output.
    pub output: String,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Tool and version that wrote the artifact, e.g. `"bsq-train 0.1.0"`.
    pub tool: String,
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// Dataset name and split used for the accuracies.
    pub dataset: String,
    /// The BSQ regularization strength α, if trained with BSQ.
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Measured accuracies in percent.
    #[serde(default)]
    pub accuracy: Accuracy,
    /// Free text (recipe, seed, …).
    #[serde(default)]
    pub notes: String,
}

/// Accuracies (percent) measured by the trainer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accuracy {
    /// Float model.
    #[serde(default)]
    pub float: Option<f64>,
    /// Trainer's quantized (fake-quant) evaluation.
    #[serde(default)]
    pub fake_quant: Option<f64>,
    /// Exported integer model on the host executor.
    #[serde(default)]
    pub integer: Option<f64>,
}

/// The network input: raw `u8` data, real value `scale · (x − zero_point)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// `[H, W, C]`.
    pub shape: [usize; 3],
    /// Real value of one input step (e.g. `1/255`); folded into the first layers' multipliers.
    #[serde(deserialize_with = "f32_via_f64")]
    pub scale: f32,
    /// The byte that stands for the real value 0 (absent or `null`: 0): real value `scale · (x − zero_point)`,
    /// for float features (audio, sensor windows, signed values) quantized to bytes. Folded into the biases of
    /// the layers that read the input, and padded in around a padded convolution's input; only `conv2d` and
    /// `dense` layers (directly or through `flatten`) may read a zero-pointed input (docs/artifact.md). Not
    /// written when 0, so artifacts without it keep their bytes.
    #[serde(default, deserialize_with = "u8_or_null", skip_serializing_if = "is_zero")]
    pub zero_point: u8,
}

/// Reads an optional byte: `null` is 0 (an absent field is 0 through `#[serde(default)]`).
fn u8_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    Option::<u8>::deserialize(d).map(Option::unwrap_or_default)
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// One row of the scheme table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeEntry {
    /// Layer name.
    pub layer: String,
    /// Weight magnitude bits `n`.
    pub bits: u8,
    /// Number of weights.
    pub params: usize,
}

/// Quantization of an activation tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quant {
    /// Bits `a` in `1..=8` (`2..=8` if signed).
    pub bits: u8,
    /// Real value of one step, finite and `> 0`.
    pub scale: f32,
    /// Signed (two's complement) or unsigned (the ReLU is the clamp at 0).
    #[serde(default)]
    pub signed: bool,
}

/// Integer weights of a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// Magnitude bits `n` in `0..=8`.
    pub bits: u8,
    /// Per-layer scale `s`: the real weight is `s · k / (2^n − 1)`. Finite, `> 0` (ignored for 0-bit layers).
    pub scale: f32,
    /// Integer weights `k`, `[out][k_h][k_w][in]` or `[out][in]`. Empty is allowed for 0-bit layers.
    pub values: Vec<i32>,
}

/// BatchNorm after a layer, to be folded into its requantization (`y = γ (x − μ)/√(σ² + ε) + β`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {
    /// γ per channel.
    pub gamma: Vec<f32>,
    /// β per channel.
    pub beta: Vec<f32>,
    /// Running mean per channel.
    pub mean: Vec<f32>,
    /// Running variance per channel.
    pub var: Vec<f32>,
    /// ε.
    pub eps: f32,
}

/// A 2-D convolution (+ optional bias, BatchNorm or folded per-channel scale) + output quantization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    /// Layer name (unique; `"input"` is reserved).
    pub name: String,
    /// Input tensor (unsigned).
    pub input: String,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[k_h, k_w]`.
    pub kernel: [usize; 2],
    /// `[s_h, s_w]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` zero padding.
    pub padding: [usize; 4],
    /// Channel groups (absent or `null`: 1): output channel `o` reads only the input channels of its group
    /// `o / (out_channels / groups)`; `groups = in_channels` is a depthwise convolution. Weights are then
    /// `[out][k_h][k_w][in / groups]`. Not written when absent, so older artifacts keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<usize>,
    /// Integer weights.
    pub weight: Weight,
    /// Real-valued bias per output channel.
    #[serde(default)]
    pub bias: Option<Vec<f32>>,
    /// BatchNorm to fold.
    #[serde(default)]
    pub bn: Option<BatchNorm>,
    /// Already-folded per-channel multiplier on the output (applied after bias): `y = c_o · (conv + b_o)`.
    #[serde(default)]
    pub channel_scale: Option<Vec<f32>>,
    /// Output quantization.
    pub out: Quant,
}

impl Conv2d {
    /// The number of channel groups (`groups`, 1 when absent).
    pub fn groups(&self) -> usize {
        self.groups.unwrap_or(1)
    }

    /// Input channels each output channel reads: `in_channels / groups` (0 for 0 groups, which validation
    /// refuses).
    pub fn group_in(&self) -> usize {
        self.in_channels.checked_div(self.groups()).unwrap_or(0)
    }
}

/// A fully connected layer; fields as in [`Conv2d`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Layer name.
    pub name: String,
    /// Input tensor (unsigned; any shape, read in HWC order).
    pub input: String,
    /// Input features (= the input tensor's element count).
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Integer weights `[out][in]`.
    pub weight: Weight,
    /// Real-valued bias per output.
    #[serde(default)]
    pub bias: Option<Vec<f32>>,
    /// BatchNorm to fold (BatchNorm1d).
    #[serde(default)]
    pub bn: Option<BatchNorm>,
    /// Already-folded per-output multiplier.
    #[serde(default)]
    pub channel_scale: Option<Vec<f32>>,
    /// Output quantization.
    pub out: Quant,
}

/// A pooling window, optionally padded; output has the input's quantization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Layer name.
    pub name: String,
    /// Input tensor.
    pub input: String,
    /// `[k_h, k_w]`.
    pub kernel: [usize; 2],
    /// `[s_h, s_w]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` padding (absent or `null`: none), each side smaller than the kernel in its
    /// axis. Padded cells are not part of a window: `max_pool` ignores them, `avg_pool` divides by the number
    /// of input cells in the window. Not written when absent, so older artifacts keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<[usize; 4]>,
}

impl Pool {
    /// `[top, left, bottom, right]`, zeros when absent.
    pub fn padding(&self) -> [usize; 4] {
        self.padding.unwrap_or([0; 4])
    }
}

/// Global average pooling `[H,W,C] → [1,1,C]`, or flatten `[H,W,C] → [1,1,H·W·C]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unary {
    /// Layer name.
    pub name: String,
    /// Input tensor.
    pub input: String,
}

/// Residual add of two tensors of the same shape, each rescaled to the output scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// Layer name.
    pub name: String,
    /// The two inputs.
    pub inputs: [String; 2],
    /// Output quantization.
    pub out: Quant,
}

/// Channel concat of two or more tensors of the same height and width (HWC: the channels of input 0, then
/// input 1's, …), each rescaled to the output's quantization (scale, signedness, bits) as a residual add
/// rescales its inputs: one requantization per input (the output stage's double rounding), then the output
/// clamp. An input already at the output's quantization is copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concat {
    /// Layer name.
    pub name: String,
    /// The inputs (at least two), in channel order.
    pub inputs: Vec<String>,
    /// Output quantization.
    pub out: Quant,
}

/// One layer; the JSON object carries `"op"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Layer {
    /// `"op": "conv2d"`.
    Conv2d(Conv2d),
    /// `"op": "dense"`.
    Dense(Dense),
    /// `"op": "max_pool"`.
    MaxPool(Pool),
    /// `"op": "avg_pool"`.
    AvgPool(Pool),
    /// `"op": "global_avg_pool"`.
    GlobalAvgPool(Unary),
    /// `"op": "flatten"`.
    Flatten(Unary),
    /// `"op": "add"`.
    Add(Add),
    /// `"op": "concat"`.
    Concat(Concat),
}

impl Artifact {
    /// The quantization of the network output (the output layer's `out`), for a conv2d, dense, add or concat
    /// output; `None` when the output layer keeps its input's quantization (pools, flatten).
    pub fn output_quant(&self) -> Option<Quant> {
        match self.layers.iter().find(|l| l.name() == self.output)? {
            Layer::Conv2d(l) => Some(l.out),
            Layer::Dense(l) => Some(l.out),
            Layer::Add(l) => Some(l.out),
            Layer::Concat(l) => Some(l.out),
            _ => None,
        }
    }
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        match self {
            Layer::Conv2d(l) => &l.name,
            Layer::Dense(l) => &l.name,
            Layer::MaxPool(l) | Layer::AvgPool(l) => &l.name,
            Layer::GlobalAvgPool(l) | Layer::Flatten(l) => &l.name,
            Layer::Add(l) => &l.name,
            Layer::Concat(l) => &l.name,
        }
    }

    /// The op's name as written in the artifact.
    pub fn op(&self) -> &'static str {
        match self {
            Layer::Conv2d(_) => "conv2d",
            Layer::Dense(_) => "dense",
            Layer::MaxPool(_) => "max_pool",
            Layer::AvgPool(_) => "avg_pool",
            Layer::GlobalAvgPool(_) => "global_avg_pool",
            Layer::Flatten(_) => "flatten",
            Layer::Add(_) => "add",
            Layer::Concat(_) => "concat",
        }
    }

    /// The names of the layer's inputs.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Layer::Conv2d(l) => vec![&l.input],
            Layer::Dense(l) => vec![&l.input],
            Layer::MaxPool(l) | Layer::AvgPool(l) => vec![&l.input],
            Layer::GlobalAvgPool(l) | Layer::Flatten(l) => vec![&l.input],
            Layer::Add(l) => vec![&l.inputs[0], &l.inputs[1]],
            Layer::Concat(l) => l.inputs.iter().map(String::as_str).collect(),
        }
    }

    /// The integer weights, for layers that have them.
    pub fn weight(&self) -> Option<&Weight> {
        match self {
            Layer::Conv2d(l) => Some(&l.weight),
            Layer::Dense(l) => Some(&l.weight),
            _ => None,
        }
    }
}
