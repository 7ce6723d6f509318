//! Deterministic fixture models (seeded): small artifacts that cover every op, every weight width 1–8,
//! 0-bit layers, signed and unsigned activations of 2, 4 and 8 bits, BatchNorm with negative γ, strided
//! residual blocks, grouped/depthwise convolutions, an input zero point, padded pooling and channel concats. Used by the tests here, by the QEMU suite and as examples of the artifact format.
//!
//! Activation scales are calibrated like a trainer would: each layer's output scale comes from the real
//! (float) pre-activation range over calibration inputs, computed from the integer outputs of the layers
//! before it (run by the [`crate::Executor`]).

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

use crate::artifact::*;
use crate::exec::Executor;

/// Names of the fixtures, in a stable order.
pub const NAMES: [&str; 9] =
    ["mlp", "convnet", "resblock", "zerobit", "widths", "dsconv", "zeropoint", "poolpad", "concat"];

/// The fixtures' generator: SplitMix64 from `rand_xoshiro`, whose stream is fixed by its definition (the
/// fixtures, their inputs and the goldens stay the same across versions), with the few draws they use.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator whose state is `seed`.
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::seed_from_u64(seed))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// A generator seeded from a name (FNV-1a 64 of its bytes).
    pub fn from_name(name: &str) -> Self {
        Self::new(crate::lower::fnv64(name.as_bytes()))
    }
    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (hi as i64 - lo as i64 + 1) as u64;
        (lo as i64 + (self.next_u64() % span) as i64) as i32
    }
    /// `n` uniform bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// Uniform float in `[lo, hi)`.
    pub fn float(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

fn seed_of(name: &str) -> u64 {
    crate::lower::fnv64(name.as_bytes())
}

/// `count` deterministic inputs for a model with `len`-byte inputs: smooth blobs plus noise, so that
/// convolutions see structure.
pub fn inputs(name: &str, len: usize, count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed_of(name) ^ 0x5eed);
    (0..count)
        .map(|_| {
            // 6.28 (not TAU) is part of the fixtures' definition: changing it changes every input.
            #[allow(clippy::approx_constant)]
            let phase = rng.float(0.0, 6.28);
            let freq = rng.float(0.05, 0.6);
            (0..len)
                .map(|i| {
                    let base = 127.5 + 110.0 * ((i as f32) * freq + phase).sin();
                    (base + rng.float(-20.0, 20.0)).clamp(0.0, 255.0) as u8
                })
                .collect()
        })
        .collect()
}

pub(crate) struct Gen {
    pub(crate) a: Artifact,
    pub(crate) rng: Rng,
    pub(crate) calib: Vec<Vec<u8>>,
}

#[derive(Clone, Copy)]
pub(crate) struct Act {
    pub(crate) bits: u8,
    pub(crate) signed: bool,
}
pub(crate) const fn u(bits: u8) -> Act {
    Act { bits, signed: false }
}
pub(crate) const fn s(bits: u8) -> Act {
    Act { bits, signed: true }
}

impl Gen {
    pub(crate) fn new(name: &str, shape: [usize; 3], classes: usize) -> Self {
        let a = Artifact {
            format: FORMAT.into(),
            version: VERSION,
            name: name.into(),
            provenance: Provenance {
                tool: crate::emit::GENERATOR.into(),
                created: "1970-01-01T00:00:00Z".into(),
                dataset: "none (fixture with random weights)".into(),
                alpha: None,
                accuracy: Accuracy::default(),
                notes: format!("deterministic fixture `{name}` from bsq_codegen::fixtures"),
            },
            labels: (0..classes).map(|i| format!("class{i}")).collect(),
            input: Input { shape, scale: 1.0 / 255.0, zero_point: 0 },
            scheme: Vec::new(),
            layers: Vec::new(),
            output: String::new(),
        };
        let len = shape.iter().product();
        Self { a, rng: Rng::new(seed_of(name)), calib: inputs(name, len, 6) }
    }

