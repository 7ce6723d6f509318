//! The cases: a small self-test suite every machine runs, and the single-layer benchmark cases (the
//! shapes of DESIGN §7 at every weight width). All data comes from [`Rng`] seeded by the case name.

use crate::case::{CaseDef, LayerDef, OpDef, Params};
use crate::rng::Rng;
use bsq_runtime::pack::max_magnitude;
use bsq_runtime::{Conv2dShape, GroupedConv2dShape, PoolShape, Requant};

/// `multiplier · 2^shift / 2^31 ≈ num / den` (both > 0), multiplier in `[2^30, 2^31)`.
pub fn requant_for_ratio(num: u64, den: u64) -> Requant {
    let (mut n, mut d, mut shift) = (num.max(1) as u128, den.max(1) as u128, 0i32);
    while n >= d {
        d *= 2;
        shift += 1;
    }
    while 2 * n < d {
        n *= 2;
        shift -= 1;
    }
    let mut m = (n * (1u128 << 31) + d / 2) / d;
    if m == 1u128 << 31 {
        m = 1 << 30;
        shift += 1;
    }
    Requant { multiplier: m as i32, shift: shift.clamp(-31, 30) as i8 }
}

fn isqrt(x: u64) -> u64 {
    let mut r = (x as f64).sqrt() as u64;
    while r * r > x {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

/// Random layer parameters whose requantization spreads typical accumulators over the output range.
/// `in_max`: the largest input activation.
pub fn params(rng: &mut Rng, bits: u8, rows: usize, row_len: usize, in_max: i32, out_bits: u8, signed: bool) -> Params {
    let m = max_magnitude(bits);
    let weights = (0..rows * row_len).map(|_| if rng.int(0, 7) == 0 { 0 } else { rng.int(-m, m) }).collect();
    let acc_scale = (isqrt(row_len as u64).max(1) * m.max(1) as u64 * in_max.max(1) as u64 / 3).max(1);
    let half_range = if signed { 1u64 << (out_bits - 1) } else { (1u64 << out_bits) - 1 } / 2 + 1;
    let bias_max = (acc_scale / 4).min(1 << 20) as i32;
    let bias = (0..rows).map(|_| rng.int(-bias_max, bias_max)).collect();
    let requant = (0..rows).map(|c| requant_for_ratio(8 * half_range, acc_scale * (8 + (c % 3) as u64))).collect();
    Params { bits, rows, row_len, weights, bias, requant, out_bits, signed }
}

fn out_max(p: &Params) -> i32 {
    if p.signed { (1 << (p.out_bits - 1)) - 1 } else { (1 << p.out_bits) - 1 }
}

/// A convolution layer; returns it and its largest output value.
#[allow(clippy::too_many_arguments)]
fn conv(
    rng: &mut Rng,
    name: &str,
    shape: Conv2dShape,
    bits: u8,
    in_max: i32,
    out_bits: u8,
    signed: bool,
) -> (LayerDef, i32) {
    let p = params(rng, bits, shape.out_c, shape.row_len(), in_max, out_bits, signed);
    let max = out_max(&p);
    (LayerDef { name: name.into(), op: OpDef::Conv2d(shape, p) }, max)
}

#[allow(clippy::too_many_arguments)]
fn dense(
    rng: &mut Rng,
    name: &str,
    bits: u8,
    n_in: usize,
    n_out: usize,
    in_max: i32,
    out_bits: u8,
    signed: bool,
) -> (LayerDef, i32) {
    let p = params(rng, bits, n_out, n_in, in_max, out_bits, signed);
    let max = out_max(&p);
    (LayerDef { name: name.into(), op: OpDef::Dense(p) }, max)
}

#[allow(clippy::too_many_arguments)]
fn shape(
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_c: usize,
    k: (usize, usize),
    s: (usize, usize),
    pad: [usize; 4],
) -> Conv2dShape {
    Conv2dShape {
        in_h,
        in_w,
        in_c,
        out_c,
        k_h: k.0,
        k_w: k.1,
        stride_h: s.0,
        stride_w: s.1,
        pad_top: pad[0],
        pad_left: pad[1],
        pad_bottom: pad[2],
        pad_right: pad[3],
    }
}

/// A depthwise 3×3 layer, padding 1, stride `s`, on an `h × w × c` input (8-bit unsigned in and out).
fn depthwise(rng: &mut Rng, bits: u8, (h, w, c): (usize, usize, usize), s: usize) -> LayerDef {
    let g = shape(h, w, c, c, (3, 3), (s, s), [1; 4]);
    let p = params(rng, bits, c, 9, 255, 8, false);
    let g = GroupedConv2dShape {
        in_h: g.in_h,
        in_w: g.in_w,
        in_c: c,
        out_c: c,
        groups: c,
        k_h: 3,
        k_w: 3,
        stride_h: s,
        stride_w: s,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    };
    LayerDef { name: "dw".into(), op: OpDef::GroupedConv2d(g, p) }
}

fn pool(in_h: usize, in_w: usize, c: usize, k: usize, s: (usize, usize)) -> PoolShape {
    PoolShape { in_h, in_w, c, k_h: k, k_w: k, stride_h: s.0, stride_w: s.1, ..PoolShape::default() }
}

/// The self-test suite every machine runs: every kernel, every weight width 0..=8, signed and unsigned
/// outputs, odd strides and asymmetric padding. Small enough for 16 KiB of RAM.
pub fn selftest() -> Vec<CaseDef> {
    let mut cases = Vec::new();

    let name = "selftest-convnet";
    let mut rng = Rng::from_name(name);
    let input = rng.bytes(12 * 12);
    let (c1, m) = conv(&mut rng, "conv1", shape(12, 12, 1, 8, (3, 3), (1, 1), [1, 1, 1, 1]), 4, 255, 8, false);
    let p1 = LayerDef { name: "pool1".into(), op: OpDef::MaxPool(pool(12, 12, 8, 2, (2, 2)), false) };
    let (c2, m) = conv(&mut rng, "conv2", shape(6, 6, 8, 16, (3, 3), (2, 2), [1, 1, 1, 1]), 2, m, 4, false);
    let (fc, _) = dense(&mut rng, "fc", 8, 3 * 3 * 16, 10, m, 8, true);
    cases.push(CaseDef { name: name.into(), input, layers: vec![c1, p1, c2, fc], print_out: true });

    let name = "selftest-widths";
    let mut rng = Rng::from_name(name);
    let input = rng.bytes(48);
    let mut layers = Vec::new();
    let mut m = 255;
    for (i, bits) in [3u8, 1, 8, 5, 2, 7, 4, 6, 0].into_iter().enumerate() {
        let (l, mm) = dense(&mut rng, &format!("fc{i}_w{bits}"), bits, 48, 48, m, 8, false);
        layers.push(l);
        m = mm;
    }
    let (l, _) = dense(&mut rng, "out_w5", 5, 48, 16, m, 8, true);
    layers.push(l);
    cases.push(CaseDef { name: name.into(), input, layers, print_out: true });

    let name = "selftest-pool";
    let mut rng = Rng::from_name(name);
    let input = rng.bytes(9 * 8 * 4);
    let (c, _) = conv(&mut rng, "conv_s21", shape(9, 8, 4, 6, (3, 2), (2, 1), [1, 0, 1, 1]), 6, 255, 8, true);
    let mp = LayerDef { name: "maxpool_s12".into(), op: OpDef::MaxPool(pool(5, 8, 6, 2, (1, 2)), true) };
    let ap = LayerDef { name: "avgpool".into(), op: OpDef::AvgPool(pool(4, 4, 6, 2, (2, 2)), true) };
    let (fc, _) = dense(&mut rng, "fc_w7", 7, 24, 12, 127, 3, false);
    cases.push(CaseDef { name: name.into(), input, layers: vec![c, mp, ap, fc], print_out: true });

    cases
}

/// The single-layer shapes of DESIGN §7 (CMSIS-NN's figures on mps2-an386, int8 and int4; `NaN` where
/// not measured) and the MobileNet / DS-CNN pointwise and depthwise layers.
#[derive(Debug, Clone, Copy)]
pub struct BenchShape {
    /// Short name used in case names (`bench-<name>-w<bits>`).
    pub name: &'static str,
    /// Description.
    pub what: &'static str,
    /// CMSIS-NN instructions/MAC with int8 weights.
    pub cmsis_int8: f64,
    /// CMSIS-NN instructions/MAC with int4 packed weights.
    pub cmsis_int4: f64,
}

/// The benchmark shapes.
pub const BENCH_SHAPES: [BenchShape; 9] = [
    BenchShape { name: "conv16", what: "conv 16x16x16->32 3x3 s1 p1", cmsis_int8: 2.14, cmsis_int4: 3.91 },
    // The same layer on 4-bit activations (inputs 0..15: what a BSQ network with 4-bit activations feeds it;
    // CMSIS-NN's cost does not depend on the values).
    BenchShape {
        name: "conv16a4",
        what: "conv 16x16x16->32 3x3 s1 p1, 4-bit activations",
        cmsis_int8: 2.14,
        cmsis_int4: 3.91,
    },
    BenchShape { name: "dense256", what: "dense 256->64", cmsis_int8: 2.08, cmsis_int4: 5.07 },
    BenchShape { name: "conv1st", what: "first-layer conv 28x28x1->8 5x5", cmsis_int8: 9.36, cmsis_int4: 11.69 },
    // MobileNet-like and DS-CNN pointwise (1×1) and depthwise 3×3 layers (no CMSIS-NN figures measured).
    BenchShape { name: "pw24", what: "pointwise 1x1 24x24x32->64", cmsis_int8: f64::NAN, cmsis_int4: f64::NAN },
    BenchShape { name: "pw25", what: "pointwise 1x1 25x5x64->64 (DS-CNN)", cmsis_int8: f64::NAN, cmsis_int4: f64::NAN },
    BenchShape {
        name: "dw25",
        what: "depthwise 3x3 25x5x64 s1 p1 (DS-CNN)",
        cmsis_int8: f64::NAN,
        cmsis_int4: f64::NAN,
    },
    BenchShape { name: "dw48", what: "depthwise 3x3 48x48x8 s1 p1", cmsis_int8: f64::NAN, cmsis_int4: f64::NAN },
    BenchShape { name: "dw24s2", what: "depthwise 3x3 24x24x16 s2 p1", cmsis_int8: f64::NAN, cmsis_int4: f64::NAN },
];

/// Name of the benchmark case of `shape` at `bits`.
pub fn bench_name(shape: &str, bits: u8) -> String {
    format!("bench-{shape}-w{bits}")
}

/// The benchmark cases: each shape of [`BENCH_SHAPES`] at every weight width 1..=8, 8-bit unsigned
/// activations in and out. Outputs are compared by checksum only.
pub fn bench() -> Vec<CaseDef> {
    let mut cases = Vec::new();
    for s in BENCH_SHAPES {
        for bits in 1..=8u8 {
            let name = bench_name(s.name, bits);
            let mut rng = Rng::from_name(&name);
            let (input, layer) = match s.name {
                "conv16" => {
                    let input = rng.bytes(16 * 16 * 16);
                    (
                        input,
                        conv(
                            &mut rng,
                            "conv",
                            shape(16, 16, 16, 32, (3, 3), (1, 1), [1, 1, 1, 1]),
                            bits,
                            255,
                            8,
                            false,
                        )
                        .0,
                    )
                }
                "conv16a4" => {
                    let input = rng.bytes(16 * 16 * 16).into_iter().map(|b| b & 15).collect();
                    (
                        input,
                        conv(&mut rng, "conv", shape(16, 16, 16, 32, (3, 3), (1, 1), [1, 1, 1, 1]), bits, 15, 4, false)
                            .0,
                    )
                }
                "dense256" => (rng.bytes(256), dense(&mut rng, "fc", bits, 256, 64, 255, 8, false).0),
                "pw24" => (
                    rng.bytes(24 * 24 * 32),
                    conv(&mut rng, "conv", shape(24, 24, 32, 64, (1, 1), (1, 1), [0; 4]), bits, 255, 8, false).0,
                ),
                "pw25" => (
                    rng.bytes(25 * 5 * 64),
                    conv(&mut rng, "conv", shape(25, 5, 64, 64, (1, 1), (1, 1), [0; 4]), bits, 255, 8, false).0,
                ),
                "dw25" => (rng.bytes(25 * 5 * 64), depthwise(&mut rng, bits, (25, 5, 64), 1)),
                "dw48" => (rng.bytes(48 * 48 * 8), depthwise(&mut rng, bits, (48, 48, 8), 1)),
                "dw24s2" => (rng.bytes(24 * 24 * 16), depthwise(&mut rng, bits, (24, 24, 16), 2)),
                _ => {
                    let input = rng.bytes(28 * 28);
                    (input, conv(&mut rng, "conv", shape(28, 28, 1, 8, (5, 5), (1, 1), [0; 4]), bits, 255, 8, false).0)
                }
            };
            cases.push(CaseDef { name, input, layers: vec![layer], print_out: false });
        }
    }
    cases
}
