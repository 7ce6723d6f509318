//! Every `Error` a kernel can return, and no panic on any wrong length: random lengths give `Err` (the same
//! one from the fast and the reference kernel), never a panic, and nothing is written on error.

use bsq_runtime::reference::{self, AddInput};
use bsq_runtime::{Conv2dShape, Error, OutputStage, PackedWeights, PoolShape, Requant, scratch_len};
use proptest::prelude::*;

const ONE: Requant = Requant { multiplier: 1 << 30, shift: 1 };

fn shape3x3() -> Conv2dShape {
    Conv2dShape {
        in_h: 4,
        in_w: 4,
        in_c: 2,
        out_c: 3,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    }
}

/// Runs both conv versions with an output pre-filled with 0xEE; returns (reference, fast) results and
/// checks that an error wrote nothing.
fn conv_both(
    shape: &Conv2dShape,
    input: &[u8],
    w: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: usize,
    out: usize,
) -> (Result<(), Error>, Result<(), Error>) {
    let mut r = vec![0xEEu8; out];
    let mut f = vec![0xEEu8; out];
    let mut s = vec![0i16; scratch];
    let rr = reference::conv2d(shape, input, w, stage, &mut r);
    let fr = bsq_runtime::conv2d(shape, input, w, stage, &mut s, &mut f);
    if rr.is_err() {
        assert!(r.iter().all(|&b| b == 0xEE), "reference wrote on error {rr:?}");
    }
    if fr.is_err() {
        assert!(f.iter().all(|&b| b == 0xEE), "fast wrote on error {fr:?}");
    }
    (rr, fr)
}

#[test]
fn conv_errors() {
    let s = shape3x3();
    let data = [0u8; 64]; // 1-bit weights: 2-bit fields, rows of 18 take 5 bytes
    let rb = bsq_runtime::pack::row_bytes(1, 18).unwrap();
    let w = PackedWeights::new(1, 3, 18, &data[..3 * rb]).unwrap();
    let rq = [ONE];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let input = [1u8; 32];
    let sl = scratch_len(18);
    // Fine.
    assert_eq!(conv_both(&s, &input, &w, &st, sl, 48), (Ok(()), Ok(())));
    // Input / output lengths.
    let e = Err(Error::Length { what: "conv input", expected: 32, got: 31 });
    assert_eq!(conv_both(&s, &input[..31], &w, &st, sl, 48), (e, e));
    let e = Err(Error::Length { what: "conv output", expected: 48, got: 49 });
    assert_eq!(conv_both(&s, &input, &w, &st, sl, 49), (e, e));
    // Scratch too small: only the fast kernel has one.
    assert_eq!(
        conv_both(&s, &input, &w, &st, sl - 1, 48),
        (Ok(()), Err(Error::Length { what: "conv scratch", expected: sl, got: sl - 1 }))
    );
    // Weights that do not match the shape.
    let w2 = PackedWeights::new(1, 2, 18, &data[..2 * rb]).unwrap();
    let e = Err(Error::Length { what: "weight rows", expected: 3, got: 2 });
    assert_eq!(conv_both(&s, &input, &w2, &st, sl, 48), (e, e));
    let rb9 = bsq_runtime::pack::row_bytes(1, 9).unwrap();
    let w3 = PackedWeights::new(1, 3, 9, &data[..3 * rb9]).unwrap();
    let e = Err(Error::Length { what: "weight row length", expected: 18, got: 9 });
    assert_eq!(conv_both(&s, &input, &w3, &st, sl, 48), (e, e));
    // Output stage: bias / requant lengths, bad shift, bad clamp.
    let bias = [0i32; 2];
    let e = Err(Error::Length { what: "bias", expected: 3, got: 2 });
    assert_eq!(conv_both(&s, &input, &w, &OutputStage::for_bits(&bias, &rq, 8, false), sl, 48), (e, e));
    let rq2 = [ONE, ONE];
    let e = Err(Error::Length { what: "requant", expected: 3, got: 2 });
    assert_eq!(conv_both(&s, &input, &w, &OutputStage::for_bits(&[], &rq2, 8, false), sl, 48), (e, e));
    let bad = [Requant { multiplier: 1, shift: -40 }];
    let e = Err(Error::Requant { what: "shift outside -31..=30" });
    assert_eq!(conv_both(&s, &input, &w, &OutputStage::for_bits(&[], &bad, 8, false), sl, 48), (e, e));
    let mut st_bad = st;
    st_bad.min = 10;
    st_bad.max = 9;
    let e = Err(Error::Requant { what: "clamp range empty or outside the output byte type" });
    assert_eq!(conv_both(&s, &input, &w, &st_bad, sl, 48), (e, e));
    // Shapes.
    let shape_err = |what| Err(Error::Shape { what });
    for (sh, what) in [
        (Conv2dShape { in_c: 0, ..s }, "zero dimension"),
        (Conv2dShape { k_w: 0, ..s }, "zero dimension"),
        (Conv2dShape { stride_h: 0, ..s }, "zero stride"),
        (Conv2dShape { pad_left: 3, ..s }, "padding not smaller than the kernel"),
        (Conv2dShape { in_h: 1, pad_top: 0, pad_bottom: 0, ..s }, "kernel larger than padded input"),
        (Conv2dShape { in_h: usize::MAX, ..s }, "overflow"),
        (Conv2dShape { in_h: usize::MAX / 2, in_w: usize::MAX / 2, ..s }, "size overflows usize"),
    ] {
        assert_eq!(conv_both(&sh, &input, &w, &st, sl, 48), (shape_err(what), shape_err(what)), "{sh:?}");
    }
}