    /// Real values of tensor `name` for each calibration input (dequantized integer outputs).
    pub(crate) fn real(&self, name: &str) -> (Vec<Vec<f64>>, [usize; 3]) {
        if name == "input" {
            let (s, z) = (self.a.input.scale as f64, self.a.input.zero_point as f64);
            return (
                self.calib.iter().map(|x| x.iter().map(|&v| (v as f64 - z) * s).collect()).collect(),
                self.a.input.shape,
            );
        }
        if let Some(Layer::Flatten(f)) = self.a.layers.iter().find(|l| l.name() == name) {
            let (v, shape) = self.real(&f.input);
            return (v, [1, 1, shape.iter().product()]);
        }
        let mut partial = self.a.clone();
        partial.output = name.to_string();
        partial.scheme.clear();
        let tensors = crate::validate::tensor_table(&partial).expect("fixture prefix is valid");
        partial.labels = vec![String::new(); tensors[name].len];
        let info = tensors[name];
        let mut ex = Executor::new(&partial).expect("fixture prefix compiles");
        let s = info.quant.scale as f64;
        let vals = self
            .calib
            .iter()
            .map(|x| {
                let out = ex.run(x).expect("fixture runs");
                out.iter().map(|&b| bsq_runtime::requant::load(b, info.quant.signed) as f64 * s).collect()
            })
            .collect();
        (vals, info.shape)
    }

    pub(crate) fn calibrate(ys: &[Vec<f64>], act: Act) -> f32 {
        let peak = ys.iter().flatten().fold(0f64, |m, &v| if act.signed { m.max(v.abs()) } else { m.max(v) });
        let levels = if act.signed { (1 << (act.bits - 1)) - 1 } else { (1 << act.bits) - 1 } as f64;
        // Clip slightly below the peak, as a calibrated clip would.
        ((0.9 * peak).max(1e-3) / levels) as f32
    }

    pub(crate) fn weights(&mut self, bits: u8, count: usize) -> Weight {
        let m = bsq_runtime::pack::max_magnitude(bits);
        let values = (0..count).map(|_| if self.rng.int(0, 9) < 2 { 0 } else { self.rng.int(-m, m) }).collect();
        Weight { bits, scale: if bits == 0 { 1.0 } else { self.rng.float(0.2, 1.0) }, values }
    }

