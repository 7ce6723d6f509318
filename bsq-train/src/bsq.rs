//! BSQ weights: bit-plane parameterization, the bit-level group-Lasso regularizer, re-quantization with
//! precision adjustment, and fixed-scheme uniform quantization for finetuning.
//!
//! A [`QWeight`] is the weight of one quantized layer (conv or dense, or a dense bias), flattened in the
//! layer's own (Burn) order; the layer reshapes [`QWeight::weight`] to its kernel shape. It is in one of
//! four [`WMode`]s:
//!
//! * `Float`: a plain float tensor (pretraining);
//! * `Bsq { bits: n }`: two plane tensors `Wp, Wn` of shape `[numel, n]` (bit axis last, MSB first) and a
//!   trainable scale `s`:
//!   `w_c = Σ_i (Wp_i − Wn_i)·2^(n−1−i)/(2^n−1)`, `w = s·round(clamp(w_c,−1,1)·(2^n−1))/(2^n−1)`
//!   (`round` is half away from zero, so this equals the official
//!   `s·sign(w_c)·round(|clamp(w_c)|·(2^n−1))/(2^n−1)`), with the official straight-through gradient
//!   (`bit_STE`): `∂w/∂w_c = s`, the identity through the rounding *and* the clamp
//!   ([`ste_clamp_round`]);
//! * `Fixed { bits: n }`: a float shadow `w` and the scale `s`, `w_q = s·round(clamp(w/s,−1,1)·(2^n−1))/(2^n−1)`
//!   with a straight-through rounding (uniform sign-magnitude QAT; the clamp passes no gradient; `s`
//!   receives an LSQ-like gradient through `w/s`);
//! * `Latent { bits: n }`: the official finetuning: a latent weight `u` kept in `[−1, 1]` (clamped after
//!   every optimizer step, [`QWeight::clamp_bits`]) and the scale `s`, `w_q = s·round(u·(2^n−1))/(2^n−1)`
//!   with a straight-through rounding; the gradient to `s` is the quantized value `Q(u)`;
//! * `Zero`: a 0-bit layer, all weights zero.
//!
//! Integer weights are `k = round(clamp(·)·(2^n−1)) ∈ [−(2^n−1), 2^n−1]`, real weight `s·k/(2^n−1)`.

use crate::cpu_ops::on_cpu;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// `ε` inside the group-Lasso square roots.
pub const GL_EPS: f32 = 1e-8;
/// Largest weight precision.
pub const MAX_BITS: u8 = 8;
/// The scale parameter of bsq's original variant stores `16·s` ([`QWeight::scale_store`] = 16): an
/// optimizer step then moves `s` 16× less with Adam (which moves every parameter by about the learning
/// rate) and 256× less with SGD than the official code, whose parameter is `s` itself (`scale_store` = 1,
/// [`SCALE_STORE_OFFICIAL`]).
pub const SCALE_STORE_X16: f32 = 16.0;
/// The official code's scale parameter: `s` itself.
pub const SCALE_STORE_OFFICIAL: f32 = 1.0;

/// How a [`QWeight`] computes its effective weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", content = "bits", rename_all = "snake_case")]
pub enum WMode {
    /// Plain float weights.
    #[default]
    Float,
    /// Bit planes with `n` bits.
    Bsq(u8),
    /// Uniform `n`-bit quantization of a float shadow weight.
    Fixed(u8),
    /// Uniform `n`-bit quantization of a latent weight in `[−1, 1]` times the scale (official finetuning).
    Latent(u8),
    /// A 0-bit layer (all zero).
    Zero,
}

impl WMode {
    /// Weight magnitude bits (`32` for float, `0` for zero).
    pub fn bits(self) -> u8 {
        match self {
            WMode::Float => 32,
            WMode::Bsq(n) | WMode::Fixed(n) | WMode::Latent(n) => n,
            WMode::Zero => 0,
        }
    }
}

/// How a quantized weight is held: bit planes (BSQ), or for a fixed scheme a float shadow weight (bsq's
/// original finetuning) or a latent weight in `[−1, 1]` (the official finetuning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Bit planes ([`WMode::Bsq`]).
    Bsq,
    /// A float shadow weight ([`WMode::Fixed`]).
    #[default]
    Shadow,
    /// A latent weight in `[−1, 1]` ([`WMode::Latent`]).
    Latent,
}

/// The weight of one quantized layer. See the module documentation.
#[derive(Module, Debug)]
pub struct QWeight {
    /// Float, shadow or latent weight `[numel]` (`Float`, `Fixed`, `Latent`).
    pub w: Option<Param<Tensor<1>>>,
    /// Positive bit planes `[numel, n]` (`Bsq`).
    pub wp: Option<Param<Tensor<2>>>,
    /// Negative bit planes `[numel, n]` (`Bsq`).
    pub wn: Option<Param<Tensor<2>>>,
    /// Per-layer scale `[1]`, stored as `scale_store·s` (see [`SCALE_STORE_X16`]).
    pub s: Param<Tensor<1>>,
    /// The factor between the scale parameter and `s` (1: official, 16: bsq's original variant).
    #[module(skip)]
    pub scale_store: f32,
    /// Current mode.
    #[module(skip)]
    pub mode: WMode,
    /// Number of weights.
    #[module(skip)]
    pub numel: usize,
}

/// Rounds half away from zero, like the integer model and `f32::round`: `sign(x)·floor(|x| + 0.5)`, with
/// `|x| + 0.5` computed in `f32`. Its derivative is zero almost everywhere, and the result is returned as a
/// constant (no autodiff), which is the same gradient.
pub fn round_half_away<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let x = x.inner();
    if on_cpu(&x) { cpu_map(x, round_half_away_f32) } else { x.clone().sign() * (x.abs() + 0.5).floor() }
}

