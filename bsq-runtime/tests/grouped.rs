//! Grouped and depthwise convolution: fast ≡ reference, byte for byte, over random shapes and groups (pure
//! depthwise, depthwise with a channel multiplier, general groups, `groups = 1`), every weight width
//! 0..=8, random (also invalid-pattern) packed bytes, activation widths 2/4/8, random requantization and
//! bias; the per-width entry points; `groups = 1` ≡ the plain convolution; the shape checks; a hand-computed
//! depthwise layer; the wrapping accumulator.

use bsq_runtime::pack::{max_magnitude, pack, packed_len};
use bsq_runtime::requant::{MAX_SHIFT, MIN_SHIFT};
use bsq_runtime::{Error, GroupedConv2dShape, OutputStage, PackedWeights, Requant, reference};
use proptest::prelude::*;

fn weights_bytes(bits: u8, rows: usize, row_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let len = packed_len(bits, rows, row_len).unwrap();
    let m = max_magnitude(bits);
    prop_oneof![
        proptest::collection::vec(-m..=m, rows * row_len).prop_map(move |vals| {
            let mut out = vec![0u8; len];
            pack(bits, row_len, &vals, &mut out).unwrap();
            out
        }),
        proptest::collection::vec(any::<u8>(), len),
    ]
}

fn requant() -> impl Strategy<Value = Requant> {
    let m = prop_oneof![3 => (1i32 << 30)..=i32::MAX, 1 => any::<i32>(), 1 => Just(i32::MIN)];
    let s = prop_oneof![4 => -14i8..=-4, 1 => MIN_SHIFT..=MAX_SHIFT];
    (m, s).prop_map(|(m, s)| Requant::new(m, s).unwrap())
}

fn requants(channels: usize) -> impl Strategy<Value = Vec<Requant>> {
    prop_oneof![proptest::collection::vec(requant(), 1), proptest::collection::vec(requant(), channels)]
}

fn biases(channels: usize) -> impl Strategy<Value = Vec<i32>> {
    prop_oneof![
        Just(vec![]),
        proptest::collection::vec(-100_000i32..100_000, channels),
        proptest::collection::vec(any::<i32>(), channels),
    ]
}

fn activations(len: usize) -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![Just(2u8), Just(4u8), Just(8u8)]
        .prop_flat_map(move |a| (Just(a), proptest::collection::vec(0u8..=((1u16 << a) - 1) as u8, len)))
}

/// Random grouped shapes: `groups`, input channels per group and output channels per group, with the
/// depthwise cases (1 input channel per group, multiplier 1 or more) weighted up.
fn grouped_shape() -> impl Strategy<Value = GroupedConv2dShape> {
    let per_group = prop_oneof![
        3 => (Just(1usize), Just(1usize)),          // depthwise
        1 => (Just(1usize), 2usize..=3),            // depthwise with a channel multiplier
        2 => (1usize..=5, 1usize..=4),              // general groups
    ];
    (1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3, 1usize..=12, per_group, 1usize..=9, 1usize..=9)
        .prop_flat_map(|(k_h, k_w, stride_h, stride_w, groups, gio, h, w)| {
            (Just((k_h, k_w, stride_h, stride_w, groups, gio, h, w)), 0..k_h, 0..k_h, 0..k_w, 0..k_w)
        })
        .prop_map(|((k_h, k_w, stride_h, stride_w, groups, (gi, go), h, w), pt, pb, pl, pr)| GroupedConv2dShape {
            in_h: h.max(k_h.saturating_sub(pt + pb)),
            in_w: w.max(k_w.saturating_sub(pl + pr)),
            in_c: groups * gi,
            out_c: groups * go,
            groups,
            k_h,
            k_w,
            stride_h,
            stride_w,
            pad_top: pt,
            pad_left: pl,
            pad_bottom: pb,
            pad_right: pr,
        })
}

#[derive(Debug, Clone)]
struct Case {
    shape: GroupedConv2dShape,
    bits: u8,
    weights: Vec<u8>,
    a_bits: u8,
    input: Vec<u8>,
    requant: Vec<Requant>,
    bias: Vec<i32>,
    signed_out: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (grouped_shape(), 0u8..=8, any::<bool>()).prop_flat_map(|(shape, bits, signed_out)| {
        let (in_len, _, row_len) = shape.lens().unwrap();
        (weights_bytes(bits, shape.out_c, row_len), activations(in_len), requants(shape.out_c), biases(shape.out_c))
            .prop_map(move |(weights, (a_bits, input), requant, bias)| Case {
                shape,
                bits,
                weights,
                a_bits,
                input,
                requant,
                bias,
                signed_out,
            })
    })
}