    /// `n` float biases, uniform in [−0.1, 0.2).
    pub(crate) fn biases(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.rng.float(-0.1, 0.2)).collect()
    }

    pub(crate) fn bn(&mut self, c: usize) -> BatchNorm {
        let mut gamma: Vec<f32> = (0..c).map(|_| self.rng.float(0.5, 1.5)).collect();
        gamma[c / 2] = -gamma[c / 2]; // one negative γ: negative multipliers
        BatchNorm {
            gamma,
            beta: (0..c).map(|_| self.rng.float(-0.2, 0.4)).collect(),
            mean: (0..c).map(|_| self.rng.float(-0.2, 0.2)).collect(),
            var: (0..c).map(|_| self.rng.float(0.5, 2.0)).collect(),
            eps: 1e-5,
        }
    }

    pub(crate) fn push(&mut self, layer: Layer) {
        self.a.output = layer.name().to_string();
        self.a.layers.push(layer);
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        input: &str,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        bits: u8,
        act: Act,
        bn: bool,
    ) {
        self.gconv(name, input, out_c, 1, k, stride, pad, bits, act, bn);
    }

    /// A convolution with `groups` channel groups (1: the plain convolution, same draws as before).
    #[allow(clippy::too_many_arguments)]
    fn gconv(
        &mut self,
        name: &str,
        input: &str,
        out_c: usize,
        groups: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        bits: u8,
        act: Act,
        bn: bool,
    ) {
        let (xs, shape) = self.real(input);
        let in_c = shape[2];
        let weight = self.weights(bits, out_c * k * k * (in_c / groups));
        let bias = if bn { None } else { Some(self.biases(out_c)) };
        let bn = if bn { Some(self.bn(out_c)) } else { None };
        let mut layer = Conv2d {
            name: name.into(),
            input: input.into(),
            in_channels: in_c,
            out_channels: out_c,
            kernel: [k, k],
            stride: [stride, stride],
            padding: pad,
            groups: (groups != 1).then_some(groups),
            weight,
            bias,
            bn,
            channel_scale: None,
            out: Quant { bits: act.bits, scale: 1.0, signed: act.signed },
        };
        let ys: Vec<Vec<f64>> = xs.iter().map(|x| float_conv(&layer, shape, x)).collect();
        layer.out.scale = Self::calibrate(&ys, act);
        self.push(Layer::Conv2d(layer));
    }

    fn dense(&mut self, name: &str, input: &str, out: usize, bits: u8, act: Act) {
        let (xs, shape) = self.real(input);
        let n_in = shape.iter().product();
        let mut layer = Dense {
            name: name.into(),
            input: input.into(),
            in_features: n_in,
            out_features: out,
            weight: self.weights(bits, out * n_in),
            bias: Some(self.biases(out)),
            bn: None,
            channel_scale: None,
            out: Quant { bits: act.bits, scale: 1.0, signed: act.signed },
        };
        let ys: Vec<Vec<f64>> = xs.iter().map(|x| float_dense(&layer, x)).collect();
        layer.out.scale = Self::calibrate(&ys, act);
        self.push(Layer::Dense(layer));
    }

    pub(crate) fn add(&mut self, name: &str, a: &str, b: &str, act: Act) {
        let (xa, _) = self.real(a);
        let (xb, _) = self.real(b);
        let ys: Vec<Vec<f64>> =
            xa.iter().zip(&xb).map(|(p, q)| p.iter().zip(q).map(|(x, y)| x + y).collect()).collect();
        let out = Quant { bits: act.bits, scale: Self::calibrate(&ys, act), signed: act.signed };
        self.push(Layer::Add(Add { name: name.into(), inputs: [a.into(), b.into()], out }));
    }

    /// A channel concat whose output quantization is `act` calibrated on the joined values, or (`like`) the
    /// quantization of the layer `like` (that input is then copied unchanged).
    fn concat(&mut self, name: &str, inputs: &[&str], act: Act, like: Option<&str>) {
        let out = match like {
            Some(l) => crate::validate::tensor_table(&self.a).expect("fixture prefix is valid")[l].quant,
            None => {
                let parts: Vec<Vec<Vec<f64>>> = inputs.iter().map(|i| self.real(i).0).collect();
                let ys: Vec<Vec<f64>> =
                    (0..self.calib.len()).map(|k| parts.iter().flat_map(|p| p[k].iter().copied()).collect()).collect();
                Quant { bits: act.bits, scale: Self::calibrate(&ys, act), signed: act.signed }
            }
        };
        let inputs = inputs.iter().map(|i| i.to_string()).collect();
        self.push(Layer::Concat(Concat { name: name.into(), inputs, out }));
    }

    fn pool(&mut self, name: &str, input: &str, k: usize, max: bool) {
        let p = Pool { name: name.into(), input: input.into(), kernel: [k, k], stride: [k, k], padding: None };
        self.push(if max { Layer::MaxPool(p) } else { Layer::AvgPool(p) });
    }

    /// A pooling window with any kernel, stride and padding.
    pub(crate) fn padded_pool(
        &mut self,
        name: &str,
        input: &str,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        max: bool,
    ) {
        let p = Pool { name: name.into(), input: input.into(), kernel, stride, padding: Some(pad) };
        self.push(if max { Layer::MaxPool(p) } else { Layer::AvgPool(p) });
    }

    pub(crate) fn unary(&mut self, name: &str, input: &str, gap: bool) {
        let u = Unary { name: name.into(), input: input.into() };
        self.push(if gap { Layer::GlobalAvgPool(u) } else { Layer::Flatten(u) });
    }

    pub(crate) fn finish(mut self) -> Artifact {
        self.a.scheme = self.a.derived_scheme();
        self.a
    }
}

/// Real weights `s·k/(2^n−1)` of a layer.
fn real_weights(w: &Weight) -> Vec<f64> {
    let m = bsq_runtime::pack::max_magnitude(w.bits).max(1) as f64;
    w.values.iter().map(|&k| w.scale as f64 * k as f64 / m).collect()
}

fn affine_out(y: f64, o: usize, bias: &Option<Vec<f32>>, bn: &Option<BatchNorm>, cs: &Option<Vec<f32>>) -> f64 {
    let y = y + bias.as_ref().map_or(0.0, |b| b[o] as f64);
    if let Some(bn) = bn {
        bn.gamma[o] as f64 * (y - bn.mean[o] as f64) / (bn.var[o] as f64 + bn.eps as f64).sqrt() + bn.beta[o] as f64
    } else if let Some(cs) = cs {
        cs[o] as f64 * y
    } else {
        y
    }
}

