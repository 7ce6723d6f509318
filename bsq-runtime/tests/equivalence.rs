//! Fast kernels ≡ reference kernels, byte for byte, over random shapes, every weight width 0..=8, random
//! (also invalid-pattern) packed bytes, activation widths 2/4/8, random requantization and bias.

use bsq_runtime::pack::{max_magnitude, pack, packed_len};
use bsq_runtime::requant::{MAX_SHIFT, MIN_SHIFT};
use bsq_runtime::{Conv2dShape, Error, OutputStage, PackedWeights, Requant, reference, scratch_len};
use proptest::prelude::*;

/// Packed weights of `rows × row_len` at `bits`: either packed from valid integers, or raw random bytes
/// (which may hold the never-written pattern −2^n and non-zero padding bits: the fast decoder must still
/// read what `get` reads).
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

fn shift() -> impl Strategy<Value = i8> {
    prop_oneof![4 => -14i8..=-4, 1 => MIN_SHIFT..=MAX_SHIFT]
}

/// A requantization: usually a normalized positive multiplier in [2^30, 2^31) (what codegen emits), sometimes
/// any `i32` (negative, zero, `i32::MIN`).
fn requant() -> impl Strategy<Value = Requant> {
    let m = prop_oneof![3 => (1i32 << 30)..=i32::MAX, 1 => any::<i32>(), 1 => Just(i32::MIN)];
    (m, shift()).prop_map(|(m, s)| Requant::new(m, s).unwrap())
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

/// Activation width and the matching input bytes in `[0, 2^a − 1]`.
fn activations(len: usize) -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![Just(2u8), Just(4u8), Just(8u8)]
        .prop_flat_map(move |a| (Just(a), proptest::collection::vec(0u8..=((1u16 << a) - 1) as u8, len)))
}

#[derive(Debug, Clone)]
struct ConvCase {
    shape: Conv2dShape,
    bits: u8,
    weights: Vec<u8>,
    a_bits: u8,
    input: Vec<u8>,
    requant: Vec<Requant>,
    bias: Vec<i32>,
    signed_out: bool,
}

fn conv_shape() -> impl Strategy<Value = Conv2dShape> {
    prop_oneof![4 => any_conv_shape(), 1 => pointwise_shape()]
}

/// 1×1 stride-1 shapes (the pointwise path's, and some it refuses: `in_c` not a multiple of 4, `out_c < 4`).
fn pointwise_shape() -> impl Strategy<Value = Conv2dShape> {
    let in_c = prop_oneof![3 => (1usize..=24).prop_map(|k| 4 * k), 1 => 1usize..=12];
    (in_c, 1usize..=13, 1usize..=9, 1usize..=40).prop_map(|(in_c, out_c, h, w)| Conv2dShape {
        in_h: h,
        in_w: w,
        in_c,
        out_c,
        k_h: 1,
        k_w: 1,
        stride_h: 1,
        stride_w: 1,
        ..Conv2dShape::default()
    })
}

