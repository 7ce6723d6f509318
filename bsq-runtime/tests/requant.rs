//! Requantization against an independent `i128` model of the rule documented in `bsq_runtime::requant`
//! and `docs/runtime.md`.

use bsq_runtime::requant::{
    MAX_SHIFT, MIN_SHIFT, load, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, saturating_shl, store,
};
use bsq_runtime::{Error, OutputStage, Requant};
use proptest::prelude::*;

/// `round(v / 2^e)`, ties away from zero, exact.
fn model_round_pot(v: i128, e: u32) -> i128 {
    if e == 0 {
        return v;
    }
    let d = 1i128 << e;
    let q = (v.abs() + d / 2) / d;
    if v < 0 { -q } else { q }
}

/// The documented rule, step by step, in `i128` (no shortcut shared with the implementation).
fn model(x: i32, m: i32, shift: i8) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-(shift as i32)).max(0) as u32;
    // 1. saturating left shift
    let xs = ((x as i128) << left).clamp(i32::MIN as i128, i32::MAX as i128);
    // 2. rounding doubling high multiply: round(xs·m / 2^31), ties away from zero; MIN·MIN saturates.
    let h = if xs == i32::MIN as i128 && m == i32::MIN {
        i32::MAX as i128
    } else {
        let p = xs * m as i128;
        let nudge = if p >= 0 { 1i128 << 30 } else { 1 - (1i128 << 30) };
        (p + nudge) / (1i128 << 31) // i128 division truncates toward zero
    };
    assert!(h >= i32::MIN as i128 && h <= i32::MAX as i128);
    // 3. rounding right shift, ties away from zero
    model_round_pot(h, right) as i32
}

const SPECIAL_X: [i32; 21] = [
    0,
    1,
    -1,
    2,
    -2,
    3,
    -3,
    5,
    -5,
    127,
    -128,
    1 << 15,
    -(1 << 15),
    (1 << 20) + 1,
    -(1 << 20) - 1,
    1 << 30,
    -(1 << 30),
    i32::MAX,
    i32::MIN,
    i32::MAX - 1,
    i32::MIN + 1,
];
const SPECIAL_M: [i32; 10] =
    [0, 1, -1, 1 << 30, -(1 << 30), i32::MAX, i32::MIN, i32::MIN + 1, 1_518_500_250, -1_234_567_890];

