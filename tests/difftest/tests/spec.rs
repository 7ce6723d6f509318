//! Hand-computed checks of the independent model (`bsq_difftest::spec`).
//!
//! Every expected value below is derived by hand from the rules of `docs/artifact.md` and
//! `docs/runtime.md`; the derivation is in the comment next to it. Notation: `rq(acc, bias, M, s)` is
//! `requantize`, `L = max(s, 0)`, `R = max(−s, 0)`; step 2 is `h = floor((x·M + 2^30) / 2^31)`, step 3
//! `y = round(h / 2^R)` with ties away from zero.

use bsq_difftest::spec::{
    self, ChannelParams, Lowered, RefusalKind, Rejection, apply, div_round, load, quantize, requantize,
};

const P30: i32 = 1 << 30;

/// A complete artifact around `layers` (raw JSON objects), with `labels` labels and no scheme.
fn artifact(shape: [u64; 3], scale: &str, layers: &[&str], output: &str, labels: usize) -> String {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    format!(
        r#"{{
  "format": "bsq-artifact",
  "version": 1,
  "name": "hand",
  "provenance": {{"tool": "hand", "created": "now", "dataset": "none"}},
  "labels": [{}],
  "input": {{"shape": [{},{},{}], "scale": {scale}}},
  "layers": [{}],
  "output": "{output}"
}}"#,
        labels.join(","),
        shape[0],
        shape[1],
        shape[2],
        layers.join(",\n")
    )
}

/// Loads, runs and returns (per-layer outputs, network output).
fn run(json: &str, input: &[u8]) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let model = load(json).unwrap_or_else(|e| panic!("load failed: {e}\n{json}"));
    model.run(input).expect("run")
}

fn layer_bytes<'a>(layers: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &layers.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no layer {name}")).1
}

