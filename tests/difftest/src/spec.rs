//! An independent executable model of bsq's integer contract.
//!
//! Written from `docs/artifact.md` (how an artifact is read, validated and lowered to integers) and
//! `docs/runtime.md` (what the integer kernels compute) **only**, never from the source of `bsq-codegen` or
//! `bsq-runtime`. Every rule below cites the sentence of the documentation it implements; where the pages
//! leave a choice open, the choice made here is marked **Assumption**.
//!
//! The pipeline is the documented one:
//!
//! 1. **decode** ([`load`]): the JSON text into typed structures; unknown fields, missing required fields,
//!    wrongly typed values (`3.0` for an integer) and numbers beyond the `f32` range are
//!    [`Rejection::Parse`];
//! 2. **validate**: the rules of artifact.md § Validation, in the documented order (top-level fields, then
//!    the layers in order, then `output`, `labels` and `scheme`); the first failure is a
//!    [`Rejection::Invalid`];
//! 3. **lower**: artifact.md § Lowering, in `f64` in the documented order of operations; a model refused by
//!    lowering is a [`Rejection::Refused`] with its [`RefusalKind`];
//! 4. **execute** ([`Model::run`]): runtime.md, with wide integers and explicit saturation and rounding.
//!
//! Nothing in this module panics on any input text or any input bytes: sizes are checked with checked
//! arithmetic, and a model whose tensors are too large to hold in memory is accepted (the documentation
//! does not refuse it) but [`Model::run`] returns an error instead of allocating.
//!
//! # Choices the pages leave open
//!
//! - sizes (`shape`, `kernel`, `stride`, `padding`, channel and feature counts, `params`) are read as `u64`,
//!   `version` as `i64`; `provenance.alpha` and `accuracy` as `f64`; float fields accept JSON integers;
//! - "beyond the `f32` range" means "rounds to infinity"; a number that rounds to 0 is not an error here
//!   (it fails the `scale > 0` rules instead); `weight.scale` of a 0-bit layer must still be a finite number;
//! - a field of another op (even `null`) is an unknown field; duplicate keys are refused (serde);
//! - "blank" is `str::trim` (Unicode white space);
//! - the order of the checks inside a layer and of the top-level checks (see `validate`);
//! - `scheme.params` is the nominal weight count, also for a 0-bit layer with empty `values`;
//! - the output-is-input refusal is checked after every layer's lowering;
//! - a `bias_o` of exactly `−2^31` is refused (the rule says `|bias_o| > 2^31 − 1`, the summary "beyond i32");
//! - the input zero point (`input.zero_point`): a `u8` (so 256, −1, 1.5 or a string are parse errors);
//!   the "tensors that hold the input's bytes" are `input` and flattens of them; the reader rule and the
//!   padded-copy size rule are checked after a layer's own rules and its output size; a rounded bias
//!   `round(B_o / C_o · 2^L)` of magnitude `≥ 2^120` (or NaN) is refused before the zero point is folded in
//!   (exactly, the folded `|z·Σk·2^L| < 2^77` could not bring it back into `i32`).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// The largest element count of the network input and of a convolution's output (artifact.md: "product
/// ≤ 2^31−1").
const MAX_ELEMENTS: u64 = (1 << 31) - 1;

/// The largest pooling window (artifact.md: "the window … has **at most 2^23 elements**").
const MAX_WINDOW: u64 = 1 << 23;

/// The layer name errors about top-level fields carry (artifact.md: "`<model>` for top-level fields").
pub const MODEL: &str = "<model>";

/// The reserved tensor name of the network input.
pub const INPUT: &str = "input";

// ============================================================================================ public API

/// Why a model is not run: the artifact is unreadable, invalid, or refused by lowering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The text is not a well-formed artifact: JSON syntax, an unknown or missing field, a value of the wrong
    /// JSON type, an integer out of its type's range, a float beyond the `f32` range, an unknown `op`.
    Parse(String),
    /// A rule of artifact.md § Validation fails. `layer` is the layer's name ([`MODEL`] for top-level
    /// fields, [`INPUT`] for the input), `field` the offending field (e.g. `weight.values[17]`).
    Invalid {
        /// The layer (or [`MODEL`], [`INPUT`]).
        layer: String,
        /// The field, with an index where one applies.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The model is valid but lowering refuses it (artifact.md § Refusals).
    Refused {
        /// The layer ([`MODEL`] for [`RefusalKind::OutputIsInput`]).
        layer: String,
        /// Which of the documented refusals.
        reason: RefusalKind,
        /// A message naming the channel where one applies.
        message: String,
    },
}

impl Rejection {
    /// The refusal kind, if lowering refused the model.
    pub fn refusal(&self) -> Option<RefusalKind> {
        match self {
            Rejection::Refused { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The `(layer, field)` of a validation error.
    pub fn invalid_at(&self) -> Option<(&str, &str)> {
        match self {
            Rejection::Invalid { layer, field, .. } => Some((layer, field)),
            _ => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Parse(message) => write!(f, "{message}"),
            Rejection::Invalid { layer, field, message } => write!(f, "layer `{layer}`, field `{field}`: {message}"),
            Rejection::Refused { layer, reason, message } => {
                write!(f, "layer `{layer}` refused ({reason:?}): {message}")
            }
        }
    }
}

impl std::error::Error for Rejection {}

/// The reasons lowering refuses a valid model (artifact.md § Refusals: "Nothing else is refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// `C_o = c_o · S` is 0 in a layer with non-constant weights (step 1).
    ZeroMultiplier,
    /// `quantize` refuses: the real multiplier is `≥ 2^30` (after rounding) or not finite (step 2, and the
    /// two input multipliers of an `add`).
    MultiplierTooLarge,
    /// `|round(B_o / C_o · 2^L)| > 2^31 − 1` (step 3).
    BiasOutOfRange,
    /// The accumulator bound `(Σ|k|·a_max)·2^L + |bias|` exceeds `2^31 − 1` (step 4).
    AccumulatorOverflow,
    /// An `add` whose `peak` is `≥ 2^30` even with `K = 0`.
    AddScale,
    /// The network output is the network input (a `flatten` of it, directly or through more flattens).
    OutputIsInput,
}

/// The integer parameters of one output channel of a `conv2d` or `dense` layer, after lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelParams {
    /// A constant layer (0-bit or all-zero weights): the channel's value `v_o` (already clamped).
    Constant(i32),
    /// `clamp(requantize(acc, bias, (multiplier, shift)), min, max)`.
    Requant {
        /// `bias_o` (step 3).
        bias: i32,
        /// The Q31 multiplier (step 2).
        multiplier: i32,
        /// The shift (step 2), in `−31..=30`.
        shift: i8,
    },
}

/// The integer parameters of one layer, after lowering (for comparing a lowering with bsq's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lowered {
    /// `conv2d` or `dense`: one entry per output channel, in order. Empty for a constant layer so wide
    /// that its channels are not materialized (see [`Model::run`]).
    Affine(Vec<ChannelParams>),
    /// `add`: the two input requantizations `(multiplier, shift)` and `K` (the output stage is
    /// `(2^30, 1 − K)`).
    Add {
        /// `quantize(r_a · 2^K)`.
        requant_a: (i32, i8),
        /// `quantize(r_b · 2^K)`.
        requant_b: (i32, i8),
        /// The intermediate scale exponent, `0..=20`.
        k: u32,
    },
    /// `concat`: one input requantization `(multiplier, shift)` per input, in order.
    Concat(Vec<(i32, i8)>),
    /// `max_pool`, `avg_pool`, `global_avg_pool`: no parameters.
    Pool,
    /// `flatten`: computes nothing.
    Flatten,
}

/// A requantization `(multiplier, shift)`: the real factor `multiplier · 2^shift / 2^31`.
pub type Requant = (i32, i8);

/// The per-layer outputs of [`Model::run`]: `(layer name, output bytes)` per non-`flatten` layer, in order.
pub type LayerOutputs = Vec<(String, Vec<u8>)>;

/// A loaded, validated and lowered model, ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    name: String,
    input_shape: [u64; 3],
    output_shape: [u64; 3],
    labels: Vec<String>,
    /// Storage index of the network output's bytes.
    output_storage: usize,
    steps: Vec<Step>,
}

/// One layer of the lowered model.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    /// Element count of the layer's output tensor.
    elements: u64,
    kernel: Kernel,
}

/// Reads, validates and lowers an artifact (the text of a `*.bsq.json` file).
///
/// Returns the first problem found, in the documented order: parse errors (the whole document is decoded
/// first), then validation (format, version, name, input, the layers in order, output, labels, scheme),
/// then lowering (the layers in order, then the output-is-input check).
pub fn load(json: &str) -> Result<Model, Rejection> {
    let raw: RawArtifact = serde_json::from_str(json).map_err(|e| Rejection::Parse(e.to_string()))?;
    let artifact = typed_artifact(raw)?;
    let checked = validate(&artifact)?;
    lower(&artifact, &checked)
}

impl Model {
    /// The model's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network input's shape `[H, W, C]`.
    pub fn input_shape(&self) -> [u64; 3] {
        self.input_shape
    }

    /// The network output's shape `[H, W, C]` (for a `flatten`, `[1, 1, N]`).
    pub fn output_shape(&self) -> [u64; 3] {
        self.output_shape
    }