fn any_conv_shape() -> impl Strategy<Value = Conv2dShape> {
    // Input channels: any count, or a multiple of 4 (the DSP kernel's own path).
    let in_c = prop_oneof![1usize..=20, (1usize..=5).prop_map(|k| 4 * k)];
    (1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3, in_c, 1usize..=7, 1usize..=9, 1usize..=9)
        .prop_flat_map(|(k_h, k_w, stride_h, stride_w, in_c, out_c, h, w)| {
            (Just((k_h, k_w, stride_h, stride_w, in_c, out_c, h, w)), 0..k_h, 0..k_h, 0..k_w, 0..k_w)
        })
        .prop_map(|((k_h, k_w, stride_h, stride_w, in_c, out_c, h, w), pt, pb, pl, pr)| Conv2dShape {
            in_h: h.max(k_h.saturating_sub(pt + pb)),
            in_w: w.max(k_w.saturating_sub(pl + pr)),
            in_c,
            out_c,
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

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (conv_shape(), 0u8..=8, any::<bool>()).prop_flat_map(|(shape, bits, signed_out)| {
        let (in_len, _, row_len) = shape.lens().unwrap();
        (weights_bytes(bits, shape.out_c, row_len), activations(in_len), requants(shape.out_c), biases(shape.out_c))
            .prop_map(move |(weights, (a_bits, input), requant, bias)| ConvCase {
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

/// (reference result, reference bytes, fast result, fast bytes, DSP result, DSP bytes).
type Outcome = (Result<(), Error>, Vec<u8>, Result<(), Error>, Vec<u8>, Result<(), Error>, Vec<u8>);

fn run_conv(c: &ConvCase) -> Outcome {
    let (_, out_len, row_len) = c.shape.lens().unwrap();
    let w = PackedWeights::new(c.bits, c.shape.out_c, row_len, &c.weights).unwrap();
    let stage = OutputStage::for_bits(&c.bias, &c.requant, c.a_bits, c.signed_out);
    // Both outputs start from the same garbage, so that an unwritten byte would show.
    let mut r = vec![0xA5u8; out_len];
    let mut f = vec![0xA5u8; out_len];
    let mut scratch = vec![0x5A5Ai16; scratch_len(row_len)];
    let rr = reference::conv2d(&c.shape, &c.input, &w, &stage, &mut r);
    let fr = bsq_runtime::conv2d(&c.shape, &c.input, &w, &stage, &mut scratch, &mut f);
    // The DSP kernel (portable instruction models on the host, the real instructions on the QEMU suites).
    let mut d = vec![0xA5u8; out_len];
    // With the scratch generated code allocates (the gathered-window path where it applies).
    let mut big = vec![0x5A5Ai16; bsq_runtime::conv_scratch_len(&c.shape)];
    let dr = bsq_runtime::conv2d_dsp(&c.shape, &c.input, &w, &stage, &mut big, &mut d);
    // Every per-width, per-path kernel gives the fast kernel's bytes where its path fits the shape, and
    // refuses the shape otherwise.
    use bsq_runtime::path::{DSP, GATHERED, POINTWISE, PORTABLE};
    for p in [PORTABLE, DSP, GATHERED, POINTWISE] {
        let mut b = vec![0xA5u8; out_len];
        let mut big = vec![0x5A5Ai16; bsq_runtime::conv_scratch_len(&c.shape)];
        let run = match p {
            PORTABLE => conv_bits::<PORTABLE>,
            DSP => conv_bits::<DSP>,
            POINTWISE => conv_bits::<POINTWISE>,
            _ => conv_bits::<GATHERED>,
        };
        let br = run(c.bits, &c.shape, &c.input, &w, &stage, &mut big, &mut b);
        let fits = match p {
            PORTABLE => true,
            DSP => c.shape.in_c.is_multiple_of(4),
            // The documented rule: 1×1, stride 1, no padding, in_c a multiple of 4, at least 4 output channels.
            POINTWISE => pointwise_fits(&c.shape),
            // The documented rule: in_c not a multiple of 4, a window of at most 256 elements, at most 32
            // output channels, at most 8192 decoded weights (whole groups of 4, channel count rounded up).
            _ => {
                let groups = c.shape.row_len().div_ceil(4);
                !c.shape.in_c.is_multiple_of(4)
                    && groups * 4 <= 256
                    && c.shape.out_c <= 32
                    && c.shape.out_c.div_ceil(2) * 8 * groups + 2 <= 8192
            }
        };
        if fits {
            assert_eq!((br, &b), (fr, &f), "conv2d_bits::<{}, {p}> differs from conv2d", c.bits);
        } else {
            assert_eq!(br, Err(Error::Shape { what: "kernel path does not fit the shape" }), "path {p}");
        }
    }
    // What generated code calls: the path `conv_path` chooses, with `conv_scratch_len`.
    let mut b = vec![0xA5u8; out_len];
    let mut big = vec![0x5A5Ai16; bsq_runtime::conv_scratch_len(&c.shape)];
    let auto = match bsq_runtime::conv_path(&c.shape) {
        PORTABLE => conv_bits::<PORTABLE>,
        DSP => conv_bits::<DSP>,
        POINTWISE => conv_bits::<POINTWISE>,
        _ => conv_bits::<GATHERED>,
    };
    assert_eq!((auto(c.bits, &c.shape, &c.input, &w, &stage, &mut big, &mut b), &b), (fr, &f));
    (rr, r, fr, f, dr, d)
}

/// The pointwise path's documented rule.
fn pointwise_fits(s: &Conv2dShape) -> bool {
    (s.k_h, s.k_w, s.stride_h, s.stride_w) == (1, 1, 1, 1)
        && (s.pad_top, s.pad_left, s.pad_bottom, s.pad_right) == (0, 0, 0, 0)
        && s.in_c.is_multiple_of(4)
        && s.in_c <= bsq_runtime::POINTWISE_MAX_IN
        && s.out_c >= 4
}

/// `conv2d_bits::<bits, P>` (what generated code calls, with `P = conv_path(shape)`).
fn conv_bits<const P: u8>(
    bits: u8,
    shape: &Conv2dShape,
    input: &[u8],
    w: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    out: &mut [u8],
) -> Result<(), Error> {
    use bsq_runtime::conv2d_bits as c;
    match bits {
        0 => c::<0, P>(shape, input, w, stage, scratch, out),
        1 => c::<1, P>(shape, input, w, stage, scratch, out),
        2 => c::<2, P>(shape, input, w, stage, scratch, out),
        3 => c::<3, P>(shape, input, w, stage, scratch, out),
        4 => c::<4, P>(shape, input, w, stage, scratch, out),
        5 => c::<5, P>(shape, input, w, stage, scratch, out),
        6 => c::<6, P>(shape, input, w, stage, scratch, out),
        7 => c::<7, P>(shape, input, w, stage, scratch, out),
        _ => c::<8, P>(shape, input, w, stage, scratch, out),
    }
}

/// `dense_bits::<bits>` (what generated code calls).
fn dense_bits(
    bits: u8,
    input: &[u8],
    w: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    out: &mut [u8],
) -> Result<(), Error> {
    use bsq_runtime::dense_bits as d;
    match bits {
        0 => d::<0>(input, w, stage, scratch, out),
        1 => d::<1>(input, w, stage, scratch, out),
        2 => d::<2>(input, w, stage, scratch, out),
        3 => d::<3>(input, w, stage, scratch, out),
        4 => d::<4>(input, w, stage, scratch, out),
        5 => d::<5>(input, w, stage, scratch, out),
        6 => d::<6>(input, w, stage, scratch, out),
        7 => d::<7>(input, w, stage, scratch, out),
        _ => d::<8>(input, w, stage, scratch, out),
    }
}

/// A per-width kernel refuses weights of another width.
#[test]
fn per_width_kernels_refuse_other_widths() {
    let data = [0u8; 8]; // 2 rows × 8 fields of 4 bits
    let w = PackedWeights::new(3, 2, 8, &data).unwrap();
    let rq = [Requant::new(1 << 30, 0).unwrap()];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let mut s = vec![0i16; scratch_len(8)];
    let e = Err(Error::Shape { what: "weight width differs from the kernel's" });
    assert_eq!(bsq_runtime::dense_bits::<4>(&[1; 8], &w, &st, &mut s, &mut [0; 2]), e);
    assert_eq!(bsq_runtime::dense_bits::<3>(&[1; 8], &w, &st, &mut s, &mut [0; 2]), Ok(()));
    let shape = Conv2dShape {
        in_h: 1,
        in_w: 1,
        in_c: 8,
        out_c: 2,
        k_h: 1,
        k_w: 1,
        stride_h: 1,
        stride_w: 1,
        pad_top: 0,
        pad_left: 0,
        pad_bottom: 0,
        pad_right: 0,
    };
    use bsq_runtime::path::{DSP, GATHERED, POINTWISE, PORTABLE};
    assert_eq!(bsq_runtime::conv2d_bits::<2, PORTABLE>(&shape, &[1; 8], &w, &st, &mut s, &mut [0; 2]), e);
    assert_eq!(bsq_runtime::conv2d_bits::<3, PORTABLE>(&shape, &[1; 8], &w, &st, &mut s, &mut [0; 2]), Ok(()));
    assert_eq!(bsq_runtime::conv2d_bits::<3, DSP>(&shape, &[1; 8], &w, &st, &mut s, &mut [0; 2]), Ok(()));
    // 8 input channels: no gathered path.
    let no = Err(Error::Shape { what: "kernel path does not fit the shape" });
    assert_eq!(bsq_runtime::conv2d_bits::<3, GATHERED>(&shape, &[1; 8], &w, &st, &mut s, &mut [0; 2]), no);
    // 2 output channels: no pointwise path (it needs 4), whatever the scratch.
    let mut big = vec![0i16; 1000];
    assert_eq!(bsq_runtime::conv2d_bits::<3, POINTWISE>(&shape, &[1; 8], &w, &st, &mut big, &mut [0; 2]), no);
}

/// The pointwise path refuses every shape outside its rule (3×3, stride 2, padding, `in_c` not a multiple of
/// 4, 3 output channels) and a scratch shorter than `conv_scratch_len`; it takes the others.
#[test]
fn pointwise_path_refuses_other_shapes() {
    use bsq_runtime::path::POINTWISE;
    let base = Conv2dShape {
        in_h: 3,
        in_w: 3,
        in_c: 8,
        out_c: 4,
        k_h: 1,
        k_w: 1,
        stride_h: 1,
        stride_w: 1,
        ..Default::default()
    };
    let no = Err(Error::Shape { what: "kernel path does not fit the shape" });
    let rq = [Requant::new(1 << 30, 0).unwrap()];
    let st = OutputStage::for_bits(&[], &rq, 8, false);
    let bad = [
        Conv2dShape { k_h: 3, k_w: 3, ..base },
        Conv2dShape { stride_h: 2, stride_w: 2, ..base },
        Conv2dShape { k_h: 3, k_w: 3, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1, ..base },
        Conv2dShape { in_c: 6, ..base },
        Conv2dShape { out_c: 3, ..base },
        // Above 128 input channels the DSP path runs (its scratch is one row, not five).
        Conv2dShape { in_c: 132, ..base },
    ];
    for shape in bad {
        let (in_len, out_len, row_len) = shape.lens().unwrap();
        let data = vec![0u8; packed_len(8, shape.out_c, row_len).unwrap()];
        let w = PackedWeights::new(8, shape.out_c, row_len, &data).unwrap();
        let mut s = vec![0i16; 4096];
        let mut out = vec![0u8; out_len];
        assert_eq!(
            bsq_runtime::conv2d_bits::<8, POINTWISE>(&shape, &vec![1; in_len], &w, &st, &mut s, &mut out),
            no,
            "{shape:?}"
        );
    }
    let (in_len, out_len, row_len) = base.lens().unwrap();
    let data = vec![0u8; packed_len(8, 4, row_len).unwrap()];
    let w = PackedWeights::new(8, 4, row_len, &data).unwrap();
    let need = bsq_runtime::conv_scratch_len(&base);
    assert_eq!(need, 5 * 8 + 2);
    let mut out = vec![0u8; out_len];
    let mut short = vec![0i16; need - 1];
    assert_eq!(
        bsq_runtime::conv2d_bits::<8, POINTWISE>(&base, &vec![1; in_len], &w, &st, &mut short, &mut out),
        Err(Error::Length { what: "conv scratch", expected: need, got: need - 1 })
    );
    let mut s = vec![0i16; need];
    assert_eq!(bsq_runtime::conv2d_bits::<8, POINTWISE>(&base, &vec![1; in_len], &w, &st, &mut s, &mut out), Ok(()));
}

fn first_diff(a: &[u8], b: &[u8]) -> Option<(usize, u8, u8)> {
    a.iter().zip(b).enumerate().find(|(_, (x, y))| x != y).map(|(i, (x, y))| (i, *x, *y))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn fast_conv2d_equals_reference(c in conv_case()) {
        let (rr, r, fr, f, dr, d) = run_conv(&c);
        prop_assert_eq!(rr, Ok(()));
        prop_assert_eq!(fr, Ok(()));
        prop_assert_eq!(dr, Ok(()));
        prop_assert!(first_diff(&r, &f).is_none(), "first difference (index, reference, fast): {:?}", first_diff(&r, &f));
        prop_assert!(first_diff(&r, &d).is_none(), "first difference (index, reference, DSP): {:?}", first_diff(&r, &d));
    }

    #[test]
    fn fast_dense_equals_reference(
        (bits, rows, row_len, weights, a_bits, input, requant, bias, signed_out) in
        (0u8..=8, 1usize..=12, 1usize..=300).prop_flat_map(|(bits, rows, row_len)| (
            Just(bits), Just(rows), Just(row_len),
            weights_bytes(bits, rows, row_len),
            activations(row_len),
            requants(rows),
            biases(rows),
            any::<bool>(),
        )).prop_map(|(b, r, l, w, (a, i), q, bi, s)| (b, r, l, w, a, i, q, bi, s))
    ) {
        let w = PackedWeights::new(bits, rows, row_len, &weights).unwrap();
        let stage = OutputStage::for_bits(&bias, &requant, a_bits, signed_out);
        let mut r = vec![0xA5u8; rows];
        let mut f = vec![0xA5u8; rows];
        let mut scratch = vec![0i16; scratch_len(row_len)];
        prop_assert_eq!(reference::dense(&input, &w, &stage, &mut r), Ok(()));
        prop_assert_eq!(bsq_runtime::dense(&input, &w, &stage, &mut scratch, &mut f), Ok(()));
        prop_assert!(first_diff(&r, &f).is_none(), "first difference (index, reference, fast): {:?}", first_diff(&r, &f));
        let mut d = vec![0xA5u8; rows];
        prop_assert_eq!(bsq_runtime::dense_dsp(&input, &w, &stage, &mut scratch, &mut d), Ok(()));
        let mut b = vec![0xA5u8; rows];
        prop_assert_eq!(dense_bits(bits, &input, &w, &stage, &mut scratch, &mut b), Ok(()));
        prop_assert_eq!(&b, &f, "dense_bits differs from dense");
        prop_assert!(first_diff(&r, &d).is_none(), "first difference (index, reference, DSP): {:?}", first_diff(&r, &d));
    }

    /// The fast residual add = the reference one (any requantizations, signedness, output stage).
    #[test]
    fn fast_add_equals_reference(
        (a, b) in (1usize..200).prop_flat_map(|n| (proptest::collection::vec(any::<u8>(), n), proptest::collection::vec(any::<u8>(), n))),
        (ra, rb, ro) in (requant(), requant(), requant()),
        (sa, sb, so) in (any::<bool>(), any::<bool>(), any::<bool>()),
        bits in 2u8..=8,
    ) {
        use bsq_runtime::AddInput;
        let ro = [ro];
        let stage = OutputStage::for_bits(&[], &ro, bits, so);
        let ia = AddInput { data: &a, signed: sa, requant: ra };
        let ib = AddInput { data: &b, signed: sb, requant: rb };
        let mut r = vec![0xA5u8; a.len()];
        let mut f = vec![0x5Au8; a.len()];
        prop_assert_eq!(reference::add(ia, ib, &stage, &mut r), Ok(()));
        prop_assert_eq!(bsq_runtime::add(ia, ib, &stage, &mut f), Ok(()));
        prop_assert_eq!(r, f);
    }

    /// The fast row decoder reads exactly what the random-access `get` reads, for any bytes.
    #[test]
    fn decode_row_equals_get(
        (bits, rows, row_len, bytes) in (0u8..=8, 1usize..=3, 1usize..=70)
            .prop_flat_map(|(b, r, l)| (Just(b), Just(r), Just(l), weights_bytes(b, r, l)))
    ) {
        let w = PackedWeights::new(bits, rows, row_len, &bytes).unwrap();
        let mut out = vec![0x7777i16; row_len + 3];
        for r in 0..rows {
            bsq_runtime::decode_row(&w, r, &mut out).unwrap();
            for (i, &v) in out[..row_len].iter().enumerate() {
                prop_assert_eq!(v as i32, w.get(r, i), "row {} weight {}", r, i);
            }
            prop_assert_eq!(&out[row_len..], &[0x7777i16; 3][..], "wrote past the row");
        }
    }
}

/// The accumulator wraps in both versions alike (a fan-in no generated model has).
///
/// Row 0: 70 000 × 255 × 255 = 4 551 750 000 ≡ 256 782 704 (mod 2^32);
/// row 1: 70 000 × 255 × (−256) = −4 569 600 000 ≡ −274 632 704.
/// Requantized by 0.5 · 2^−22 = 2^−23: 256 782 704 / 8 388 608 = 30.61 → 31; −274 632 704 / 8 388 608 = −32.74 → −33.
#[test]
fn accumulators_wrap_identically() {
    let n = 70_000usize;
    let input = vec![255u8; n];
    let vals = vec![255i32; 2 * n];
    let mut packed = vec![0u8; packed_len(8, 2, n).unwrap()];
    pack(8, n, &vals, &mut packed).unwrap();
    // Row 1 becomes all −256, the 9-bit pattern 1_0000_0000 that pack never writes: stream bits 9k+8 set.
    let rb = packed.len() / 2;
    for (i, b) in packed[rb..].iter_mut().enumerate() {
        *b = (0..8)
            .fold(0u8, |acc, bit| if (i * 8 + bit) % 9 == 8 && (i * 8 + bit) < 9 * n { acc | (1 << bit) } else { acc });
    }
    let w = PackedWeights::new(8, 2, n, &packed).unwrap();
    assert_eq!((w.get(0, 0), w.get(0, n - 1)), (255, 255));
    assert_eq!((w.get(1, 0), w.get(1, n - 1)), (-256, -256));
    let rq = [Requant::new(1 << 30, -22).unwrap()];
    let stage = OutputStage::for_bits(&[], &rq, 8, true);
    let expected = [31u8, -33i8 as u8];
    let mut r = [0u8; 2];
    let mut f = [0u8; 2];
    let mut scratch = vec![0i16; scratch_len(n)];
    reference::dense(&input, &w, &stage, &mut r).unwrap();
    bsq_runtime::dense(&input, &w, &stage, &mut scratch, &mut f).unwrap();
    assert_eq!(r, expected, "reference dense");
    assert_eq!(f, expected, "fast dense");

    // The same fan-in as a 1×1 convolution over a 1×2 image (HWC: pixel 0 then pixel 1).
    let shape = Conv2dShape {
        in_h: 1,
        in_w: 2,
        in_c: n,
        out_c: 2,
        k_h: 1,
        k_w: 1,
        stride_h: 1,
        stride_w: 1,
        ..Conv2dShape::default()
    };
    let input2 = vec![255u8; 2 * n];
    let mut r2 = [0u8; 4];
    let mut f2 = [0u8; 4];
    reference::conv2d(&shape, &input2, &w, &stage, &mut r2).unwrap();
    bsq_runtime::conv2d(&shape, &input2, &w, &stage, &mut scratch, &mut f2).unwrap();
    let expected2 = [expected[0], expected[1], expected[0], expected[1]];
    assert_eq!(r2, expected2, "reference conv");
    assert_eq!(f2, expected2, "fast conv");
}

/// Convolutions at the exactness limit of the packed two-channel path (1-bit weights: |w| ≤ 2 counting the
/// pattern −2; activations 255): 2·255·64 = 32 640 fits in 15 bits, 2·255·65 = 33 150 does not (the kernel
/// must then take the plain path). Weights at the extremes, both signs.
#[test]
fn packed_path_limit() {
    for (k, in_c) in [(1usize, 64usize), (1, 65), (3, 21), (3, 22), (1, 16), (1, 15)] {
        let shape = Conv2dShape {
            in_h: 3,
            in_w: 4,
            in_c,
            out_c: 5,
            k_h: k,
            k_w: k,
            stride_h: 1,
            stride_w: 1,
            pad_top: k / 2,
            pad_left: k / 2,
            pad_bottom: k / 2,
            pad_right: k / 2,
        };
        let (in_len, out_len, row_len) = shape.lens().unwrap();
        let rb = bsq_runtime::pack::row_bytes(1, row_len).unwrap();
        // Rows: all −2 (raw 0b10 fields), all +1, alternating −2/+1, all −1, all +1.
        let field_row = |f: &dyn Fn(usize) -> u8| -> Vec<u8> {
            let mut row = vec![0u8; rb];
            for i in 0..row_len {
                row[2 * i / 8] |= f(i) << (2 * i % 8);
            }
            row
        };
        let mut data = Vec::new();
        data.extend(field_row(&|_| 0b10));
        data.extend(field_row(&|_| 0b01));
        data.extend(field_row(&|i| if i % 2 == 0 { 0b10 } else { 0b01 }));
        data.extend(field_row(&|_| 0b11));
        data.extend(field_row(&|_| 0b01));
        let w = PackedWeights::new(1, 5, row_len, &data).unwrap();
        assert_eq!(w.get(0, row_len - 1), -2);
        let input = vec![255u8; in_len];
        let rq = [Requant::new(1 << 30, -8).unwrap()];
        let stage = OutputStage::for_bits(&[], &rq, 8, true);
        let mut r = vec![0u8; out_len];
        let mut f = vec![0u8; out_len];
        let mut scratch = vec![0i16; scratch_len(row_len)];
        reference::conv2d(&shape, &input, &w, &stage, &mut r).unwrap();
        bsq_runtime::conv2d(&shape, &input, &w, &stage, &mut scratch, &mut f).unwrap();
        assert_eq!(r, f, "k {k} in_c {in_c}");
        // Row 0 at an interior pixel: −2·255·row_len ·0.5·2^−8.
        assert_ne!(r[(shape.in_w + 1) * 5], 0);
    }
}