/// [`round_half_away`] of one value, bit for bit the tensor formula. `floor(t)` for `t ≥ 0` is the
/// truncating `i32` conversion below `2^31`, and `t` itself above (an `f32` that large is an integer):
/// Rust compiles this to vector instructions, where `f32::floor` is a libm call on the x86-64 baseline.
pub(crate) fn round_half_away_f32(x: f32) -> f32 {
    let t = x.abs() + 0.5;
    let f = if t < 2_147_483_648.0 { t as i32 as f32 } else { t };
    // `sign(±0) = +0` in the formula.
    if x == 0.0 { 0.0 } else { f.copysign(x) }
}

/// Applies `f` to every element of `x`, an [`on_cpu`](crate::cpu_ops::on_cpu) tensor, in one pass over its buffer.
///
/// Why our own loop: Flex runs `floor` and `sign` element by element through libm calls, and the tensor
/// formula of [`round_half_away`] makes five passes over the data; the fake quantization rounds every
/// activation of every step, and this took a sixth of the CPU step (bsq-train/bench/README.md). Flex's
/// `into_data` and `from_data` move a buffer the tensor owns without copying.
fn cpu_map<const D: usize>(x: Tensor<D>, f: impl Fn(f32) -> f32) -> Tensor<D> {
    let device = x.device();
    let shape = x.shape();
    let mut data = x.into_data();
    if let Ok(v) = data.as_mut_slice::<f32>() {
        v.iter_mut().for_each(|e| *e = f(*e));
        return Tensor::from_data(data, &device);
    }
    // A buffer not aligned for `f32`: through a copy.
    let v: Vec<f32> = data.iter::<f32>().map(f).collect();
    Tensor::from_data(TensorData::new(v, shape), &device)
}

/// `round_half_away(clamp(x, −lim, lim)) − x` as a constant: the correction that makes a straight-through
/// rounding (`x + correction`).
fn ste_correction<const D: usize>(x: Tensor<D>, lim: Option<f32>) -> Tensor<D> {
    let v = x.inner();
    let lim = lim.unwrap_or(f32::INFINITY);
    if on_cpu(&v) {
        return cpu_map(v, |e| round_half_away_f32(e.clamp(-lim, lim)) - e);
    }
    let r = if lim.is_finite() { v.clone().clamp(-lim, lim) } else { v.clone() };
    round_half_away(r) - v
}

/// Straight-through rounding: the value of [`round_half_away`], the gradient of the identity.
///
/// The correction `round(x) − x` is a constant for the graph (computed without autodiff, in one pass on
/// the CPU backend): the same value as `(round(x) − x).detach()`, without recording the rounding's ops.
pub fn ste_round<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() + ste_correction(x, None)
}

/// Straight-through clamp and rounding (the official `bit_STE`): the value of
/// `round_half_away(clamp(x, −lim, lim))`, the gradient of the identity everywhere, also where the clamp
/// saturates (so a bit plane pushed past the representable range still receives the loss gradient).
pub fn ste_clamp_round<const D: usize>(x: Tensor<D>, lim: f32) -> Tensor<D> {
    x.clone() + ste_correction(x, Some(lim))
}

/// Clamps a parameter's values to `[lo, hi]` in place of an optimizer step's result, keeping its id, its
/// autodiff wrapping and whether it requires a gradient.
fn clamp_param<const D: usize>(p: Param<Tensor<D>>, lo: f32, hi: f32) -> Param<Tensor<D>> {
    p.map(|t| {
        let rg = t.is_require_grad();
        let ad = t.is_autodiff();
        let v = t.inner();
        // One pass over the buffer on the CPU backend (Flex's clamp makes a pass per bound).
        let v = if on_cpu(&v) { cpu_map(v, |e| e.clamp(lo, hi)) } else { v.clamp(lo, hi) };
        if ad {
            let v = Tensor::from_inner(v);
            if rg { v.require_grad() } else { v }
        } else {
            v
        }
    })
}

fn param1(v: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = v.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
}

fn param2(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [rows, cols]), device))
}

/// Reads a tensor's values to the host.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
}

/// `2^n − 1`, the largest magnitude of an `n`-bit weight.
pub(crate) fn levels(n: u8) -> f32 {
    ((1u32 << n) - 1) as f32
}

/// The weight of each of `n` bit planes (MSB first) in the clamped value `w_c`: `2^(n−1−b)/(2^n − 1)`.
pub(crate) fn plane_coefs(n: u8) -> Vec<f32> {
    let l = levels(n);
    (0..n).map(|b| (1u32 << (n - 1 - b)) as f32 / l).collect()
}

/// [`crate::cpu_ops::bsq_weight`] as tensor operations (other backends, and the reference of the tests):
/// `w_c = (wp − wn)·coef` with [`plane_coefs`], then `ste_clamp_round(w_c·l, l)·(s/l)`.
pub(crate) fn planes_formula(wp: Tensor<2>, wn: Tensor<2>, s: Tensor<1>, n: u8, scale_store: f32) -> Tensor<1> {
    let s = s / scale_store;
    let l = levels(n);
    let numel = wp.dims()[0];
    let coef = Tensor::<2>::from_data(TensorData::new(plane_coefs(n), [n as usize, 1]), &s.device());
    let wc: Tensor<1> = (wp - wn).matmul(coef).reshape([numel]);
    ste_clamp_round(wc * l, l) * (s / l)
}

/// [`crate::cpu_ops::group_lasso`] as tensor operations (other backends, and the reference of the tests).
pub(crate) fn group_lasso_formula(wp: Tensor<2>, wn: Tensor<2>, eps: f32) -> Tensor<1> {
    let g = (wp.clone() * wp + wn.clone() * wn).sum_dim(0) + eps;
    g.sqrt().sum()
}