    /// The number of input bytes (`H·W·C`).
    pub fn input_len(&self) -> usize {
        to_usize(product(self.input_shape))
    }

    /// The number of output bytes.
    pub fn output_len(&self) -> usize {
        to_usize(product(self.output_shape))
    }

    /// The `labels`, one per output value.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The lowered integer parameters of every layer, in artifact order, with the layer names.
    pub fn lowered(&self) -> Vec<(String, Lowered)> {
        self.steps
            .iter()
            .map(|step| {
                let lowered = match &step.kernel {
                    Kernel::Conv { stage, .. } | Kernel::Dense { stage, .. } => Lowered::Affine(stage.params()),
                    Kernel::Add { rq_a, rq_b, k, .. } => {
                        Lowered::Add { requant_a: (rq_a.0, rq_a.1), requant_b: (rq_b.0, rq_b.1), k: *k }
                    }
                    Kernel::Concat { parts, .. } => Lowered::Concat(parts.iter().map(|p| p.requant).collect()),
                    Kernel::Pool { .. } => Lowered::Pool,
                    Kernel::Flatten => Lowered::Flatten,
                };
                (step.name.clone(), lowered)
            })
            .collect()
    }

    /// Runs one inference on `input` (the raw `u8` input bytes, HWC).
    ///
    /// Returns the per-layer outputs — one entry per layer that is **not** a `flatten`, in artifact order,
    /// with the layer's name and its output bytes (a `flatten` writes nothing: its bytes are its input's) —
    /// and the network output: the bytes of the tensor named by `output` (for a `flatten`, the bytes of
    /// what it flattens).
    ///
    /// Errors (never panics) when `input.len() != self.input_len()`, or when a tensor of the model has more
    /// than `2^31 − 1` elements (possible only through a `dense` layer with a huge `out_features`, which the
    /// documentation does not refuse; see the crate report).
    pub fn run(&self, input: &[u8]) -> Result<(LayerOutputs, Vec<u8>), String> {
        if input.len() != self.input_len() {
            return Err(format!("input has {} bytes, the model reads {}", input.len(), self.input_len()));
        }
        if let Some(step) = self.steps.iter().find(|s| s.elements > MAX_ELEMENTS) {
            return Err(format!(
                "layer `{}` has {} output elements: more than this executor runs (2^31 − 1)",
                step.name, step.elements
            ));
        }
        let mut store: Vec<Vec<u8>> = vec![input.to_vec()];
        let mut layers = Vec::new();
        for step in &self.steps {
            if let Kernel::Flatten = step.kernel {
                continue;
            }
            let out = step.kernel.execute(&store, to_usize(step.elements));
            layers.push((step.name.clone(), out.clone()));
            store.push(out);
        }
        let output = store.get(self.output_storage).cloned().ok_or("output tensor missing")?;
        Ok((layers, output))
    }
}

/// artifact.md § "Real multiplier → (multiplier, shift)": turns a real factor `r` into `(multiplier,
/// shift)` with `multiplier · 2^shift / 2^31 ≈ r`, or refuses it ([`RefusalKind::MultiplierTooLarge`] for
/// `|r| ≥ 2^30` after rounding, or `r` not finite).
pub fn quantize(r: f64) -> Result<(i32, i8), RefusalKind> {
    // 1. `r = 0` → `(0, 0)`. `r` not finite → refused.
    if r == 0.0 {
        return Ok((0, 0));
    }
    if !r.is_finite() {
        return Err(RefusalKind::MultiplierTooLarge);
    }
    // 2. `|r| = m · 2^e` with `0.5 ≤ m < 1`.
    let (mut m, mut e) = frexp(r.abs());
    // 3. `e > 30` → refused.
    if e > 30 {
        return Err(RefusalKind::MultiplierTooLarge);
    }
    // 4. `e < −31` → `m = m · 2^(e+31)`, `e = −31`. Since `m · 2^e = |r|`, the new `m` is `|r| · 2^31`,
    //    computed here that way (a multiplication by a power of two that cannot overflow: exact).
    if e < -31 {
        m = r.abs() * pow2(31);
        e = -31;
    }
    // 5. `q = round_half_to_even(m · 2^31)` (exact product: `m · 2^31 < 2^31`).
    let mut q = (m * pow2(31)).round_ties_even();
    // 6. `q = 2^31` → `e + 1` (refused if now `> 30`), `q = 2^30`.
    if q == pow2(31) {
        e += 1;
        if e > 30 {
            return Err(RefusalKind::MultiplierTooLarge);
        }
        q = pow2(30);
    }
    // 7. Sign. `q ≤ 2^31 − 1` here, so both signs fit `i32`; `e ∈ −31..=30` fits `i8`.
    let q = q as i32;
    let multiplier = if r > 0.0 { q } else { -q };
    Ok((multiplier, e as i8))
}

/// runtime.md "The output stage", steps 1–3: `requantize(acc, bias, (multiplier, shift))`, without the
/// clamp of step 4.
///
/// The documented shift range is `−31..=30` (what [`quantize`] produces); other shifts are computed by the
/// same formulas with a left shift that saturates and a right shift of any length.
pub fn requantize(acc: i32, bias: i32, multiplier: i32, shift: i8) -> i32 {
    let l = u32::from(shift.max(0).unsigned_abs());
    let r = u32::from(shift.min(0).unsigned_abs());
    // 1. `x = sat32(sat32(acc · 2^L) + bias)`.
    let shifted = if acc == 0 {
        0
    } else if l >= 32 {
        if acc > 0 { i64::from(i32::MAX) } else { i64::from(i32::MIN) }
    } else {
        i64::from(acc) << l
    };
    let x = sat32(sat32(shifted) + i64::from(bias));
    // 2. `h = floor((x · M + 2^30) / 2^31)`, exact in 64 bits; `x = M = −2^31` gives `2^31 − 1`.
    let h = if x == i64::from(i32::MIN) && multiplier == i32::MIN {
        i64::from(i32::MAX)
    } else {
        // |x·M| ≤ 2^62 (the one case 2^62 is excluded above), so `+ 2^30` cannot overflow; `>>` is floor.
        (x * i64::from(multiplier) + (1 << 30)) >> 31
    };
    // 3. `y = round(h / 2^R)`, ties away from zero. |h| ≤ 2^31, so any R ≥ 33 gives 0.
    let y = div_pow2_round_away(h, r.min(40));
    // |y| ≤ |h| ≤ 2^31 − 1 or y = −2^31: fits.
    y as i32
}

/// `apply((M, s), x) = requantize(x, 0, (M, s))` (runtime.md).
pub fn apply(multiplier: i32, shift: i8, x: i32) -> i32 {
    requantize(x, 0, multiplier, shift)
}

/// `round(sum / n)` with ties away from zero (runtime.md `div_round`: 2.5 → 3, −0.5 → −1), for `n > 0`.
pub fn div_round(sum: i64, n: i64) -> i64 {
    debug_assert!(n > 0);
    let n = i128::from(n.max(1));
    let s = i128::from(sum);
    // round(|s| / n) = floor((2|s| + n) / (2n)); the sign is restored after.
    let magnitude = (2 * s.abs() + n) / (2 * n);
    (if s < 0 { -magnitude } else { magnitude }) as i64
}

// ============================================================================================ decoding

/// A field of a layer object: `None` absent, `Some(None)` `null`, `Some(Some(v))` a value.
type Field<T> = Option<Option<T>>;

/// Deserializes a [`Field`] that is present (absent fields take the `default`, `None`).
fn field<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Field<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// artifact.md, "Reading the file": "each JSON number is first read as the `f64` nearest to its decimal
/// value (ties to even), then rounded to the nearest `f32` (ties to even)"; an `f32` overflow is infinity.
fn f32_via_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    f64::deserialize(d).map(|v| v as f32)
}

/// [`f32_via_f64`] for every element.
fn vec_f32_via_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    Vec::<f64>::deserialize(d).map(|v| v.into_iter().map(|x| x as f32).collect())
}

/// A present [`Field`] of `f32` values read with [`f32_via_f64`].
fn field_vec_f32<'de, D: Deserializer<'de>>(d: D) -> Result<Field<Vec<f32>>, D::Error> {
    Option::<Vec<f64>>::deserialize(d).map(|o| Some(o.map(|v| v.into_iter().map(|x| x as f32).collect())))
}

/// The top-level object. Decoded straight from the text (no intermediate `serde_json::Value`), so that every
/// `f32` field is parsed by serde_json's single-precision path: "each JSON number becomes the `f32` nearest
/// to its decimal value" and "a number beyond the `f32` range is an error".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    format: String,
    version: i64,
    name: String,
    #[allow(dead_code)] // information only: decoded for its JSON type check
    provenance: RawProvenance,
    labels: Vec<String>,
    input: RawInput,
    #[serde(default)]
    scheme: Option<Vec<RawSchemeRow>>,
    layers: Vec<RawLayer>,
    output: String,
}

/// `provenance`: "Information only: nothing here is checked beyond its JSON type".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read for the JSON type check only
struct RawProvenance {
    tool: String,
    created: String,
    dataset: String,
    /// **Assumption**: a plain JSON number read as `f64` (artifact.md lists `alpha` as "(number)", not
    /// among the `f32` fields).
    #[serde(default)]
    alpha: Option<f64>,
    #[serde(default)]
    accuracy: Option<RawAccuracy>,
    #[serde(default)]
    notes: Option<String>,
}

