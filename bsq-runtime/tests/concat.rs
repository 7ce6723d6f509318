//! Channel concat: the fast `concat` ≡ the reference one over random shapes, input counts, widths 2/4/8,
//! signedness and requantizations (the identity among them, which takes the fast path's copy or clamp),
//! with the same error for every invalid argument; hand-computed cases.

use bsq_runtime::{ConcatInput, Error, OutputStage, Requant, reference};
use proptest::prelude::*;

/// Two inputs of 2 pixels: `a` (1 channel, unsigned, rescaled by 1/2) and `b` (2 channels, signed, identity),
/// into a signed 4-bit output `[-8, 7]`. a = [5, 3] → 5/2 = 2.5 → 3 (ties toward +∞ in the multiply),
/// 3/2 = 1.5 → 2; b = [-9, 7 | 100, -1] → clamped -8, 7 | 7, -1.
#[test]
fn two_inputs_by_hand() {
    let half = Requant { multiplier: 1 << 30, shift: 0 };
    let rq = [half, Requant::IDENTITY];
    let stage = OutputStage::for_bits(&[], &rq, 4, true);
    let a = [5u8, 3];
    let b = [-9i8 as u8, 7, 100, -1i8 as u8];
    let inputs =
        [ConcatInput { data: &a, channels: 1, signed: false }, ConcatInput { data: &b, channels: 2, signed: true }];
    let (mut fast, mut slow) = ([0u8; 6], [0u8; 6]);
    bsq_runtime::concat(&inputs, 2, &stage, &mut fast).unwrap();
    reference::concat(&inputs, 2, &stage, &mut slow).unwrap();
    let want = [3i8, -8, 7, 2, 7, -1].map(|v| v as u8);
    assert_eq!((fast, slow), (want, want));
}

/// Unsigned 8-bit inputs with the identity into an unsigned 8-bit output are copied unchanged; a signed
/// one into an unsigned output is clamped at 0 (the ReLU of the output's range).
#[test]
fn identity_copies_or_clamps() {
    let rq = [Requant::IDENTITY];
    let stage = OutputStage::for_bits(&[], &rq, 8, false);
    let a = [0u8, 255, 17];
    let b = [200u8, 3, 128]; // signed: -56, 3, -128
    let inputs =
        [ConcatInput { data: &a, channels: 1, signed: false }, ConcatInput { data: &b, channels: 1, signed: true }];
    let mut out = [9u8; 6];
    bsq_runtime::concat(&inputs, 3, &stage, &mut out).unwrap();
    assert_eq!(out, [0, 0, 255, 3, 17, 0]);
}

/// An unsigned 4-bit output: the identity input is clamped to 15, a rescaled one (×3/4) rounds.
#[test]
fn clamp_to_a_narrow_output() {
    let rq = [Requant::IDENTITY, Requant { multiplier: 3 << 29, shift: 0 }];
    let stage = OutputStage::for_bits(&[], &rq, 4, false);
    let a = [16u8, 4];
    let b = [2u8, 30]; // 1.5 → 2, 22.5 → clamped 15
    let inputs =
        [ConcatInput { data: &a, channels: 1, signed: false }, ConcatInput { data: &b, channels: 1, signed: false }];
    let (mut fast, mut slow) = ([0u8; 4], [0u8; 4]);
    bsq_runtime::concat(&inputs, 2, &stage, &mut fast).unwrap();
    reference::concat(&inputs, 2, &stage, &mut slow).unwrap();
    assert_eq!((fast, slow), ([15, 2, 4, 15], [15, 2, 4, 15]));
}

#[test]
fn invalid_arguments_are_refused_alike() {
    let rq = [Requant::IDENTITY];
    let stage = OutputStage::for_bits(&[], &rq, 8, false);
    let a = [1u8; 4];
    let ok = ConcatInput { data: &a, channels: 2, signed: false };
    let mut out = [0u8; 8];
    let cases: Vec<(Vec<ConcatInput<'_>>, usize, usize, Error)> = vec![
        (vec![], 2, 8, Error::Shape { what: "concat of no inputs" }),
        (vec![ok, ConcatInput { channels: 0, ..ok }], 2, 8, Error::Shape { what: "concat input with 0 channels" }),
        (
            vec![ok, ConcatInput { channels: 3, ..ok }],
            2,
            8,
            Error::Length { what: "concat input", expected: 6, got: 4 },
        ),
        (vec![ok, ok], 2, 7, Error::Length { what: "concat output", expected: 8, got: 7 }),
        (vec![ok, ok], usize::MAX, 8, Error::Shape { what: "concat input size overflows" }),
    ];
    for (inputs, pixels, len, err) in cases {
        assert_eq!(bsq_runtime::concat(&inputs, pixels, &stage, &mut out[..len]), Err(err));
        assert_eq!(reference::concat(&inputs, pixels, &stage, &mut out[..len]), Err(err));
    }
    let three = [Requant::IDENTITY; 3];
    let bad = OutputStage::for_bits(&[], &three, 8, false);
    let err = Error::Length { what: "requant", expected: 2, got: 3 };
    assert_eq!(bsq_runtime::concat(&[ok, ok], 2, &bad, &mut out), Err(err));
    assert_eq!(reference::concat(&[ok, ok], 2, &bad, &mut out), Err(err));
    let biased = OutputStage::for_bits(&[0, 0], &rq, 8, false);
    let err = Error::Length { what: "concat bias", expected: 0, got: 2 };
    assert_eq!(bsq_runtime::concat(&[ok, ok], 2, &biased, &mut out), Err(err));
    assert_eq!(out, [0; 8], "nothing written on error");
}