/// The integer form of a quantized weight: `k ∈ [−(2^n−1), 2^n−1]`, real weight `scale·k/(2^n−1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntWeight {
    /// Magnitude bits.
    pub bits: u8,
    /// Scale `s`.
    pub scale: f32,
    /// Integers.
    pub k: Vec<i32>,
}

impl IntWeight {
    /// Real values `s·k/(2^n−1)` (all zero for `n = 0`).
    pub fn real(&self) -> Vec<f32> {
        if self.bits == 0 {
            return vec![0.0; self.k.len()];
        }
        let l = levels(self.bits);
        self.k.iter().map(|&k| self.scale * k as f32 / l).collect()
    }
}

/// Initial decomposition of float weights into `n`-bit integers: `S = max|W|`,
/// `k = round(W·(2^n−1)/S)` (an all-zero tensor gives a 0-bit weight).
pub fn decompose(w: &[f32], n: u8) -> IntWeight {
    let s = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    if s == 0.0 || n == 0 {
        return IntWeight { bits: 0, scale: 1.0, k: vec![0; w.len()] };
    }
    let l = levels(n);
    IntWeight { bits: n, scale: s, k: w.iter().map(|v| (v * l / s).round() as i32).collect() }
}

/// Splits integers into sign-separated binary planes `[numel, n]` (MSB first): each element has its bits
/// in `Wp` or in `Wn`, never both.
pub fn split_planes(k: &[i32], n: u8) -> (Vec<f32>, Vec<f32>) {
    let n = n as usize;
    let mut wp = vec![0f32; k.len() * n];
    let mut wn = vec![0f32; k.len() * n];
    for (e, &v) in k.iter().enumerate() {
        let m = v.unsigned_abs();
        let dst = if v >= 0 { &mut wp } else { &mut wn };
        for i in 0..n {
            if (m >> (n - 1 - i)) & 1 == 1 {
                dst[e * n + i] = 1.0;
            }
        }
    }
    (wp, wn)
}

/// Re-quantization and precision adjustment of bit planes (`[numel, n]` each, values in `[0, 2]`) with
/// scale `s`:
///
/// 1. re-round the summed value `Σ_i (Wp_i − Wn_i)·2^(n−1−i)` to integers `k`;
/// 2. if some `|k| > 2^n−1`, carry into one extra bit (at most [`MAX_BITS`]; beyond, clamp), rescaling `s`
///    so that `s·k/(2^n−1)` is unchanged;
/// 3. drop all-zero MSB planes (`max|k| < 2^(n−1)`) and all-zero LSB planes (all `k` even: `k/2`), each
///    time rescaling `s` so that every represented value stays the same;
/// 4. all zero → one all-zero 1-bit plane whose scale is the old LSB step `s/(2^n−1)`, as the official
///    code does during BSQ (its MSB removal stops at one bit): the plane stays trainable and the layer can
///    regrow. Finetuning ([`QWeight::to_fixed`]) turns such a layer into a 0-bit layer.
pub fn requantize(wp: &[f32], wn: &[f32], n: u8, s: f32) -> IntWeight {
    let nn = n as usize;
    let numel = wp.len().checked_div(nn).unwrap_or(0);
    let mut k: Vec<i64> = (0..numel)
        .map(|e| {
            let mut acc = 0f64;
            for i in 0..nn {
                acc += (wp[e * nn + i] - wn[e * nn + i]) as f64 * (1u64 << (nn - 1 - i)) as f64;
            }
            acc.round() as i64
        })
        .collect();
    let mut bits = n;
    // Real value of one integer step.
    let mut step = if n == 0 { 0.0 } else { s as f64 / levels(n) as f64 };
    let max = k.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    if bits > 0 && max > (1u64 << bits) - 1 {
        if bits < MAX_BITS {
            bits += 1;
        }
        let lim = (1i64 << bits) - 1;
        for v in &mut k {
            *v = (*v).clamp(-lim, lim);
        }
    }
    if bits == 0 {
        return IntWeight { bits: 0, scale: 1.0, k: vec![0; numel] };
    }
    if k.iter().all(|&v| v == 0) {
        return IntWeight { bits: 1, scale: step as f32, k: vec![0; numel] };
    }
    // Drop all-zero LSB planes.
    while bits > 1 && k.iter().all(|v| v % 2 == 0) {
        for v in &mut k {
            *v /= 2;
        }
        step *= 2.0;
        bits -= 1;
    }
    // Drop all-zero MSB planes.
    let max = k.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    while bits > 1 && max < (1u64 << (bits - 1)) {
        bits -= 1;
    }
    IntWeight { bits, scale: (step * ((1u64 << bits) - 1) as f64) as f32, k: k.into_iter().map(|v| v as i32).collect() }
}

impl QWeight {
    /// A float weight from values (in the layer's Burn order).
    pub fn float(values: Vec<f32>, device: &Device) -> Self {
        let numel = values.len();
        QWeight {
            w: Some(param1(values, device)),
            wp: None,
            wn: None,
            s: param1(vec![1.0], device),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Float,
            numel,
        }
    }

    /// A weight in the given integer form, as bit planes (`bsq = true`) or as a fixed-scheme shadow, with
    /// the scale stored as `16·s` (see [`QWeight::with_scale_store`]).
    pub fn from_int(iw: &IntWeight, bsq: bool, device: &Device) -> Self {
        Self::from_int_as(iw, if bsq { Form::Bsq } else { Form::Shadow }, SCALE_STORE_X16, device)
    }