/// Float convolution (HWC) of real inputs: the layer's real output before quantization.
pub fn float_conv(c: &Conv2d, shape: [usize; 3], x: &[f64]) -> Vec<f64> {
    let w = real_weights(&c.weight);
    let [h, wd, ci_all] = shape;
    // Grouped: output channel o reads the `ci` input channels of its group, from `first`.
    let ci = c.group_in();
    let per_group_out = c.out_channels / c.groups().max(1);
    let [kh, kw] = c.kernel;
    let oh = (h + c.padding[0] + c.padding[2] - kh) / c.stride[0] + 1;
    let ow = (wd + c.padding[1] + c.padding[3] - kw) / c.stride[1] + 1;
    let mut out = Vec::with_capacity(oh * ow * c.out_channels);
    for y in 0..oh {
        for xx in 0..ow {
            for o in 0..c.out_channels {
                let first = o / per_group_out.max(1) * ci;
                let mut acc = 0.0;
                for i in 0..kh {
                    for j in 0..kw {
                        let iy = (y * c.stride[0] + i) as isize - c.padding[0] as isize;
                        let ix = (xx * c.stride[1] + j) as isize - c.padding[1] as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        for ch in 0..ci {
                            acc += w.get(((o * kh + i) * kw + j) * ci + ch).copied().unwrap_or(0.0)
                                * x[(iy as usize * wd + ix as usize) * ci_all + first + ch];
                        }
                    }
                }
                out.push(affine_out(acc, o, &c.bias, &c.bn, &c.channel_scale));
            }
        }
    }
    out
}

/// Float dense layer of real inputs.
pub fn float_dense(d: &Dense, x: &[f64]) -> Vec<f64> {
    let w = real_weights(&d.weight);
    (0..d.out_features)
        .map(|o| {
            let acc: f64 =
                (0..d.in_features).map(|i| w.get(o * d.in_features + i).copied().unwrap_or(0.0) * x[i]).sum();
            affine_out(acc, o, &d.bias, &d.bn, &d.channel_scale)
        })
        .collect()
}

