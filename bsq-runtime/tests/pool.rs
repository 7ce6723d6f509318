//! Padded pooling: the fast `max_pool` / `avg_pool` ≡ the reference ones (which test every window position)
//! over random shapes, paddings, strides and signedness, with the same error for every invalid shape or
//! length; hand-computed windows where padded cells are ignored (max) and not counted (average).

use bsq_runtime::{Error, PoolShape, reference};
use proptest::prelude::*;

fn shape(in_h: usize, in_w: usize, c: usize, k: [usize; 2], s: [usize; 2], pad: [usize; 4]) -> PoolShape {
    let [pad_top, pad_left, pad_bottom, pad_right] = pad;
    PoolShape {
        in_h,
        in_w,
        c,
        k_h: k[0],
        k_w: k[1],
        stride_h: s[0],
        stride_w: s[1],
        pad_top,
        pad_left,
        pad_bottom,
        pad_right,
    }
}

/// A 3×3 image 1..9, 3×3 windows with stride 2 and padding 1 on every side: four windows of four input
/// cells each, {1,2,4,5}, {2,3,5,6}, {4,5,7,8}, {5,6,8,9}: max 5, 6, 8, 9; average 12/4, 16/4, 24/4, 28/4.
#[test]
fn padded_3x3_stride_2_by_hand() {
    let sh = shape(3, 3, 1, [3, 3], [2, 2], [1, 1, 1, 1]);
    let input = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    for (max, want) in [(true, [5u8, 6, 8, 9]), (false, [3, 4, 6, 7])] {
        let mut fast = [0u8; 4];
        let mut slow = [0u8; 4];
        if max {
            bsq_runtime::max_pool(&sh, false, &input, &mut fast).unwrap();
            reference::max_pool(&sh, false, &input, &mut slow).unwrap();
        } else {
            bsq_runtime::avg_pool(&sh, false, &input, &mut fast).unwrap();
            reference::avg_pool(&sh, false, &input, &mut slow).unwrap();
        }
        assert_eq!((fast, slow), (want, want), "max {max}");
    }
}

/// A 1×3 row, 2×2 windows, stride 1, padding top 1 and left 1: windows of 1, 2 and 2 input cells.
/// Unsigned [1, 2, 4]: max 1, 2, 4; average 1/1, 3/2 = 1.5 → 2 (ties away from zero), 6/2 = 3.
/// Signed [−1, −2, −4]: max −1, −1, −2; average −1, −1.5 → −2, −3. (Counting the padded cells as 0 would
/// give 0.25 → 0, 0.75 → 1, 1.5 → 2.)
#[test]
fn padded_cells_are_neither_summed_nor_counted() {
    let sh = shape(1, 3, 1, [2, 2], [1, 1], [1, 1, 0, 0]);
    let mut out = [0u8; 3];
    bsq_runtime::max_pool(&sh, false, &[1, 2, 4], &mut out).unwrap();
    assert_eq!(out, [1, 2, 4]);
    bsq_runtime::avg_pool(&sh, false, &[1, 2, 4], &mut out).unwrap();
    assert_eq!(out, [1, 2, 3]);
    let neg: Vec<u8> = [-1i8, -2, -4].iter().map(|&v| v as u8).collect();
    bsq_runtime::max_pool(&sh, true, &neg, &mut out).unwrap();
    assert_eq!(out.map(|b| b as i8), [-1, -1, -2]);
    bsq_runtime::avg_pool(&sh, true, &neg, &mut out).unwrap();
    assert_eq!(out.map(|b| b as i8), [-1, -2, -3]);
}

/// Random shapes (also invalid ones: zero sizes and strides, paddings not smaller than the kernel, windows
/// larger than the padded input) and lengths: the fast and reference kernels give the same result, the
/// same bytes, and write nothing on error.
fn case() -> impl Strategy<Value = (PoolShape, bool, Vec<u8>, usize)> {
    let dims = (0usize..=7, 0usize..=7, 0usize..=4, 0usize..=4, 0usize..=4, 0usize..=3, 0usize..=3);
    let pads = prop_oneof![Just([0usize; 4]), proptest::array::uniform4(0usize..=3)];
    (dims, pads, any::<bool>(), -1isize..=1, -1isize..=1).prop_flat_map(
        |((h, w, c, kh, kw, sh, sw), pad, signed, din, dout)| {
            let s = shape(h, w, c, [kh, kw], [sh, sw], pad);
            let (il, ol) = s.lens().map(|(i, o, _, _)| (i, o)).unwrap_or((h * w * c, 4));
            let in_len = (il as isize + din).max(0) as usize;
            let out_len = (ol as isize + dout).max(0) as usize;
            (Just(s), Just(signed), proptest::collection::vec(any::<u8>(), in_len), Just(out_len))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn fast_pools_equal_reference((sh, signed, input, out_len) in case()) {
        for max in [true, false] {
            let mut fast = vec![0xEEu8; out_len];
            let mut slow = vec![0xEEu8; out_len];
            let (f, r) = if max {
                (bsq_runtime::max_pool(&sh, signed, &input, &mut fast), reference::max_pool(&sh, signed, &input, &mut slow))
            } else {
                (bsq_runtime::avg_pool(&sh, signed, &input, &mut fast), reference::avg_pool(&sh, signed, &input, &mut slow))
            };
            prop_assert_eq!(f, r, "max {}", max);
            prop_assert_eq!(&fast, &slow, "max {}", max);
            if f.is_err() {
                prop_assert!(fast.iter().all(|&b| b == 0xEE), "wrote on error");
            }
            // The entry points generated code calls: the same result for the matching `PADDED`, a refusal
            // (nothing written) for the other.
            let padded = bsq_runtime::pool_padded(&sh);
            for p in [false, true] {
                let mut with = vec![0xEEu8; out_len];
                let w = match (max, p) {
                    (true, false) => bsq_runtime::max_pool_with::<false>(&sh, signed, &input, &mut with),
                    (true, true) => bsq_runtime::max_pool_with::<true>(&sh, signed, &input, &mut with),
                    (false, false) => bsq_runtime::avg_pool_with::<false>(&sh, signed, &input, &mut with),
                    (false, true) => bsq_runtime::avg_pool_with::<true>(&sh, signed, &input, &mut with),
                };
                if p == padded {
                    prop_assert_eq!(w, f);
                    prop_assert_eq!(&with, &fast);
                } else {
                    prop_assert_eq!(w, Err(Error::Shape { what: "padding differs from the kernel's" }));
                    prop_assert!(with.iter().all(|&b| b == 0xEE));
                }
            }
        }
    }
}

#[test]
fn padding_errors() {
    let input = [0u8; 4];
    let mut out = [0u8; 4];
    let e = Err(Error::Shape { what: "padding not smaller than the kernel" });
    assert_eq!(bsq_runtime::max_pool(&shape(2, 2, 1, [2, 2], [1, 1], [0, 2, 0, 0]), false, &input, &mut out), e);
    assert_eq!(bsq_runtime::avg_pool(&shape(2, 2, 1, [1, 2], [1, 1], [1, 0, 0, 0]), false, &input, &mut out), e);
    // No padding: the plain window (`unpadded` = all paddings 0).
    assert_eq!(shape(2, 2, 1, [2, 2], [1, 1], [0; 4]), PoolShape::unpadded(2, 2, 1, 2, 2, 1, 1));
}