fn refusal(json: &str) -> RefusalKind {
    match load(json) {
        Err(Rejection::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn invalid_at(json: &str) -> (String, String) {
    match load(json) {
        Err(Rejection::Invalid { layer, field, .. }) => (layer, field),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn is_parse_error(json: &str) -> bool {
    matches!(load(json), Err(Rejection::Parse(_)))
}

// ---------------------------------------------------------------------------------- runtime.md's table

#[test]
fn requantization_table_of_runtime_md() {
    // Row 1: x = 1000; h = floor((1000·3·2^29 + 2^30)/2^31) = floor(750 + 0.5) = 750; R = 8:
    // round(750/256 = 2.93) = 3.
    assert_eq!(requantize(1000, 0, 3 << 29, -8), 3);
    // Row 2: x = 5, h = floor((5·2^30 + 2^30)/2^31) = floor(3) = 3 (2.5 → 3, tie toward +∞).
    assert_eq!(requantize(5, 0, P30, 0), 3);
    // Row 3: h = floor((−5·2^30 + 2^30)/2^31) = floor(−2) = −2 (−2.5 → −2).
    assert_eq!(requantize(-5, 0, P30, 0), -2);
    // Row 4: h = 3, R = 1: 3/2 = 1.5 → 2.
    assert_eq!(requantize(5, 0, P30, -1), 2);
    // Row 5: h = −2, −2/2 = −1.
    assert_eq!(requantize(-5, 0, P30, -1), -1);
    // Row 6: h = floor((−12·2^30 + 2^30)/2^31) = floor(−5.5) = −6; −6/4 = −1.5 → −2 (away from zero).
    assert_eq!(requantize(-12, 0, P30, -2), -2);
    // Row 7: L = 1: x = 10 + 1 = 11; h = floor((11 + 1)/2) = 6.
    assert_eq!(requantize(5, 1, P30, 1), 6);
    // Row 8: x = 12 − 11 = 1; h = floor((1 + 1)/2) = 1.
    assert_eq!(requantize(6, -11, P30, 1), 1);
    // Row 9: 2^20·2^12 = 2^32 saturates to 2^31 − 1. With M = 2^30: h = floor(((2^31−1) + 1)/2) = 2^30.
    assert_eq!(requantize(1 << 20, 0, P30, 12), P30);
    // With M = 3·2^29: h = floor(((2^31−1)·3·2^29 + 2^30)/2^31) = floor(3·2^29 − 3/4 + 1/2) = 3·2^29 − 1.
    assert_eq!(requantize(1 << 20, 0, 3 << 29, 12), (3 << 29) - 1);
    // Row 10: x = sat(2 + 2^31 − 1) = 2^31 − 1; h = 2^30; clamped to s8 → 127.
    assert_eq!(requantize(1, i32::MAX, P30, 1), P30);
    assert_eq!(requantize(1, i32::MAX, P30, 1).clamp(-128, 127), 127);
}

#[test]
fn requantization_corner_cases() {
    // The one overflow of step 2: x = M = −2^31 gives 2^31 − 1.
    assert_eq!(requantize(i32::MIN, 0, i32::MIN, 0), i32::MAX);
    // ... then R = 1: (2^31 − 1)/2 = 2^30 − 0.5 → 2^30 (away from zero).
    assert_eq!(requantize(i32::MIN, 0, i32::MIN, -1), P30);
    // Negative multiplier: x = 5, M = −2^30: h = floor((−5·2^30 + 2^30)/2^31) = floor(−2) = −2 (−2.5 → −2).
    assert_eq!(requantize(5, 0, -P30, 0), -2);
    // x = −5, M = −2^30: h = floor((5·2^30 + 2^30)/2^31) = 3 (2.5 → 3).
    assert_eq!(requantize(-5, 0, -P30, 0), 3);
    // Saturation downwards in step 1: −2^20·2^12 → −2^31; + bias −1 stays −2^31; M = 2^30: h = −2^30.
    assert_eq!(requantize(-(1 << 20), -1, P30, 12), -P30);
    // Bias saturation after the shift: x = sat(2^30·2 = 2^31 → 2^31 − 1) then + 1 → 2^31 − 1.
    assert_eq!(requantize(P30, 1, P30, 1), P30);
    // M = 0 gives 0 whatever the accumulator (artifact.md § Refusals: "a multiplier too small … becomes 0").
    assert_eq!(requantize(123_456, 789, 0, -31), 0);
    // R = 31: x = −2^31, M = 2^30: h = floor((−2^61 + 2^30)/2^31) = floor(−2^30 + 0.5) = −2^30;
    // −2^30 / 2^31 = −0.5 → −1 (away from zero). x = −2^30, M = 2^31 − 1:
    // h = floor((−2^30·(2^31 − 1) + 2^30)/2^31) = floor(−2^30 + 1) = −2^30 + 1, / 2^31 = −0.4999… → 0.
    assert_eq!(requantize(i32::MIN, 0, P30, -31), -1);
    assert_eq!(requantize(-P30, 0, i32::MAX, -31), 0);
    assert_eq!(requantize(i32::MAX, 0, P30, -31), 1); // h = floor(2^30 − 0.5 + 0.5) = 2^30: 0.5 → 1
    // apply = requantize without bias.
    assert_eq!(apply(P30, 20, 3), 3 << 19);
}

#[test]
fn div_round_ties_away_from_zero() {
    // runtime.md: "2.5 → 3, −0.5 → −1".
    assert_eq!(div_round(5, 2), 3);
    assert_eq!(div_round(-1, 2), -1);
    assert_eq!(div_round(-5, 2), -3);
    assert_eq!(div_round(7, 3), 2); // 2.33
    assert_eq!(div_round(-7, 3), -2);
    assert_eq!(div_round(0, 4), 0);
}

// ---------------------------------------------------------------------------------- quantize

#[test]
fn quantize_examples_of_artifact_md() {
    // "0.75 → (3·2^29, 0); 1.0 → (2^30, 1); 2^−40 → (2^22, −31); 2^−63 → (0, −31); 1 − 2^−40 → (2^30, 1);
    // −0.375 → (−3·2^29, −1)".
    assert_eq!(quantize(0.75), Ok((3 << 29, 0)));
    assert_eq!(quantize(1.0), Ok((P30, 1)));
    assert_eq!(quantize(2f64.powi(-40)), Ok((1 << 22, -31)));
    assert_eq!(quantize(2f64.powi(-63)), Ok((0, -31)));
    assert_eq!(quantize(1.0 - 2f64.powi(-40)), Ok((P30, 1)));
    assert_eq!(quantize(-0.375), Ok((-(3 << 29), -1)));
}

#[test]
fn quantize_edges() {
    // Step 1.
    assert_eq!(quantize(0.0), Ok((0, 0)));
    assert_eq!(quantize(-0.0), Ok((0, 0)));
    assert_eq!(quantize(f64::NAN), Err(RefusalKind::MultiplierTooLarge));
    assert_eq!(quantize(f64::INFINITY), Err(RefusalKind::MultiplierTooLarge));
    // Step 3: 2^30 = 0.5·2^31, e = 31 > 30.
    assert_eq!(quantize(2f64.powi(30)), Err(RefusalKind::MultiplierTooLarge));
    // 2^30 − 1 = (1 − 2^−30)·2^30: q = 2^31 − 2, e = 30: accepted.
    assert_eq!(quantize(2f64.powi(30) - 1.0), Ok((i32::MAX - 1, 30)));
    // Step 6: 2^30 − 2^−3 = (1 − 2^−33)·2^30: m·2^31 = 2^31 − 2^−2 rounds to 2^31, e becomes 31: refused.
    assert_eq!(quantize(2f64.powi(30) - 0.125), Err(RefusalKind::MultiplierTooLarge));
    // Step 5 ties to even: m = 0.5 + 2^−32: m·2^31 = 2^30 + 0.5 → 2^30; m = 0.5 + 3·2^−32 → 2^30 + 1.5 → 2^30 + 2.
    assert_eq!(quantize(0.5 + 2f64.powi(-32)), Ok((P30, 0)));
    assert_eq!(quantize(0.5 + 3.0 * 2f64.powi(-32)), Ok((P30 + 2, 0)));
    // Step 4 with rounding: 3·2^−64 = 0.75·2^−62: m = 0.75·2^−31, m·2^31 = 0.75 → 1: (1, −31).
    assert_eq!(quantize(3.0 * 2f64.powi(-64)), Ok((1, -31)));
    // The smallest subnormal rounds to 0.
    assert_eq!(quantize(f64::from_bits(1)), Ok((0, -31)));
    assert_eq!(quantize(-f64::from_bits(1)), Ok((0, -31)));
    // Negative, large: −(2^30 − 1) → (−(2^31 − 2), 30).
    assert_eq!(quantize(1.0 - 2f64.powi(30)), Ok((-(i32::MAX - 1), 30)));
}

// ---------------------------------------------------------------------------------- layers

/// Conv 2×2, stride 2, padding [top 1, left 1, bottom 0, right 0], two output channels, signed 8-bit output.
///
/// Input [3,3,1] (scale 0.5): rows [1,2,3], [3,5,6], [7,8,9]. Weights 1-bit, scale 1.0:
/// channel 0 = [[1,1],[1,1]], channel 1 = [[0,−1],[1,0]] (order `[o][i][j][c]`).
/// Output [(3+1+0−2)/2+1, same, 2] = [2,2,2]. Window of (y,x): rows 2y+i−1, columns 2x+j−1.
///
/// Lowering: S = 0.5·1.0/(2^1−1) = 0.5, c = 1, C = 0.5, C/s_out = 0.5/1.0 → quantize(0.5) = (2^30, 0);
/// L = 0, bias = round(0/0.5) = 0. Bound: (2·255)·1 + 0 fine. Output stage:
/// h = floor((acc·2^30 + 2^30)/2^31) = floor((acc+1)/2), R = 0.
///
/// Channel 0: (0,0) reads only in[0][0] = 1 → floor(2/2) = 1; (0,1) reads in[0][1]+in[0][2] = 5 → 3;
/// (1,0) reads in[1][0]+in[2][0] = 3+7 = 10 → floor(11/2) = 5; (1,1) reads 5+6+8+9 = 28 → 14.
/// Channel 1 (w01 = −1 at (i,j) = (0,1), w10 = 1 at (1,0)): (0,0): (−1,0) and (0,−1) outside → 0;
/// (0,1): w01 at row −1 → 0, w10 at (0,1) = 2 → floor(3/2) = 1; (1,0): w01 at (1,0) = 3 → −3, w10 at
/// (2,−1) → 0: floor(−2/2) = −1 (−1.5 → −1, tie toward +∞) = 0xFF; (1,1): −in[1][2] + in[2][1] = −6+8 = 2 → 1.
const CONV: &str = r#"{"op": "conv2d", "name": "conv", "input": "input", "in_channels": 1, "out_channels": 2,
  "kernel": [2,2], "stride": [2,2], "padding": [1,1,0,0],
  "weight": {"bits": 1, "scale": 1.0, "values": [1,1,1,1, 0,-1,1,0]},
  "out": {"bits": 8, "scale": 1.0, "signed": true}}"#;
const CONV_INPUT: [u8; 9] = [1, 2, 3, 3, 5, 6, 7, 8, 9];
const CONV_OUTPUT: [u8; 8] = [1, 0, 3, 1, 5, 0xFF, 14, 1];

#[test]
fn conv_with_padding_and_stride() {
    let json = artifact([3, 3, 1], "0.5", &[CONV], "conv", 8);
    let model = load(&json).unwrap();
    assert_eq!(
        model.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: 0, multiplier: P30, shift: 0 }; 2])
    );
    let (layers, output) = model.run(&CONV_INPUT).unwrap();
    assert_eq!(output, CONV_OUTPUT);
    assert_eq!(layers, vec![("conv".to_string(), CONV_OUTPUT.to_vec())]);
}

#[test]
fn output_need_not_be_the_last_layer() {
    // The conv above is the output; a later max pool (2×2 window over [2,2,2]) still runs: channel 0
    // max(1,3,5,14) = 14, channel 1 max(0,1,−1,1) = 1 (signed).
    let pool = r#"{"op": "max_pool", "name": "after", "input": "conv", "kernel": [2,2], "stride": [1,1]}"#;
    let json = artifact([3, 3, 1], "0.5", &[CONV, pool], "conv", 8);
    let (layers, output) = run(&json, &CONV_INPUT);
    assert_eq!(output, CONV_OUTPUT);
    assert_eq!(layer_bytes(&layers, "after"), [14, 1]);
    assert_eq!(layers.len(), 2);
}

/// Dense 2 → 2 with BatchNorm and bias, unsigned 4-bit output (scale 0.5), input [1,1,2] scale 0.25,
/// weights 2-bit scale 3.0: S = 0.25·3.0/(2^2−1) = 0.25.
///
/// Channel 0: γ 1, var 3, eps 1 → c = 1/sqrt(3+1) = 0.5; β 3, μ 2, b 0 → B = 3 + 0.5·(0−2) = 2.
/// C = 0.5·0.25 = 0.125, C/s_out = 0.25 → quantize = (2^30, −1); L = 0; bias = round(2/0.125) = 16.
/// rq: x = acc + 16, h = floor((x+1)/2), y = round(h/2) away from zero.
/// Channel 1: γ −2, var 0, eps 1 → c = −2/sqrt(0+1) = −2; β 0.5, μ 0.25, b 1 → B = 0.5 + (−2)·(1 − 0.25)
/// = −1. C = −2·0.25 = −0.5, C/s_out = −1 → quantize = (−2^30, 1); L = 1; bias = round(−1/−0.5·2) = 4.
/// rq: x = 2·acc + 4, h = floor((−x + 1)/2), R = 0.
///
/// Weights: channel 0 [3, −1], channel 1 [−2, 1].
#[test]
fn dense_with_batchnorm() {
    let dense = r#"{"op": "dense", "name": "fc", "input": "input", "in_features": 2, "out_features": 2,
      "weight": {"bits": 2, "scale": 3.0, "values": [3,-1,-2,1]},
      "bias": [0.0, 1.0],
      "bn": {"gamma": [1.0, -2.0], "beta": [3.0, 0.5], "mean": [2.0, 0.25], "var": [3.0, 0.0], "eps": 1.0},
      "out": {"bits": 4, "scale": 0.5, "signed": false}}"#;
    let json = artifact([1, 1, 2], "0.25", &[dense], "fc", 2);
    let model = load(&json).unwrap();
    assert_eq!(
        model.lowered()[0].1,
        Lowered::Affine(vec![
            ChannelParams::Requant { bias: 16, multiplier: P30, shift: -1 },
            ChannelParams::Requant { bias: 4, multiplier: -P30, shift: 1 },
        ])
    );
    // Input [10, 4]: ch0 acc = 30 − 4 = 26, x = 42, h = floor(43/2) = 21, y = round(10.5) = 11.
    // ch1 acc = −20 + 4 = −16, x = −28, h = floor(29/2) = 14, y = 14 (≤ 15).
    assert_eq!(model.run(&[10, 4]).unwrap().1, [11, 14]);
    // Input [0, 200]: ch0 acc = −200, x = −184, h = floor(−183/2) = −92, y = −46 → ReLU 0.
    // ch1 acc = 200, x = 404, h = floor(−403/2) = −202 → 0.
    assert_eq!(model.run(&[0, 200]).unwrap().1, [0, 0]);
    // Input [1, 0]: ch0 acc = 3, x = 19, h = 10, y = 5. ch1 acc = −2, x = 0, h = floor(1/2) = 0.
    assert_eq!(model.run(&[1, 0]).unwrap().1, [5, 0]);
    // Input [6, 0]: ch0 acc = 18, x = 34, h = floor(35/2) = 17, y = round(8.5) = 9.
    // ch1 acc = −12, x = −20, h = floor(21/2) = 10, y = 10.
    assert_eq!(model.run(&[6, 0]).unwrap().1, [9, 10]);
    // Input [20, 0]: ch0 acc = 60, x = 76, h = 38, y = 19 → clamp 15. ch1 acc = −40, x = −76,
    // h = floor(77/2) = 38 → clamp 15.
    assert_eq!(model.run(&[20, 0]).unwrap().1, [15, 15]);
}