/// The fixture called `name`, if there is one.
pub fn fixture(name: &str) -> Option<Artifact> {
    Some(match name {
        "mlp" => {
            let mut g = Gen::new(name, [8, 8, 1], 10);
            g.unary("flat", "input", false);
            g.dense("fc1", "flat", 32, 4, u(4));
            g.dense("fc2", "fc1", 10, 2, s(8));
            g.finish()
        }
        "convnet" => {
            let mut g = Gen::new(name, [12, 12, 1], 10);
            g.conv("conv1", "input", 8, 3, 1, [1, 1, 1, 1], 3, u(4), false);
            g.pool("pool1", "conv1", 2, true);
            g.conv("conv2", "pool1", 16, 3, 1, [1, 1, 1, 1], 5, u(8), true);
            g.pool("pool2", "conv2", 2, false);
            g.unary("flat", "pool2", false);
            g.dense("fc", "flat", 10, 6, s(8));
            g.finish()
        }
        "resblock" => {
            let mut g = Gen::new(name, [8, 8, 3], 10);
            g.conv("stem", "input", 8, 3, 1, [1, 1, 1, 1], 8, u(4), true);
            g.conv("b1c1", "stem", 8, 3, 1, [1, 1, 1, 1], 2, u(4), true);
            g.conv("b1c2", "b1c1", 8, 3, 1, [1, 1, 1, 1], 3, s(8), true);
            g.add("b1add", "b1c2", "stem", u(4));
            g.conv("b2c1", "b1add", 16, 3, 2, [1, 1, 1, 1], 7, u(4), true);
            g.conv("b2c2", "b2c1", 16, 3, 1, [1, 1, 1, 1], 1, s(8), true);
            g.conv("b2down", "b1add", 16, 1, 2, [0, 0, 0, 0], 6, s(8), true);
            g.add("b2add", "b2c2", "b2down", u(4));
            g.unary("gap", "b2add", true);
            g.dense("fc", "gap", 10, 4, s(8));
            g.finish()
        }
        "zerobit" => {
            let mut g = Gen::new(name, [6, 6, 2], 5);
            g.conv("conv1", "input", 4, 3, 1, [1, 1, 1, 1], 4, u(8), false);
            g.conv("zero", "conv1", 4, 3, 1, [1, 1, 1, 1], 0, u(4), false);
            g.add("sum", "zero", "conv1", u(8));
            g.unary("flat", "sum", false);
            g.dense("fc0", "flat", 6, 0, u(4));
            g.dense("fc", "sum", 5, 8, s(8));
            g.finish()
        }
        "widths" => {
            let mut g = Gen::new(name, [4, 4, 4], 10);
            g.unary("flat", "input", false);
            let plan: [(usize, u8, Act); 8] = [
                (48, 1, u(2)),
                (40, 2, u(8)),
                (36, 3, u(4)),
                (32, 4, u(2)),
                (28, 5, u(8)),
                (24, 6, u(4)),
                (20, 7, u(8)),
                (10, 8, s(8)),
            ];
            let mut prev = "flat".to_string();
            for (i, (n, bits, act)) in plan.into_iter().enumerate() {
                let name = format!("d{}", i + 1);
                g.dense(&name, &prev, n, bits, act);
                prev = name;
            }
            g.finish()
        }
        // Depthwise-separable blocks (MobileNet / DS-CNN) and grouped convolutions (issue 12): depthwise 3×3
        // (stride 2, and stride 1 on 16 channels: the 4-channel-block path), pointwise 1×1, a depthwise
        // layer with a channel multiplier and a general grouped conv (the one-channel path).
        "dsconv" => {
            let mut g = Gen::new(name, [10, 10, 3], 10);
            g.conv("stem", "input", 8, 3, 1, [1, 1, 1, 1], 4, u(4), true);
            g.gconv("dw1", "stem", 8, 8, 3, 2, [1, 1, 1, 1], 3, u(4), true);
            g.conv("pw1", "dw1", 16, 1, 1, [0, 0, 0, 0], 5, u(4), true);
            g.gconv("dw2", "pw1", 16, 16, 3, 1, [1, 1, 1, 1], 8, u(8), true);
            g.conv("pw2", "dw2", 16, 1, 1, [0, 0, 0, 0], 2, u(4), true);
            g.gconv("dwm", "pw2", 32, 16, 3, 2, [0, 0, 1, 1], 6, u(4), false);
            g.gconv("gc", "dwm", 8, 4, 3, 1, [1, 1, 1, 1], 1, u(8), true);
            g.unary("gap", "gc", true);
            g.dense("fc", "gap", 10, 7, s(8));
            g.finish()
        }
        // An input zero point (float features quantized to bytes: real input (x − 128)/128 in [−1, 1)): padded
        // convolutions on the input (plain 3×3, and depthwise 3×3 stride 2), whose borders are padded with the
        // byte 128, and a dense layer on the input through flatten; the zero point is folded into their biases.
        "zeropoint" => {
            let mut g = Gen::new(name, [8, 8, 3], 10);
            g.a.input.scale = 1.0 / 128.0;
            g.a.input.zero_point = 128;
            g.conv("conv1", "input", 8, 3, 1, [1, 1, 1, 1], 4, u(4), false);
            g.gconv("dw", "input", 3, 3, 3, 2, [1, 1, 1, 1], 5, u(4), false);
            g.conv("conv2", "conv1", 8, 3, 2, [1, 1, 1, 1], 6, s(8), true);
            g.conv("pw", "dw", 8, 1, 1, [0, 0, 0, 0], 3, s(8), true);
            g.add("sum", "conv2", "pw", u(4));
            g.unary("gap", "sum", true);
            g.unary("flat", "input", false);
            g.dense("fcin", "flat", 8, 2, u(8));
            g.add("mix", "gap", "fcin", u(8));
            g.dense("fc", "mix", 10, 8, s(8));
            g.finish()
        }
        // Padded pooling: max and average pools with padding on every side (3×3, stride 2), on one side only
        // (the average divides by the input cells of each window), a non-square window with a non-square
        // stride, on unsigned and signed tensors.
        "poolpad" => {
            let mut g = Gen::new(name, [9, 9, 2], 10);
            g.conv("conv1", "input", 8, 3, 1, [1, 1, 1, 1], 4, u(8), false);
            g.padded_pool("mp", "conv1", [3, 3], [2, 2], [1, 1, 1, 1], true);
            g.padded_pool("apu", "conv1", [2, 2], [2, 2], [1, 1, 0, 0], false);
            g.add("sum1", "mp", "apu", u(8));
            g.conv("conv2", "sum1", 8, 3, 1, [1, 1, 1, 1], 5, s(8), true);
            g.padded_pool("ap", "conv2", [3, 3], [2, 2], [1, 1, 1, 1], false);
            g.padded_pool("mp2", "ap", [2, 3], [1, 2], [1, 1, 0, 1], true);
            g.add("u", "mp2", "mp2", u(8));
            g.unary("flat", "u", false);
            g.dense("fc", "flat", 10, 6, s(8));
            g.finish()
        }
        // Channel concats (an inception-like block): a 1×1 branch, a 1×1 → 3×3 branch, a padded max pool and
        // the network input itself joined at the 3×3 branch's quantization (that input copied, the others
        // rescaled, unsigned 4- and 8-bit); then signed 8-bit and unsigned 4-bit branches joined at a new,
        // calibrated signed scale, and signed 8-bit ones at one of their own quantization (a signed copy).
        "concat" => {
            let mut g = Gen::new(name, [8, 8, 3], 10);
            g.conv("stem", "input", 8, 3, 1, [1, 1, 1, 1], 4, u(4), true);
            g.conv("a", "stem", 4, 1, 1, [0, 0, 0, 0], 5, u(4), true);
            g.conv("b1", "stem", 4, 1, 1, [0, 0, 0, 0], 3, u(4), false);
            g.conv("b2", "b1", 6, 3, 1, [1, 1, 1, 1], 6, u(8), true);
            g.padded_pool("mp", "stem", [3, 3], [1, 1], [1, 1, 1, 1], true);
            g.concat("cat1", &["a", "b2", "mp", "input"], u(8), Some("b2"));
            g.conv("x2", "cat1", 8, 3, 2, [1, 1, 1, 1], 4, u(4), true);
            g.conv("c1", "x2", 6, 1, 1, [0, 0, 0, 0], 8, s(8), true);
            g.conv("c2", "x2", 6, 3, 1, [1, 1, 1, 1], 2, s(8), true);
            g.conv("d", "x2", 4, 1, 1, [0, 0, 0, 0], 7, u(4), false);
            g.concat("cat2", &["c1", "d", "c2"], s(8), None);
            g.concat("cat3", &["c2", "c1"], s(8), Some("c2"));
            g.pool("mp2", "cat2", 2, true);
            g.pool("mp3", "cat3", 2, false);
            g.concat("cat4", &["mp2", "mp3"], u(8), None);
            g.unary("flat", "cat4", false);
            g.dense("fc", "flat", 10, 6, s(8));
            g.finish()
        }
        // Not in NAMES (not in the QEMU suites): the demo's LeNet (`bsq train --model lenet`) with the
        // demo's scheme (conv1 8, conv2 6, fc1 2, fc2 8 bits) and random weights, for the size of its
        // inference code (the probe firmware in `boards/probe`).
        "lenet" => {
            let mut g = Gen::new(name, [28, 28, 1], 10);
            g.conv("conv1", "input", 16, 5, 1, [0, 0, 0, 0], 8, u(4), false);
            g.pool("pool1", "conv1", 2, true);
            g.conv("conv2", "pool1", 32, 5, 1, [0, 0, 0, 0], 6, u(4), false);
            g.pool("pool2", "conv2", 2, true);
            g.unary("flat", "pool2", false);
            g.dense("fc1", "flat", 128, 2, u(4));
            g.dense("fc2", "fc1", 10, 8, s(8));
            g.finish()
        }
        _ => return None,
    })
}

/// All fixtures, in [`NAMES`] order.
pub fn all() -> Vec<Artifact> {
    NAMES.iter().filter_map(|n| fixture(n)).collect()
}
