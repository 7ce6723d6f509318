//! Cases computed by hand (the arithmetic is in the comments), run through both the reference and the fast
//! kernels.

use bsq_runtime::pack::{pack, packed_len};
use bsq_runtime::reference::{self, AddInput};
use bsq_runtime::{Conv2dShape, OutputStage, PackedWeights, PoolShape, Requant, scratch_len};

/// ×1 in Q31: 0.5 · 2^1.
const ONE: Requant = Requant { multiplier: 1 << 30, shift: 1 };

fn conv_both(shape: &Conv2dShape, input: &[u8], w: &PackedWeights<'_>, stage: &OutputStage<'_>) -> Vec<u8> {
    let (_, out_len, row_len) = shape.lens().unwrap();
    let mut r = vec![0xEEu8; out_len];
    let mut f = vec![0xEEu8; out_len];
    let mut scratch = vec![0i16; scratch_len(row_len)];
    reference::conv2d(shape, input, w, stage, &mut r).unwrap();
    bsq_runtime::conv2d(shape, input, w, stage, &mut scratch, &mut f).unwrap();
    assert_eq!(r, f, "fast and reference differ");
    r
}

/// A 3×3 Sobel-x kernel over the 3×3 image 1..9, padding 1 on every side.
///
/// ```text
/// input        weights (2-bit: ±3)
/// 1 2 3         1 0 -1
/// 4 5 6         2 0 -2
/// 7 8 9         1 0 -1
/// ```
/// With the middle column 0, `out[y][x] = S(x) − S(x+2)` where `S(c)` is the column-`c` sum
/// `p[y][c] + 2·p[y+1][c] + p[y+2][c]` of the zero-padded image (columns 0 and 4 are padding):
/// column 1 (1,4,7): 0+2+4 = 6, 1+8+7 = 16, 4+14+0 = 18;
/// column 2 (2,5,8): 0+4+5 = 9, 2+10+8 = 20, 5+16+0 = 21;
/// column 3 (3,6,9): 0+6+6 = 12, 3+12+9 = 24, 6+18+0 = 24.
/// So row 0 = [0−9, 6−12, 9−0] = [−9, −6, 9], row 1 = [−20, −8, 20], row 2 = [−21, −6, 21].
#[test]
fn conv3x3_sobel_by_hand() {
    let input: Vec<u8> = (1..=9).collect();
    let k = [1, 0, -1, 2, 0, -2, 1, 0, -1];
    let mut packed = vec![0u8; packed_len(2, 1, 9).unwrap()];
    pack(2, 9, &k, &mut packed).unwrap();
    let w = PackedWeights::new(2, 1, 9, &packed).unwrap();
    let shape = Conv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 1,
        out_c: 1,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    };
    let rq = [ONE];
    // Signed 8-bit output, factor 1: the sums themselves.
    let signed = conv_both(&shape, &input, &w, &OutputStage::for_bits(&[], &rq, 8, true));
    let expect: Vec<u8> = [-9i8, -6, 9, -20, -8, 20, -21, -6, 21].iter().map(|&v| v as u8).collect();
    assert_eq!(signed, expect);
    // Unsigned 4-bit output: the clamp to [0, 15] is the fused ReLU (and saturates 20, 21).
    let relu = conv_both(&shape, &input, &w, &OutputStage::for_bits(&[], &rq, 4, false));
    assert_eq!(relu, [0, 0, 9, 0, 0, 15, 0, 0, 15]);
    // Bias +10 and factor 0.5 (2^30, shift 0): (−9+10)/2 = 0.5 → 1; (−6+10)/2 = 2; (9+10)/2 = 9.5 → 10;
    // (−20+10)/2 = −5 → 0 (ReLU); (−8+10)/2 = 1; (20+10)/2 = 15; (−21+10)/2 → 0; (−6+10)/2 = 2; (21+10)/2 = 15.5 → 16.
    let half = [Requant::new(1 << 30, 0).unwrap()];
    let biased = conv_both(&shape, &input, &w, &OutputStage::for_bits(&[10], &half, 8, false));
    assert_eq!(biased, [1, 2, 10, 0, 1, 15, 0, 2, 16]);
}