/// Every shift in −31..=30 × special accumulators × special multipliers (incl. `i32::MIN`, `i32::MAX`, 0,
/// negatives): implementation = model.
#[test]
fn every_shift_special_values_match_model() {
    let mut checked = 0;
    for shift in MIN_SHIFT..=MAX_SHIFT {
        for &x in &SPECIAL_X {
            for &m in &SPECIAL_M {
                let rq = Requant::new(m, shift).unwrap();
                assert_eq!(rq.apply(x), model(x, m, shift), "x={x} m={m} shift={shift}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 62 * 21 * 10);
}

/// Hand-worked numbers of `docs/runtime.md`.
#[test]
fn worked_examples() {
    let half = 1 << 30; // 0.5 in Q31
    // Step 2 rounds ties toward +∞: 5 · 0.5 = 2.5 → 3, but −5 · 0.5 = −2.5 → −2
    // ((−5·2^30 + 1 − 2^30) / 2^31 = −3 + 2^−31, truncated toward zero).
    assert_eq!(Requant::new(half, 0).unwrap().apply(5), 3);
    assert_eq!(Requant::new(half, 0).unwrap().apply(-5), -2);
    assert_eq!(Requant::new(half, 0).unwrap().apply(-7), -3);
    // Double rounding: 5 · 0.5 · 2^−1 = 1.25 exactly, but step 2 gives 3 and step 3 rounds 1.5 to 2;
    // for −5, step 2 gives −2 and step 3 gives −1.
    assert_eq!(Requant::new(half, -1).unwrap().apply(5), 2);
    assert_eq!(Requant::new(half, -1).unwrap().apply(-5), -1);
    // 12 · 0.5 = 6; 6 / 4 = 1.5 → 2; 10 · 0.5 = 5; 5 / 4 = 1.25 → 1.
    assert_eq!(Requant::new(half, -2).unwrap().apply(12), 2);
    assert_eq!(Requant::new(half, -2).unwrap().apply(-12), -2);
    assert_eq!(Requant::new(half, -2).unwrap().apply(10), 1);
    // Identity: 0.5 · 2^1.
    for x in [-1000, -1, 0, 1, 77, 1 << 29] {
        assert_eq!(Requant::new(half, 1).unwrap().apply(x), x);
    }
    // 0.75 · 2^−8 on 1000: 750 / 256 = 2.93 → 3.
    assert_eq!(Requant::new(3 << 29, -8).unwrap().apply(1000), 3);
    // Negative multiplier: −0.5 · 7 = −3.5 → −3 (tie toward +∞), −0.5 · −7 = 3.5 → 4; −0.5 · 8 = −4.
    assert_eq!(Requant::new(-half, 0).unwrap().apply(7), -3);
    assert_eq!(Requant::new(-half, 0).unwrap().apply(-7), 4);
    assert_eq!(Requant::new(-half, 0).unwrap().apply(8), -4);
    // Saturation: the left shift saturates, and MIN · MIN saturates to MAX.
    assert_eq!(saturating_shl(1 << 20, 12), i32::MAX);
    assert_eq!(saturating_shl(-(1 << 20), 12), i32::MIN);
    assert_eq!(saturating_shl(-(1 << 20), 11), i32::MIN);
    assert_eq!(saturating_shl(-(1 << 20) - 1, 11), i32::MIN);
    assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
    assert_eq!(Requant::new(i32::MAX, 30).unwrap().apply(i32::MAX), i32::MAX - 1);
    assert_eq!(Requant::new(i32::MIN, 30).unwrap().apply(-5), i32::MAX);
    // MAX · MIN / 2^31 = −(2^31 − 1) − 0.5 + 2^−31 → truncated toward zero after the nudge: MIN + 1.
    assert_eq!(Requant::new(i32::MIN, 30).unwrap().apply(5), i32::MIN + 1);
    // Zero stays zero.
    assert_eq!(Requant::new(i32::MAX, -31).unwrap().apply(0), 0);
}

#[test]
fn rounding_divide_by_pot_ties_both_signs() {
    assert_eq!(rounding_divide_by_pot(1, 1), 1); // 0.5 → 1
    assert_eq!(rounding_divide_by_pot(-1, 1), -1); // −0.5 → −1
    assert_eq!(rounding_divide_by_pot(3, 1), 2); // 1.5 → 2
    assert_eq!(rounding_divide_by_pot(-3, 1), -2);
    assert_eq!(rounding_divide_by_pot(5, 2), 1); // 1.25 → 1
    assert_eq!(rounding_divide_by_pot(-5, 2), -1);
    assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 → 2
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    assert_eq!(rounding_divide_by_pot(1 << 30, 31), 1); // 0.5 → 1
    assert_eq!(rounding_divide_by_pot((1 << 30) - 1, 31), 0);
    assert_eq!(rounding_divide_by_pot(-(1 << 30), 31), -1);
    assert_eq!(rounding_divide_by_pot(-(1 << 30) + 1, 31), 0);
    for e in 0..=31u32 {
        for v in [0, 1, -1, 12345, -12345, i32::MAX, i32::MIN] {
            assert_eq!(rounding_divide_by_pot(v, e) as i128, model_round_pot(v as i128, e), "v={v} e={e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn apply_matches_model(x in any::<i32>(), m in any::<i32>(), shift in MIN_SHIFT..=MAX_SHIFT) {
        prop_assert_eq!(Requant::new(m, shift).unwrap().apply(x), model(x, m, shift));
    }

    /// Small accumulators (where ties are frequent) against the model.
    #[test]
    fn apply_matches_model_small(x in -70_000i32..70_000, m in prop_oneof![Just(1 << 30), Just(-(1 << 30)), (1 << 30)..i32::MAX], shift in -12i8..=2) {
        prop_assert_eq!(Requant::new(m, shift).unwrap().apply(x), model(x, m, shift));
    }

    /// The output-stage form: x' = sat(sat(x·2^left) + bias), then steps 2–3.
    #[test]
    fn apply_biased_matches_model(x in any::<i32>(), bias in any::<i32>(), m in any::<i32>(), shift in MIN_SHIFT..=MAX_SHIFT) {
        let left = shift.max(0) as u32;
        let xs = (((x as i128) << left).clamp(i32::MIN as i128, i32::MAX as i128) + bias as i128)
            .clamp(i32::MIN as i128, i32::MAX as i128) as i32;
        prop_assert_eq!(Requant::new(m, shift).unwrap().apply_biased(x, bias), model(xs, m, shift.min(0)));
    }

    #[test]
    fn doubling_high_mul_matches_model(a in any::<i32>(), b in any::<i32>()) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), model(a, b, 0));
    }

    #[test]
    fn saturating_shl_matches_model(x in any::<i32>(), s in 0u32..=31) {
        prop_assert_eq!(saturating_shl(x, s) as i128, ((x as i128) << s).clamp(i32::MIN as i128, i32::MAX as i128));
    }
}

/// Out-of-range shifts: refused by `Requant::new` and by the output stage; `apply` clamps them (total).
#[test]
fn shift_range_is_checked() {
    assert_eq!(Requant::new(1, 31), Err(Error::Requant { what: "shift outside -31..=30" }));
    assert_eq!(Requant::new(1, -32), Err(Error::Requant { what: "shift outside -31..=30" }));
    let bad = Requant { multiplier: 1 << 30, shift: 100 };
    assert_eq!(bad.apply(3), Requant::new(1 << 30, 30).unwrap().apply(3));
    let bad = Requant { multiplier: 1 << 30, shift: i8::MIN };
    assert_eq!(bad.apply(3), Requant::new(1 << 30, -31).unwrap().apply(3));
    let rq = [Requant { multiplier: 1, shift: 31 }];
    assert_eq!(
        OutputStage::for_bits(&[], &rq, 8, false).check(1),
        Err(Error::Requant { what: "shift outside -31..=30" })
    );
}

/// The output stage: bias (wrapping), requantization, clamp to the output type (fused ReLU), store.
#[test]
fn output_stage_clamps_and_wraps() {
    let one = [Requant::new(1 << 30, 1).unwrap()]; // ×1
    let u4 = OutputStage::for_bits(&[], &one, 4, false);
    assert_eq!((u4.min, u4.max), (0, 15));
    assert_eq!([u4.finish(0, -7), u4.finish(0, 0), u4.finish(0, 9), u4.finish(0, 16)], [0, 0, 9, 15]);
    let s8 = OutputStage::for_bits(&[], &one, 8, true);
    assert_eq!((s8.min, s8.max), (-128, 127));
    assert_eq!([s8.finish(0, -200), s8.finish(0, -1), s8.finish(0, 127), s8.finish(0, 128)], [0x80, 0xFF, 0x7F, 0x7F]);
    let s4 = OutputStage::for_bits(&[], &one, 4, true);
    assert_eq!((s4.min, s4.max), (-8, 7));
    // The bias is added after the left shift, saturating: 1·2 + i32::MAX saturates to MAX, ·0.5 = 2^30 →
    // clamps to 127; −3·2 + 5 = −1, ·0.5 = −0.5 → 0 (tie toward +∞); i32::MIN bias saturates low.
    let bias = [i32::MAX, 5, i32::MIN];
    let two = [one[0], one[0]];
    let st = OutputStage::for_bits(&bias[..2], &two, 8, true);
    assert_eq!(st.finish(0, 1), 0x7F);
    assert_eq!(st.finish(1, -3), 0);
    assert_eq!(one[0].apply_biased(-1, i32::MIN), -(1 << 30));
    assert_eq!(load(0x80, true), -128);
    assert_eq!(load(0x80, false), 128);
    assert_eq!(store(-1), 0xFF);
    // check(): lengths and clamp range.
    assert_eq!(st.check(2), Ok(()));
    assert_eq!(st.check(3), Err(Error::Length { what: "bias", expected: 3, got: 2 }));
    let st1 = OutputStage::for_bits(&[], &two, 8, false);
    assert_eq!(st1.check(3), Err(Error::Length { what: "requant", expected: 3, got: 2 }));
    let mut bad = OutputStage::for_bits(&[], &one, 8, false);
    bad.max = 256;
    assert_eq!(bad.check(1), Err(Error::Requant { what: "clamp range empty or outside the output byte type" }));
    bad.max = -1;
    assert_eq!(bad.check(1), Err(Error::Requant { what: "clamp range empty or outside the output byte type" }));
    let mut bad = OutputStage::for_bits(&[], &one, 8, true);
    bad.min = -129;
    assert_eq!(bad.check(1), Err(Error::Requant { what: "clamp range empty or outside the output byte type" }));
}