fn requant() -> impl Strategy<Value = Requant> {
    prop_oneof![
        3 => Just(Requant::IDENTITY),
        5 => (any::<i32>(), -31i8..=30).prop_map(|(multiplier, shift)| Requant { multiplier, shift }),
        5 => ((1i32 << 30)..i32::MAX, -10i8..=3).prop_map(|(multiplier, shift)| Requant { multiplier, shift }),
    ]
}

/// One input: channels, signedness, and a requantization.
fn part() -> impl Strategy<Value = (usize, bool, Requant)> {
    (1usize..=7, any::<bool>(), requant())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// The fast concat = the reference one, for any inputs, requantizations and output widths.
    #[test]
    fn fast_concat_equals_reference(
        parts in prop::collection::vec(part(), 1..=4),
        pixels in 0usize..=9,
        bits in prop::sample::select(vec![2u8, 4, 8]),
        signed in any::<bool>(),
        shared in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut state = seed | 1;
        let mut byte = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let data: Vec<Vec<u8>> = parts.iter().map(|&(c, _, _)| (0..pixels * c).map(|_| byte()).collect()).collect();
        let inputs: Vec<ConcatInput<'_>> =
            parts.iter().zip(&data).map(|(&(channels, signed, _), d)| ConcatInput { data: d, channels, signed }).collect();
        let rq: Vec<Requant> = if shared { vec![parts[0].2] } else { parts.iter().map(|p| p.2).collect() };
        let stage = OutputStage::for_bits(&[], &rq, bits, signed);
        let total: usize = parts.iter().map(|p| p.0).sum();
        let (mut fast, mut slow) = (vec![0u8; pixels * total], vec![1u8; pixels * total]);
        prop_assert_eq!(reference::concat(&inputs, pixels, &stage, &mut slow), Ok(()));
        prop_assert_eq!(bsq_runtime::concat(&inputs, pixels, &stage, &mut fast), Ok(()));
        prop_assert_eq!(&fast, &slow);
        // Every input byte with the identity lands unchanged when it is inside the output's range.
        let (min, max) = (stage.min, stage.max);
        let mut off = 0;
        for (x, &(c, s, r)) in data.iter().zip(&parts) {
            let r = if shared { rq[0] } else { r };
            if r == Requant::IDENTITY {
                for p in 0..pixels {
                    for k in 0..c {
                        let v = bsq_runtime::requant::load(x[p * c + k], s);
                        let got = bsq_runtime::requant::load(fast[p * total + off + k], signed);
                        prop_assert_eq!(got, v.clamp(min, max));
                    }
                }
            }
            off += c;
        }
    }
}

/// `split_ins_out` hands out every input range (before or after the output, overlapping each other) and the
/// output, and refuses an input overlapping the output or outside the arena.
#[test]
fn split_ins_out_views() {
    let mut arena: Vec<u8> = (0..10).collect();
    let (xs, y) = bsq_runtime::arena::split_ins_out(&mut arena, [(0, 2), (7, 10), (1, 3)], (3, 6)).unwrap();
    assert_eq!(xs, [&[0u8, 1][..], &[7, 8, 9][..], &[1, 2][..]]);
    assert_eq!(y, [3, 4, 5]);
    let overlap = Error::Shape { what: "arena ranges overlap" };
    assert_eq!(bsq_runtime::arena::split_ins_out(&mut arena, [(0, 2), (5, 7)], (3, 6)).err(), Some(overlap));
    let outside = Error::Length { what: "arena range end", expected: 10, got: 11 };
    assert_eq!(bsq_runtime::arena::split_ins_out(&mut arena, [(8, 11)], (3, 6)).err(), Some(outside));
}