/// Two output channels, two input channels, stride 2, no padding: `out = Σ w·x` checked by hand.
///
/// Input 3×3×2 (HWC), channel 0 = 1..9, channel 1 = 10 everywhere. Kernel 2×2, stride 2 → one output pixel
/// (window rows 0–1, columns 0–1: channel-0 values 1,2,4,5).
/// Channel 0 weights `[kh][kw][cin]` = (1,0) (1,0) (1,0) (1,0): 1+2+4+5 = 12.
/// Channel 1 weights = (0,−1) (0,1) (−1,0) (0,0): −10 + 10 − 4 = −4.
#[test]
fn conv_multichannel_stride2_by_hand() {
    let mut input = vec![0u8; 18];
    for p in 0..9 {
        input[2 * p] = p as u8 + 1;
        input[2 * p + 1] = 10;
    }
    let k = [1, 0, 1, 0, 1, 0, 1, 0, 0, -1, 0, 1, -1, 0, 0, 0];
    let mut packed = vec![0u8; packed_len(1, 2, 8).unwrap()];
    pack(1, 8, &k, &mut packed).unwrap();
    let w = PackedWeights::new(1, 2, 8, &packed).unwrap();
    let shape = Conv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 2,
        out_c: 2,
        k_h: 2,
        k_w: 2,
        stride_h: 2,
        stride_w: 2,
        ..Conv2dShape::default()
    };
    let rq = [ONE];
    let out = conv_both(&shape, &input, &w, &OutputStage::for_bits(&[], &rq, 8, true));
    assert_eq!(out, [12, -4i8 as u8]);
}

/// Residual add with two scales. a: unsigned, scale 0.5; b: signed, scale 0.25; output scale 1; the
/// intermediate scale 1/8 (finer than both). a → mid: ×4 = 0.5·2^3; b → mid: ×2 = 0.5·2^2; mid → out:
/// ×1/8 = 0.5·2^−2.
///
/// | a | b | real a + b | a·4 + b·2 | /8 | out (s8) |
/// |---|---|---|---|---|---|
/// | 10 | −4 | 5 − 1 = 4 | 40 − 8 = 32 | 4 | 4 |
/// | 3 | 2 | 1.5 + 0.5 = 2 | 12 + 4 = 16 | 2 | 2 |
/// | 0 | −128 | −32 | −256 | −32 | −32 |
/// | 255 | 127 | 127.5 + 31.75 = 159.25 | 1020 + 254 = 1274 | 159.25 | 127 (clamp) |
/// | 1 | 0 | 0.5 | 4 | 0.5 | 1 (tie away from zero) |
/// | 0 | −2 | −0.5 | −4 | −0.5 | −1 (tie away from zero) |
#[test]
fn residual_add_two_scales_by_hand() {
    let a = [10u8, 3, 0, 255, 1, 0];
    let b: Vec<u8> = [-4i8, 2, -128, 127, 0, -2].iter().map(|&v| v as u8).collect();
    let ia = AddInput { data: &a, signed: false, requant: Requant::new(1 << 30, 3).unwrap() };
    let ib = AddInput { data: &b, signed: true, requant: Requant::new(1 << 30, 2).unwrap() };
    let out_rq = [Requant::new(1 << 30, -2).unwrap()];
    let mut out = [0u8; 6];
    bsq_runtime::add(ia, ib, &OutputStage::for_bits(&[], &out_rq, 8, true), &mut out).unwrap();
    let expect: Vec<u8> = [4i8, 2, -32, 127, 1, -1].iter().map(|&v| v as u8).collect();
    assert_eq!(out.to_vec(), expect);
    // Unsigned 8-bit output: the negative sums clamp to 0, 159.25 → 159 fits.
    bsq_runtime::add(ia, ib, &OutputStage::for_bits(&[], &out_rq, 8, false), &mut out).unwrap();
    assert_eq!(out, [4, 2, 0, 159, 1, 0]);
}