#[test]
fn dense_errors() {
    let data = [0u8; 8];
    let w = PackedWeights::new(3, 2, 8, &data[..]).unwrap(); // 8 × 4 bits = 4 bytes per row
    let rq = [ONE];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let mut out = [0xEEu8; 2];
    let mut s = [0i16; 18]; // scratch_len(8) = 2·8 + 2
    let input = [1u8; 8];
    assert_eq!(bsq_runtime::dense(&input, &w, &st, &mut s, &mut out), Ok(()));
    let e = Err(Error::Length { what: "dense input", expected: 8, got: 7 });
    assert_eq!(bsq_runtime::dense(&input[..7], &w, &st, &mut s, &mut out), e);
    assert_eq!(reference::dense(&input[..7], &w, &st, &mut out), e);
    let e = Err(Error::Length { what: "dense output", expected: 2, got: 1 });
    assert_eq!(bsq_runtime::dense(&input, &w, &st, &mut s, &mut out[..1]), e);
    assert_eq!(reference::dense(&input, &w, &st, &mut out[..1]), e);
    let e = Err(Error::Length { what: "dense scratch", expected: 18, got: 17 });
    assert_eq!(bsq_runtime::dense(&input, &w, &st, &mut s[..17], &mut out), e);
    let bad = [Requant { multiplier: 1, shift: 31 }];
    let e = Err(Error::Requant { what: "shift outside -31..=30" });
    assert_eq!(bsq_runtime::dense(&input, &w, &OutputStage::for_bits(&[], &bad, 8, false), &mut s, &mut out), e);
    let e = Err(Error::Length { what: "bias", expected: 2, got: 1 });
    assert_eq!(bsq_runtime::dense(&input, &w, &OutputStage::for_bits(&[1], &rq, 8, false), &mut s, &mut out), e);
}

#[test]
fn pool_add_argmax_errors() {
    let shape = PoolShape { in_h: 4, in_w: 4, c: 2, k_h: 2, k_w: 2, stride_h: 2, stride_w: 2, ..PoolShape::default() };
    let input = [0u8; 32];
    let mut out = [0u8; 8];
    assert_eq!(bsq_runtime::max_pool(&shape, false, &input, &mut out), Ok(()));
    let e = Err(Error::Length { what: "pool input", expected: 32, got: 31 });
    assert_eq!(bsq_runtime::max_pool(&shape, false, &input[..31], &mut out), e);
    assert_eq!(bsq_runtime::avg_pool(&shape, false, &input[..31], &mut out), e);
    let e = Err(Error::Length { what: "pool output", expected: 8, got: 7 });
    assert_eq!(bsq_runtime::avg_pool(&shape, true, &input, &mut out[..7]), e);
    for (sh, what) in [
        (PoolShape { c: 0, ..shape }, "zero dimension"),
        (PoolShape { stride_w: 0, ..shape }, "zero stride"),
        (PoolShape { k_h: 5, ..shape }, "window larger than input"),
        (PoolShape { in_h: usize::MAX, in_w: 2, ..shape }, "size overflows usize"),
        (PoolShape { pad_left: 2, ..shape }, "padding not smaller than the kernel"),
        (PoolShape { pad_bottom: 2, ..shape }, "padding not smaller than the kernel"),
        (PoolShape { in_h: usize::MAX, pad_top: 1, ..shape }, "overflow"),
        (PoolShape { in_h: 1, k_h: 3, pad_top: 1, ..shape }, "window larger than input"),
    ] {
        assert_eq!(bsq_runtime::max_pool(&sh, false, &input, &mut out), Err(Error::Shape { what }), "{sh:?}");
    }
    assert_eq!(
        bsq_runtime::global_avg_pool(4, 4, 2, false, &input, &mut out[..1]),
        Err(Error::Length { what: "pool output", expected: 2, got: 1 })
    );
    assert_eq!(
        bsq_runtime::global_avg_pool(0, 4, 2, false, &input, &mut out[..2]),
        Err(Error::Shape { what: "zero dimension" })
    );
    // add
    let rq = [ONE];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let a = AddInput { data: &input[..4], signed: false, requant: ONE };
    let b3 = AddInput { data: &input[..3], signed: true, requant: ONE };
    assert_eq!(
        bsq_runtime::add(a, b3, &st, &mut out[..4]),
        Err(Error::Length { what: "add input b", expected: 4, got: 3 })
    );
    assert_eq!(
        bsq_runtime::add(a, a, &st, &mut out[..5]),
        Err(Error::Length { what: "add output", expected: 4, got: 5 })
    );
    let rq2 = [ONE, ONE];
    assert_eq!(
        bsq_runtime::add(a, a, &OutputStage::for_bits(&[], &rq2, 8, false), &mut out[..4]),
        Err(Error::Length { what: "requant", expected: 1, got: 2 })
    );
    // argmax
    assert_eq!(bsq_runtime::argmax(&[], false), Err(Error::Shape { what: "argmax of an empty tensor" }));
}

