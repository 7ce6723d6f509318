//! Random, valid model artifacts (`*.bsq.json`, format version 1) and random network inputs.
//!
//! Written from `docs/artifact.md` and `docs/runtime.md` only. Every document [`artifact`] returns follows
//! the documented validation rules (unique names, inputs that are `"input"` or earlier layers, unsigned
//! inputs to `conv2d`/`dense`, matching `in_channels`/`in_features`, padding smaller than the kernel, kernels
//! that fit, activation widths 1..=8 unsigned and 2..=8 signed, finite positive scales, weights within
//! ±(2^n−1), `bn` xor `channel_scale`, `var + eps > 0`, one label per output value). A small fraction is
//! *refused by the lowering* for the reasons of artifact.md § Refusals: a multiplier ≥ 2^30 or exactly 0 (γ
//! or a channel scale of 0 with non-constant weights), a bias beyond `i32` or an accumulator bound above
//! 2^31 − 1 (huge biases, BatchNorm extremes, wide layers), an `add` whose output scale is ~2^20..2^40
//! too fine, an output that is a `flatten` of the input. Other extremes are accepted by design and exercise
//! the integer model's corners: multipliers too small to represent (they become 0), saturated outputs,
//! constant layers (0-bit or all-zero weights), add inputs whose scales are 2^9..2^20 apart.
//!
//! The graph is grown as a sequence: a list of available tensors (shape `[H, W, C]`, quantization) to which
//! each step appends one op reading earlier tensors (a residual add may append a branch of one or two
//! convolutions first). Output scales are calibrated: for a `conv2d`/`dense` the real multiplier
//! `s_in · weight.scale / (2^n − 1) · c / out.scale` (`c` the BatchNorm or channel scale) is chosen near
//! `target / typical |acc|`, so outputs use their range instead of saturating.
//!
//! About 40 % of the pools have a `padding` field (random sides smaller than the kernel, explicit zeros, or
//! `null`), drawn from a stream of its own like the zero point.
//!
//! After about 12 % of the steps a `concat` joins 2..=4 tensors of one height and width (repeats allowed, any
//! signedness, the network input among them) at one input's quantization (an exact copy of that input) or
//! at a calibrated one, rarely with an output scale 2^30..2^40 too fine (refused); all drawn from a stream
//! of its own, so models without a concat are the documents they were before concats existed.
//!
//! About a fifth of the models have an input zero point (`input.zero_point`, 1..=255, often 128): then only
//! `conv2d`, `dense` and `flatten` read the input and flattens of it (artifact.md § Validation), so the pools,
//! `global_avg_pool` and `add` pick other tensors. It is drawn from a stream of its own, so a model without a
//! zero point is the document it was before zero points existed (some of those write `"zero_point": 0` or
//! `null`, which mean the same).
//!
//! Floats are generated as `f32` and written as the exact `f64` of that `f32`, so a reader that parses them
//! as `f32` gets the generated value.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

/// Sizes and rates of the generated models. The defaults keep a model well under a millisecond on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct GenOptions {
    /// Most layers of a model (at least 1; a residual branch counts its convolutions).
    pub max_layers: usize,
    /// Largest network input height and width.
    pub max_input_hw: usize,
    /// Largest network input channel count.
    pub max_input_channels: usize,
    /// Largest height or width of any tensor (padding can grow a tensor); at least `max_input_hw`.
    pub max_hw: usize,
    /// Most output channels of a `conv2d`.
    pub max_channels: usize,
    /// Most output features of a `dense` layer.
    pub max_features: usize,
    /// Most elements a `dense` layer reads (its `in_features`).
    pub max_dense_in: usize,
    /// Most multiply-accumulates of one `conv2d`/`dense` layer (bounds its weight count too).
    pub max_macs: usize,
    /// Probability that a `conv2d`, `dense` or `add` gets an extreme scale relation (multiplier 2^-75..2^-38,
    /// 2^8..2^29 or 2^30..2^36, a channel gain of exactly 0, add input scales 2^9..2^20 apart, an add output
    /// scale 2^20..2^40 off), meant to be refused or to reach the integer model's corners.
    pub extreme_rate: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_layers: 10,
            max_input_hw: 12,
            max_input_channels: 4,
            max_hw: 16,
            max_channels: 8,
            max_features: 64,
            max_dense_in: 768,
            max_macs: 65_536,
            extreme_rate: 0.025,
        }
    }
}

/// A complete, valid artifact document for `seed` (same seed and options, same document).
///
/// `name` is `diff-<seed>`, the provenance names `bsq-difftest`, `scheme` is omitted (optional on input).
pub fn artifact(seed: u64, opts: &GenOptions) -> Value {
    let mut g = Gen::new(seed, opts);
    g.build();
    g.finish(seed)
}