/// 2×2 average pooling, stride 2, one channel: sums 2, 6, 10, 5, 7 over 4 → 0.5, 1.5, 2.5, 1.25, 1.75 →
/// 1, 2, 3, 1, 2 (ties away from zero); signed sums −2, −6 → −0.5, −1.5 → −1, −2.
#[test]
fn avg_pool_ties_by_hand() {
    // Five 2×2 windows side by side: a 2×10 image, window k = columns 2k, 2k+1.
    let top = [1u8, 1, 3, 3, 5, 5, 2, 2, 3, 3];
    let bottom = [0u8, 0, 0, 0, 0, 0, 1, 0, 1, 0];
    let input: Vec<u8> = top.iter().chain(bottom.iter()).copied().collect();
    let shape = PoolShape { in_h: 2, in_w: 10, c: 1, k_h: 2, k_w: 2, stride_h: 2, stride_w: 2, ..PoolShape::default() };
    let mut out = [0u8; 5];
    bsq_runtime::avg_pool(&shape, false, &input, &mut out).unwrap();
    assert_eq!(out, [1, 2, 3, 1, 2]);
    // Signed: windows (−1,−1,0,0) and (−3,−3,0,0).
    let input: Vec<u8> = [-1i8, -1, -3, -3, 0, 0, 0, 0].iter().map(|&v| v as u8).collect();
    let shape = PoolShape { in_h: 2, in_w: 4, c: 1, k_h: 2, k_w: 2, stride_h: 2, stride_w: 2, ..PoolShape::default() };
    let mut out = [0u8; 2];
    bsq_runtime::avg_pool(&shape, true, &input, &mut out).unwrap();
    assert_eq!(out, [-1i8 as u8, -2i8 as u8]);
    // Global average of a 2×2×2 image: channel 0 = 1,2,3,4 → 2.5 → 3; channel 1 = 0,0,0,1 → 0.25 → 0.
    let mut out = [0u8; 2];
    bsq_runtime::global_avg_pool(2, 2, 2, false, &[1, 0, 2, 0, 3, 0, 4, 1], &mut out).unwrap();
    assert_eq!(out, [3, 0]);
}

/// Max pooling compares signed bytes as signed: 0x80 (−128) loses to 0x01.
#[test]
fn max_pool_and_argmax_signedness() {
    let input = [0x80u8, 0x01, 0xFF, 0x7F];
    let shape = PoolShape { in_h: 1, in_w: 4, c: 1, k_h: 1, k_w: 2, stride_h: 1, stride_w: 2, ..PoolShape::default() };
    let mut out = [0u8; 2];
    bsq_runtime::max_pool(&shape, true, &input, &mut out).unwrap();
    assert_eq!(out, [0x01, 0x7F]);
    bsq_runtime::max_pool(&shape, false, &input, &mut out).unwrap();
    assert_eq!(out, [0x80, 0xFF]);
    assert_eq!(bsq_runtime::argmax(&input, true), Ok(3));
    assert_eq!(bsq_runtime::argmax(&input, false), Ok(2));
    // First index wins on ties.
    assert_eq!(bsq_runtime::argmax(&[3, 7, 7, 1], false), Ok(1));
}

/// Dense layer by hand: in = [1, 2, 3], rows [1, −1, 2] and [−3, 0, 3] (2-bit weights):
/// 1 − 2 + 6 = 5 and −3 + 9 = 6. Requantization ×1 = 0.5·2^1: the bias is added after the left shift, in
/// half-steps of the accumulator: x' = 2·acc + bias, then ·0.5. Bias [0, −20]: 10/2 = 5, (12 − 20)/2 = −4 →
/// ReLU → 0; bias [1, −11]: 11/2 = 5.5 → 6 (tie toward +∞), (12 − 11)/2 = 0.5 → 1.
#[test]
fn dense_by_hand() {
    let mut packed = vec![0u8; packed_len(2, 2, 3).unwrap()];
    pack(2, 3, &[1, -1, 2, -3, 0, 3], &mut packed).unwrap();
    let w = PackedWeights::new(2, 2, 3, &packed).unwrap();
    let rq = [ONE];
    for (bias, expect) in [([0, -20], [5, 0]), ([1, -11], [6, 1])] {
        let stage = OutputStage::for_bits(&bias, &rq, 8, false);
        let mut r = [9u8; 2];
        let mut f = [9u8; 2];
        reference::dense(&[1, 2, 3], &w, &stage, &mut r).unwrap();
        bsq_runtime::dense(&[1, 2, 3], &w, &stage, &mut [0i16; bsq_runtime::scratch_len(3)], &mut f).unwrap();
        assert_eq!(r, expect, "reference, bias {bias:?}");
        assert_eq!(f, expect, "fast, bias {bias:?}");
    }
}