/// A 1×1 conv that subtracts 10, with a signed 8-bit output, then pools.
///
/// Input scale 1.0, weight 1-bit scale 1.0 value [1] → S = 1, C = 1, C/s_out = 1 → quantize(1) =
/// (2^30, 1), L = 1, bias = round(−10/1·2) = −20. rq: x = 2·acc − 20, h = floor((x+1)/2) = acc − 10.
/// Input [2,6,1]: row 0 = 11 12 9 8 9 10, row 1 = 13 14 7 6 10 9 → conv row 0 = 1 2 −1 −2 −1 0,
/// row 1 = 3 4 −3 −4 0 −1.
const SUB10: &str = r#"{"op": "conv2d", "name": "sub", "input": "input", "in_channels": 1, "out_channels": 1,
  "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
  "weight": {"bits": 1, "scale": 1.0, "values": [1]}, "bias": [-10.0],
  "out": {"bits": 8, "scale": 1.0, "signed": true}}"#;
const POOL_INPUT: [u8; 12] = [11, 12, 9, 8, 9, 10, 13, 14, 7, 6, 10, 9];

#[test]
fn pools_signed_and_unsigned() {
    let layers = [
        SUB10,
        // 2×2 windows, stride 2 → [1,3,1]: windows (1,2,3,4), (−1,−2,−3,−4), (−1,0,0,−1).
        r#"{"op": "avg_pool", "name": "avg", "input": "sub", "kernel": [2,2], "stride": [2,2]}"#,
        r#"{"op": "max_pool", "name": "max", "input": "sub", "kernel": [2,2], "stride": [2,2]}"#,
        // Unsigned, on the input bytes: windows (11,12,13,14), (9,8,7,6), (9,10,10,9).
        r#"{"op": "avg_pool", "name": "uavg", "input": "input", "kernel": [2,2], "stride": [2,2]}"#,
        // Global: sum of the 12 conv values = 10 − 10 − 2 = −2 → round(−2/12) = 0.
        r#"{"op": "global_avg_pool", "name": "gap", "input": "sub"}"#,
        // Overlapping windows, kernel [1,3] stride [1,2] on the conv: row 0 windows (1,2,−1) and (−1,−2,−1);
        // row 1 (3,4,−3) and (−3,−4,0) → [1,2,1]: round(2/3) = 1, round(−4/3) = −1, round(4/3) = 1,
        // round(−7/3) = −2.
        r#"{"op": "avg_pool", "name": "strided", "input": "sub", "kernel": [1,3], "stride": [1,2]}"#,
    ];
    let json = artifact([2, 6, 1], "1.0", &layers, "avg", 3);
    let (out, output) = run(&json, &POOL_INPUT);
    assert_eq!(layer_bytes(&out, "sub"), [1, 2, 0xFF, 0xFE, 0xFF, 0, 3, 4, 0xFD, 0xFC, 0, 0xFF]);
    // avg: 10/4 = 2.5 → 3; −10/4 = −2.5 → −3; −2/4 = −0.5 → −1 (ties away from zero).
    assert_eq!(output, [3, 0xFD, 0xFF]);
    // max, signed: 4; −1; max(−1,0,0,−1) = 0 (an unsigned comparison would give 0xFF).
    assert_eq!(layer_bytes(&out, "max"), [4, 0xFF, 0]);
    // unsigned avg: 50/4 = 12.5 → 13; 30/4 = 7.5 → 8; 38/4 = 9.5 → 10.
    assert_eq!(layer_bytes(&out, "uavg"), [13, 8, 10]);
    assert_eq!(layer_bytes(&out, "gap"), [0]);
    assert_eq!(layer_bytes(&out, "strided"), [1, 0xFF, 1, 0xFE]);
}

/// `add` of the input (scale 0.5, unsigned 8-bit: A = 255) and a conv of it (scale 0.25, signed 8-bit:
/// B = 2^7 = 128), output scale 1.0, signed 8-bit.
///
/// The conv "b": 1×1, 2 → 2 channels, 1-bit weights [1,1] and [−1,1], scale 1.0: S = 0.5, C/s_out =
/// 0.5/0.25 = 2 → quantize(2) = (2^30, 2), L = 2, bias 0: x = 4·acc, h = floor(2·acc + 0.5) = 2·acc.
/// So b0 = 2(in0 + in1), b1 = 2(in1 − in0), clamped to [−128, 127].
///
/// add: r_a = 0.5, r_b = 0.25, peak = 255·0.5 + 128·0.25 = 159.5; 159.5·2^20 = 167 247 872 < 2^30, and
/// K ≤ 20, so K = 20. requant_a = quantize(2^19) = (2^30, 20), requant_b = quantize(2^18) = (2^30, 19);
/// a' = a·2^19, b' = b·2^18 (exact: x = a·2^20, h = floor(a·2^19 + 0.5)). Output stage (2^30, −19):
/// h = floor(sum/2 + 0.5) = sum/2 (sum is even), y = round(h/2^19) = round(a/2 + b/4), ties away.
#[test]
fn add_of_two_scales() {
    let layers = [
        r#"{"op": "conv2d", "name": "b", "input": "input", "in_channels": 2, "out_channels": 2,
          "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
          "weight": {"bits": 1, "scale": 1.0, "values": [1,1,-1,1]},
          "out": {"bits": 8, "scale": 0.25, "signed": true}}"#,
        r#"{"op": "add", "name": "sum", "inputs": ["input", "b"], "out": {"bits": 8, "scale": 1.0, "signed": true}}"#,
    ];
    let json = artifact([1, 1, 2], "0.5", &layers, "sum", 2);
    let model = load(&json).unwrap();
    assert_eq!(model.lowered()[1].1, Lowered::Add { requant_a: (P30, 20), requant_b: (P30, 19), k: 20 });
    // in = [5, 1]: b = [12, −8]; sum0 = (10 + 12)·2^18, h = 11·2^18, y = 5.5 → 6;
    // sum1 = (2 − 8)·2^18, h = −3·2^18, y = −1.5 → −2 = 0xFE.
    let (layers_out, output) = model.run(&[5, 1]).unwrap();
    assert_eq!(layer_bytes(&layers_out, "b"), [12, 0xF8]);
    assert_eq!(output, [6, 0xFE]);
    // in = [200, 100]: b0 = 600 → 127, b1 = −200 → −128. y0 = round(100 + 31.75) = 132 → 127;
    // y1 = round(50 − 32) = 18.
    let (layers_out, output) = model.run(&[200, 100]).unwrap();
    assert_eq!(layer_bytes(&layers_out, "b"), [127, 0x80]);
    assert_eq!(output, [127, 18]);
}

#[test]
fn add_of_a_tensor_with_itself_and_k_below_20() {
    // Same tensor twice, input scale 1.0, output scale 0.25 → r_a = r_b = 4, peak = 255·4 + 255·4 = 2040;
    // 2040·2^20 = 2 139 095 040 ≥ 2^30 but 2040·2^19 = 1 069 547 520 < 2^30: K = 19.
    // requant = quantize(4·2^19 = 2^21) = (2^30, 22); output stage (2^30, 1 − 19 = −18).
    // a' = a·2^21, sum = a·2^22, h = floor(sum/2 + 0.5) = a·2^21, y = round(a·2^21 / 2^18) = 8a, clamped to
    // unsigned 8-bit. in = [3, 100] → [24, 255].
    let add = r#"{"op": "add", "name": "twice", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 0.25, "signed": false}}"#;
    let json = artifact([1, 1, 2], "1.0", &[add], "twice", 2);
    let model = load(&json).unwrap();
    assert_eq!(model.lowered()[0].1, Lowered::Add { requant_a: (P30, 22), requant_b: (P30, 22), k: 19 });
    assert_eq!(model.run(&[3, 100]).unwrap().1, [24, 255]);
    // Output scale 0.5: peak = 1020, 1020·2^20 = 1 069 547 520 < 2^30: K = 20 (the cap).
    let add = add.replace("0.25", "0.5");
    let model = load(&artifact([1, 1, 2], "1.0", &[&add], "twice", 2)).unwrap();
    assert_eq!(model.lowered()[0].1, Lowered::Add { requant_a: (P30, 22), requant_b: (P30, 22), k: 20 });
    // a' = a·2^21, sum = a·2^22, stage (2^30, −19): h = a·2^21, y = round(a·2^21/2^19) = 4a.
    assert_eq!(model.run(&[3, 100]).unwrap().1, [12, 255]);
}