/// The error messages name the thing at fault.
#[test]
fn error_messages() {
    assert_eq!(Error::InvalidBits { bits: 9 }.to_string(), "weight bit width 9 is outside 0..=8");
    assert_eq!(
        Error::WeightOutOfRange { index: 4, value: -8, bits: 2 }.to_string(),
        "weight 4 = -8 is outside [-3, 3] for 2-bit weights"
    );
    assert_eq!(
        Error::Length { what: "conv input", expected: 3, got: 2 }.to_string(),
        "conv input: expected length 3, got 2"
    );
    assert_eq!(Error::Shape { what: "zero stride" }.to_string(), "invalid shape: zero stride");
    assert_eq!(Error::Requant { what: "x" }.to_string(), "invalid requantization: x");
}

/// Mostly the right length, sometimes any in `other`.
fn right_or(right: usize, other: core::ops::Range<usize>) -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(right), 1 => other]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random lengths of every slice argument of conv2d: never a panic; fast and reference agree except
    /// for the scratch check (fast only), which comes last.
    #[test]
    fn conv_random_lengths_never_panic(
        in_len in right_or(32, 0..80), out_len in right_or(48, 0..60), scratch in right_or(scratch_len(18), 0..40),
        w_rows in right_or(3, 0..5), w_len in right_or(18, 0..20),
        bias_len in prop_oneof![Just(0usize), Just(3), 0usize..5], rq_len in prop_oneof![Just(1usize), Just(3), 0usize..5],
        bits in 0u8..=8,
    ) {
        let s = shape3x3();
        let data = vec![0x5Au8; bsq_runtime::pack::packed_len(bits, w_rows, w_len).unwrap()];
        let w = PackedWeights::new(bits, w_rows, w_len, &data).unwrap();
        let bias = vec![7i32; bias_len];
        let rq = vec![ONE; rq_len];
        let st = OutputStage::for_bits(&bias, &rq, 4, false);
        let input = vec![3u8; in_len];
        let (rr, fr) = conv_both(&s, &input, &w, &st, scratch, out_len);
        if rr.is_err() {
            prop_assert_eq!(rr, fr);
        } else if scratch < scratch_len(18) {
            prop_assert_eq!(fr, Err(Error::Length { what: "conv scratch", expected: scratch_len(18), got: scratch }));
        } else {
            prop_assert_eq!(fr, Ok(()));
        }
    }

    #[test]
    fn dense_random_lengths_never_panic(
        (rows, row_len) in (0usize..6, 0usize..20),
        d_in in right_or(0, 0..20), d_out in right_or(0, 0..6), d_scratch in right_or(0, 0..40),
        bias_len in prop_oneof![Just(None), Just(Some(0usize)), (0usize..6).prop_map(Some)],
        rq_len in prop_oneof![Just(None), Just(Some(1usize)), (0usize..6).prop_map(Some)],
        bits in 0u8..=8,
    ) {
        // Each length is the right one (delta 0 / None) or a random one.
        let in_len = if d_in == 0 { row_len } else { d_in };
        let out_len = if d_out == 0 { rows } else { d_out };
        let scratch = if d_scratch == 0 { scratch_len(row_len) } else { d_scratch };
        let bias_len = bias_len.unwrap_or(rows);
        let rq_len = rq_len.unwrap_or(rows);
        let data = vec![0xA5u8; bsq_runtime::pack::packed_len(bits, rows, row_len).unwrap()];
        let w = PackedWeights::new(bits, rows, row_len, &data).unwrap();
        let bias = vec![7i32; bias_len];
        let rq = vec![ONE; rq_len];
        let st = OutputStage::for_bits(&bias, &rq, 8, true);
        let input = vec![3u8; in_len];
        let mut r = vec![0xEEu8; out_len];
        let mut f = vec![0xEEu8; out_len];
        let mut s = vec![0i16; scratch];
        let rr = reference::dense(&input, &w, &st, &mut r);
        let fr = bsq_runtime::dense(&input, &w, &st, &mut s, &mut f);
        if rr.is_err() {
            prop_assert_eq!(rr, fr);
            prop_assert!(f.iter().all(|&b| b == 0xEE));
        } else if scratch < scratch_len(row_len) {
            prop_assert_eq!(fr, Err(Error::Length { what: "dense scratch", expected: scratch_len(row_len), got: scratch }));
        } else {
            prop_assert_eq!(fr, Ok(()));
            prop_assert_eq!(r, f);
        }
    }

    /// Random pool shapes and lengths (including degenerate ones): `Ok` or `Err`, never a panic.
    #[test]
    fn pools_random_shapes_never_panic(
        in_h in 0usize..6, in_w in 0usize..6, c in 0usize..4, k_h in 0usize..7, k_w in 0usize..7,
        stride_h in 0usize..3, stride_w in 0usize..3, in_len in 0usize..150, out_len in 0usize..50, signed in any::<bool>(),
        pad in prop_oneof![Just([0usize; 4]), proptest::array::uniform4(0usize..5)],
    ) {
        let [pad_top, pad_left, pad_bottom, pad_right] = pad;
        let shape = PoolShape { in_h, in_w, c, k_h, k_w, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right };
        let input = vec![0x81u8; in_len];
        let mut out = vec![0u8; out_len];
        let ok = shape.lens().map(|(i, o, _, _)| i == in_len && o == out_len).unwrap_or(false);
        prop_assert_eq!(bsq_runtime::max_pool(&shape, signed, &input, &mut out).is_ok(), ok);
        prop_assert_eq!(bsq_runtime::avg_pool(&shape, signed, &input, &mut out).is_ok(), ok);
        let g = bsq_runtime::global_avg_pool(in_h, in_w, c, signed, &input, &mut out);
        prop_assert_eq!(g.is_ok(), in_h * in_w * c == in_len && c == out_len && in_len > 0);
    }

    #[test]
    fn add_random_lengths_never_panic(a_len in 0usize..10, b_len in 0usize..10, out_len in 0usize..10) {
        let a = vec![1u8; a_len];
        let b = vec![2u8; b_len];
        let rq = [ONE];
        let st = OutputStage::for_bits(&[], &rq, 8, false);
        let mut out = vec![0u8; out_len];
        let r = bsq_runtime::add(
            AddInput { data: &a, signed: false, requant: ONE },
            AddInput { data: &b, signed: true, requant: ONE },
            &st,
            &mut out,
        );
        prop_assert_eq!(r.is_ok(), a_len == b_len && b_len == out_len);
        if r.is_ok() {
            prop_assert!(out.iter().all(|&v| v == 3));
        }
    }
}