/// `provenance.accuracy`: percentages, each optional (**Assumption**: `f64`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read for the JSON type check only
struct RawAccuracy {
    #[serde(default)]
    float: Option<f64>,
    #[serde(default)]
    fake_quant: Option<f64>,
    #[serde(default)]
    integer: Option<f64>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct RawInput {
    shape: [u64; 3],
    #[serde(deserialize_with = "f32_via_f64")]
    scale: f32,
    /// artifact.md § Top-level fields: "optional `zero_point` (an integer `0..=255`, absent or `null`: 0;
    /// another number is a JSON error)".
    #[serde(default)]
    zero_point: Option<u8>,
}

impl RawInput {
    /// `z`: the input zero point, 0 when absent or `null`.
    fn z(&self) -> u8 {
        self.zero_point.unwrap_or(0)
    }
}

#[derive(Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
struct RawSchemeRow {
    layer: String,
    bits: u8,
    params: u64,
}

/// A quantization `{bits, scale, signed}`.
#[derive(Deserialize, Clone, Copy, Debug)]
#[serde(deny_unknown_fields)]
struct RawQuant {
    bits: u8,
    #[serde(deserialize_with = "f32_via_f64")]
    scale: f32,
    signed: bool,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct RawWeight {
    bits: u8,
    #[serde(deserialize_with = "f32_via_f64")]
    scale: f32,
    values: Vec<i32>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct RawBn {
    #[serde(deserialize_with = "vec_f32_via_f64")]
    gamma: Vec<f32>,
    #[serde(deserialize_with = "vec_f32_via_f64")]
    beta: Vec<f32>,
    #[serde(deserialize_with = "vec_f32_via_f64")]
    mean: Vec<f32>,
    #[serde(deserialize_with = "vec_f32_via_f64")]
    var: Vec<f32>,
    #[serde(deserialize_with = "f32_via_f64")]
    eps: f32,
}

/// A layer object, with every field any op has. Which fields an op allows is checked after decoding
/// ([`typed_layer`]): a field of another op is an unknown field. (A serde internally tagged enum would buffer
/// the object and parse its numbers as `f64` first, rounding twice and turning an out-of-range `f32` into
/// infinity instead of an error.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    op: String,
    name: String,
    #[serde(default, deserialize_with = "field")]
    input: Field<String>,
    #[serde(default, deserialize_with = "field")]
    inputs: Field<Vec<String>>,
    #[serde(default, deserialize_with = "field")]
    in_channels: Field<u64>,
    #[serde(default, deserialize_with = "field")]
    out_channels: Field<u64>,
    #[serde(default, deserialize_with = "field")]
    in_features: Field<u64>,
    #[serde(default, deserialize_with = "field")]
    out_features: Field<u64>,
    #[serde(default, deserialize_with = "field")]
    kernel: Field<[u64; 2]>,
    #[serde(default, deserialize_with = "field")]
    stride: Field<[u64; 2]>,
    #[serde(default, deserialize_with = "field")]
    padding: Field<[u64; 4]>,
    #[serde(default, deserialize_with = "field")]
    groups: Field<u64>,
    #[serde(default, deserialize_with = "field")]
    weight: Field<RawWeight>,
    #[serde(default, deserialize_with = "field_vec_f32")]
    bias: Field<Vec<f32>>,
    #[serde(default, deserialize_with = "field")]
    bn: Field<RawBn>,
    #[serde(default, deserialize_with = "field_vec_f32")]
    channel_scale: Field<Vec<f32>>,
    #[serde(default, deserialize_with = "field")]
    out: Field<RawQuant>,
}

// ============================================================================================ typed artifact

/// The weights, bias and output quantization shared by `conv2d` and `dense`.
#[derive(Debug, Clone)]
struct Affine {
    weight: RawWeight,
    bias: Option<Vec<f32>>,
    bn: Option<RawBn>,
    channel_scale: Option<Vec<f32>>,
    out: RawQuant,
}

#[derive(Debug, Clone)]
enum Op {
    Conv2d {
        input: String,
        in_channels: u64,
        out_channels: u64,
        kernel: [u64; 2],
        stride: [u64; 2],
        /// `[top, left, bottom, right]`.
        padding: [u64; 4],
        /// Channel groups (1 when absent or `null`).
        groups: u64,
        affine: Affine,
    },
    Dense {
        input: String,
        in_features: u64,
        out_features: u64,
        affine: Affine,
    },
    MaxPool {
        input: String,
        kernel: [u64; 2],
        stride: [u64; 2],
        /// `[top, left, bottom, right]`; all 0 when absent or `null`.
        padding: [u64; 4],
    },
    AvgPool {
        input: String,
        kernel: [u64; 2],
        stride: [u64; 2],
        /// `[top, left, bottom, right]`; all 0 when absent or `null`.
        padding: [u64; 4],
    },
    GlobalAvgPool {
        input: String,
    },
    Flatten {
        input: String,
    },
    Add {
        inputs: [String; 2],
        out: RawQuant,
    },
    Concat {
        inputs: Vec<String>,
        out: RawQuant,
    },
}

impl Op {
    /// The tensors the layer reads.
    fn inputs(&self) -> Vec<&str> {
        match self {
            Op::Conv2d { input, .. }
            | Op::Dense { input, .. }
            | Op::MaxPool { input, .. }
            | Op::AvgPool { input, .. }
            | Op::GlobalAvgPool { input }
            | Op::Flatten { input } => vec![input],
            Op::Add { inputs, .. } => vec![&inputs[0], &inputs[1]],
            Op::Concat { inputs, .. } => inputs.iter().map(String::as_str).collect(),
        }
    }