#[test]
fn constant_layers() {
    // A 0-bit conv (values empty, weight scale −1 is "ignored and not checked"), 1×1 over [2,1,1], 3 channels,
    // signed 4-bit output [−8, 7], scale 1.0. No bn: c = 1, B = bias. v = clamp(round(B / 1.0)):
    // −2.5 → −3 (away from zero) = 0xFD; 1.5 → 2; −20 → −8 = 0xF8. Every pixel the same.
    let zero = r#"{"op": "conv2d", "name": "zero", "input": "input", "in_channels": 1, "out_channels": 3,
      "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
      "weight": {"bits": 0, "scale": -1.0, "values": []}, "bias": [-2.5, 1.5, -20.0],
      "out": {"bits": 4, "scale": 1.0, "signed": true}}"#;
    // All-zero 3-bit weights: constant too, so γ = 0 is fine. c = 0/sqrt(1 + 0) = 0,
    // B = −0.75 + 0·(0 − 3) = −0.75; v = round(−0.75/0.5 = −1.5) = −2 = 0xFE.
    let zero_weights = r#"{"op": "dense", "name": "allzero", "input": "input", "in_features": 2, "out_features": 1,
      "weight": {"bits": 3, "scale": 1.0, "values": [0, 0]},
      "bn": {"gamma": [0.0], "beta": [-0.75], "mean": [3.0], "var": [1.0], "eps": 0.0},
      "out": {"bits": 8, "scale": 0.5, "signed": true}}"#;
    // 0-bit with values given (all 0), no vectors, unsigned: every channel clamp(round(0)) = 0.
    let plain = r#"{"op": "dense", "name": "plain", "input": "input", "in_features": 2, "out_features": 2,
      "weight": {"bits": 0, "scale": 0.0, "values": [0,0,0,0]},
      "out": {"bits": 2, "scale": 1.0, "signed": false}}"#;
    let json = artifact([2, 1, 1], "1.0", &[zero, zero_weights, plain], "zero", 6);
    let model = load(&json).unwrap();
    assert_eq!(
        model.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Constant(-3), ChannelParams::Constant(2), ChannelParams::Constant(-8)])
    );
    let (layers, output) = model.run(&[200, 7]).unwrap();
    assert_eq!(output, [0xFD, 2, 0xF8, 0xFD, 2, 0xF8]);
    assert_eq!(layer_bytes(&layers, "allzero"), [0xFE]);
    assert_eq!(layer_bytes(&layers, "plain"), [0, 0]);
}

#[test]
fn flatten_then_global_avg_pool() {
    // [2,1,1] flattened is [1,1,2]; the global pool over H·W = 1 returns each channel: 03 05.
    let layers = [
        r#"{"op": "flatten", "name": "flat", "input": "input"}"#,
        r#"{"op": "global_avg_pool", "name": "gap", "input": "flat"}"#,
    ];
    let json = artifact([2, 1, 1], "1.0", &layers, "gap", 2);
    let (per_layer, output) = run(&json, &[3, 5]);
    assert_eq!(output, [3, 5]);
    // The flatten has no entry of its own.
    assert_eq!(per_layer, vec![("gap".to_string(), vec![3, 5])]);
}

#[test]
fn flatten_as_output_and_dense_over_hwc() {
    // The conv of `conv_with_padding_and_stride`, flattened, is the output: the conv's bytes. A dense over
    // the flattened input (unsigned; the conv's output is signed, which a dense cannot read) picks HWC element
    // 4 = in[1][1] = 5.
    let flat_in = r#"{"op": "flatten", "name": "fin", "input": "input"}"#;
    // S = 0.5·1/1 = 0.5, s_out 0.5 → quantize(1) = (2^30, 1), L = 1, bias 0: x = 2·acc, h = floor(acc + 0.5)
    // = acc. acc = in[4] = 5.
    let dense = r#"{"op": "dense", "name": "pick", "input": "fin", "in_features": 9, "out_features": 1,
      "weight": {"bits": 1, "scale": 1.0, "values": [0,0,0,0,1,0,0,0,0]},
      "out": {"bits": 8, "scale": 0.5, "signed": false}}"#;
    let flat = r#"{"op": "flatten", "name": "flat", "input": "conv"}"#;
    let json = artifact([3, 3, 1], "0.5", &[CONV, flat_in, dense, flat], "flat", 8);
    let model = load(&json).unwrap();
    assert_eq!(model.output_shape(), [1, 1, 8]);
    let (layers, output) = model.run(&CONV_INPUT).unwrap();
    assert_eq!(output, CONV_OUTPUT);
    assert_eq!(layer_bytes(&layers, "pick"), [5]);
    assert_eq!(layers.len(), 2);
}

// ---------------------------------------------------------------------------------- refusals

/// A dense 1 → 1 over the network input (scale 1.0, a_max = 255), 1-bit weight `[1]` scale 1.0 (S = 1),
/// with the given bias and output scale.
fn dense1(bias: &str, out_scale: &str) -> String {
    let layer = format!(
        r#"{{"op": "dense", "name": "d", "input": "input", "in_features": 1, "out_features": 1,
          "weight": {{"bits": 1, "scale": 1.0, "values": [1]}}, "bias": [{bias}],
          "out": {{"bits": 8, "scale": {out_scale}, "signed": true}}}}"#
    );
    artifact([1, 1, 1], "1.0", &[&layer], "d", 1)
}

#[test]
fn refusal_zero_multiplier() {
    // channel_scale 0 on channel 0 makes C_0 = 0 although channel 0's own weights are all 0 (channel 1's are
    // not, so the layer is not constant).
    let layer = r#"{"op": "dense", "name": "d", "input": "input", "in_features": 1, "out_features": 2,
      "weight": {"bits": 1, "scale": 1.0, "values": [0, 1]}, "channel_scale": [0.0, 1.0],
      "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(refusal(&artifact([1, 1, 1], "1.0", &[layer], "d", 2)), RefusalKind::ZeroMultiplier);
}

#[test]
fn refusal_multiplier_too_large() {
    // C/s_out = 1/2^−30 = 2^30: e = 31 → refused. 2^−29 gives 2^29 = 0.5·2^30: accepted with (2^30, 30).
    // (9.313225746154785e-10 = 2^−30 and 1.862645149230957e-9 = 2^−29 exactly.)
    assert_eq!(refusal(&dense1("0.0", "9.313225746154785e-10")), RefusalKind::MultiplierTooLarge);
    // With shift 30, L = 30: bound 255·2^30 > 2^31 − 1, so that one is refused by step 4.
    assert_eq!(refusal(&dense1("0.0", "1.862645149230957e-9")), RefusalKind::AccumulatorOverflow);
}

#[test]
fn refusal_bias_and_accumulator_bounds() {
    // s_out = 2^−29: quantize(2^29) = (2^30, 30), L = 30. bias = round(B/1·2^30).
    // B = −2: bias = −2^31, |bias| > 2^31 − 1 → refused by step 3 (although −2^31 is an i32).
    assert_eq!(refusal(&dense1("-2.0", "1.862645149230957e-9")), RefusalKind::BiasOutOfRange);
    // B = 4e9: bias ≫ 2^31 → refused.
    assert_eq!(refusal(&dense1("4e9", "1.0")), RefusalKind::BiasOutOfRange);

    // s_out = 2^−22: quantize(2^22) = (2^30, 23), L = 23, bound = 255·2^23 + |bias| = 2 139 095 040 + |bias|.
    // B = 1 − 2^−23 (0.99999988): bias = round(2^23 − 1) = 8 388 607; bound = 2^31 − 1 exactly: accepted.
    let ok = load(&dense1("0.99999988", "2.384185791015625e-7")).unwrap();
    assert_eq!(
        ok.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: 8_388_607, multiplier: P30, shift: 23 }])
    );
    // B = 1 − 2^−24 (0.99999994): bias = round(2^23 − 0.5) = 2^23 (half away from zero): bound = 2^31 → refused.
    assert_eq!(refusal(&dense1("0.99999994", "2.384185791015625e-7")), RefusalKind::AccumulatorOverflow);
    // s_out = 2^−23: L = 24, 255·2^24 > 2^31 − 1 → refused even without bias.
    assert_eq!(refusal(&dense1("0.0", "1.1920928955078125e-7")), RefusalKind::AccumulatorOverflow);
}

#[test]
fn accepted_edge_runs() {
    // The accepted model above: y = rq(acc, 8 388 607, 2^30, 23) for acc = input byte.
    // acc = 0: x = 8 388 607, h = floor((x + 1)/2) = 4 194 304 → clamp s8 → 127.
    // acc = 255: x = 255·2^23 + 8 388 607 = 2^31 − 1 (no saturation), h = 2^30 → 127.
    let model = load(&dense1("0.99999988", "2.384185791015625e-7")).unwrap();
    assert_eq!(model.run(&[0]).unwrap().1, [127]);
    assert_eq!(model.run(&[255]).unwrap().1, [127]);
    // A multiplier too small to represent becomes 0: s_out = 2^64 (the f32 nearest 1.8446744e19), so
    // C/s_out = 2^−64 = 0.5·2^−63: m = 0.5·2^(−63+31) = 2^−33, q = round(2^−33·2^31 = 0.25) = 0 → (0, −31);
    // L = 0, bias = round(0) = 0. The output is clamp(0) whatever the input.
    let tiny = load(&dense1("0.0", "1.8446744e19")).unwrap();
    assert_eq!(
        tiny.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: 0, multiplier: 0, shift: -31 }])
    );
    assert_eq!(tiny.run(&[255]).unwrap().1, [0]);
}

#[test]
fn refusal_add_scale() {
    // Both inputs the network input (scale 1.0, A = B = 255), output scale 2^−23: r = 2^23,
    // peak = 510·2^23 ≈ 4.3e9 ≥ 2^30 even with K = 0.
    let add = r#"{"op": "add", "name": "s", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 1.1920928955078125e-7, "signed": false}}"#;
    assert_eq!(refusal(&artifact([1, 1, 1], "1.0", &[add], "s", 1)), RefusalKind::AddScale);
    // Output scale 2^−21: peak = 510·2^21 = 1 069 547 520 < 2^30: K = 0, requant = quantize(2^21) = (2^30, 22).
    let add = add.replace("1.1920928955078125e-7", "4.76837158203125e-7");
    let model = load(&artifact([1, 1, 1], "1.0", &[&add], "s", 1)).unwrap();
    assert_eq!(model.lowered()[0].1, Lowered::Add { requant_a: (P30, 22), requant_b: (P30, 22), k: 0 });
    // a = 1: a' = 2^21, sum = 2^22; output stage (2^30, 1): x = 2^23, h = 2^22 → clamp 255.
    assert_eq!(model.run(&[1]).unwrap().1, [255]);
    assert_eq!(model.run(&[0]).unwrap().1, [0]);
}