/// `grouped_conv2d_bits::<bits>` (what generated code calls).
fn per_width(
    bits: u8,
    shape: &GroupedConv2dShape,
    input: &[u8],
    w: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    out: &mut [u8],
) -> Result<(), Error> {
    use bsq_runtime::grouped_conv2d_bits as g;
    match bits {
        0 => g::<0>(shape, input, w, stage, scratch, out),
        1 => g::<1>(shape, input, w, stage, scratch, out),
        2 => g::<2>(shape, input, w, stage, scratch, out),
        3 => g::<3>(shape, input, w, stage, scratch, out),
        4 => g::<4>(shape, input, w, stage, scratch, out),
        5 => g::<5>(shape, input, w, stage, scratch, out),
        6 => g::<6>(shape, input, w, stage, scratch, out),
        7 => g::<7>(shape, input, w, stage, scratch, out),
        _ => g::<8>(shape, input, w, stage, scratch, out),
    }
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let (_, out_len, row_len) = c.shape.lens().unwrap();
    let w = PackedWeights::new(c.bits, c.shape.out_c, row_len, &c.weights).unwrap();
    let stage = OutputStage::for_bits(&c.bias, &c.requant, c.a_bits, c.signed_out);
    // Every output starts from the same garbage, so that an unwritten byte would show.
    let mut r = vec![0xA5u8; out_len];
    let rr = reference::grouped_conv2d(&c.shape, &c.input, &w, &stage, &mut r);
    prop_assert_eq!(rr, Ok(()));
    let need = bsq_runtime::grouped_scratch_len(&c.shape);
    let mut f = vec![0xA5u8; out_len];
    let mut scratch = vec![0x5A5Ai16; need];
    let fr = bsq_runtime::grouped_conv2d(&c.shape, &c.input, &w, &stage, &mut scratch, &mut f);
    prop_assert_eq!(fr, Ok(()));
    prop_assert_eq!(&f, &r, "fast grouped_conv2d differs from the reference on {:?}", c.shape);
    // The DSP kernels (the depthwise DSP path; portable instruction models on the host, the real
    // instructions on the QEMU suites), same scratch.
    let mut d = vec![0xA5u8; out_len];
    let mut scratch = vec![0x5A5Ai16; need];
    prop_assert_eq!(bsq_runtime::grouped_conv2d_dsp(&c.shape, &c.input, &w, &stage, &mut scratch, &mut d), Ok(()));
    prop_assert_eq!(&d, &r, "grouped_conv2d_dsp differs from the reference on {:?}", c.shape);
    let mut b = vec![0xA5u8; out_len];
    let mut scratch = vec![0x5A5Ai16; need];
    prop_assert_eq!(per_width(c.bits, &c.shape, &c.input, &w, &stage, &mut scratch, &mut b), Ok(()));
    prop_assert_eq!(&b, &r);
    // One element less scratch is refused, and nothing is written.
    if need > 0 {
        let mut short = vec![0i16; need - 1];
        let mut n = vec![0xA5u8; out_len];
        let e = bsq_runtime::grouped_conv2d(&c.shape, &c.input, &w, &stage, &mut short, &mut n);
        prop_assert_eq!(e, Err(Error::Length { what: "conv scratch", expected: need, got: need - 1 }));
        prop_assert!(n.iter().all(|&v| v == 0xA5));
    }
    // groups = 1 is the plain convolution.
    if c.shape.groups == 1 {
        let mut p = vec![0xA5u8; out_len];
        reference::conv2d(&c.shape.geometry(), &c.input, &w, &stage, &mut p).unwrap();
        prop_assert_eq!(&p, &r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn grouped_fast_equals_reference(c in case()) {
        check(&c)?;
    }

    /// Every width 0..=8 with the same shape family (the strategy above already draws widths; this pins
    /// each one on depthwise shapes, the case that matters for MobileNet and DS-CNN).
    #[test]
    fn depthwise_every_width(bits in 0u8..=8, c in case()) {
        let shape = GroupedConv2dShape { out_c: c.shape.in_c, groups: c.shape.in_c, ..c.shape };
        let (in_len, _, row_len) = shape.lens().unwrap();
        let m = max_magnitude(bits);
        let vals: Vec<i32> = (0..shape.out_c * row_len).map(|i| ((i as i32 * 7919) % (2 * m + 1)) - m).collect();
        let mut weights = vec![0u8; packed_len(bits, shape.out_c, row_len).unwrap()];
        pack(bits, row_len, &vals, &mut weights).unwrap();
        let input: Vec<u8> = (0..in_len).map(|i| c.input.get(i % c.input.len()).copied().unwrap_or(0)).collect();
        let requant = vec![c.requant[0]];
        check(&Case { shape, bits, weights, input, requant, bias: vec![], ..c })?;
    }
}

/// The shape checks: zero groups, channels not divisible by groups.
#[test]
fn shape_errors() {
    let s = GroupedConv2dShape {
        in_h: 4,
        in_w: 4,
        in_c: 6,
        out_c: 6,
        groups: 3,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    };
    assert_eq!(s.lens(), Ok((96, 96, 18)));
    assert_eq!(GroupedConv2dShape { groups: 0, ..s }.lens(), Err(Error::Shape { what: "zero groups" }));
    for bad in [GroupedConv2dShape { groups: 4, ..s }, GroupedConv2dShape { out_c: 4, ..s }] {
        assert_eq!(bad.out_hw(), Err(Error::Shape { what: "channels not divisible by groups" }));
    }
    assert_eq!(GroupedConv2dShape { stride_w: 0, ..s }.lens(), Err(Error::Shape { what: "zero stride" }));
    // The kernels check the shape first.
    let data = [0u8; 36];
    let w = PackedWeights::new(1, 6, 18, &data[..packed_len(1, 6, 18).unwrap()]).unwrap();
    let rq = [Requant::new(1 << 30, 0).unwrap()];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let bad = GroupedConv2dShape { groups: 0, ..s };
    let mut out = [0u8; 96];
    assert_eq!(
        bsq_runtime::grouped_conv2d(&bad, &[0; 96], &w, &st, &mut [0; 64], &mut out),
        Err(Error::Shape { what: "zero groups" })
    );
    assert_eq!(
        bsq_runtime::grouped_conv2d_bits::<2>(&s, &[0; 96], &w, &st, &mut [0; 64], &mut out),
        Err(Error::Shape { what: "weight width differs from the kernel's" })
    );
}

/// A 3×3 depthwise layer on a 3×3×4 image, padding 1, computed by hand at the centre pixel and a corner.
#[test]
fn depthwise_by_hand() {
    let shape = GroupedConv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 4,
        out_c: 4,
        groups: 4,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    };
    // Input: pixel p (0..9) channel c holds p + 10·c (so channel c at the centre is 4 + 10c).
    let input: Vec<u8> = (0..9).flat_map(|p| (0..4).map(move |c| (p + 10 * c) as u8)).collect();
    // Weights: channel 0 all 1; channel 1 only the centre = 2; channel 2 the top-left = −3; channel 3 the
    // middle row = 1, 0, −1.
    let mut vals = vec![0i32; 4 * 9];
    vals[..9].fill(1);
    vals[9 + 4] = 2;
    vals[18] = -3;
    vals[27 + 3] = 1;
    vals[27 + 5] = -1;
    let mut packed = vec![0u8; packed_len(2, 4, 9).unwrap()];
    pack(2, 9, &vals, &mut packed).unwrap();
    let w = PackedWeights::new(2, 4, 9, &packed).unwrap();
    // Identity output stage (multiplier 2^30, shift 1: ×1), signed 8-bit, no bias.
    let rq = [Requant::new(1 << 30, 1).unwrap()];
    let st = OutputStage::for_bits(&[], &rq, 8, true);
    let mut out = vec![0u8; 36];
    let mut scratch = vec![0i16; bsq_runtime::grouped_scratch_len(&shape)];
    bsq_runtime::grouped_conv2d(&shape, &input, &w, &st, &mut scratch, &mut out).unwrap();
    let at = |p: usize, c: usize| out[p * 4 + c] as i8 as i32;
    // Centre (pixel 4): ch0 = Σ_p p = 36 (clamped to 127? no: 36); ch1 = 2·14 = 28; ch2 = −3·(0 + 20) = −60;
    // ch3 = (3 + 30) − (5 + 30) = −2.
    assert_eq!([at(4, 0), at(4, 1), at(4, 2), at(4, 3)], [36, 28, -60, -2]);
    // Top-left corner (pixel 0): ch0 = 0 + 1 + 3 + 4 = 8; ch1 = 2·10 = 20; ch2: the top-left tap is padding
    // = 0; ch3: left tap is padding, right tap pixel 1 → −(1 + 30) = −31.
    assert_eq!([at(0, 0), at(0, 1), at(0, 2), at(0, 3)], [8, 20, 0, -31]);
    let mut r = vec![0u8; 36];
    reference::grouped_conv2d(&shape, &input, &w, &st, &mut r).unwrap();
    assert_eq!(r, out);
}

/// Accumulators wrap (two's complement) identically in both kernels: a depthwise 1×1 layer can't reach
/// the wrap, so use a grouped layer whose rows are long enough (70 000 products of 255·255).
#[test]
fn wrapping_accumulator() {
    let g_in = 70_000 / 9 + 1;
    let shape = GroupedConv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 2 * g_in,
        out_c: 2,
        groups: 2,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 0,
        pad_left: 0,
        pad_bottom: 0,
        pad_right: 0,
    };
    let (in_len, out_len, row_len) = shape.lens().unwrap();
    let vals = vec![255i32; 2 * row_len];
    let mut packed = vec![0u8; packed_len(8, 2, row_len).unwrap()];
    pack(8, row_len, &vals, &mut packed).unwrap();
    let w = PackedWeights::new(8, 2, row_len, &packed).unwrap();
    let rq = [Requant::new(1 << 30, -20).unwrap()];
    let st = OutputStage::for_bits(&[], &rq, 8, true);
    let input = vec![255u8; in_len];
    let mut r = vec![0u8; out_len];
    let mut f = vec![0u8; out_len];
    reference::grouped_conv2d(&shape, &input, &w, &st, &mut r).unwrap();
    let mut scratch = vec![0i16; bsq_runtime::grouped_scratch_len(&shape)];
    bsq_runtime::grouped_conv2d(&shape, &input, &w, &st, &mut scratch, &mut f).unwrap();
    assert_eq!(r, f);
    let expected = (255i64 * 255 * row_len as i64) as i32; // wrapped
    assert_eq!(r[0], st.finish(0, expected));
}
