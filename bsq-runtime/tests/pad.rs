//! The padding step (`pad`, used before a convolution whose input has a non-zero zero point): fast ≡
//! reference, byte for byte, over random shapes, paddings (also none, also wider than the input) and border
//! bytes; the same error from both for every wrong length, nothing written on error; a hand-computed case.

use bsq_runtime::{Error, PadShape, reference};
use proptest::prelude::*;

fn pad_shape() -> impl Strategy<Value = PadShape> {
    (1usize..=9, 1usize..=9, 1usize..=6, 0usize..=4, 0usize..=4, 0usize..=4, 0usize..=4).prop_map(
        |(in_h, in_w, c, pad_top, pad_left, pad_bottom, pad_right)| PadShape {
            in_h,
            in_w,
            c,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
        },
    )
}

/// Runs both versions into outputs pre-filled with 0xEE; checks that an error wrote nothing.
fn both(shape: &PadShape, value: u8, input: &[u8], out: usize) -> (Result<Vec<u8>, Error>, Result<Vec<u8>, Error>) {
    let mut r = vec![0xEEu8; out];
    let mut f = vec![0xEEu8; out];
    let rr = reference::pad(shape, value, input, &mut r);
    let fr = bsq_runtime::pad(shape, value, input, &mut f);
    if rr.is_err() {
        assert!(r.iter().all(|&b| b == 0xEE), "reference wrote on error {rr:?}");
    }
    if fr.is_err() {
        assert!(f.iter().all(|&b| b == 0xEE), "fast wrote on error {fr:?}");
    }
    (rr.map(|_| r), fr.map(|_| f))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Fast = reference on every valid shape, and the output is the input in the middle, `value` around it.
    #[test]
    fn fast_pad_equals_reference(
        (shape, input) in pad_shape().prop_flat_map(|s| {
            let len = s.in_h * s.in_w * s.c;
            (Just(s), proptest::collection::vec(any::<u8>(), len))
        }),
        value in any::<u8>(),
    ) {
        let (_, out_len) = shape.lens().unwrap();
        let (r, f) = both(&shape, value, &input, out_len);
        let (r, f) = (r.unwrap(), f.unwrap());
        prop_assert_eq!(&r, &f);
        // Independently: the border bytes are `value`, the middle is the input.
        let (oh, ow) = shape.out_hw().unwrap();
        let c = shape.c;
        let border = (oh * ow - shape.in_h * shape.in_w) * c;
        let inner: Vec<u8> = (0..shape.in_h)
            .flat_map(|y| {
                let start = ((y + shape.pad_top) * ow + shape.pad_left) * c;
                r[start..start + shape.in_w * c].to_vec()
            })
            .collect();
        prop_assert_eq!(inner, input);
        prop_assert!(r.iter().filter(|&&b| b == value).count() >= border);
    }

    /// A wrong input or output length: the same error from both, nothing written.
    #[test]
    fn wrong_lengths_give_the_same_error(
        shape in pad_shape(),
        din in -3isize..=3,
        dout in -3isize..=3,
        value in any::<u8>(),
    ) {
        let (in_len, out_len) = shape.lens().unwrap();
        let input = vec![7u8; (in_len as isize + din).max(0) as usize];
        let out = (out_len as isize + dout).max(0) as usize;
        let (r, f) = both(&shape, value, &input, out);
        prop_assert_eq!(r.is_ok(), din == 0 && dout == 0);
        prop_assert_eq!(r, f);
    }
}

#[test]
fn pad_by_hand() {
    // A 2×2×1 input, padding 1 on top and left, 2 at the bottom, 0 on the right: 5×3, border 128.
    let shape = PadShape { in_h: 2, in_w: 2, c: 1, pad_top: 1, pad_left: 1, pad_bottom: 2, pad_right: 0 };
    let input = [1, 2, 3, 4];
    #[rustfmt::skip]
    let want = [
        128, 128, 128,
        128,   1,   2,
        128,   3,   4,
        128, 128, 128,
        128, 128, 128,
    ];
    let mut out = [0u8; 15];
    bsq_runtime::pad(&shape, 128, &input, &mut out).unwrap();
    assert_eq!(out, want);
    let mut out = [0u8; 15];
    reference::pad(&shape, 128, &input, &mut out).unwrap();
    assert_eq!(out, want);
    // Two channels, padding only on the right: each pixel's channels stay together.
    let shape = PadShape { in_h: 1, in_w: 1, c: 2, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 1 };
    let mut out = [0u8; 4];
    bsq_runtime::pad(&shape, 9, &[5, 6], &mut out).unwrap();
    assert_eq!(out, [5, 6, 9, 9]);
}

#[test]
fn pad_shape_errors() {
    let zero = PadShape { in_h: 0, in_w: 1, c: 1, ..PadShape::default() };
    assert_eq!(zero.lens(), Err(Error::Shape { what: "zero dimension" }));
    let over = PadShape { in_h: 1, in_w: 1, c: 1, pad_top: usize::MAX, ..PadShape::default() };
    assert_eq!(over.lens(), Err(Error::Shape { what: "overflow" }));
    let huge = PadShape { in_h: 1 << 40, in_w: 1 << 40, c: 1, ..PadShape::default() };
    assert_eq!(huge.lens(), Err(Error::Shape { what: "size overflows usize" }));
    assert_eq!(bsq_runtime::pad(&over, 0, &[0], &mut [0]), Err(Error::Shape { what: "overflow" }));
}