/// Found by the fuzzer with overflow checks on: a valid convolution with a huge stride (its output is one
/// pixel wide, so the stride is never applied) made the fast kernel compute `stride · in_c` and overflow.
/// It must give the reference kernel's bytes (run `cargo test` without `--release` to have the checks on).
#[test]
fn a_huge_stride_on_a_single_output_pixel_does_not_overflow() {
    use bsq_runtime::{Conv2dShape, OutputStage, PackedWeights, Requant, pack, reference, scratch_len};
    let shape = Conv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 2,
        out_c: 2,
        k_h: 2,
        k_w: 3,
        stride_h: 1 << 62,
        stride_w: 1 << 63,
        pad_top: 0,
        pad_left: 0,
        pad_bottom: 0,
        pad_right: 0,
    };
    let row = shape.row_len();
    let values: Vec<i32> = (0..2 * row as i32).map(|i| i % 7 - 3).collect();
    let mut packed = vec![0u8; pack::packed_len(3, 2, row).unwrap()];
    pack::pack(3, row, &values, &mut packed).unwrap();
    let w = PackedWeights::new(3, 2, row, &packed).unwrap();
    let rq = [Requant { multiplier: 1 << 30, shift: 0 }];
    let stage = OutputStage::for_bits(&[], &rq, 8, true);
    let input: Vec<u8> = (0..18).map(|i| (i * 13 % 16) as u8).collect();
    let (mut fast, mut slow) = (vec![0u8; 2], vec![0u8; 2]);
    let mut scratch = vec![0i16; scratch_len(row)];
    bsq_runtime::conv2d(&shape, &input, &w, &stage, &mut scratch, &mut fast).unwrap();
    reference::conv2d(&shape, &input, &w, &stage, &mut slow).unwrap();
    assert_eq!(fast, slow);
}