    /// The output quantization, for the ops that have one.
    fn out(&self) -> Option<&RawQuant> {
        match self {
            Op::Conv2d { affine, .. } | Op::Dense { affine, .. } => Some(&affine.out),
            Op::Add { out, .. } | Op::Concat { out, .. } => Some(out),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Layer {
    name: String,
    op: Op,
}

#[derive(Debug, Clone)]
struct Artifact {
    format: String,
    version: i64,
    name: String,
    labels: Vec<String>,
    input: RawInput,
    scheme: Option<Vec<RawSchemeRow>>,
    layers: Vec<Layer>,
    output: String,
}

fn typed_artifact(raw: RawArtifact) -> Result<Artifact, Rejection> {
    let layers =
        raw.layers.into_iter().enumerate().map(|(i, layer)| typed_layer(i, layer)).collect::<Result<Vec<_>, _>>()?;
    Ok(Artifact {
        format: raw.format,
        version: raw.version,
        name: raw.name,
        labels: raw.labels,
        input: raw.input,
        scheme: raw.scheme,
        layers,
        output: raw.output,
    })
}

/// Checks that a layer object has exactly the fields of its `op` (each op's fields per artifact.md
/// § Layers: required fields present and not `null`, optional ones possibly absent or `null`, any other
/// field unknown) and builds the typed layer.
fn typed_layer(index: usize, raw: RawLayer) -> Result<Layer, Rejection> {
    let op_name = raw.op.clone();
    let allowed: &[&str] = match op_name.as_str() {
        "conv2d" => &[
            "input",
            "in_channels",
            "out_channels",
            "kernel",
            "stride",
            "padding",
            "groups",
            "weight",
            "bias",
            "bn",
            "channel_scale",
            "out",
        ],
        "dense" => &["input", "in_features", "out_features", "weight", "bias", "bn", "channel_scale", "out"],
        // artifact.md § Layers: "optional `padding [top,left,bottom,right]` (absent or `null`: none …)".
        "max_pool" | "avg_pool" => &["input", "kernel", "stride", "padding"],
        "global_avg_pool" | "flatten" => &["input"],
        "add" | "concat" => &["inputs", "out"],
        other => {
            return Err(Rejection::Parse(format!(
                "layers[{index}]: unknown variant `{other}`, expected one of `conv2d`, `dense`, `max_pool`, \
                 `avg_pool`, `global_avg_pool`, `flatten`, `add`, `concat`"
            )));
        }
    };
    let present: [(&str, bool); 15] = [
        ("input", raw.input.is_some()),
        ("inputs", raw.inputs.is_some()),
        ("in_channels", raw.in_channels.is_some()),
        ("out_channels", raw.out_channels.is_some()),
        ("in_features", raw.in_features.is_some()),
        ("out_features", raw.out_features.is_some()),
        ("kernel", raw.kernel.is_some()),
        ("stride", raw.stride.is_some()),
        ("padding", raw.padding.is_some()),
        ("groups", raw.groups.is_some()),
        ("weight", raw.weight.is_some()),
        ("bias", raw.bias.is_some()),
        ("bn", raw.bn.is_some()),
        ("channel_scale", raw.channel_scale.is_some()),
        ("out", raw.out.is_some()),
    ];
    if let Some((unknown, _)) = present.iter().find(|(name, here)| *here && !allowed.contains(name)) {
        return Err(Rejection::Parse(format!("layers[{index}] (op `{op_name}`): unknown field `{unknown}`")));
    }
    let ctx = format!("layers[{index}] (op `{op_name}`)");
    fn required<T>(value: Field<T>, name: &str, ctx: String) -> Result<T, Rejection> {
        match value {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(Rejection::Parse(format!("{ctx}: field `{name}` is null, expected a value"))),
            None => Err(Rejection::Parse(format!("{ctx}: missing field `{name}`"))),
        }
    }
    let op = match op_name.as_str() {
        "conv2d" | "dense" => {
            let input = required(raw.input, "input", ctx.clone())?;
            let affine = Affine {
                weight: required(raw.weight, "weight", ctx.clone())?,
                bias: raw.bias.flatten(),
                bn: raw.bn.flatten(),
                channel_scale: raw.channel_scale.flatten(),
                out: required(raw.out, "out", ctx.clone())?,
            };
            if op_name == "conv2d" {
                Op::Conv2d {
                    input,
                    in_channels: required(raw.in_channels, "in_channels", ctx.clone())?,
                    out_channels: required(raw.out_channels, "out_channels", ctx.clone())?,
                    kernel: required(raw.kernel, "kernel", ctx.clone())?,
                    stride: required(raw.stride, "stride", ctx.clone())?,
                    padding: required(raw.padding, "padding", ctx.clone())?,
                    // artifact.md § Layers: "optional `groups` (default 1)"; optional fields may be `null`.
                    groups: raw.groups.flatten().unwrap_or(1),
                    affine,
                }
            } else {
                Op::Dense {
                    input,
                    in_features: required(raw.in_features, "in_features", ctx.clone())?,
                    out_features: required(raw.out_features, "out_features", ctx.clone())?,
                    affine,
                }
            }
        }
        "max_pool" | "avg_pool" => {
            let input = required(raw.input, "input", ctx.clone())?;
            let kernel = required(raw.kernel, "kernel", ctx.clone())?;
            let stride = required(raw.stride, "stride", ctx.clone())?;
            let padding = raw.padding.flatten().unwrap_or([0; 4]);
            if op_name == "max_pool" {
                Op::MaxPool { input, kernel, stride, padding }
            } else {
                Op::AvgPool { input, kernel, stride, padding }
            }
        }
        "global_avg_pool" => Op::GlobalAvgPool { input: required(raw.input, "input", ctx.clone())? },
        "flatten" => Op::Flatten { input: required(raw.input, "input", ctx.clone())? },
        "concat" => Op::Concat {
            inputs: required(raw.inputs, "inputs", ctx.clone())?,
            out: required(raw.out, "out", ctx.clone())?,
        },
        _ => {
            // artifact.md § Layers: an `add` has exactly two inputs (the JSON array's length is part of the
            // format, like a fixed-size array's).
            let inputs = required(raw.inputs, "inputs", ctx.clone())?;
            let inputs: [String; 2] = inputs.try_into().map_err(|v: Vec<String>| {
                Rejection::Parse(format!("{ctx}: invalid length {}, expected an array of length 2", v.len()))
            })?;
            Op::Add { inputs, out: required(raw.out, "out", ctx.clone())? }
        }
    };
    Ok(Layer { name: raw.name, op })
}

// ============================================================================================ validation

/// What validation knows about a tensor.
#[derive(Debug, Clone, Copy)]
struct TensorInfo {
    shape: [u64; 3],
    bits: u8,
    scale: f32,
    signed: bool,
    /// Index of the layer that holds the bytes (`None`: the network input). A `flatten` has its input's.
    storage: Option<usize>,
    /// The tensor's zero point: `input.zero_point` for the network input and flattens of it ("the tensors
    /// that hold the input's bytes"), 0 for every other tensor.
    zero_point: u8,
}

impl TensorInfo {
    fn elements(&self) -> u64 {
        product(self.shape)
    }

    /// `a_max`: the largest value of an unsigned input (artifact.md § conv2d and dense: "`2^a − 1` for an
    /// unsigned `a`-bit input; 255 for the network input", which is `{bits: 8, unsigned}`).
    fn a_max(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// The largest magnitude of the range (artifact.md § add: "`2^(a−1)` signed, `2^a − 1` unsigned, 255 for
    /// the network input").
    fn magnitude(&self) -> u64 {
        if self.signed { 1u64 << (self.bits - 1) } else { (1u64 << self.bits) - 1 }
    }
}

fn quant_range(bits: u8, signed: bool) -> (i32, i32) {
    let bits = u32::from(bits.clamp(1, 8));
    if signed { (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) } else { (0, (1 << bits) - 1) }
}

/// The result of validation: the tensor of every layer (index `i` = `layers[i]`).
struct Checked {
    tensors: Vec<TensorInfo>,
    input: TensorInfo,
    index: HashMap<String, usize>,
}

impl Checked {
    /// The tensor named `name` (the network input or a layer).
    fn tensor(&self, name: &str) -> Option<TensorInfo> {
        if name == INPUT { Some(self.input) } else { self.index.get(name).map(|&i| self.tensors[i]) }
    }
}

fn invalid(layer: &str, field: impl Into<String>, message: impl Into<String>) -> Rejection {
    Rejection::Invalid { layer: layer.to_string(), field: field.into(), message: message.into() }
}

/// Checks artifact.md § Top-level fields and § Validation. Order: `format`, `version`, `name`, `input`, the
/// layers in order, then `output`, `labels` and `scheme` (the page fixes the order of the last four only;
/// **Assumption** for the first four).
fn validate(artifact: &Artifact) -> Result<Checked, Rejection> {
    if artifact.format != "bsq-artifact" {
        return Err(invalid(MODEL, "format", format!("not a bsq artifact: format is {:?}", artifact.format)));
    }
    if artifact.version != 1 {
        return Err(invalid(
            MODEL,
            "version",
            format!("unsupported artifact version {} (this bsq reads version 1)", artifact.version),
        ));
    }
    if artifact.name.trim().is_empty() {
        return Err(invalid(MODEL, "name", "the model name is empty or blank"));
    }
    let shape = artifact.input.shape;
    if let Some(axis) = shape.iter().position(|&d| d == 0) {
        return Err(invalid(INPUT, format!("shape[{axis}]"), "zero dimension"));
    }
    if checked_product(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(invalid(INPUT, "shape", "more than 2^31 − 1 elements"));
    }
    check_scale(INPUT, "scale", artifact.input.scale)?;
    let input = TensorInfo {
        shape,
        bits: 8,
        scale: artifact.input.scale,
        signed: false,
        storage: None,
        zero_point: artifact.input.z(),
    };

    let mut checked = Checked { tensors: Vec::new(), input, index: HashMap::new() };
    for (i, layer) in artifact.layers.iter().enumerate() {
        let tensor = validate_layer(&checked, i, layer)?;
        // "every tensor (each layer's output) has at most 2^31 − 1 elements".
        if tensor.elements() > MAX_ELEMENTS {
            return Err(invalid(&layer.name, "output shape", "the output has more than 2^31 − 1 elements"));
        }
        check_zero_point(&checked, layer)?;
        checked.tensors.push(tensor);
        checked.index.insert(layer.name.clone(), i);
    }
    if artifact.layers.is_empty() {
        return Err(invalid(MODEL, "layers", "a model has at least one layer"));
    }

    let Some(out) = checked.index.get(&artifact.output).map(|&i| checked.tensors[i]) else {
        return Err(invalid(MODEL, "output", format!("`{}` is not a layer", artifact.output)));
    };
    if artifact.labels.len() as u64 != out.elements() {
        return Err(invalid(
            MODEL,
            "labels",
            format!("{} labels for {} output values", artifact.labels.len(), out.elements()),
        ));
    }
    if let Some(scheme) = artifact.scheme.as_ref().filter(|s| !s.is_empty()) {
        let expected = expected_scheme(artifact);
        if *scheme != expected {
            let row =
                scheme.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(scheme.len().min(expected.len()));
            return Err(invalid(
                MODEL,
                format!("scheme[{row}]"),
                format!(
                    "the scheme ({} rows) does not match the layers with weights ({} rows)",
                    scheme.len(),
                    expected.len()
                ),
            ));
        }
    }
    Ok(checked)
}

/// The scheme rows bsq expects: one per `conv2d`/`dense` layer (0-bit layers included), in layer order.
///
/// **Assumption**: `params` is the number of weights the layer's shape defines, `out·k_h·k_w·in` (conv) or
/// `out·in` (dense), even for a 0-bit layer whose `values` is empty (the page does not define `params`;
/// the fixtures agree for 0-bit layers with all-zero `values`).
fn expected_scheme(artifact: &Artifact) -> Vec<RawSchemeRow> {
    artifact
        .layers
        .iter()
        .filter_map(|layer| match &layer.op {
            Op::Conv2d { in_channels, out_channels, kernel, groups, affine, .. } => Some(RawSchemeRow {
                layer: layer.name.clone(),
                bits: affine.weight.bits,
                // artifact.md § Top-level fields: "`params = out·k_h·k_w·in/groups`".
                params: checked_product(&[*out_channels, kernel[0], kernel[1], in_channels / (*groups).max(1)])
                    .unwrap_or(u64::MAX),
            }),
            Op::Dense { in_features, out_features, affine, .. } => Some(RawSchemeRow {
                layer: layer.name.clone(),
                bits: affine.weight.bits,
                params: checked_product(&[*out_features, *in_features]).unwrap_or(u64::MAX),
            }),
            _ => None,
        })
        .collect()
}

fn check_scale(layer: &str, field: &str, scale: f32) -> Result<(), Rejection> {
    if !scale.is_finite() || scale <= 0.0 {
        return Err(invalid(layer, field, format!("scale {scale} is not finite and > 0")));
    }
    Ok(())
}

/// Validates one layer against the tensors before it and returns its output tensor.
///
/// **Assumption** on the order of the checks inside a layer (the page lists the rules without an order):
/// name, `out` quantization, inputs exist, the op's shape rules, weights, then bias / BatchNorm / channel
/// scale.
fn validate_layer(checked: &Checked, index: usize, layer: &Layer) -> Result<TensorInfo, Rejection> {
    let name = layer.name.as_str();
    if name.trim().is_empty() {
        return Err(invalid(&format!("layers[{index}]"), "name", "empty or blank layer name"));
    }
    if name == INPUT {
        return Err(invalid(name, "name", "`input` is reserved for the network input"));
    }
    if checked.index.contains_key(name) {
        return Err(invalid(name, "name", "duplicate layer name"));
    }
    if let Some(out) = layer.op.out() {
        let ok_bits = if out.signed { (2..=8).contains(&out.bits) } else { (1..=8).contains(&out.bits) };
        if !ok_bits {
            let kind = if out.signed { "signed: 2..=8" } else { "unsigned: 1..=8" };
            return Err(invalid(name, "out.bits", format!("{} bits is outside {kind}", out.bits)));
        }
        check_scale(name, "out.scale", out.scale)?;
    }
    // artifact.md § Validation: "a `concat` has at least two inputs" (field `inputs`).
    if let Op::Concat { inputs, .. } = &layer.op
        && inputs.len() < 2
    {
        return Err(invalid(name, "inputs", format!("{} input(s): at least 2", inputs.len())));
    }
    let mut inputs = Vec::new();
    for (k, input) in layer.op.inputs().into_iter().enumerate() {
        let field = if matches!(layer.op, Op::Add { .. } | Op::Concat { .. }) {
            format!("inputs[{k}]")
        } else {
            "input".to_string()
        };
        match checked.tensor(input) {
            Some(t) => inputs.push(t),
            None => return Err(invalid(name, field, format!("dangling input `{input}`"))),
        }
    }
    let src = inputs[0];
    let [h, w, c] = src.shape;
    let own = Some(index);
    match &layer.op {
        Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, affine, .. } => {
            if src.signed {
                return Err(invalid(name, "input", "the input is signed: a convolution reads unsigned activations"));
            }
            if *in_channels != c {
                return Err(invalid(name, "in_channels", format!("{in_channels} but the input has {c} channels")));
            }
            if *out_channels == 0 {
                return Err(invalid(name, "out_channels", "zero output channels"));
            }
            // artifact.md § Validation, conv2d: "`groups` … is at least 1 … and divides both channel counts;
            // both checks come right after `out_channels`".
            if *groups == 0 {
                return Err(invalid(name, "groups", "zero groups"));
            }
            if in_channels % groups != 0 || out_channels % groups != 0 {
                return Err(invalid(name, "groups", "does not divide both channel counts"));
            }
            check_no_zero(name, "kernel", kernel)?;
            check_no_zero(name, "stride", stride)?;
            let [kh, kw] = *kernel;
            let [pt, pl, pb, pr] = *padding;
            for (k, (pad, kern)) in [(pt, kh), (pl, kw), (pb, kh), (pr, kw)].into_iter().enumerate() {
                if pad >= kern {
                    return Err(invalid(
                        name,
                        format!("padding[{k}]"),
                        format!("padding {pad} is not smaller than the kernel {kern}"),
                    ));
                }
            }
            let (ph, pw) =
                (u128::from(h) + u128::from(pt) + u128::from(pb), u128::from(w) + u128::from(pl) + u128::from(pr));
            if u128::from(kh) > ph || u128::from(kw) > pw {
                return Err(invalid(name, "kernel", "the kernel does not fit the padded input"));
            }
            let oh = (ph - u128::from(kh)) / u128::from(stride[0]) + 1;
            let ow = (pw - u128::from(kw)) / u128::from(stride[1]) + 1;
            let total = oh.checked_mul(ow).and_then(|n| n.checked_mul(u128::from(*out_channels)));
            if total.is_none_or(|n| n > u128::from(MAX_ELEMENTS)) {
                return Err(invalid(name, "out_channels", "the output has more than 2^31 − 1 elements"));
            }
            // "`values` has exactly `out·k_h·k_w·in/groups` entries".
            let count = checked_product(&[*out_channels, kh, kw, c / groups]);
            check_affine(name, affine, count, *out_channels)?;
            // oh, ow ≤ total ≤ 2^31 − 1 here.
            Ok(TensorInfo {
                shape: [oh as u64, ow as u64, *out_channels],
                bits: affine.out.bits,
                scale: affine.out.scale,
                signed: affine.out.signed,
                storage: own,
                zero_point: 0,
            })
        }
        Op::Dense { in_features, out_features, affine, .. } => {
            if src.signed {
                return Err(invalid(name, "input", "the input is signed: a dense layer reads unsigned activations"));
            }
            if *in_features != src.elements() {
                return Err(invalid(
                    name,
                    "in_features",
                    format!("{in_features} but the input has {} elements", src.elements()),
                ));
            }
            if *out_features == 0 {
                return Err(invalid(name, "out_features", "zero output features"));
            }
            let count = checked_product(&[*out_features, *in_features]);
            check_affine(name, affine, count, *out_features)?;
            Ok(TensorInfo {
                shape: [1, 1, *out_features],
                bits: affine.out.bits,
                scale: affine.out.scale,
                signed: affine.out.signed,
                storage: own,
                zero_point: 0,
            })
        }
        Op::MaxPool { kernel, stride, padding, .. } | Op::AvgPool { kernel, stride, padding, .. } => {
            // artifact.md § Validation, pools: "kernel without zeros; each padding smaller than the kernel in
            // its axis …; the kernel fits the padded input …; stride without zeros; the window … has at most
            // 2^23 elements".
            check_no_zero(name, "kernel", kernel)?;
            let [pt, pl, pb, pr] = *padding;
            for (k, (pad, kern)) in
                [(pt, kernel[0]), (pl, kernel[1]), (pb, kernel[0]), (pr, kernel[1])].into_iter().enumerate()
            {
                if pad >= kern {
                    return Err(invalid(
                        name,
                        format!("padding[{k}]"),
                        format!("padding {pad} is not smaller than the kernel {kern}"),
                    ));
                }
            }
            // In u128: no overflow (each term < 2^64).
            let (ph, pw) =
                (u128::from(h) + u128::from(pt) + u128::from(pb), u128::from(w) + u128::from(pl) + u128::from(pr));
            if u128::from(kernel[0]) > ph || u128::from(kernel[1]) > pw {
                return Err(invalid(
                    name,
                    "kernel",
                    format!("kernel {kernel:?} larger than the padded input {ph}×{pw}"),
                ));
            }
            check_no_zero(name, "stride", stride)?;
            if checked_product(kernel).is_none_or(|n| n > MAX_WINDOW) {
                return Err(invalid(name, "kernel", "the window has more than 2^23 elements"));
            }
            let oh = (ph - u128::from(kernel[0])) / u128::from(stride[0]) + 1;
            let ow = (pw - u128::from(kernel[1])) / u128::from(stride[1]) + 1;
            // "every tensor … has at most 2^31 − 1 elements" (checked by the caller on the u64 shape; an
            // output side beyond u64 is refused here).
            let (Ok(oh), Ok(ow)) = (u64::try_from(oh), u64::try_from(ow)) else {
                return Err(invalid(name, "output shape", "the output has more than 2^31 − 1 elements"));
            };
            Ok(TensorInfo { shape: [oh, ow, c], storage: own, zero_point: 0, ..src })
        }
        Op::GlobalAvgPool { .. } => {
            // h, w ≤ 2^31 − 1: the product fits u64.
            if h * w > MAX_WINDOW {
                return Err(invalid(name, "input", "the window (H·W) has more than 2^23 elements"));
            }
            Ok(TensorInfo { shape: [1, 1, c], storage: own, zero_point: 0, ..src })
        }
        Op::Flatten { .. } => Ok(TensorInfo { shape: [1, 1, src.elements()], ..src }),
        Op::Add { out, .. } => {
            let other = inputs[1];
            if src.shape != other.shape {
                return Err(invalid(name, "inputs", format!("shapes {:?} and {:?} differ", src.shape, other.shape)));
            }
            Ok(TensorInfo {
                shape: src.shape,
                bits: out.bits,
                scale: out.scale,
                signed: out.signed,
                storage: own,
                zero_point: 0,
            })
        }
        Op::Concat { out, .. } => {
            // "every input has the first one's height and width"; the output has `Σ C_i` channels.
            let mut channels: u64 = 0;
            for (k, t) in inputs.iter().enumerate() {
                if t.shape[..2] != src.shape[..2] {
                    return Err(invalid(
                        name,
                        format!("inputs[{k}]"),
                        format!("{:?} and {:?} differ in height or width", src.shape, t.shape),
                    ));
                }
                channels = channels.saturating_add(t.shape[2]);
            }
            Ok(TensorInfo {
                shape: [h, w, channels],
                bits: out.bits,
                scale: out.scale,
                signed: out.signed,
                storage: own,
                zero_point: 0,
            })
        }
    }
}

/// artifact.md § Validation, "input zero point": a tensor holding the input's bytes with `z ≠ 0` "may be
/// read only by `conv2d` (any `groups`), `dense` and `flatten`; any other reader … is refused, naming that
/// layer and the field that names the tensor (`input`, or `inputs[0]` / `inputs[1]` of an `add`; the first
/// one if both)"; "A `conv2d` with any non-zero padding that reads such a tensor `[H, W, C]` also needs its
/// padded copy `(H+pt+pb)·(W+pl+pr)·C ≤ 2^31 − 1` (else field `padding`)". Runs after the layer's own rules.
fn check_zero_point(checked: &Checked, layer: &Layer) -> Result<(), Rejection> {
    let name = layer.name.as_str();
    for (k, input) in layer.op.inputs().into_iter().enumerate() {
        let Some(t) = checked.tensor(input).filter(|t| t.zero_point != 0) else { continue };
        match &layer.op {
            Op::Dense { .. } | Op::Flatten { .. } => {}
            Op::Conv2d { padding, .. } => {
                let [h, w, c] = t.shape;
                let [pt, pl, pb, pr] = *padding;
                if *padding != [0; 4] {
                    let ph = u128::from(h) + u128::from(pt) + u128::from(pb);
                    let pw = u128::from(w) + u128::from(pl) + u128::from(pr);
                    let elements = ph.checked_mul(pw).and_then(|n| n.checked_mul(u128::from(c)));
                    if elements.is_none_or(|n| n > u128::from(MAX_ELEMENTS)) {
                        return Err(invalid(name, "padding", "the input padded with its zero point is too large"));
                    }
                }
            }
            Op::Add { .. } | Op::Concat { .. } => {
                return Err(invalid(name, format!("inputs[{k}]"), "reads the network input with a zero point"));
            }
            _ => return Err(invalid(name, "input", "reads the network input with a zero point")),
        }
    }
    Ok(())
}

fn check_no_zero(layer: &str, field: &str, values: &[u64; 2]) -> Result<(), Rejection> {
    if let Some(k) = values.iter().position(|&v| v == 0) {
        return Err(invalid(layer, format!("{field}[{k}]"), "zero"));
    }
    Ok(())
}

/// The weight and per-channel vector rules of `conv2d` and `dense`. `count` is the number of weights the
/// shape defines (`None` if it overflows `u64`, in which case no `values` can match it).
fn check_affine(layer: &str, affine: &Affine, count: Option<u64>, channels: u64) -> Result<(), Rejection> {
    let weight = &affine.weight;
    let n = weight.bits;
    if n > 8 {
        return Err(invalid(layer, "weight.bits", format!("{n} bits: at most 8")));
    }
    if n > 0 {
        check_scale(layer, "weight.scale", weight.scale)?;
    } else if !weight.scale.is_finite() {
        // "for `bits = 0` `scale` is ignored: any finite value, also 0 or negative, is accepted".
        return Err(invalid(layer, "weight.scale", format!("{} is not finite", weight.scale)));
    }
    let len = weight.values.len() as u64;
    if !(Some(len) == count || (n == 0 && len == 0)) {
        let expected = count.map_or("more than 2^64".to_string(), |c| c.to_string());
        return Err(invalid(layer, "weight.values", format!("{len} values, expected {expected}")));
    }
    let k_max = (1i64 << n) - 1;
    if let Some(i) = weight.values.iter().position(|&k| i64::from(k).abs() > k_max) {
        return Err(invalid(
            layer,
            format!("weight.values[{i}]"),
            format!("{} is outside [-{k_max}, {k_max}] for {n}-bit weights", weight.values[i]),
        ));
    }
    let vector = |field: &str, values: &[f32]| -> Result<(), Rejection> {
        if values.len() as u64 != channels {
            return Err(invalid(layer, field, format!("{} values for {channels} output channels", values.len())));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(layer, format!("{field}[{i}]"), "not finite"));
        }
        Ok(())
    };
    if let Some(bias) = &affine.bias {
        vector("bias", bias)?;
    }
    if affine.bn.is_some() && affine.channel_scale.is_some() {
        return Err(invalid(layer, "channel_scale", "`bn` and `channel_scale` are exclusive"));
    }
    if let Some(bn) = &affine.bn {
        vector("bn.gamma", &bn.gamma)?;
        vector("bn.beta", &bn.beta)?;
        vector("bn.mean", &bn.mean)?;
        vector("bn.var", &bn.var)?;
        if !bn.eps.is_finite() || bn.eps < 0.0 {
            return Err(invalid(layer, "bn.eps", format!("{} is not finite and ≥ 0", bn.eps)));
        }
        // "every `var ≥ 0` with `var + eps > 0` (computed in `f32`)".
        if let Some(i) = bn.var.iter().position(|&v| !(v >= 0.0 && v + bn.eps > 0.0)) {
            return Err(invalid(
                layer,
                format!("bn.var[{i}]"),
                format!("var {} with eps {}: var + eps must be > 0", bn.var[i], bn.eps),
            ));
        }
    }
    if let Some(channel_scale) = &affine.channel_scale {
        vector("channel_scale", channel_scale)?;
    }
    Ok(())
}

// ============================================================================================ lowering

/// How a lowered layer computes.
#[derive(Debug, Clone)]
enum Kernel {
    Conv {
        src: usize,
        /// `[H, W, C]` of the input as the layer sees it.
        in_shape: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        /// `[top, left]` (bottom and right padding only shape the output).
        pad: [usize; 2],
        /// Channel groups (validated: ≥ 1, divides both channel counts).
        groups: usize,
        /// The byte read at window positions outside the input: the input's zero point (artifact.md § Lowering,
        /// "Input zero point": "such a convolution's window positions outside the input read the byte `z`").
        outside: u8,
        out_shape: [usize; 3],
        weights: Vec<i32>,
        stage: Stage,
    },
    Dense {
        src: usize,
        in_len: usize,
        out_len: usize,
        weights: Vec<i32>,
        stage: Stage,
    },
    Pool {
        max: bool,
        src: usize,
        signed: bool,
        in_shape: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        /// `[top, left]` (bottom and right padding only shape the output).
        pad: [usize; 2],
        out_shape: [usize; 3],
    },
    Add {
        a: usize,
        b: usize,
        a_signed: bool,
        b_signed: bool,
        rq_a: (i32, i8),
        rq_b: (i32, i8),
        k: u32,
        range: (i32, i32),
    },
    Concat {
        parts: Vec<ConcatPart>,
        pixels: usize,
        range: (i32, i32),
    },
    Flatten,
}

/// One input of a `concat`.
#[derive(Debug, Clone)]
struct ConcatPart {
    src: usize,
    signed: bool,
    channels: usize,
    requant: (i32, i8),
}

/// The output stage of a `conv2d` or `dense` layer.
#[derive(Debug, Clone)]
enum Stage {
    /// A constant layer: the clamped `v_o` of every channel (`per_channel`), or, for a layer without any
    /// per-channel vector, the one value of all channels (`uniform`), so that a huge 0-bit layer costs no
    /// memory at load time.
    Constant { per_channel: Vec<i32>, uniform: i32 },
    /// `(bias, multiplier, shift)` per channel and the clamp range.
    Requant { channels: Vec<(i32, i32, i8)>, range: (i32, i32) },
}

impl Stage {
    fn params(&self) -> Vec<ChannelParams> {
        match self {
            Stage::Constant { per_channel, .. } => per_channel.iter().map(|&v| ChannelParams::Constant(v)).collect(),
            Stage::Requant { channels, .. } => channels
                .iter()
                .map(|&(bias, multiplier, shift)| ChannelParams::Requant { bias, multiplier, shift })
                .collect(),
        }
    }

    /// The output value of channel `o` for accumulator `acc` (`acc` is not used by a constant stage).
    fn value(&self, o: usize, acc: i32) -> i32 {
        match self {
            Stage::Constant { per_channel, uniform } => per_channel.get(o).copied().unwrap_or(*uniform),
            Stage::Requant { channels, range } => {
                let (bias, multiplier, shift) = channels[o];
                requantize(acc, bias, multiplier, shift).clamp(range.0, range.1)
            }
        }
    }

    fn is_constant(&self) -> bool {
        matches!(self, Stage::Constant { .. })
    }
}

fn refused(layer: &str, reason: RefusalKind, message: impl Into<String>) -> Rejection {
    Rejection::Refused { layer: layer.to_string(), reason, message: message.into() }
}

/// artifact.md § Lowering, layer by layer in order, then the output-is-input refusal (**Assumption**: the
/// page says refusals come "in layer order" and does not place this one, which is about no layer; it is
/// checked last).
fn lower(artifact: &Artifact, checked: &Checked) -> Result<Model, Rejection> {
    // Storage: 0 is the network input, then one buffer per non-flatten layer in order.
    let mut storage_of_layer: Vec<usize> = Vec::new();
    let mut next_storage = 1;
    let storage = |info: &TensorInfo, storage_of_layer: &[usize]| info.storage.map_or(0, |i| storage_of_layer[i]);
    let mut steps = Vec::new();
    for (i, layer) in artifact.layers.iter().enumerate() {
        let out = checked.tensors[i];
        let name = layer.name.as_str();
        let tensor = |n: &str| checked.tensor(n).expect("validated input");
        let kernel = match &layer.op {
            Op::Conv2d { input, kernel, stride, padding, groups, affine, .. } => {
                let src = tensor(input);
                let stage = lower_affine(name, affine, &src, out.shape[2])?;
                // Sizes of a non-constant layer are bounded by the weights actually present; a constant
                // layer never reads its kernel geometry.
                Kernel::Conv {
                    src: storage(&src, &storage_of_layer),
                    in_shape: src.shape.map(to_usize),
                    kernel: kernel.map(to_usize),
                    stride: stride.map(to_usize),
                    pad: [to_usize(padding[0]), to_usize(padding[1])],
                    groups: to_usize(*groups),
                    outside: src.zero_point,
                    out_shape: out.shape.map(to_usize),
                    weights: if stage.is_constant() { Vec::new() } else { affine.weight.values.clone() },
                    stage,
                }
            }
            Op::Dense { input, affine, .. } => {
                let src = tensor(input);
                let stage = lower_affine(name, affine, &src, out.shape[2])?;
                Kernel::Dense {
                    src: storage(&src, &storage_of_layer),
                    in_len: to_usize(src.elements()),
                    out_len: to_usize(out.shape[2]),
                    weights: if stage.is_constant() { Vec::new() } else { affine.weight.values.clone() },
                    stage,
                }
            }
            Op::MaxPool { input, kernel, stride, padding } | Op::AvgPool { input, kernel, stride, padding } => {
                let src = tensor(input);
                Kernel::Pool {
                    max: matches!(layer.op, Op::MaxPool { .. }),
                    src: storage(&src, &storage_of_layer),
                    signed: src.signed,
                    in_shape: src.shape.map(to_usize),
                    kernel: kernel.map(to_usize),
                    stride: stride.map(to_usize),
                    pad: [to_usize(padding[0]), to_usize(padding[1])],
                    out_shape: out.shape.map(to_usize),
                }
            }
            Op::GlobalAvgPool { input } => {
                // "`global_avg_pool` (= `avg_pool` with window `H × W`, stride 1)".
                let src = tensor(input);
                Kernel::Pool {
                    max: false,
                    src: storage(&src, &storage_of_layer),
                    signed: src.signed,
                    in_shape: src.shape.map(to_usize),
                    kernel: [to_usize(src.shape[0]), to_usize(src.shape[1])],
                    stride: [1, 1],
                    pad: [0, 0],
                    out_shape: out.shape.map(to_usize),
                }
            }
            Op::Flatten { .. } => Kernel::Flatten,
            Op::Concat { inputs, out: quant } => {
                // artifact.md § Lowering: input i's requantization is `quantize(s_i / s_out)`.
                let mut parts = Vec::new();
                for (k, input) in inputs.iter().enumerate() {
                    let t = tensor(input);
                    let r = f64::from(t.scale) / f64::from(quant.scale);
                    let requant = quantize(r).map_err(|_| {
                        refused(name, RefusalKind::MultiplierTooLarge, format!("inputs[{k}]: multiplier {r} ≥ 2^30"))
                    })?;
                    parts.push(ConcatPart {
                        src: storage(&t, &storage_of_layer),
                        signed: t.signed,
                        channels: to_usize(t.shape[2]),
                        requant,
                    });
                }
                Kernel::Concat {
                    parts,
                    pixels: to_usize(out.shape[0] * out.shape[1]),
                    range: quant_range(quant.bits, quant.signed),
                }
            }
            Op::Add { inputs, out: quant } => {
                let (a, b) = (tensor(&inputs[0]), tensor(&inputs[1]));
                let (rq_a, rq_b, k) = lower_add(name, &a, &b, quant)?;
                Kernel::Add {
                    a: storage(&a, &storage_of_layer),
                    b: storage(&b, &storage_of_layer),
                    a_signed: a.signed,
                    b_signed: b.signed,
                    rq_a,
                    rq_b,
                    k,
                    range: quant_range(quant.bits, quant.signed),
                }
            }
        };
        // A flatten's storage is its input's; never read through `storage_of_layer` since its TensorInfo
        // already carries the input's storage, but keep the vector indexable by layer.
        if let Kernel::Flatten = kernel {
            storage_of_layer.push(usize::MAX);
        } else {
            storage_of_layer.push(next_storage);
            next_storage += 1;
        }
        steps.push(Step { name: layer.name.clone(), elements: out.elements(), kernel });
    }
    let output_index = checked.index[&artifact.output];
    let output = checked.tensors[output_index];
    if output.storage.is_none() {
        return Err(refused(
            MODEL,
            RefusalKind::OutputIsInput,
            format!("the output `{}` is the network input (a flatten of it)", artifact.output),
        ));
    }
    Ok(Model {
        name: artifact.name.clone(),
        input_shape: artifact.input.shape,
        output_shape: output.shape,
        labels: artifact.labels.clone(),
        output_storage: storage(&output, &storage_of_layer),
        steps,
    })
}

/// artifact.md § conv2d and dense: the per-channel `(c_o, B_o)`, then either the constants of a constant
/// layer or the requantization steps 1–4 per channel, channels in order.
fn lower_affine(layer: &str, affine: &Affine, src: &TensorInfo, channels: u64) -> Result<Stage, Rejection> {
    let n = affine.weight.bits;
    let out = affine.out;
    let s_out = f64::from(out.scale);
    let range = quant_range(out.bits, out.signed);
    let has_vectors = affine.bias.is_some() || affine.bn.is_some() || affine.channel_scale.is_some();
    // `c_o` and `B_o` (the table of § conv2d and dense), in f64 from the f32 values.
    let coefficients = |o: usize| -> (f64, f64) {
        let b = affine.bias.as_ref().map_or(0.0, |bias| f64::from(bias[o]));
        if let Some(bn) = &affine.bn {
            // `γ_o / sqrt(σ²_o + ε)` (`σ²_o + ε` added in f64); `β_o + c_o · (b_o − μ_o)`.
            let c = f64::from(bn.gamma[o]) / (f64::from(bn.var[o]) + f64::from(bn.eps)).sqrt();
            (c, f64::from(bn.beta[o]) + c * (b - f64::from(bn.mean[o])))
        } else if let Some(channel_scale) = &affine.channel_scale {
            let c = f64::from(channel_scale[o]);
            (c, c * b)
        } else {
            (1.0, b)
        }
    };

    // Constant layers: "If `n = 0` or **every** weight value is 0 … `v_o = clamp(round(B_o / s_out), min,
    // max)`".
    if n == 0 || affine.weight.values.iter().all(|&k| k == 0) {
        let constant = |b: f64| (b / s_out).round().clamp(f64::from(range.0), f64::from(range.1)) as i32;
        if !has_vectors {
            // Every `B_o` is 0.
            return Ok(Stage::Constant { per_channel: Vec::new(), uniform: constant(0.0) });
        }
        // A vector is present, so `channels` equals its length (validated): the allocation is bounded by the
        // text.
        let per_channel = (0..to_usize(channels)).map(|o| constant(coefficients(o).1)).collect();
        return Ok(Stage::Constant { per_channel, uniform: constant(0.0) });
    }

    // `S = s_in · s_w / (2^n − 1)`; `z` the input tensor's zero point.
    let s = f64::from(src.scale) * f64::from(affine.weight.scale) / (pow2(i32::from(n)) - 1.0);
    let z = src.zero_point;
    let a_max = u128::from(src.a_max());
    // Non-constant: `values` holds `channels · row` entries.
    let row = affine.weight.values.len() / to_usize(channels);
    let mut out_channels = Vec::with_capacity(to_usize(channels));
    for o in 0..to_usize(channels) {
        let (c, b_big) = coefficients(o);
        // 1. `C_o = c_o · S`; 0 → refused.
        let c_o = c * s;
        if c_o == 0.0 {
            return Err(refused(layer, RefusalKind::ZeroMultiplier, format!("channel {o}: zero multiplier")));
        }
        // 2. `requant_o = quantize(C_o / s_out)`.
        let (multiplier, shift) = quantize(c_o / s_out).map_err(|reason| {
            refused(
                layer,
                reason,
                format!("channel {o}: multiplier {} is too large (≥ 2^30) or not finite", c_o / s_out),
            )
        })?;
        // 3. `L = max(shift, 0)`, `bias_o = round(B_o / C_o · 2^L) − z · (Σ_i k_oi) · 2^L` ("the rounding in
        //    `f64`, then exact integer arithmetic"), `|bias_o| > 2^31 − 1` → refused.
        let l = shift.max(0) as u32;
        let weights = &affine.weight.values[o * row..(o + 1) * row];
        let rounded = (b_big / c_o * pow2(l as i32)).round();
        // |round| < 2^120 converts to i128 exactly; |z·Σk·2^L| < 2^8·2^71·2^30 (row ≤ 2^63 weights of
        // magnitude < 2^8) fits i128 too.
        let folded = (rounded.abs() < pow2(120)).then(|| {
            let sum: i128 = weights.iter().map(|&k| i128::from(k)).sum();
            rounded as i128 - ((i128::from(z) * sum) << l)
        });
        let Some(bias) = folded.and_then(|v| i32::try_from(v).ok()).filter(|&v| v != i32::MIN) else {
            return Err(refused(
                layer,
                RefusalKind::BiasOutOfRange,
                format!("channel {o}: bias {rounded} (zero point {z}) is beyond i32"),
            ));
        };
        // 4. `(Σ_i |k_oi| · a_max) · 2^L + |bias_o| ≤ 2^31 − 1`, exact.
        let sum: u128 = weights.iter().map(|&k| u128::from(k.unsigned_abs())).sum();
        let bound = ((sum * a_max) << l) + u128::from(bias.unsigned_abs());
        if bound > u128::from(MAX_ELEMENTS) {
            return Err(refused(
                layer,
                RefusalKind::AccumulatorOverflow,
                format!("channel {o}: the i32 accumulator can reach {bound}"),
            ));
        }
        out_channels.push((bias, multiplier, shift));
    }
    Ok(Stage::Requant { channels: out_channels, range })
}

/// artifact.md § add: `K` and the two input requantizations.
fn lower_add(
    layer: &str,
    a: &TensorInfo,
    b: &TensorInfo,
    out: &RawQuant,
) -> Result<(Requant, Requant, u32), Rejection> {
    let s_out = f64::from(out.scale);
    let r_a = f64::from(a.scale) / s_out;
    let r_b = f64::from(b.scale) / s_out;
    // 1. `peak = A · r_a + B · r_b`.
    let peak = a.magnitude() as f64 * r_a + b.magnitude() as f64 * r_b;
    // 2. The largest `K` in `0..=20` with `peak · 2^K < 2^30`.
    let Some(k) = (0..=20u32).rev().find(|&k| peak * pow2(k as i32) < pow2(30)) else {
        return Err(refused(
            layer,
            RefusalKind::AddScale,
            format!("input scales are {r_a} and {r_b} times the output scale: the sum cannot be held in i32"),
        ));
    };
    // 3. `requant_a = quantize(r_a · 2^K)`, `requant_b = quantize(r_b · 2^K)`. **Assumption**: a refusal of
    //    `quantize` here (possible only for `r · 2^K` within 2^-2 below 2^30) is a too-large multiplier.
    let too_large = |which: &str, r: f64| {
        refused(layer, RefusalKind::MultiplierTooLarge, format!("input {which}: multiplier {r} rounds to 2^30"))
    };
    let rq_a = quantize(r_a * pow2(k as i32)).map_err(|_| too_large("a", r_a))?;
    let rq_b = quantize(r_b * pow2(k as i32)).map_err(|_| too_large("b", r_b))?;
    Ok((rq_a, rq_b, k))
}

// ============================================================================================ execution

/// `load(b)`: `b` for an unsigned tensor, `b as i8` for a signed one (runtime.md § Executing a model).
fn load_byte(b: u8, signed: bool) -> i32 {
    if signed { i32::from(b as i8) } else { i32::from(b) }
}

/// "a value is stored as its low 8 bits".
fn store_byte(v: i32) -> u8 {
    v as u8
}

impl Kernel {
    /// Computes the layer's output bytes (`elements` of them) from the storage so far.
    fn execute(&self, store: &[Vec<u8>], elements: usize) -> Vec<u8> {
        let mut out = vec![0u8; elements];
        match self {
            Kernel::Conv { src, in_shape, kernel, stride, pad, groups, outside, out_shape, weights, stage } => {
                let input = &store[*src];
                let [ih, iw, ic] = *in_shape;
                let [kh, kw] = *kernel;
                let [oh, ow, oc] = *out_shape;
                // runtime.md § Accumulation: output channel o of group g = o / O_g reads the input channels
                // g·I_g + c, c < I_g; weights `[out][k_h][k_w][I_g]`.
                let (g_in, g_out) = (ic / (*groups).max(1), oc / (*groups).max(1));
                for oy in 0..oh {
                    for ox in 0..ow {
                        for o in 0..oc {
                            let mut acc = 0i32;
                            if !stage.is_constant() {
                                // acc = Σ w[o][i][j][c] · in[y·s_h + i − pad_top][x·s_w + j − pad_left][c],
                                // positions outside the input reading 0, or the byte z of a zero-pointed
                                // network input (`outside`); wrapping i32 sum.
                                for i in 0..kh {
                                    let iy = (oy * stride[0] + i).checked_sub(pad[0]).filter(|&y| y < ih);
                                    for j in 0..kw {
                                        let ix = (ox * stride[1] + j).checked_sub(pad[1]).filter(|&x| x < iw);
                                        let w_row = ((o * kh + i) * kw + j) * g_in;
                                        let a_row = match (iy, ix) {
                                            (Some(iy), Some(ix)) => {
                                                Some((iy * iw + ix) * ic + (o / g_out.max(1)) * g_in)
                                            }
                                            _ if *outside == 0 => continue,
                                            _ => None,
                                        };
                                        for c in 0..g_in {
                                            let q =
                                                a_row.map_or(i32::from(*outside), |r| load_byte(input[r + c], false));
                                            acc = acc.wrapping_add(weights[w_row + c].wrapping_mul(q));
                                        }
                                    }
                                }
                            }
                            out[(oy * ow + ox) * oc + o] = store_byte(stage.value(o, acc));
                        }
                    }
                }
            }
            Kernel::Dense { src, in_len, out_len, weights, stage } => {
                let input = &store[*src];
                for o in 0..*out_len {
                    let mut acc = 0i32;
                    if !stage.is_constant() {
                        let row = &weights[o * in_len..(o + 1) * in_len];
                        for (w, &b) in row.iter().zip(input) {
                            acc = acc.wrapping_add(w.wrapping_mul(load_byte(b, false)));
                        }
                    }
                    out[o] = store_byte(stage.value(o, acc));
                }
            }
            Kernel::Pool { max, src, signed, in_shape, kernel, stride, pad, out_shape } => {
                let input = &store[*src];
                let [ih, iw, c] = *in_shape;
                let [kh, kw] = *kernel;
                let [oh, ow, _] = *out_shape;
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            // runtime.md § Pooling windows: rows `y·s_h − pt …`, columns `x·s_w − pl …`, "of which
                            // only the positions inside the input are part of the window".
                            let window = (0..kh)
                                .flat_map(|i| (0..kw).map(move |j| (oy * stride[0] + i, ox * stride[1] + j)))
                                .filter_map(|(y, x)| {
                                    let y = y.checked_sub(pad[0]).filter(|&y| y < ih)?;
                                    let x = x.checked_sub(pad[1]).filter(|&x| x < iw)?;
                                    Some((y, x))
                                });
                            let values: Vec<i32> =
                                window.map(|(y, x)| load_byte(input[(y * iw + x) * c + ch], *signed)).collect();
                            let v = if *max {
                                values.iter().copied().max().unwrap_or(0)
                            } else {
                                // `round(Σ window / n)` over the window's `n ≥ 1` input cells.
                                let sum: i64 = values.iter().map(|&v| i64::from(v)).sum();
                                div_round(sum, values.len().max(1) as i64) as i32
                            };
                            out[(oy * ow + ox) * c + ch] = store_byte(v);
                        }
                    }
                }
            }
            Kernel::Add { a, b, a_signed, b_signed, rq_a, rq_b, k, range } => {
                let (a, b) = (&store[*a], &store[*b]);
                for (i, slot) in out.iter_mut().enumerate() {
                    let x = apply(rq_a.0, rq_a.1, load_byte(a[i], *a_signed)).wrapping_add(apply(
                        rq_b.0,
                        rq_b.1,
                        load_byte(b[i], *b_signed),
                    ));
                    let y = apply(1 << 30, 1 - *k as i8, x);
                    *slot = store_byte(y.clamp(range.0, range.1));
                }
            }
            Kernel::Concat { parts, pixels, range } => {
                // `out[p][off_i + c] = clamp(apply(requant_i, load(x_i[p][c])))`, `off_i = Σ_{j<i} C_j`.
                let total: usize = parts.iter().map(|p| p.channels).sum();
                for p in 0..*pixels {
                    let mut off = 0;
                    for part in parts {
                        let x = &store[part.src];
                        for c in 0..part.channels {
                            let v =
                                apply(part.requant.0, part.requant.1, load_byte(x[p * part.channels + c], part.signed));
                            out[p * total + off + c] = store_byte(v.clamp(range.0, range.1));
                        }
                        off += part.channels;
                    }
                }
            }
            Kernel::Flatten => {}
        }
        out
    }
}

// ============================================================================================ helpers

/// `|x| = m · 2^e` with `0.5 ≤ m < 1`, for a finite `x > 0` (exact).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (m, e) = frexp(x * pow2(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exponent - 1022)
}

/// `2^k` exactly, for `k ∈ −1022..=1023`.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

fn sat32(v: i64) -> i64 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// `round(h / 2^r)`, ties away from zero.
fn div_pow2_round_away(h: i64, r: u32) -> i64 {
    if r == 0 {
        return h;
    }
    let h = i128::from(h);
    let half = 1i128 << (r - 1);
    let magnitude = (h.abs() + half) >> r;
    (if h < 0 { -magnitude } else { magnitude }) as i64
}

fn product(shape: [u64; 3]) -> u64 {
    checked_product(&shape).unwrap_or(u64::MAX)
}

fn checked_product(values: &[u64]) -> Option<u64> {
    values.iter().try_fold(1u64, |acc, &v| acc.checked_mul(v))
}

/// `u64` → `usize`, saturating (a 64-bit host never saturates).
fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