/// `count` network inputs of `len` bytes each for `seed`: uniform bytes, all zero, all 255, small values
/// (0..=3), sparse (mostly zero) and only-extremes (0 or 255), mixed at random.
pub fn input_bytes(seed: u64, len: usize, count: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1); // not the stream of `artifact(seed)`
    (0..count)
        .map(|_| {
            let kind = rng.random_range(0..8u32);
            (0..len)
                .map(|_| match kind {
                    0..=2 => rng.random(),
                    3 => 0,
                    4 => 255,
                    5 => rng.random_range(0..=3),
                    6 => {
                        if rng.random_bool(0.1) {
                            rng.random()
                        } else {
                            0
                        }
                    }
                    _ => {
                        if rng.random_bool(0.5) {
                            0
                        } else {
                            255
                        }
                    }
                })
                .collect()
        })
        .collect()
}

/// An activation quantization `{bits, scale, signed}`.
#[derive(Clone, Copy, Debug)]
struct Quant {
    bits: u32,
    scale: f32,
    signed: bool,
}

impl Quant {
    /// The largest integer value of the type.
    fn max_q(self) -> f64 {
        if self.signed { f64::from((1u32 << (self.bits - 1)) - 1) } else { f64::from((1u32 << self.bits) - 1) }
    }

    fn json(self) -> Value {
        json!({"bits": self.bits, "scale": f32v(f64::from(self.scale)), "signed": self.signed})
    }
}

/// A tensor available to later layers.
#[derive(Clone, Debug)]
struct Tensor {
    name: String,
    shape: [usize; 3],
    q: Quant,
    /// Holds the network input's bytes with a non-zero zero point (the input, flattens of it): only
    /// `conv2d`, `dense` and `flatten` may read it.
    zp: bool,
}

impl Tensor {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Post-accumulator normalization of a `conv2d`/`dense` layer.
enum Post {
    None,
    ChannelScale,
    BatchNorm,
}

/// The generator state for one model.
struct Gen<'a> {
    rng: ChaCha8Rng,
    opts: &'a GenOptions,
    /// `tensors[0]` is the network input; then one per layer, in order.
    tensors: Vec<Tensor>,
    layers: Vec<Value>,
    target: usize,
    /// The `zero_point` written into `input` (`None`: no field; `Some(Value::Null)` or 0: the default).
    zero_point: Option<Value>,
    /// The stream of the pools' padding (apart from the main one, so models without padded pools are the
    /// documents they were before padded pools existed).
    pad_rng: ChaCha8Rng,
    /// The stream of the concats (whether one follows a step, and everything about it).
    cat_rng: ChaCha8Rng,
}

/// The `f32` nearest to `x`, as a JSON number (exact `f64` of that `f32`); `x` must be finite.
fn f32v(x: f64) -> Value {
    json!(f64::from(x as f32))
}

/// `x` with its magnitude clamped to `[1e-30, 1e30]` (sign kept, 0 stays 0): finite and normal as `f32`.
fn fin(x: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x.signum() * x.abs().clamp(1e-30, 1e30) }
}

/// A scale: finite and > 0 as `f32`.
fn scale(x: f64) -> f32 {
    x.abs().clamp(1e-30, 1e30) as f32
}

/// `(in + pad_a + pad_b − k) / s + 1` (the documented output size when the kernel fits). `Gen::conv` also
/// calls it before growing the padding to fit the kernel; there the wrapped value only makes it grow the
/// padding, as release builds always did, so the arithmetic wraps explicitly (no overflow panic in debug
/// builds, and the same documents for a seed in every build).
fn out_dim(n: usize, pad_a: usize, pad_b: usize, k: usize, s: usize) -> usize {
    (n + pad_a + pad_b).wrapping_sub(k).wrapping_div(s).wrapping_add(1)
}