#[test]
fn refusal_output_is_input() {
    let one = [r#"{"op": "flatten", "name": "f", "input": "input"}"#];
    assert_eq!(refusal(&artifact([2, 1, 1], "1.0", &one, "f", 2)), RefusalKind::OutputIsInput);
    let two =
        [r#"{"op": "flatten", "name": "f", "input": "input"}"#, r#"{"op": "flatten", "name": "g", "input": "f"}"#];
    assert_eq!(refusal(&artifact([2, 1, 1], "1.0", &two, "g", 2)), RefusalKind::OutputIsInput);
    // A pool of the input computes: accepted.
    let pool = [r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [1,1], "stride": [1,1]}"#];
    assert!(load(&artifact([2, 1, 1], "1.0", &pool, "p", 2)).is_ok());
}

// ---------------------------------------------------------------------------------- validation

#[test]
fn validation_errors() {
    let good = artifact([3, 3, 1], "0.5", &[CONV], "conv", 8);
    assert!(load(&good).is_ok());

    // Top-level fields.
    assert_eq!(invalid_at(&good.replace("\"bsq-artifact\"", "\"other\"")), ("<model>".into(), "format".into()));
    assert_eq!(invalid_at(&good.replace("\"version\": 1", "\"version\": 2")), ("<model>".into(), "version".into()));
    assert_eq!(invalid_at(&good.replace("\"name\": \"hand\"", "\"name\": \"  \"")), ("<model>".into(), "name".into()));
    assert_eq!(invalid_at(&good.replace("[3,3,1]", "[3,0,1]")), ("input".into(), "shape[1]".into()));
    assert_eq!(invalid_at(&good.replace("\"scale\": 0.5}", "\"scale\": 0}")), ("input".into(), "scale".into()));
    // Labels: 7 for 8 output values.
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV], "conv", 7)), ("<model>".into(), "labels".into()));
    // Output: not a layer, or "input".
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV], "nope", 8)), ("<model>".into(), "output".into()));
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV], "input", 9)), ("<model>".into(), "output".into()));
    // No layers.
    assert!(matches!(load(&artifact([3, 3, 1], "0.5", &[], "x", 0)), Err(Rejection::Invalid { .. })));

    // Weights out of range: 2 for 1-bit weights.
    let bad = CONV.replace("[1,1,1,1, 0,-1,1,0]", "[1,1,1,1, 0,-1,2,0]");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)), ("conv".into(), "weight.values[6]".into()));
    // Wrong number of values.
    let bad = CONV.replace("[1,1,1,1, 0,-1,1,0]", "[1,1,1,1, 0,-1,1]");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)), ("conv".into(), "weight.values".into()));
    // 0-bit weights must be 0 (values given).
    let bad = CONV.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 0, \"scale\": 1.0");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)), ("conv".into(), "weight.values[0]".into()));
    // 9-bit weights.
    let bad = CONV.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 9, \"scale\": 1.0");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)), ("conv".into(), "weight.bits".into()));
    // Padding not smaller than the kernel.
    let bad = CONV.replace("[1,1,0,0]", "[2,1,0,0]");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "padding[0]");
    // Kernel larger than the padded input: 5×5 kernel, pads 1+1 on a 3×3 input → 5 ≤ 5 fits; 6 does not.
    let fits = CONV.replace("\"kernel\": [2,2]", "\"kernel\": [5,5]").replace("[1,1,0,0]", "[1,1,1,1]");
    let fits = fits.replace("[1,1,1,1, 0,-1,1,0]", &format!("[{}]", vec!["1"; 50].join(",")));
    assert!(load(&artifact([3, 3, 1], "0.5", &[&fits], "conv", 2)).is_ok());
    let bad = fits.replace("\"kernel\": [5,5]", "\"kernel\": [6,5]");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 2)).1, "kernel");
    // in_channels mismatch.
    let bad = CONV.replace("\"in_channels\": 1", "\"in_channels\": 2");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "in_channels");
    // Signed 1-bit output quantization; unsigned 9 bits; zero scale.
    let bad =
        CONV.replace("\"bits\": 8, \"scale\": 1.0, \"signed\": true", "\"bits\": 1, \"scale\": 1.0, \"signed\": true");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "out.bits");
    let bad =
        CONV.replace("\"bits\": 8, \"scale\": 1.0, \"signed\": true", "\"bits\": 9, \"scale\": 1.0, \"signed\": false");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "out.bits");
    let bad = CONV.replace("\"bits\": 8, \"scale\": 1.0", "\"bits\": 8, \"scale\": 0.0");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "out.scale");
    // Weight scale must be > 0 for bits > 0.
    let bad = CONV.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 1, \"scale\": -1.0");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "conv", 8)).1, "weight.scale");

    // A convolution cannot read a signed tensor, also through a pool.
    let pool = r#"{"op": "max_pool", "name": "p", "input": "conv", "kernel": [1,1], "stride": [1,1]}"#;
    let conv2 = r#"{"op": "conv2d", "name": "c2", "input": "p", "in_channels": 2, "out_channels": 1,
      "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
      "weight": {"bits": 1, "scale": 1.0, "values": [1,1]}, "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV, pool, conv2], "c2", 4)), ("c2".into(), "input".into()));
    // Dense on a signed tensor, also through a flatten.
    let flat = r#"{"op": "flatten", "name": "f", "input": "conv"}"#;
    let dense = r#"{"op": "dense", "name": "d", "input": "f", "in_features": 8, "out_features": 1,
      "weight": {"bits": 1, "scale": 1.0, "values": [1,1,1,1,1,1,1,1]}, "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV, flat, dense], "d", 1)), ("d".into(), "input".into()));

    // Dangling input: a later layer, or itself.
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[pool, CONV], "conv", 8)), ("p".into(), "input".into()));
    let selfref = r#"{"op": "flatten", "name": "s", "input": "s"}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[selfref], "s", 9)), ("s".into(), "input".into()));
    // Names: duplicate, reserved, blank.
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV, CONV], "conv", 8)), ("conv".into(), "name".into()));
    let reserved = r#"{"op": "flatten", "name": "input", "input": "input"}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[reserved], "input", 9)).1, "name");
    let blank = r#"{"op": "flatten", "name": " ", "input": "input"}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[blank], " ", 9)).1, "name");

    // Add of different shapes.
    let add =
        r#"{"op": "add", "name": "a", "inputs": ["input", "conv"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[CONV, add], "a", 9)), ("a".into(), "inputs".into()));

    // Pools: kernel larger than the input, zero stride, global window above 2^23.
    let bad = r#"{"op": "avg_pool", "name": "p", "input": "input", "kernel": [4,1], "stride": [1,1]}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[bad], "p", 1)).1, "kernel");
    let bad = r#"{"op": "avg_pool", "name": "p", "input": "input", "kernel": [1,1], "stride": [0,1]}"#;
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[bad], "p", 9)).1, "stride[0]");
    let gap = r#"{"op": "global_avg_pool", "name": "g", "input": "input"}"#;
    // 4097·2048 = 8 390 656 > 2^23 = 8 388 608 (the input itself is within 2^31 − 1).
    assert_eq!(invalid_at(&artifact([4097, 2048, 1], "0.5", &[gap], "g", 1)).1, "input");
    // 4096·2048 = 2^23 exactly: accepted.
    assert!(load(&artifact([4096, 2048, 1], "0.5", &[gap], "g", 1)).is_ok());
    // Input too large.
    assert_eq!(invalid_at(&artifact([65536, 32768, 1], "0.5", &[gap], "g", 1)).1, "shape");

    // BatchNorm: var + eps = 0; negative eps; bn with channel_scale; wrong length.
    let bn_dense = |bn: &str| {
        let layer = format!(
            r#"{{"op": "dense", "name": "d", "input": "input", "in_features": 1, "out_features": 1,
              "weight": {{"bits": 1, "scale": 1.0, "values": [1]}}, {bn},
              "out": {{"bits": 8, "scale": 1.0, "signed": false}}}}"#
        );
        artifact([1, 1, 1], "1.0", &[&layer], "d", 1)
    };
    let bn = |var: &str, eps: &str| {
        format!(r#""bn": {{"gamma": [1.0], "beta": [0.0], "mean": [0.0], "var": [{var}], "eps": {eps}}}"#)
    };
    assert!(load(&bn_dense(&bn("1.0", "0.0"))).is_ok());
    assert_eq!(invalid_at(&bn_dense(&bn("0.0", "0.0"))).1, "bn.var[0]");
    assert_eq!(invalid_at(&bn_dense(&bn("-1.0", "2.0"))).1, "bn.var[0]");
    assert_eq!(invalid_at(&bn_dense(&bn("1.0", "-0.5"))).1, "bn.eps");
    // var + eps computed in f32: 1e-45 (the smallest subnormal) + 0 > 0 is accepted.
    assert!(matches!(load(&bn_dense(&bn("1e-45", "0.0"))), Ok(_) | Err(Rejection::Refused { .. })));
    let both = format!(r#"{}, "channel_scale": [1.0]"#, bn("1.0", "0.0"));
    assert_eq!(invalid_at(&bn_dense(&both)).1, "channel_scale");
    assert_eq!(invalid_at(&bn_dense(r#""bias": [1.0, 2.0]"#)).1, "bias");
    assert_eq!(invalid_at(&bn_dense(r#""channel_scale": []"#)).1, "channel_scale");
}

#[test]
fn scheme_rules() {
    let with_scheme = |scheme: &str| {
        artifact([3, 3, 1], "0.5", &[CONV], "conv", 8)
            .replace("\"layers\":", &format!("\"scheme\": {scheme},\n  \"layers\":"))
    };
    // params = out·k_h·k_w·in = 2·2·2·1 = 8.
    assert!(load(&with_scheme(r#"[{"layer": "conv", "bits": 1, "params": 8}]"#)).is_ok());
    assert!(load(&with_scheme("[]")).is_ok());
    assert!(load(&with_scheme("null")).is_ok());
    assert_eq!(invalid_at(&with_scheme(r#"[{"layer": "conv", "bits": 2, "params": 8}]"#)).1, "scheme[0]");
    assert_eq!(invalid_at(&with_scheme(r#"[{"layer": "conv", "bits": 1, "params": 9}]"#)).1, "scheme[0]");
    assert!(matches!(
        load(&with_scheme(r#"[{"layer": "conv", "bits": 1, "params": 8}, {"layer": "x", "bits": 1, "params": 1}]"#)),
        Err(Rejection::Invalid { .. })
    ));
}

#[test]
fn parse_errors() {
    let good = artifact([3, 3, 1], "0.5", &[CONV], "conv", 8);
    // Unknown field (also a field of another op), missing field, null required field, unknown op.
    assert!(is_parse_error(&good.replace("\"out_channels\"", "\"chanel_scale\": null, \"out_channels\"")));
    assert!(is_parse_error(&good.replace("\"padding\"", "\"inputs\": null, \"padding\"")));
    assert!(is_parse_error(&good.replace("\"stride\": [2,2], ", "")));
    assert!(is_parse_error(&good.replace("\"stride\": [2,2]", "\"stride\": null")));
    assert!(is_parse_error(&good.replace("\"conv2d\"", "\"conv3d\"")));
    assert!(is_parse_error(&good.replace("\"tool\": \"hand\"", "\"tool\": \"hand\", \"extra\": 1")));
    // Integers are JSON integers: 2.0 is not a size.
    assert!(is_parse_error(&good.replace("\"kernel\": [2,2]", "\"kernel\": [2.0,2]")));
    // A float beyond the f64 range is a JSON error; beyond the f32 range it becomes infinity, which every
    // rule refuses.
    assert!(is_parse_error(&good.replace("\"scale\": 0.5}", "\"scale\": 1e400}")));
    assert!(matches!(load(&good.replace("\"scale\": 0.5}", "\"scale\": 1e39}")), Err(Rejection::Invalid { .. })));
    // A 0-bit layer's scale is ignored but must be finite (a saved artifact must load back as itself).
    let zero_bit = load(&good.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 0, \"scale\": 1e39"));
    assert!(matches!(&zero_bit, Err(Rejection::Invalid { field, .. }) if field == "weight.scale"), "{zero_bit:?}");
    // Optional fields may be null; accuracy fields optional.
    assert!(
        load(&good.replace(
            "\"dataset\": \"none\"",
            "\"dataset\": \"none\", \"alpha\": null, \"accuracy\": {\"float\": 99.5}, \"notes\": null"
        ))
        .is_ok()
    );
    assert!(
        load(&good.replace("\"padding\"", "\"bias\": null, \"bn\": null, \"channel_scale\": null, \"padding\""))
            .is_ok()
    );
    // Syntax.
    assert!(is_parse_error(&good[..good.len() - 3]));
    assert!(is_parse_error(""));
}

#[test]
fn f32_fields_read_through_the_nearest_f64() {
    // 1 + 2^−24 + 10^−28 lies just above the midpoint 1 + 2^−24 of the f32 values 1 and 1 + 2^−23. Its
    // nearest f64 is the midpoint itself, which the f64 → f32 rounding (tie to even) takes to 1.0
    // (artifact.md: "first read as the f64 nearest …, then rounded to the nearest f32"). With a weight scale
    // 1 + 2^−23 and the output scale read as 1.0: C/s_out = 0.5·(1 + 2^−23) → q = 2^30 + 2^7. (Read directly
    // as the nearest f32, 1 + 2^−23, it would be 0.5 → (2^30, 0).)
    let conv = CONV.replace(
        "\"bits\": 8, \"scale\": 1.0, \"signed\": true",
        "\"bits\": 8, \"scale\": 1.0000000596046447753906250001, \"signed\": true",
    );
    let conv = conv.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 1, \"scale\": 1.0000001192092896");
    let model = load(&artifact([3, 3, 1], "0.5", &[&conv], "conv", 8)).unwrap();
    assert_eq!(
        model.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: 0, multiplier: P30 + 128, shift: 0 }; 2])
    );
}

#[test]
fn f32_fields_read_as_the_nearest_f32() {
    // 1.00000006 lies between the f32 values 1 and 1 + 2^−23 (1.00000012), above the midpoint 1 + 2^−24
    // (1.0000000596): nearest f32 is 1 + 2^−23. A conv scale of that value against s_out 1 + 2^−23 gives
    // C/s_out = 0.5·(1+2^−23)/(1+2^−23) = 0.5 exactly → (2^30, 0); had it been read as 1.0 the multiplier
    // would differ.
    let conv = CONV.replace(
        "\"bits\": 8, \"scale\": 1.0, \"signed\": true",
        "\"bits\": 8, \"scale\": 1.00000006, \"signed\": true",
    );
    let conv = conv.replace("\"bits\": 1, \"scale\": 1.0", "\"bits\": 1, \"scale\": 1.0000001192092896");
    let model = load(&artifact([3, 3, 1], "0.5", &[&conv], "conv", 8)).unwrap();
    assert_eq!(
        model.lowered()[0].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: 0, multiplier: P30, shift: 0 }; 2])
    );
}

#[test]
fn fixtures_load_and_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../codegen/fixtures");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".bsq.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let model = spec::load(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input: Vec<u8> = (0..model.input_len()).map(|i| (i * 37 % 256) as u8).collect();
        let (layers, output) = model.run(&input).unwrap();
        assert_eq!(output.len(), model.output_len());
        assert_eq!(output.len(), model.labels().len());
        assert!(!layers.is_empty());
        // Truncations never panic.
        for cut in (0..text.len()).step_by(97) {
            let _ = spec::load(&text[..cut]);
        }
        n += 1;
    }
    assert!(n >= 5, "found {n} fixtures");
}

#[test]
fn wrong_input_length_is_an_error() {
    let model = load(&artifact([3, 3, 1], "0.5", &[CONV], "conv", 8)).unwrap();
    assert!(model.run(&[0; 8]).is_err());
    assert_eq!(model.input_len(), 9);
    assert_eq!(model.output_len(), 8);
}

#[test]
fn huge_zero_bit_dense_is_refused() {
    // A 0-bit dense with 10^12 outputs and empty values: "every tensor (each layer's output) has at most
    // 2^31 − 1 elements".
    let big = r#"{"op": "dense", "name": "big", "input": "input", "in_features": 1, "out_features": 1000000000000,
      "weight": {"bits": 0, "scale": 1.0, "values": []}, "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    let small = r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [1,1], "stride": [1,1]}"#;
    let e = load(&artifact([1, 1, 1], "1.0", &[big, small], "p", 1)).expect_err("refused");
    assert_eq!(e.invalid_at().map(|(l, _)| l), Some("big"), "{e}");
}

#[test]
fn mutated_fixtures_never_panic() {
    // Deterministic (seeded ChaCha8); each mutation replaces one byte of a fixture by a character likely to
    // keep the JSON well-formed but change a number or a name (digits, signs, exponents, quotes).
    use rand::{RngCore, SeedableRng};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../codegen/fixtures");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
    let mut next = move || rng.next_u64();
    let alphabet = b"0123456789-+eE.\"[]{},:nul 9999999999999999999";
    let (mut loaded, mut refused, mut rejected) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".bsq.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap().into_bytes();
        for _ in 0..300 {
            let mut bytes = text.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
            }
            let Ok(json) = String::from_utf8(bytes) else { continue };
            match load(&json) {
                Ok(model) => {
                    loaded += 1;
                    let input = vec![255u8; model.input_len()];
                    let _ = model.run(&input);
                }
                Err(Rejection::Refused { .. }) => refused += 1,
                Err(_) => rejected += 1,
            }
        }
    }
    assert!(loaded + refused + rejected > 0);
}

#[test]
fn generated_artifacts_are_valid_for_the_spec() {
    // The generator (written separately from the same pages) promises valid models, a few of them refused by
    // lowering: no parse or validation error may come back, and every loaded model runs.
    use bsq_difftest::generate::{GenOptions, artifact, input_bytes};
    let opts = GenOptions::default();
    let (mut ok, mut refused) = (0, 0);
    for seed in 0..300 {
        let json = serde_json::to_string_pretty(&artifact(seed, &opts)).unwrap();
        match load(&json) {
            Ok(model) => {
                ok += 1;
                for input in input_bytes(seed, model.input_len(), 2) {
                    let (layers, output) = model.run(&input).expect("run");
                    assert_eq!(output.len(), model.output_len());
                    assert!(!layers.is_empty());
                }
            }
            Err(Rejection::Refused { .. }) => refused += 1,
            Err(e) => panic!("seed {seed}: the spec rejects a generated artifact: {e}"),
        }
    }
    assert!(ok > refused, "{ok} loaded, {refused} refused");
}

/// Depthwise 2×2 conv with a channel multiplier (issue 12), input [2,2,2] scale 0.5, 2-bit weights scale 3
/// (real weight = k), output scale 0.5: S = 0.5·3/3 = 0.5 = s_out, so C/s_out = 1 → (2^30, 1), L = 1, and
/// with no bias the output is the accumulator. groups 2, 4 outputs: outputs 0, 1 read input channel 0,
/// outputs 2, 3 channel 1 (g = o / 2). Weights [out][2][2][1]: o0 = 1,1,1,1; o1 = 1,−1,0,0; o2 = 0,0,0,1;
/// o3 = 2,0,0,0. Input HWC: (0,0) = [1,10], (0,1) = [2,20], (1,0) = [3,30], (1,1) = [4,40].
/// o0 = 1+2+3+4 = 10; o1 = 1−2 = −1 → clamp 0; o2 = 40; o3 = 2·10 = 20.
#[test]
fn depthwise_conv_with_a_channel_multiplier() {
    let layer = r#"{"op": "conv2d", "name": "dw", "input": "input", "in_channels": 2, "out_channels": 4,
        "kernel": [2,2], "stride": [1,1], "padding": [0,0,0,0], "groups": 2,
        "weight": {"bits": 2, "scale": 3.0, "values": [1,1,1,1, 1,-1,0,0, 0,0,0,1, 2,0,0,0]},
        "out": {"bits": 8, "scale": 0.5, "signed": false}}"#;
    let json = artifact([2, 2, 2], "0.5", &[layer], "dw", 4);
    let (_, output) = run(&json, &[1, 10, 2, 20, 3, 30, 4, 40]);
    assert_eq!(output, [10, 0, 40, 20]);
    // `groups` 1 and `null` are the default; 0 and a non-divisor are refused at `groups`.
    for g in ["1", "null"] {
        let plain = layer.replace("\"groups\": 2", &format!("\"groups\": {g}")).replace(
            "[1,1,1,1, 1,-1,0,0, 0,0,0,1, 2,0,0,0]",
            "[1,0,1,0,1,0,1,0, 0,1,0,1,0,1,0,1, 1,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,1]",
        );
        let (_, out) = run(&artifact([2, 2, 2], "0.5", &[&plain], "dw", 4), &[1, 10, 2, 20, 3, 30, 4, 40]);
        // o0: channel 0 at every tap = 10; o1: channel 1 at every tap = 100; o2: (0,0) ch0 = 1; o3: (1,1) ch1 = 40.
        assert_eq!(out, [10, 100, 1, 40], "groups {g}");
    }
    for g in ["0", "3"] {
        let bad = layer.replace("\"groups\": 2", &format!("\"groups\": {g}"));
        assert_eq!(invalid_at(&artifact([2, 2, 2], "0.5", &[&bad], "dw", 4)), ("dw".into(), "groups".into()));
    }
}

// ---------------------------------------------------------------------------------- input zero point

/// artifact.md § Lowering, "Input zero point", by hand: a 1-channel 3×3 conv with padding 1 on a 2×2 input
/// with `z = 128`, input scale 1/128, 8-bit weights 1..9 with scale 255 (real weight = k), output scale 1/16.
/// `S = (1/128)·255/255`, `C/s_out = 1/8 = (2^30, −2)`, `L = 0`; `bias = 0 − 128·45 = −5760`. The window
/// positions outside the input read the byte 128, so with input bytes [[130, 120], [128, 200]] the
/// accumulator is `128·45 + Σ_valid k·(x − 128)` and `acc + bias` = 610, 544, 412, 346 (hand sums of
/// `k·(x − 128)` over the four valid taps); `h = floor((v + 1)/2)` = 305, 272, 206, 173; `y = round(h/4)`
/// (ties away) = 76, 68, 52 (51.5), 43.
#[test]
fn zero_point_padded_conv_by_hand() {
    let layer = r#"{"op": "conv2d", "name": "c", "input": "input", "in_channels": 1, "out_channels": 1,
        "kernel": [3,3], "stride": [1,1], "padding": [1,1,1,1],
        "weight": {"bits": 8, "scale": 255.0, "values": [1,2,3,4,5,6,7,8,9]},
        "out": {"bits": 8, "scale": 0.0625, "signed": false}}"#;
    let json = artifact([2, 2, 1], r#"0.0078125, "zero_point": 128"#, &[layer], "c", 4);
    let model = load(&json).unwrap();
    assert_eq!(
        model.lowered(),
        vec![("c".into(), Lowered::Affine(vec![ChannelParams::Requant { bias: -5760, multiplier: P30, shift: -2 }]))]
    );
    assert_eq!(model.run(&[130, 120, 128, 200]).unwrap().1, [76, 68, 52, 43]);
    // Every byte at the zero point is the real value 0: the output is 0 everywhere.
    assert_eq!(model.run(&[128; 4]).unwrap().1, [0; 4]);
    // `null` and 0 are no zero point: bias 0, padding reads 0. Bytes 130..200 then give large sums.
    for z in ["null", "0"] {
        let plain = artifact([2, 2, 1], &format!(r#"0.0078125, "zero_point": {z}"#), &[layer], "c", 4);
        let m = load(&plain).unwrap();
        assert_eq!(
            m.lowered()[0].1,
            Lowered::Affine(vec![ChannelParams::Requant { bias: 0, multiplier: P30, shift: -2 }])
        );
    }
    // 256, −1 and 1.5 are not bytes: parse errors.
    for z in ["256", "-1", "1.5"] {
        assert!(is_parse_error(&artifact([2, 2, 1], &format!(r#"0.0078125, "zero_point": {z}"#), &[layer], "c", 4)));
    }
}

/// A dense layer on the flattened zero-pointed input: `bias = round(B/C · 2^L) − z·Σk·2^L`. Input scale 0.5,
/// z = 100; 2-bit weights [1, 2, 3] with scale 3 (real = k): `S = 0.5`, output scale 0.5 signed, so
/// `C/s_out = 1 = (2^30, 1)`, `L = 1`; bias 1.5 → `round(1.5/0.5·2) − 100·6·2 = 6 − 1200 = −1194`. Bytes
/// [100, 110, 90]: `acc = 590`, `x = 1180 − 1194 = −14`, `h = −7` → −7 (= 0·1 + 10·2 − 10·3 + 3).
#[test]
fn zero_point_dense_after_flatten_by_hand() {
    let flat = r#"{"op": "flatten", "name": "f", "input": "input"}"#;
    let dense = r#"{"op": "dense", "name": "d", "input": "f", "in_features": 3, "out_features": 1,
        "weight": {"bits": 2, "scale": 3.0, "values": [1,2,3]}, "bias": [1.5],
        "out": {"bits": 8, "scale": 0.5, "signed": true}}"#;
    let json = artifact([1, 1, 3], r#"0.5, "zero_point": 100"#, &[flat, dense], "d", 1);
    let model = load(&json).unwrap();
    assert_eq!(
        model.lowered()[1].1,
        Lowered::Affine(vec![ChannelParams::Requant { bias: -1194, multiplier: P30, shift: 1 }])
    );
    assert_eq!(model.run(&[100, 110, 90]).unwrap().1, [(-7i8) as u8]);
}

/// artifact.md § Validation, "input zero point": a pool, `global_avg_pool` or `add` reading the input (or a
/// flatten of it) is refused at that layer and the field naming the tensor; a padded copy above 2^31 − 1
/// elements is refused at `padding`. The folded bias can leave `i32` (refused at step 3).
#[test]
fn zero_point_refusals() {
    let zp = r#"0.5, "zero_point": 3"#;
    let pool = r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [1,1], "stride": [1,1]}"#;
    assert_eq!(invalid_at(&artifact([2, 2, 1], zp, &[pool], "p", 4)), ("p".into(), "input".into()));
    let gap = r#"{"op": "global_avg_pool", "name": "p", "input": "input"}"#;
    assert_eq!(invalid_at(&artifact([2, 2, 1], zp, &[gap], "p", 1)), ("p".into(), "input".into()));
    let conv = r#"{"op": "conv2d", "name": "c", "input": "input", "in_channels": 1, "out_channels": 1,
        "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
        "weight": {"bits": 1, "scale": 1.0, "values": [1]}, "out": {"bits": 8, "scale": 0.5, "signed": false}}"#;
    let add =
        r#"{"op": "add", "name": "s", "inputs": ["c", "input"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([2, 2, 1], zp, &[conv, add], "s", 4)), ("s".into(), "inputs[1]".into()));
    let flat = r#"{"op": "flatten", "name": "f", "input": "input"}"#;
    let pool_f = pool.replace("\"input\": \"input\"", "\"input\": \"f\"");
    assert_eq!(invalid_at(&artifact([2, 2, 1], zp, &[flat, &pool_f], "p", 4)), ("p".into(), "input".into()));
    // Without the zero point all of these load.
    for (layers, out, labels) in
        [(vec![pool], "p", 4), (vec![gap], "p", 1), (vec![conv, add], "s", 4), (vec![flat, pool_f.as_str()], "p", 4)]
    {
        load(&artifact([2, 2, 1], "0.5", &layers, out, labels)).unwrap();
    }
    // A padded 3×3 conv over a [46341, 46341, 1] input: 46343² > 2^31 − 1 (a 0-bit layer, so no weights).
    let big = r#"{"op": "conv2d", "name": "c", "input": "input", "in_channels": 1, "out_channels": 1,
        "kernel": [3,3], "stride": [46341,46341], "padding": [1,1,1,1],
        "weight": {"bits": 0, "scale": 1.0, "values": []}, "out": {"bits": 8, "scale": 0.5, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([46340, 46340, 1], zp, &[big], "c", 1)), ("c".into(), "padding".into()));
    load(&artifact([46340, 46340, 1], "0.5", &[big], "c", 1)).unwrap();
    // z = 255 and 8-bit weights 255 with `L = 30` (multiplier 2^29.x): `z·Σk·2^30` is far outside i32.
    let steep = r#"{"op": "dense", "name": "d", "input": "input", "in_features": 1, "out_features": 1,
        "weight": {"bits": 8, "scale": 255.0, "values": [255]}, "out": {"bits": 8, "scale": 1e-9, "signed": false}}"#;
    let json = artifact([1, 1, 1], r#"1.0, "zero_point": 255"#, &[steep], "d", 1);
    assert_eq!(refusal(&json), RefusalKind::BiasOutOfRange);
}

// ---------------------------------------------------------------------------------- padded pools

/// runtime.md § Pooling windows, by hand: a 3×3 image 1..9, 3×3 windows, stride 2, padding 1 on every side:
/// output 2×2, windows {1,2,4,5}, {2,3,5,6}, {4,5,7,8}, {5,6,8,9} (their input cells): max 5, 6, 8, 9,
/// average 12/4 = 3, 16/4 = 4, 24/4 = 6, 28/4 = 7. One row [1, 2, 4] with a 2×2 window, stride 1, padding
/// top 1 and left 1: windows of 1, 2, 2 cells: average 1, 1.5 → 2, 3; signed [−1, −2, −4]: −1, −1.5 → −2,
/// −3 (ties away from zero), max −1, −1, −2.
#[test]
fn padded_pools_by_hand() {
    let pool = |op: &str, k: &str, s: &str, p: &str| {
        format!(r#"{{"op": "{op}", "name": "p", "input": "input", "kernel": {k}, "stride": {s}, "padding": {p}}}"#)
    };
    let image = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    let max = pool("max_pool", "[3,3]", "[2,2]", "[1,1,1,1]");
    assert_eq!(run(&artifact([3, 3, 1], "0.5", &[&max], "p", 4), &image).1, [5, 6, 8, 9]);
    let avg = pool("avg_pool", "[3,3]", "[2,2]", "[1,1,1,1]");
    assert_eq!(run(&artifact([3, 3, 1], "0.5", &[&avg], "p", 4), &image).1, [3, 4, 6, 7]);
    let avg = pool("avg_pool", "[2,2]", "[1,1]", "[1,1,0,0]");
    assert_eq!(run(&artifact([1, 3, 1], "0.5", &[&avg], "p", 3), &[1, 2, 4]).1, [1, 2, 3]);
    // Signed input: a signed 1×1 conv with weight −1 negates the bytes (input scale = output scale).
    let pass = r#"{"op": "conv2d", "name": "c", "input": "input", "in_channels": 1, "out_channels": 1,
        "kernel": [1,1], "stride": [1,1], "padding": [0,0,0,0],
        "weight": {"bits": 1, "scale": 1.0, "values": [-1]}, "out": {"bits": 8, "scale": 0.5, "signed": true}}"#;
    let avg_c = avg.replace("\"input\": \"input\"", "\"input\": \"c\"");
    let (_, out) = run(&artifact([1, 3, 1], "0.5", &[pass, &avg_c], "p", 3), &[1, 2, 4]);
    assert_eq!(out.iter().map(|&b| b as i8).collect::<Vec<_>>(), [-1, -2, -3]);
    let max_c = pool("max_pool", "[2,2]", "[1,1]", "[1,1,0,0]").replace("\"input\": \"input\"", "\"input\": \"c\"");
    let (_, out) = run(&artifact([1, 3, 1], "0.5", &[pass, &max_c], "p", 3), &[1, 2, 4]);
    assert_eq!(out.iter().map(|&b| b as i8).collect::<Vec<_>>(), [-1, -1, -2]);
    // `null` and absent padding: none; a side not smaller than the kernel, or a kernel that does not fit
    // the padded input, is refused at the layer.
    for p in ["null", "[0,0,0,0]"] {
        let plain = pool("max_pool", "[3,3]", "[3,3]", p);
        assert_eq!(run(&artifact([3, 3, 1], "0.5", &[&plain], "p", 1), &image).1, [9]);
    }
    let bad = pool("max_pool", "[2,2]", "[1,1]", "[2,0,0,0]");
    assert_eq!(invalid_at(&artifact([3, 3, 1], "0.5", &[&bad], "p", 4)).0, "p");
    let bad = pool("avg_pool", "[3,1]", "[1,1]", "[1,0,0,0]");
    assert_eq!(invalid_at(&artifact([1, 3, 1], "0.5", &[&bad], "p", 3)), ("p".into(), "kernel".into()));
    // A kernel larger than the input that fits the padded input.
    let tall = pool("max_pool", "[3,2]", "[1,2]", "[1,0,1,0]");
    assert_eq!(run(&artifact([1, 4, 1], "0.5", &[&tall], "p", 2), &[4, 1, 2, 9]).1, [4, 9]);
}

/// `concat` of the input `[1, 2, 2]` (scale 0.5) with a 1×1 max pool of it (same quantization): at scale 1
/// (unsigned 4-bit) every input is rescaled by `quantize(0.5) = (2^30, 0)`: x = 1 → h = floor((2^30 +
/// 2^30)/2^31) = 1; 3 → floor((3·2^30 + 2^30)/2^31) = 2; 40 → 20, clamped to 15. Pixel p is `[pool(p),
/// input(p)]`: pixels (1, 2), (3, 40) → [1, 1, 1, 1], [2, 15, 2, 15]. At scale 0.5 (signed 4-bit) the
/// requantization is the identity `quantize(1) = (2^30, 1)`, clamped to 7.
#[test]
fn concat_by_hand() {
    let pool = r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [1, 1], "stride": [1, 1]}"#;
    let cat =
        r#"{"op": "concat", "name": "c", "inputs": ["p", "input"], "out": {"bits": 4, "scale": 1.0, "signed": false}}"#;
    let model = load(&artifact([1, 2, 2], "0.5", &[pool, cat], "c", 8)).unwrap();
    assert_eq!(model.lowered()[1].1, Lowered::Concat(vec![(P30, 0), (P30, 0)]));
    assert_eq!(model.run(&[1, 2, 3, 40]).unwrap().1, [1, 1, 1, 1, 2, 15, 2, 15]);
    let cat = cat.replace(r#""bits": 4, "scale": 1.0, "signed": false"#, r#""bits": 4, "scale": 0.5, "signed": true"#);
    let model = load(&artifact([1, 2, 2], "0.5", &[pool, &cat], "c", 8)).unwrap();
    assert_eq!(model.lowered()[1].1, Lowered::Concat(vec![(P30, 1), (P30, 1)]));
    assert_eq!(model.run(&[1, 2, 3, 40]).unwrap().1, [1, 2, 1, 2, 3, 7, 3, 7]);
}

/// `concat` refusals: fewer than two inputs and a height/width mismatch are invalid (naming the field); an
/// output scale 2^31 times finer than an input's makes `quantize` refuse.
#[test]
fn concat_refusals() {
    let one =
        r#"{"op": "concat", "name": "c", "inputs": ["input"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([2, 2, 1], "1.0", &[one], "c", 4)), ("c".into(), "inputs".into()));
    let pool = r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [2, 1], "stride": [1, 1]}"#;
    let hw =
        r#"{"op": "concat", "name": "c", "inputs": ["input", "p"], "out": {"bits": 8, "scale": 1.0, "signed": false}}"#;
    assert_eq!(invalid_at(&artifact([2, 2, 1], "1.0", &[pool, hw], "c", 4)), ("c".into(), "inputs[1]".into()));
    let fine = r#"{"op": "concat", "name": "c", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 4.656612873077393e-10, "signed": false}}"#;
    assert_eq!(refusal(&artifact([2, 2, 1], "1.0", &[fine], "c", 8)), RefusalKind::MultiplierTooLarge);
}