    /// A weight in the given integer form and [`Form`], its scale stored as `scale_store·s`.
    pub fn from_int_as(iw: &IntWeight, form: Form, scale_store: f32, device: &Device) -> Self {
        let numel = iw.k.len();
        let s = param1(vec![iw.scale * scale_store], device);
        let q = QWeight { w: None, wp: None, wn: None, s, scale_store, mode: WMode::Zero, numel };
        if iw.bits == 0 {
            return q;
        }
        match form {
            Form::Bsq => {
                let (p, n) = split_planes(&iw.k, iw.bits);
                let b = iw.bits as usize;
                QWeight {
                    wp: Some(param2(p, numel, b, device)),
                    wn: Some(param2(n, numel, b, device)),
                    mode: WMode::Bsq(iw.bits),
                    ..q
                }
            }
            Form::Shadow => QWeight { w: Some(param1(iw.real(), device)), mode: WMode::Fixed(iw.bits), ..q },
            Form::Latent => {
                let l = levels(iw.bits);
                let u = iw.k.iter().map(|&k| k as f32 / l).collect();
                QWeight { w: Some(param1(u, device)), mode: WMode::Latent(iw.bits), ..q }
            }
        }
    }

    /// The same weight with its scale parameter stored as `scale_store·s` (the same `s`, a new parameter).
    pub fn with_scale_store(self, scale_store: f32) -> Self {
        if scale_store == self.scale_store {
            return self;
        }
        let s = to_vec(self.s.val())[0] / self.scale_store;
        let dev = self.s.device();
        QWeight { s: param1(vec![s * scale_store], &dev), scale_store, ..self }
    }

    /// A placeholder of the right parameter shapes for `mode` (to load a checkpoint into).
    pub fn placeholder(numel: usize, mode: WMode, scale_store: f32, device: &Device) -> Self {
        let int = |bits: u8, k: i32| IntWeight { bits, scale: 1.0, k: vec![k; numel] };
        match mode {
            WMode::Float => Self::float(vec![0.0; numel], device),
            WMode::Zero => Self::from_int_as(&int(0, 0), Form::Shadow, scale_store, device),
            WMode::Bsq(n) => Self::from_int_as(&int(n, 1), Form::Bsq, scale_store, device),
            WMode::Fixed(n) => Self::from_int_as(&int(n, 1), Form::Shadow, scale_store, device),
            WMode::Latent(n) => Self::from_int_as(&int(n, 1), Form::Latent, scale_store, device),
        }
    }

    /// The effective (fake-quantized) weight `[numel]`, differentiable with straight-through rounding.
    ///
    /// The scale enters only the modes that use it: an op on a parameter whose result is dropped stays in
    /// Burn's autodiff graph for good (the parameter's live node keeps its graph from being cleaned), and the
    /// clean-up after every backward then walks a graph that grows by one node per layer and step.
    pub fn weight(&self) -> Tensor<1> {
        let s = || self.s.val() / self.scale_store;
        match self.mode {
            WMode::Float => self.w.as_ref().expect("float weight").val(),
            WMode::Zero => Tensor::zeros([self.numel], &self.s.val().device()),
            WMode::Bsq(n) => crate::cpu_ops::bsq_weight(
                self.wp.as_ref().expect("wp").val(),
                self.wn.as_ref().expect("wn").val(),
                self.s.val(),
                n,
                self.scale_store,
            ),
            WMode::Fixed(n) => {
                let (l, s) = (levels(n), s());
                let w = self.w.as_ref().expect("shadow weight").val();
                ste_round((w / s.clone()).clamp(-1.0, 1.0) * l) * (s / l)
            }
            WMode::Latent(n) => {
                let l = levels(n);
                let u = self.w.as_ref().expect("latent weight").val();
                ste_round(u.clamp(-1.0, 1.0) * l) / l * s()
            }
        }
    }

    /// Whether it takes part in the regularizer (bit planes).
    pub fn is_bsq(&self) -> bool {
        matches!(self.mode, WMode::Bsq(_))
    }

    /// `B_GL = Σ_b sqrt(ε + Σ (Wp_b² + Wn_b²))` (a `[1]` tensor), or `None` outside BSQ mode.
    pub fn group_lasso(&self) -> Option<Tensor<1>> {
        Some(crate::cpu_ops::group_lasso(self.wp.as_ref()?.val(), self.wn.as_ref()?.val(), GL_EPS))
    }

    /// Clamps bit planes to `[0, 2]` (after an optimizer step), keeping parameter ids and trainability.
    pub fn clamp_bits(self) -> Self {
        let w = match self.mode {
            WMode::Latent(_) => self.w.map(|p| clamp_param(p, -1.0, 1.0)),
            _ => self.w,
        };
        let planes = |p| clamp_param(p, 0.0, 2.0);
        QWeight { wp: self.wp.map(planes), wn: self.wn.map(planes), w, ..self }
    }

    /// The current integer form: re-quantized planes in BSQ mode (see [`requantize`]), rounded shadow in
    /// fixed mode, `decompose(·, 8)` of float weights.
    ///
    /// The scale is trainable and may cross zero: a negative `s` is returned as `|s|` with every `k` negated
    /// (the same real weights), and `s = 0` as a 0-bit weight.
    pub fn int_weight(&self) -> IntWeight {
        let mut iw = self.int_weight_raw();
        if iw.scale < 0.0 {
            iw.scale = -iw.scale;
            iw.k.iter_mut().for_each(|k| *k = -*k);
        }
        if iw.bits > 0 && !(iw.scale > 0.0 && iw.scale.is_finite()) {
            return IntWeight { bits: 0, scale: 1.0, k: vec![0; iw.k.len()] };
        }
        iw
    }