impl<'a> Gen<'a> {
    fn new(seed: u64, opts: &'a GenOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let hw = opts.max_input_hw.clamp(1, opts.max_hw.max(1));
        let shape =
            [rng.random_range(1..=hw), rng.random_range(1..=hw), rng.random_range(1..=opts.max_input_channels.max(1))];
        let s = if rng.random_bool(0.25) { 1.0 / 255.0 } else { 2f64.powf(rng.random_range(-12.0..2.0)) };
        // The zero point comes from a stream of its own: the main stream (and so every model without a zero
        // point) is unchanged.
        let mut zrng = ChaCha8Rng::seed_from_u64(seed);
        zrng.set_stream(2);
        let (zero_point, z) = match zrng.random_range(0..100u32) {
            0..10 => (Some(json!(128)), 128u8),
            10..20 => {
                let z = zrng.random_range(1..=255u8);
                (Some(json!(z)), z)
            }
            20..23 => (Some(json!(0)), 0),
            23..26 => (Some(Value::Null), 0),
            _ => (None, 0),
        };
        let input =
            Tensor { name: "input".into(), shape, q: Quant { bits: 8, scale: scale(s), signed: false }, zp: z != 0 };
        let target = rng.random_range(1..=opts.max_layers.max(1));
        let mut pad_rng = ChaCha8Rng::seed_from_u64(seed);
        pad_rng.set_stream(3);
        let mut cat_rng = ChaCha8Rng::seed_from_u64(seed);
        cat_rng.set_stream(4);
        Gen { rng, opts, tensors: vec![input], layers: Vec::new(), target, zero_point, pad_rng, cat_rng }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// `2^u`, `u` uniform in `lo..hi`.
    fn pow2(&mut self, lo: f64, hi: f64) -> f64 {
        2f64.powf(self.rng.random_range(lo..hi))
    }

    /// `±U(0, 1)`.
    fn sym(&mut self) -> f64 {
        self.rng.random_range(-1.0..1.0)
    }

    fn input(&self) -> &Tensor {
        &self.tensors[0]
    }

    /// A tensor satisfying `pred`: mostly the most recent one (chains), else any (branches, skips).
    fn pick(&mut self, pred: impl Fn(&Tensor) -> bool) -> Option<usize> {
        let cands: Vec<usize> = (0..self.tensors.len()).filter(|&i| pred(&self.tensors[i])).collect();
        let last = *cands.last()?;
        Some(if self.chance(0.65) { last } else { cands[self.rng.random_range(0..cands.len())] })
    }

    /// An activation type: signed (2..=8 bits) with probability `signed_p`, else unsigned (1..=8 bits).
    fn quant(&mut self, signed_p: f64, scale_: f32) -> Quant {
        let signed = self.chance(signed_p);
        let bits = self.rng.random_range(if signed { 2..=8 } else { 1..=8 });
        Quant { bits, scale: scale_, signed }
    }

    /// Appends a layer and its output tensor; returns the tensor's index.
    fn push(&mut self, prefix: &str, layer: Map<String, Value>, shape: [usize; 3], q: Quant) -> usize {
        self.push_zp(prefix, layer, shape, q, false)
    }

    /// [`Self::push`] of a tensor that may hold the zero-pointed input's bytes (a flatten of it).
    fn push_zp(&mut self, prefix: &str, mut layer: Map<String, Value>, shape: [usize; 3], q: Quant, zp: bool) -> usize {
        let name = format!("{prefix}{}", self.layers.len());
        layer.insert("name".into(), json!(name));
        self.layers.push(Value::Object(layer));
        self.tensors.push(Tensor { name, shape, q, zp });
        self.tensors.len() - 1
    }

    fn build(&mut self) {
        while self.layers.len() < self.target {
            let room = self.target - self.layers.len();
            match self.rng.random_range(0..100u32) {
                0..26 => self.conv_step(),
                26..38 => self.dense_step(false),
                38..46 => self.pool_step("max_pool"),
                46..54 => self.pool_step("avg_pool"),
                54..60 => self.gap_step(),
                60..74 => self.flatten_step(),
                _ => self.add_step(room),
            };
            if self.layers.len() < self.target && self.cat_rng.random_bool(0.12) {
                self.concat_step();
            }
        }
        if self.layers.len() < self.opts.max_layers && self.chance(0.35) {
            self.dense_step(true);
        }
    }

    /// The document: top-level fields, an output (mostly the last layer, sometimes an earlier one whose
    /// later layers are then dead computation) and one label per output value.
    fn finish(mut self, seed: u64) -> Value {
        let out = if self.chance(0.75) { self.tensors.len() - 1 } else { self.rng.random_range(1..self.tensors.len()) };
        let out = &self.tensors[out];
        let labels: Vec<String> = (0..out.len()).map(|i| format!("l{i}")).collect();
        let input = self.input();
        let mut input_json = json!({"shape": input.shape, "scale": f32v(f64::from(input.q.scale))});
        if let Some(z) = &self.zero_point {
            input_json["zero_point"] = z.clone();
        }
        json!({
            "format": "bsq-artifact",
            "version": 1,
            "name": format!("diff-{seed}"),
            "provenance": {
                "tool": "bsq-difftest",
                "created": "1970-01-01T00:00:00Z",
                "dataset": "none",
                "notes": format!("random model, seed {seed}"),
            },
            "labels": labels,
            "input": input_json,
            "layers": self.layers,
            "output": out.name,
        })
    }

    fn conv_step(&mut self) -> bool {
        let Some(src) = self.pick(|t| !t.q.signed) else { return false };
        self.conv(src, false, None);
        true
    }

    /// A `conv2d` reading `src` (unsigned). `same`: stride 1, `out_channels = C` and `pad_top + pad_bottom =
    /// k_h − 1` (same for `w`), so the output has the input's shape (a residual branch); `out_scale`: the
    /// output scale to use instead of a random one.
    fn conv(&mut self, src: usize, same: bool, out_scale: Option<f64>) -> usize {
        let x = self.tensors[src].clone();
        let [h, w, c] = x.shape;
        let max_macs = self.opts.max_macs;
        let (k, stride, pad, out_c, groups) = if same {
            let (mut kh, mut kw) = (self.rng.random_range(1..=5), self.rng.random_range(1..=5));
            while kh * kw > 1 && h * w * c * c * kh * kw > max_macs {
                *(if kh >= kw { &mut kh } else { &mut kw }) -= 1;
            }
            let (pt, pl) = (self.rng.random_range(0..kh), self.rng.random_range(0..kw));
            // Sometimes depthwise (a residual branch of MobileNetV2's kind).
            let groups = if self.chance(0.2) { c } else { 1 };
            ([kh, kw], [1, 1], [pt, pl, kh - 1 - pt, kw - 1 - pl], c, groups)
        } else {
            let mut k =
                if self.chance(0.2) { [1, 1] } else { [self.rng.random_range(1..=5), self.rng.random_range(1..=5)] };
            let mut pad = [0; 4];
            if self.chance(0.5) {
                pad = [k[0], k[1], k[0], k[1]].map(|k| self.rng.random_range(0..k));
            }
            let stride =
                if self.chance(0.6) { [1, 1] } else { [self.rng.random_range(1..=3), self.rng.random_range(1..=3)] };
            let (oh, ow) = (out_dim(h, pad[0], pad[2], k[0], 1), out_dim(w, pad[1], pad[3], k[1], 1));
            if oh > self.opts.max_hw || ow > self.opts.max_hw {
                pad = [0; 4];
            }
            // The kernel must fit the padded input: grow the padding (each side stays < the kernel).
            for (a, b, n, k) in [(0, 2, h, k[0]), (1, 3, w, k[1])] {
                while n + pad[a] + pad[b] < k {
                    let side = if pad[a] == k - 1 || (pad[b] < k - 1 && self.chance(0.5)) { b } else { a };
                    pad[side] += 1;
                }
            }
            let mut out_c = self.rng.random_range(1..=self.opts.max_channels.max(1));
            // At most `max_macs`: fewer channels, then a 1×1 kernel (a tensor has ≤ max_hw²·C elements).
            while out_dim(h, pad[0], pad[2], k[0], stride[0])
                * out_dim(w, pad[1], pad[3], k[1], stride[1])
                * out_c
                * k[0]
                * k[1]
                * c
                > max_macs
            {
                if out_c > 1 {
                    out_c /= 2;
                } else if k != [1, 1] {
                    (k, pad) = ([1, 1], [0; 4]);
                } else {
                    break;
                }
            }
            // Grouped convolutions (issue 12): depthwise (groups = C, channel multiplier 1 or 2) or a divisor of
            // C, within the same MAC and channel budgets.
            let mut groups = 1;
            if self.chance(0.3) {
                let macs = |out_c: usize, groups: usize| {
                    out_dim(h, pad[0], pad[2], k[0], stride[0])
                        * out_dim(w, pad[1], pad[3], k[1], stride[1])
                        * out_c
                        * k[0]
                        * k[1]
                        * (c / groups)
                };
                let (g, oc) = if self.chance(0.6) {
                    let mult = if 2 * c <= self.opts.max_channels.max(1) && self.chance(0.3) { 2 } else { 1 };
                    (c, c * mult)
                } else {
                    let divisors: Vec<usize> = (2..=c).filter(|d| c % d == 0).collect();
                    match divisors.len() {
                        0 => (1, out_c),
                        n => {
                            let g = divisors[self.rng.random_range(0..n)];
                            (g, g * (out_c / g).max(1))
                        }
                    }
                };
                if g > 1 && macs(oc, g) <= max_macs.max(macs(out_c, 1)) {
                    (groups, out_c) = (g, oc);
                }
            }
            (k, stride, pad, out_c, groups)
        };
        let shape = [out_dim(h, pad[0], pad[2], k[0], stride[0]), out_dim(w, pad[1], pad[3], k[1], stride[1]), out_c];
        let mut m = Map::new();
        m.insert("op".into(), json!("conv2d"));
        m.insert("input".into(), json!(x.name));
        m.insert("in_channels".into(), json!(c));
        m.insert("out_channels".into(), json!(out_c));
        m.insert("kernel".into(), json!(k));
        m.insert("stride".into(), json!(stride));
        m.insert("padding".into(), json!(pad));
        // `groups` is written when > 1, and sometimes as an explicit 1 (the default).
        if groups > 1 || self.chance(0.05) {
            m.insert("groups".into(), json!(groups));
        }
        let signed_p = if same { 0.4 } else { 0.25 };
        let q = self.weighted(&mut m, x.q, k[0] * k[1] * (c / groups), out_c, signed_p, out_scale, None);
        self.push("conv", m, shape, q)
    }

    /// A `dense` layer reading an unsigned tensor of at most `max_dense_in` elements; `logits`: 2..=10
    /// signed 8-bit outputs (the usual last layer).
    fn dense_step(&mut self, logits: bool) -> bool {
        let max_in = self.opts.max_dense_in;
        let Some(src) = self.pick(|t| !t.q.signed && t.len() <= max_in) else { return false };
        let x = self.tensors[src].clone();
        let max_out = (self.opts.max_macs / x.len()).clamp(1, self.opts.max_features.max(1));
        let out_f = self.rng.random_range(if logits { 2.min(max_out)..=10.min(max_out) } else { 1..=max_out });
        let mut m = Map::new();
        m.insert("op".into(), json!("dense"));
        m.insert("input".into(), json!(x.name));
        m.insert("in_features".into(), json!(x.len()));
        m.insert("out_features".into(), json!(out_f));
        let fixed = logits.then_some(Quant { bits: 8, scale: 1.0, signed: true });
        let q = self.weighted(&mut m, x.q, x.len(), out_f, 0.25, None, fixed);
        self.push("fc", m, [1, 1, out_f], q);
        true
    }

    /// `weight`, `bias`, `bn`/`channel_scale` and `out` of a `conv2d`/`dense` layer with `fan_in` inputs per
    /// output and `outs` outputs (channels), reading an unsigned tensor of type `q_in`. Returns `out`.
    ///
    /// Scales are chosen top-down: the output scale `S`, then the real multiplier `m` (calibrated, or
    /// extreme), which fixes the real gain per accumulator unit `g = m·S = step·c`, split between the
    /// accumulator step `s_in·weight.scale/(2^n − 1)` and the normalization `c`.
    #[allow(clippy::too_many_arguments)]
    fn weighted(
        &mut self,
        m: &mut Map<String, Value>,
        q_in: Quant,
        fan_in: usize,
        outs: usize,
        signed_p: f64,
        out_scale: Option<f64>,
        out_type: Option<Quant>,
    ) -> Quant {
        let s_in = f64::from(q_in.scale);
        let n: u32 = self.rng.random_range(0..=8);
        let kmax = (1i32 << n) - 1;
        let count = fan_in * outs;
        // Weights: 0-bit (empty or explicit zeros), all zero, all at ±max, or uniform with some sparsity.
        let (values, density): (Vec<i32>, f64) = if n == 0 {
            (if self.chance(0.5) { Vec::new() } else { vec![0; count] }, 0.0)
        } else {
            match self.rng.random_range(0..100u32) {
                0..5 => (vec![0; count], 0.0),
                5..10 => ((0..count).map(|_| if self.chance(0.5) { kmax } else { -kmax }).collect(), 2.0),
                _ => {
                    let zero_p = [0.0, 0.3, 0.7][self.rng.random_range(0..3)];
                    let v = (0..count)
                        .map(|_| if self.chance(zero_p) { 0 } else { self.rng.random_range(-kmax..=kmax) })
                        .collect();
                    (v, 1.0 - zero_p)
                }
            }
        };
        let nonzero = values.iter().any(|&v| v != 0);
        // Typical |acc|: sqrt(fan-in) · mean|k| · mean activation (random signs).
        let typical = (fan_in as f64).sqrt() * f64::from(kmax) / 2.0 * density * q_in.max_q() / 3.0;
        let mut q = match out_type {
            Some(q) => q,
            None => {
                let s = match out_scale {
                    Some(s) => s,
                    None if self.chance(0.5) => s_in * self.pow2(-5.0, 5.0),
                    None => self.pow2(-12.0, 4.0),
                };
                self.quant(signed_p, scale(s.clamp(2f64.powi(-40), 2f64.powi(40))))
            }
        };
        let target = (q.max_q() / 2.0).max(1.0);
        // Without nonzero weights the output is the (normalized) bias: size it as if acc were `target`.
        let t_eff = if nonzero { typical.max(1.0) } else { target };
        // Extremes: too small to represent (becomes 0), large (saturates; with a left shift of 8..29 bits
        // the accumulator bound may fail), or ≥ 2^30 (refused).
        let mult = if self.chance(self.opts.extreme_rate) {
            match self.rng.random_range(0..3u32) {
                0 => self.pow2(-75.0, -38.0),
                1 => self.pow2(8.0, 29.0),
                _ => self.pow2(30.0, 36.0),
            }
        } else {
            target / t_eff * self.pow2(-2.0, 2.0)
        };
        if out_type.is_some() {
            // A fixed type (logits) gets its scale here; the weight scale follows from the multiplier.
            q.scale = scale(s_in * self.pow2(-8.0, 2.0));
        }
        let s_out = f64::from(q.scale);
        let g = mult * s_out;
        let norm = match self.rng.random_range(0..10u32) {
            0..4 => Post::None,
            4..6 => Post::ChannelScale,
            _ => Post::BatchNorm,
        };
        // Rarely one channel's gain is exactly 0 (γ = 0 or channel_scale = 0): refused unless constant.
        let zero = self.chance(self.opts.extreme_rate).then(|| self.rng.random_range(0..outs));
        let step = match norm {
            Post::None => g,
            Post::ChannelScale => {
                let c_med = self.pow2(-3.0, 3.0);
                let wild = self.chance(0.06);
                let cs: Vec<Value> = (0..outs)
                    .map(|o| {
                        let mut c = c_med * self.pow2(-1.0, 1.0);
                        if self.chance(0.25) {
                            c = -c;
                        }
                        if wild && self.chance(0.3) {
                            c *= if self.chance(0.5) { 1e-20 } else { 1e4 };
                        }
                        f32v(if zero == Some(o) { 0.0 } else { fin(c) })
                    })
                    .collect();
                m.insert("channel_scale".into(), Value::Array(cs));
                g / c_med
            }
            Post::BatchNorm => s_in * self.pow2(-6.0, 2.0) / f64::from(kmax.max(1)),
        };
        let acc_real = step * t_eff;
        if let Post::BatchNorm = norm {
            self.batch_norm(m, outs, acc_real, g / step, target * s_out, zero);
        }
        // For 0 bits the scale is ignored and not checked (artifact.md § Validation): sometimes 0 or negative.
        let s_w = match n {
            0 => [0.0, -1.5, self.pow2(-6.0, 2.0), self.pow2(-6.0, 2.0)][self.rng.random_range(0..4)],
            _ => f64::from(scale(step * f64::from(kmax) / s_in)),
        };
        m.insert("weight".into(), json!({"bits": n, "scale": f32v(s_w), "values": values}));
        // Bias (real units of the accumulator sum): missing, null, or ±acc_real (sometimes huge).
        match self.rng.random_range(0..10u32) {
            0..2 => {}
            2..4 => {
                m.insert("bias".into(), Value::Null);
            }
            _ => {
                let large = self.chance(0.04);
                let bias: Vec<Value> = (0..outs)
                    .map(|_| {
                        let mut b = self.sym() * acc_real;
                        if large && self.chance(0.5) {
                            b *= self.pow2(8.0, 30.0);
                        }
                        f32v(fin(b))
                    })
                    .collect();
                m.insert("bias".into(), Value::Array(bias));
            }
        }
        m.insert("out".into(), q.json());
        q
    }

    /// `bn` with per-channel gain `c = γ/√(var+ε) ≈ c_gain`, `mean` and `√var` around `acc_real`, `β` around
    /// `y_typ` (real output units); a "wild" layer has per-channel extremes (tiny γ, large |β|, tiny, large
    /// or zero var); γ is 0 in channel `zero`. γ is negative in ~20% of the channels, ε is 0 in 30% of the
    /// layers.
    fn batch_norm(
        &mut self,
        m: &mut Map<String, Value>,
        outs: usize,
        acc_real: f64,
        c_gain: f64,
        y_typ: f64,
        zero: Option<usize>,
    ) {
        let eps: f32 = [0.0, 0.0, 0.0, 1e-5, 1e-5, 1e-5, 1e-5, 1e-5, 1e-3, 1e-3][self.rng.random_range(0..10)];
        let wild = self.chance(0.2);
        let (mut gamma, mut beta, mut mean, mut var) = (vec![], vec![], vec![], vec![]);
        for o in 0..outs {
            let mut v = fin((acc_real * self.pow2(-1.0, 1.0)).powi(2));
            let mut gm = c_gain * (v + f64::from(eps)).sqrt() * self.pow2(-0.5, 0.5);
            if self.chance(0.2) {
                gm = -gm;
            }
            let mut bt = self.sym() * 0.5 * y_typ;
            if wild && self.chance(0.4) {
                match self.rng.random_range(0..5u32) {
                    0 => {
                        // A (nearly) constant channel; with β ≠ 0 its folded bias β/c is huge.
                        gm *= 1e-6;
                        if self.chance(0.5) {
                            bt = 0.0;
                        }
                    }
                    1 => bt = self.sym().signum() * 1e4 * y_typ.max(1.0),
                    2 => v *= 1e-10,
                    3 => v *= 1e8,
                    // var = 0 is valid when eps > 0 (var + eps > 0).
                    _ => v = if eps > 0.0 { 0.0 } else { v * 1e-10 },
                }
            }
            if zero == Some(o) {
                gm = 0.0;
            }
            // var + eps > 0: var is 0 only when eps > 0, else ≥ 1e-30 (`fin` keeps a nonzero magnitude).
            var.push(f32v(if eps > 0.0 { fin(v) } else { fin(v).max(1e-30) }));
            gamma.push(f32v(fin(gm)));
            beta.push(f32v(fin(bt)));
            mean.push(f32v(fin(self.sym() * 0.5 * acc_real)));
        }
        m.insert(
            "bn".into(),
            json!({"gamma": gamma, "beta": beta, "mean": mean, "var": var, "eps": f32v(f64::from(eps))}),
        );
    }

    /// `max_pool`/`avg_pool` of any tensor: kernel ≤ 4 fitting the input, stride = kernel or 1..=3, and in
    /// about 40 % of the pools a `padding` field: sides `0..k` (30 %, dropped if the output would exceed
    /// `max_hw`), explicit zeros (5 %) or `null` (5 %).
    fn pool_step(&mut self, op: &str) -> bool {
        let Some(src) = self.pick(|t| !t.zp) else { return false };
        let x = self.tensors[src].clone();
        let [h, w, c] = x.shape;
        let k = [self.rng.random_range(1..=h.min(4)), self.rng.random_range(1..=w.min(4))];
        let s = if self.chance(0.5) { k } else { [self.rng.random_range(1..=3), self.rng.random_range(1..=3)] };
        let (mut padding, mut pad) = match self.pad_rng.random_range(0..100u32) {
            0..30 => {
                let p = [k[0], k[1], k[0], k[1]].map(|k| self.pad_rng.random_range(0..k));
                (Some(json!(p)), p)
            }
            30..35 => (Some(json!([0, 0, 0, 0])), [0; 4]),
            35..40 => (Some(Value::Null), [0; 4]),
            _ => (None, [0; 4]),
        };
        if out_dim(h, pad[0], pad[2], k[0], s[0]) > self.opts.max_hw.max(h)
            || out_dim(w, pad[1], pad[3], k[1], s[1]) > self.opts.max_hw.max(w)
        {
            (padding, pad) = (None, [0; 4]);
        }
        let shape = [out_dim(h, pad[0], pad[2], k[0], s[0]), out_dim(w, pad[1], pad[3], k[1], s[1]), c];
        let mut m = Map::new();
        m.insert("op".into(), json!(op));
        m.insert("input".into(), json!(x.name));
        m.insert("kernel".into(), json!(k));
        m.insert("stride".into(), json!(s));
        if let Some(p) = padding {
            m.insert("padding".into(), p);
        }
        self.push(if op == "max_pool" { "maxpool" } else { "avgpool" }, m, shape, x.q);
        true
    }

    fn gap_step(&mut self) -> bool {
        let Some(src) = self.pick(|t| !t.zp) else { return false };
        let x = self.tensors[src].clone();
        let mut m = Map::new();
        m.insert("op".into(), json!("global_avg_pool"));
        m.insert("input".into(), json!(x.name));
        self.push("gap", m, [1, 1, x.shape[2]], x.q);
        true
    }

    fn flatten_step(&mut self) -> bool {
        let Some(src) = self.pick(|_| true) else { return false };
        let x = self.tensors[src].clone();
        let mut m = Map::new();
        m.insert("op".into(), json!("flatten"));
        m.insert("input".into(), json!(x.name));
        self.push_zp("flat", m, [1, 1, x.len()], x.q, x.zp);
        true
    }

    /// A residual `add`: `x + conv(x)` (a "same" branch), `conv_a(x) + conv_b(x)`, an add of two existing
    /// tensors of the same shape, or `x + x`. Branch outputs get scales 2^-3..2^3 (rarely 2^±9..20) times
    /// `x`'s, and may be signed.
    fn add_step(&mut self, room: usize) -> bool {
        let mode = self.rng.random_range(0..10u32);
        let max_macs = self.opts.max_macs;
        let (a, b) = match mode {
            0..4 if room >= 2 => {
                let Some(x) = self.pick(|t| !t.q.signed && !t.zp && t.len() * t.shape[2] <= max_macs) else {
                    return false;
                };
                let s = self.branch_scale(x);
                let y = self.conv(x, true, Some(s));
                if self.chance(0.5) { (x, y) } else { (y, x) }
            }
            4..6 if room >= 3 => {
                // Two branches of x (a zero-pointed x is fine: only the convolutions read it).
                let Some(x) = self.pick(|t| !t.q.signed && t.len() * t.shape[2] <= max_macs) else { return false };
                let (sa, sb) = (self.branch_scale(x), self.branch_scale(x));
                (self.conv(x, true, Some(sa)), self.conv(x, true, Some(sb)))
            }
            6..9 => {
                let pairs: Vec<(usize, usize)> = (0..self.tensors.len())
                    .flat_map(|i| (i + 1..self.tensors.len()).map(move |j| (i, j)))
                    .filter(|&(i, j)| self.tensors[i].shape == self.tensors[j].shape)
                    .filter(|&(i, j)| !self.tensors[i].zp && !self.tensors[j].zp)
                    .collect();
                if pairs.is_empty() {
                    return false;
                }
                pairs[self.rng.random_range(0..pairs.len())]
            }
            _ => {
                let Some(x) = self.pick(|t| !t.zp) else { return false };
                (x, x)
            }
        };
        let (ta, tb) = (self.tensors[a].clone(), self.tensors[b].clone());
        // Calibrated: the larger real range of the two inputs fills the output range (±2^±1).
        let range = (f64::from(ta.q.scale) * ta.q.max_q()).max(f64::from(tb.q.scale) * tb.q.max_q());
        let mut q = self.quant(0.3, 1.0);
        let mut s = range / q.max_q().max(1.0) * self.pow2(-1.0, 1.0);
        if self.chance(self.opts.extreme_rate) {
            s *= self.pow2(20.0, 40.0).powf(if self.chance(0.5) { 1.0 } else { -1.0 });
        }
        q.scale = scale(s);
        let mut m = Map::new();
        m.insert("op".into(), json!("add"));
        m.insert("inputs".into(), json!([ta.name, tb.name]));
        m.insert("out".into(), q.json());
        self.push("add", m, ta.shape, q);
        true
    }

    /// A `concat` of 2..=4 tensors (repeats allowed) with the height and width of a random one, none holding a
    /// zero-pointed input, at most 64 channels in all; the output quantization is one input's (30 %) or
    /// calibrated on the widest real range (±2^±1), rarely (the extreme rate) 2^30..2^40 too fine. Every draw
    /// from `cat_rng`.
    fn concat_step(&mut self) -> bool {
        let cands: Vec<usize> = (0..self.tensors.len()).filter(|&i| !self.tensors[i].zp).collect();
        if cands.is_empty() {
            return false;
        }
        let first = cands[self.cat_rng.random_range(0..cands.len())];
        let hw = [self.tensors[first].shape[0], self.tensors[first].shape[1]];
        let same: Vec<usize> = cands.iter().copied().filter(|&i| self.tensors[i].shape[..2] == hw).collect();
        let n = self.cat_rng.random_range(2..=4usize);
        let mut picked = vec![first];
        while picked.len() < n {
            picked.push(same[self.cat_rng.random_range(0..same.len())]);
        }
        let channels: usize = picked.iter().map(|&i| self.tensors[i].shape[2]).sum();
        if channels > 64 {
            return false;
        }
        let q = if self.cat_rng.random_bool(0.3) {
            self.tensors[picked[self.cat_rng.random_range(0..picked.len())]].q
        } else {
            let range = picked
                .iter()
                .map(|&i| f64::from(self.tensors[i].q.scale) * self.tensors[i].q.max_q())
                .fold(0.0, f64::max);
            let signed = self.cat_rng.random_bool(0.3);
            let bits = self.cat_rng.random_range(if signed { 2..=8 } else { 1..=8 });
            let mut q = Quant { bits, scale: 1.0, signed };
            let mut s = range / q.max_q().max(1.0) * 2f64.powf(self.cat_rng.random_range(-1.0..1.0));
            if self.cat_rng.random_bool(self.opts.extreme_rate) {
                s *= 2f64.powf(-self.cat_rng.random_range(30.0..40.0));
            }
            q.scale = scale(s);
            q
        };
        let names: Vec<&str> = picked.iter().map(|&i| self.tensors[i].name.as_str()).collect();
        let mut m = Map::new();
        m.insert("op".into(), json!("concat"));
        m.insert("inputs".into(), json!(names));
        m.insert("out".into(), q.json());
        self.push("cat", m, [hw[0], hw[1], channels], q);
        true
    }

    /// The output scale of a residual branch from `x`: `x.scale · 2^U(-3, 3)`, rarely 2^9..2^20 apart.
    fn branch_scale(&mut self, x: usize) -> f64 {
        let s = f64::from(self.tensors[x].q.scale);
        if self.chance(self.opts.extreme_rate) {
            s * self.pow2(9.0, 20.0).powf(if self.chance(0.5) { 1.0 } else { -1.0 })
        } else {
            s * self.pow2(-3.0, 3.0)
        }
    }
}