    fn int_weight_raw(&self) -> IntWeight {
        let s = to_vec(self.s.val())[0] / self.scale_store;
        match self.mode {
            WMode::Zero => IntWeight { bits: 0, scale: 1.0, k: vec![0; self.numel] },
            WMode::Float => decompose(&to_vec(self.w.as_ref().expect("w").val()), MAX_BITS),
            WMode::Bsq(n) => {
                let wp = to_vec(self.wp.as_ref().expect("wp").val());
                let wn = to_vec(self.wn.as_ref().expect("wn").val());
                requantize(&wp, &wn, n, s)
            }
            WMode::Fixed(n) => {
                let l = levels(n);
                let w = to_vec(self.w.as_ref().expect("w").val());
                let k = w.iter().map(|v| ((v / s).clamp(-1.0, 1.0) * l).round() as i32).collect();
                IntWeight { bits: n, scale: s, k }
            }
            WMode::Latent(n) => {
                let l = levels(n);
                let u = to_vec(self.w.as_ref().expect("u").val());
                IntWeight { bits: n, scale: s, k: u.iter().map(|v| (v.clamp(-1.0, 1.0) * l).round() as i32).collect() }
            }
        }
    }

    /// Re-quantizes and adjusts precision (BSQ mode): new binary planes with new parameter ids.
    /// Other modes are returned unchanged.
    pub fn requantized(self) -> Self {
        if !self.is_bsq() {
            return self;
        }
        let dev = self.s.device();
        Self::from_int_as(&self.int_weight(), Form::Bsq, self.scale_store, &dev)
    }

    /// Switches to the fixed scheme (finetuning) in `form` ([`Form::Shadow`] or [`Form::Latent`]): the
    /// weight starts at the current quantized value. A layer whose weights are all zero (the all-zero bit
    /// plane kept during BSQ, see [`requantize`]) becomes a 0-bit layer here, as in the official code.
    pub fn to_fixed(self, form: Form) -> Self {
        let dev = self.s.device();
        match self.mode {
            WMode::Bsq(_) => {
                let iw = self.int_weight();
                if iw.k.iter().all(|&k| k == 0) {
                    return Self::from_int_as(
                        &IntWeight { bits: 0, scale: 1.0, k: iw.k },
                        form,
                        self.scale_store,
                        &dev,
                    );
                }
                Self::from_int_as(&iw, form, self.scale_store, &dev)
            }
            _ => self,
        }
    }

    /// Starts BSQ from the current float weights with a `bits`-bit decomposition.
    pub fn to_bsq(self, bits: u8) -> Self {
        let dev = self.s.device();
        match self.mode {
            WMode::Float => {
                let iw = decompose(&to_vec(self.w.as_ref().expect("w").val()), bits);
                Self::from_int_as(&iw, Form::Bsq, self.scale_store, &dev)
            }
            _ => self,
        }
    }

    /// Quantizes float weights to a fixed `bits` scheme in `form` (e.g. 8-bit layers kept outside BSQ).
    pub fn to_fixed_bits(self, bits: u8, form: Form) -> Self {
        let dev = self.s.device();
        match self.mode {
            WMode::Float => {
                let iw = decompose(&to_vec(self.w.as_ref().expect("w").val()), bits);
                Self::from_int_as(&iw, form, self.scale_store, &dev)
            }
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::flex().autodiff()
    }

    /// The CPU loop of `round_half_away` and of the straight-through corrections gives the tensor formula's
    /// bits, on ties, on the f32 quirk just below 0.5, beyond 2^23 (where `|x| + 0.5` rounds to even) and
    /// 2^31 (where the `i32` conversion saturates), on signed zeros, infinities and 20,000 seeded values.
    #[test]
    fn cpu_rounding_matches_the_tensor_formula_bit_for_bit() {
        let mut v = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.49999997,
            -0.49999997,
            8_388_609.0,
            -8_388_611.0,
            16_777_217.0,
            2_147_483_520.0,
            2_147_483_648.0,
            -3.0e9,
            1.0e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let mut rng = crate::data::Rng::new(7);
        v.extend((0..20_000).map(|i| {
            let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            u * [1.0, 300.0, 1.0e7][i % 3]
        }));
        let dev = Device::flex();
        let t = || Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &dev);
        assert!(on_cpu(&t()), "the CPU loop is taken on Flex");
        let formula = |x: Tensor<1>| x.clone().sign() * (x.abs() + 0.5).floor();
        let bits = |x: Tensor<1>| to_vec(x).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let (a, b) = (bits(round_half_away(t())), bits(formula(t())));
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(first.is_none(), "at {:?}: {:?}", first.map(|i| v[i]), first.map(|i| (a[i], b[i])));
        for lim in [None, Some(255.0)] {
            let c = ste_correction(t(), lim);
            let clamped = match lim {
                Some(l) => t().clamp(-l, l),
                None => t(),
            };
            let expect = formula(clamped) - t();
            // NaN − NaN aside (infinite inputs), the corrections agree bit for bit.
            let (a, b) = (to_vec(c), to_vec(expect));
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{lim:?} at {}: {x} vs {y}", v[i]);
            }
        }
    }

    #[test]
    fn decompose_and_split_are_exact() {
        let iw = decompose(&[0.5, -1.0, 0.25, 0.0], 8);
        assert_eq!(iw.scale, 1.0);
        assert_eq!(iw.k, vec![128, -255, 64, 0]);
        let (p, n) = split_planes(&[5, -3], 3);
        assert_eq!(p, vec![1., 0., 1., 0., 0., 0.]);
        assert_eq!(n, vec![0., 0., 0., 0., 1., 1.]);
    }

    #[test]
    fn bsq_forward_and_ste_gradients_match_hand_computation() {
        let d = dev();
        // n = 2: w_c = (2·(wp0−wn0) + (wp1−wn1)) / 3, s = 0.6.
        let q = QWeight {
            w: None,
            wp: Some(param2(vec![1.0, 0.4, 0.0, 0.0], 2, 2, &d)),
            wn: Some(param2(vec![0.0, 0.0, 0.0, 1.0], 2, 2, &d)),
            s: param1(vec![0.6 * SCALE_STORE_X16], &d),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Bsq(2),
            numel: 2,
        };
        let w = q.weight();
        // e0: (2 + 0.4) = 2.4 → round 2 → 0.6·2/3 = 0.4 ; e1: −1 → 0.6·(−1)/3 = −0.2
        let v = to_vec(w.clone());
        assert!((v[0] - 0.4).abs() < 1e-6 && (v[1] + 0.2).abs() < 1e-6, "{v:?}");
        // L = 1·w0 + 2·w1: dL/dwp[e,i] = c_e·s·2^(1−i)/3 ; dL/ds = Σ c_e·k_e/3 = (2 − 2)/3 = 0.
        let g = (w * Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &d)).sum().backward();
        let gp = to_vec(q.wp.as_ref().unwrap().val().grad(&g).unwrap());
        let gn = to_vec(q.wn.as_ref().unwrap().val().grad(&g).unwrap());
        let gs = to_vec(q.s.val().grad(&g).unwrap());
        let e = [0.4f32, 0.2, 0.8, 0.4];
        for i in 0..4 {
            assert!((gp[i] - e[i]).abs() < 1e-6, "gp {gp:?}");
            assert!((gn[i] + e[i]).abs() < 1e-6, "gn {gn:?}");
        }
        assert!(gs[0].abs() < 1e-6, "gs {gs:?}");
    }

    #[test]
    fn ste_gradient_passes_straight_through_the_clamp() {
        let d = dev();
        // n = 2, s = 1: w_c = (2·2 + 1·2)/3 = 2, clamped to 1 → k = round(1·3) = 3, w = 1·3/3 = 1.
        let q = QWeight {
            w: None,
            wp: Some(param2(vec![2.0, 2.0], 1, 2, &d)),
            wn: Some(param2(vec![0.0, 0.0], 1, 2, &d)),
            s: param1(vec![1.0 * SCALE_STORE_X16], &d),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Bsq(2),
            numel: 1,
        };
        let w = q.weight();
        assert!((to_vec(w.clone())[0] - 1.0).abs() < 1e-6);
        let g = w.sum().backward();
        // Official bit_STE: ∂w/∂w_c = s = 1 even though w_c = 2 is clamped, so
        // ∂L/∂Wp_i = s·2^(n−1−i)/(2^n−1) = [2/3, 1/3] and ∂L/∂Wn_i = −[2/3, 1/3].
        let gp = to_vec(q.wp.as_ref().unwrap().val().grad(&g).unwrap());
        let gn = to_vec(q.wn.as_ref().unwrap().val().grad(&g).unwrap());
        let want = [2.0 / 3.0, 1.0 / 3.0];
        for i in 0..2 {
            assert!((gp[i] - want[i]).abs() < 1e-6, "gp {gp:?}");
            assert!((gn[i] + want[i]).abs() < 1e-6, "gn {gn:?}");
        }
        // dL/ds = k/(2^n−1) = 1 (the clamped, rounded value), and the stored parameter is 16·s.
        assert!((to_vec(q.s.val().grad(&g).unwrap())[0] - 1.0 / SCALE_STORE_X16).abs() < 1e-6);
        // Below the clamp too: Wn = [2, 1] → w_c = −5/3 → k = −3, w = −1; the same gradients.
        let q = QWeight {
            w: None,
            wp: Some(param2(vec![0.0, 0.0], 1, 2, &d)),
            wn: Some(param2(vec![2.0, 1.0], 1, 2, &d)),
            s: param1(vec![0.5 * SCALE_STORE_X16], &d),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Bsq(2),
            numel: 1,
        };
        let w = q.weight();
        assert!((to_vec(w.clone())[0] + 0.5).abs() < 1e-6);
        let g = w.sum().backward();
        let gp = to_vec(q.wp.as_ref().unwrap().val().grad(&g).unwrap());
        // s = 0.5: [0.5·2/3, 0.5·1/3].
        assert!((gp[0] - 1.0 / 3.0).abs() < 1e-6 && (gp[1] - 1.0 / 6.0).abs() < 1e-6, "gp {gp:?}");
    }

    #[test]
    fn group_lasso_value_and_gradient() {
        let d = dev();
        let q = QWeight {
            w: None,
            wp: Some(param2(vec![3.0, 0.0, 0.0, 1.0], 2, 2, &d)),
            wn: Some(param2(vec![0.0, 0.0, 4.0, 0.0], 2, 2, &d)),
            s: param1(vec![1.0 * SCALE_STORE_X16], &d),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Bsq(2),
            numel: 2,
        };
        // plane 0: sqrt(ε + 9 + 16) = 5 ; plane 1: sqrt(ε + 1) = 1 → 6.
        let r = q.group_lasso().unwrap();
        assert!((to_vec(r.clone())[0] - 6.0).abs() < 1e-5);
        let g = r.backward();
        let gp = to_vec(q.wp.as_ref().unwrap().val().grad(&g).unwrap());
        let gn = to_vec(q.wn.as_ref().unwrap().val().grad(&g).unwrap());
        // d/dx sqrt(Σx²) = x / norm.
        let want_p = [0.6, 0.0, 0.0, 1.0];
        let want_n = [0.0, 0.0, 0.8, 0.0];
        for i in 0..4 {
            assert!((gp[i] - want_p[i]).abs() < 1e-5 && (gn[i] - want_n[i]).abs() < 1e-5, "{gp:?} {gn:?}");
        }
    }

    #[test]
    fn clamp_bits_keeps_ids_and_trainability() {
        let d = dev();
        let q = QWeight {
            w: None,
            wp: Some(param2(vec![-0.5, 2.5], 1, 2, &d)),
            wn: Some(param2(vec![1.0, 0.3], 1, 2, &d)),
            s: param1(vec![1.0 * SCALE_STORE_X16], &d),
            scale_store: SCALE_STORE_X16,
            mode: WMode::Bsq(2),
            numel: 1,
        };
        let id = q.wp.as_ref().unwrap().id;
        let q = q.clamp_bits();
        assert_eq!(q.wp.as_ref().unwrap().id, id);
        assert_eq!(to_vec(q.wp.as_ref().unwrap().val()), vec![0.0, 2.0]);
        assert!(q.wp.as_ref().unwrap().val().is_require_grad());
        let g = q.weight().sum().backward();
        assert!(q.wp.as_ref().unwrap().val().grad(&g).is_some());
    }

    fn check_same_values(before: &[f32], after: &IntWeight) {
        let r = after.real();
        for (a, b) in before.iter().zip(&r) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{before:?} vs {r:?}");
        }
    }

    #[test]
    fn requantize_carries_into_an_extra_bit() {
        // n = 2, s = 3 (step 1): planes [2, 2] → 2·2 + 2 = 6 > 3 → 3 bits, k = 6, value 6.
        let iw = requantize(&[2.0, 2.0, 0.0, 1.0], &[0.0; 4], 2, 3.0);
        // 6 and 1: no LSB drop (1 is odd), no MSB drop (6 ≥ 4).
        assert_eq!(iw.bits, 3);
        assert_eq!(iw.k, vec![6, 1]);
        assert!((iw.scale - 7.0).abs() < 1e-6);
        check_same_values(&[6.0, 1.0], &iw);
    }

    #[test]
    fn requantize_at_8_bits_clamps_instead_of_carrying() {
        let mut wp = vec![1.0; 8];
        wp[0] = 2.0;
        let iw = requantize(&wp, &[0.0; 8], 8, 255.0);
        assert_eq!(iw.bits, 8);
        assert_eq!(iw.k, vec![255]);
    }

    #[test]
    fn dropping_msb_and_lsb_planes_keeps_values() {
        // n = 4, s = 15 (step 1): k = [4, −2, 0] → LSB drop: [2, −1, 0] at 3 bits, step 2 → MSB drop: 2 bits.
        let (p, n) = split_planes(&[4, -2, 0], 4);
        let before = IntWeight { bits: 4, scale: 15.0, k: vec![4, -2, 0] }.real();
        let iw = requantize(&p, &n, 4, 15.0);
        assert_eq!(iw.bits, 2);
        assert_eq!(iw.k, vec![2, -1, 0]);
        check_same_values(&before, &iw);
        // Fractional planes are re-rounded: 0.6 + 0.3·… → integers.
        let iw = requantize(&[0.6, 0.0, 0.0, 0.9], &[0.0, 0.0, 0.0, 0.0], 2, 3.0);
        assert_eq!(iw.k, vec![1, 1]);
        assert_eq!(iw.bits, 1);
        check_same_values(&[1.0, 1.0], &iw);
    }

    #[test]
    fn negative_trained_scale_exports_as_positive_scale_and_negated_integers() {
        let d = dev();
        let q = QWeight::from_int(&IntWeight { bits: 2, scale: -0.3, k: vec![3, -1, 0] }, true, &d);
        let before = to_vec(q.weight());
        let iw = q.int_weight();
        assert!(iw.scale > 0.0);
        assert_eq!(iw.k, vec![-3, 1, 0]);
        check_same_values(&before, &iw);
    }

    #[test]
    fn all_zero_layer_keeps_one_trainable_zero_plane_during_bsq_and_is_dropped_at_finetune() {
        // n = 2, s = 1: sums 2·0.2 + 0.1 − 2·0.1 = 0.3 → 0 and −2·0.2 + 0.3 = −0.1 → 0: all zero.
        let iw = requantize(&[0.2, 0.1, 0.0, 0.3], &[0.1, 0.0, 0.2, 0.0], 2, 1.0);
        // One 1-bit plane, all zero, whose scale is the old LSB step s/(2^2−1) = 1/3.
        assert_eq!(iw.bits, 1);
        assert_eq!(iw.k, vec![0, 0]);
        assert!((iw.scale - 1.0 / 3.0).abs() < 1e-7, "{}", iw.scale);
        let d = dev();
        let q = QWeight::from_int(&iw, true, &d);
        assert_eq!(q.mode, WMode::Bsq(1));
        assert_eq!(to_vec(q.weight()), vec![0.0, 0.0]);
        // It is still regularized: one group, sqrt(ε + 0) = 1e-4.
        assert!((to_vec(q.group_lasso().unwrap())[0] - 1e-4).abs() < 1e-7);
        // And trainable: L = 1·w0 + 2·w1, ∂w/∂Wp = s·2^0/(2^1−1) = 1/3 → ∂L/∂Wp = [1/3, 2/3].
        let w = q.weight();
        let g = (w * Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &d)).sum().backward();
        let gp = to_vec(q.wp.as_ref().unwrap().val().grad(&g).unwrap());
        let gn = to_vec(q.wn.as_ref().unwrap().val().grad(&g).unwrap());
        assert!((gp[0] - 1.0 / 3.0).abs() < 1e-6 && (gp[1] - 2.0 / 3.0).abs() < 1e-6, "gp {gp:?}");
        assert!((gn[0] + 1.0 / 3.0).abs() < 1e-6 && (gn[1] + 2.0 / 3.0).abs() < 1e-6, "gn {gn:?}");
        // Regrowth: a plane that grew to 0.6 rounds to 1 → weight s·1 = 1/3, and re-quantization keeps it.
        let grown = requantize(&[0.6, 0.0], &[0.0, 0.0], 1, 1.0 / 3.0);
        assert_eq!((grown.bits, grown.k.clone()), (1, vec![1, 0]));
        check_same_values(&[1.0 / 3.0, 0.0], &grown);
        // Finetuning drops the all-zero plane: a 0-bit layer.
        let f = q.requantized().to_fixed(Form::Shadow);
        assert_eq!(f.mode, WMode::Zero);
        assert_eq!(to_vec(f.weight()), vec![0.0, 0.0]);
        assert!(f.group_lasso().is_none());
        // A layer that regrew stays 1-bit at finetune.
        let f = QWeight::from_int(&grown, true, &d).to_fixed(Form::Shadow);
        assert_eq!(f.mode, WMode::Fixed(1));
    }

    #[test]
    fn requantized_weight_gets_new_parameter_ids_and_same_forward() {
        let d = dev();
        let q = QWeight::float(vec![0.3, -0.7, 0.05, 0.0], &d).to_bsq(8);
        let before = to_vec(q.weight());
        let id = q.wp.as_ref().unwrap().id;
        let q2 = q.requantized();
        assert_ne!(q2.wp.as_ref().unwrap().id, id);
        let after = to_vec(q2.weight());
        for (a, b) in before.iter().zip(&after) {
            assert!((a - b).abs() < 1e-6, "{before:?} {after:?}");
        }
        let f = q2.to_fixed(Form::Shadow);
        let fixed = to_vec(f.weight());
        for (a, b) in before.iter().zip(&fixed) {
            assert!((a - b).abs() < 1e-6, "{before:?} {fixed:?}");
        }
    }

    #[test]
    fn latent_finetune_forward_and_gradients_by_hand() {
        let d = dev();
        // n = 2 (3 levels), s = 0.6 stored as itself: u = [0.5, −1, 0.2] → Q(u) = round(3u)/3 = [2/3, −1, 1/3]
        // (round half away from zero: 1.5 → 2), w = s·Q(u) = [0.4, −0.6, 0.2].
        let iw = IntWeight { bits: 2, scale: 0.6, k: vec![2, -3, 1] };
        let q = QWeight::from_int_as(&iw, Form::Latent, SCALE_STORE_OFFICIAL, &d);
        assert_eq!(q.mode, WMode::Latent(2));
        assert_eq!(to_vec(q.w.as_ref().unwrap().val()), vec![2.0 / 3.0, -1.0, 1.0 / 3.0]);
        let q = QWeight { w: Some(param1(vec![0.5, -1.0, 0.2], &d)), ..q };
        let w = q.weight();
        let v = to_vec(w.clone());
        for (a, b) in v.iter().zip([0.4f32, -0.6, 0.2]) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        // L = 1·w0 + 2·w1 + 3·w2: ∂L/∂u = c·s (straight through the rounding) = [0.6, 1.2, 1.8];
        // ∂L/∂s = Σ c·Q(u) = 2/3 − 2 + 1 = −1/3 (the official gradient: the quantized value).
        let c = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [3]), &d);
        let g = (w * c).sum().backward();
        let gu = to_vec(q.w.as_ref().unwrap().val().grad(&g).unwrap());
        for (a, b) in gu.iter().zip([0.6f32, 1.2, 1.8]) {
            assert!((a - b).abs() < 1e-6, "gu {gu:?}");
        }
        let gs = to_vec(q.s.val().grad(&g).unwrap())[0];
        assert!((gs + 1.0 / 3.0).abs() < 1e-6, "gs {gs}");
        // The integer form is the rounded latent weight at the same scale.
        let back = q.int_weight();
        assert_eq!((back.bits, back.k.clone()), (2, vec![2, -3, 1]));
        assert!((back.scale - 0.6).abs() < 1e-6);
        // After an optimizer step the latent weight is clamped back into [−1, 1], keeping its id.
        let q = QWeight { w: Some(param1(vec![1.4, -2.0, 0.2], &d)), ..q };
        let id = q.w.as_ref().unwrap().id;
        let q = q.clamp_bits();
        assert_eq!(to_vec(q.w.as_ref().unwrap().val()), vec![1.0, -1.0, 0.2]);
        assert_eq!(q.w.as_ref().unwrap().id, id);
        assert!(q.w.as_ref().unwrap().val().is_require_grad());
    }

    #[test]
    fn scale_store_changes_the_parameter_not_the_weight() {
        let d = dev();
        let iw = IntWeight { bits: 3, scale: 0.7, k: vec![7, -2, 0, 5] };
        let c = || Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0], [4]), &d);
        let x16 = QWeight::from_int(&iw, true, &d);
        assert_eq!(x16.scale_store, SCALE_STORE_X16);
        assert!((to_vec(x16.s.val())[0] - 0.7 * 16.0).abs() < 1e-5);
        let official = x16.clone().with_scale_store(SCALE_STORE_OFFICIAL);
        assert!((to_vec(official.s.val())[0] - 0.7).abs() < 1e-6);
        assert_eq!(to_vec(official.weight()), to_vec(x16.weight()));
        // ∂L/∂s = Σ c·k/7 = (7 + 4 + 0 + 15)/7 = 26/7: the official parameter gets it, the ×16 one 1/16 of it.
        let g1 = official.weight().mul(c()).sum().backward();
        let g16 = x16.weight().mul(c()).sum().backward();
        let (a, b) = (to_vec(official.s.val().grad(&g1).unwrap())[0], to_vec(x16.s.val().grad(&g16).unwrap())[0]);
        assert!((a - 26.0 / 7.0).abs() < 1e-5 && (b - 26.0 / 7.0 / 16.0).abs() < 1e-5, "{a} {b}");
        // The store follows re-quantization and finetuning, and a placeholder takes it from the config.
        assert_eq!(official.clone().requantized().scale_store, SCALE_STORE_OFFICIAL);
        let f = official.to_fixed(Form::Latent);
        assert_eq!((f.mode, f.scale_store), (WMode::Latent(3), SCALE_STORE_OFFICIAL));
        assert_eq!(f.int_weight(), iw);
        let p = QWeight::placeholder(4, WMode::Latent(3), SCALE_STORE_OFFICIAL, &d);
        assert_eq!((p.mode, p.scale_store), (WMode::Latent(3), SCALE_STORE_OFFICIAL));
    }
}
