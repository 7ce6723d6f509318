//! The input zero point (`input.zero_point`, real input `scale · (x − z)`) through codegen: hand-computed
//! layers (a padded 3×3 conv whose border is the byte z, a dense layer on the flattened input), the folded
//! bias, the padded copy in the memory plan and the report, the emitted pad step, the refusals (readers
//! other than conv2d/dense, the folded bias in the range check and the overflow proof), the JSON field, and
//! padded plain/grouped/depthwise convolutions against a naive `Σ k·(x − z)` with real zero padding.

use bsq_codegen::fixtures::Rng;
use bsq_codegen::lower::Kind;
use bsq_codegen::{Artifact, CodegenError, Executor, compile, emit::emit, report::report};
use bsq_runtime::{OutputStage, Requant};

/// An artifact with the given input (shape, scale, zero point as JSON text or `None` for no field), layers
/// (JSON objects) and output.
fn artifact(
    shape: [usize; 3],
    scale: f32,
    zero_point: Option<&str>,
    layers: &str,
    output: &str,
    labels: usize,
) -> Result<Artifact, String> {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    let zp = zero_point.map(|z| format!(r#", "zero_point": {z}"#)).unwrap_or_default();
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "zp",
            "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
            "labels": [{}], "input": {{"shape": [{}, {}, {}], "scale": {scale}{zp}}},
            "layers": [{layers}], "output": "{output}"}}"#,
        labels.join(","),
        shape[0],
        shape[1],
        shape[2]
    );
    Artifact::from_json(&json, "zp.bsq.json").map_err(|e| e.to_string())
}

fn list(v: &[i32]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// The 3×3 conv of the hand-computed case: 1 channel, padding 1, 8-bit weights with scale 255 (real
/// weight = k), output scale 1/16, unsigned 8-bit.
fn conv3x3(input: &str) -> String {
    format!(
        r#"{{"op": "conv2d", "name": "c", "input": "{input}", "in_channels": 1, "out_channels": 1,
            "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1, 1, 1],
            "weight": {{"bits": 8, "scale": 255.0, "values": [1,2,3,4,5,6,7,8,9]}},
            "out": {{"bits": 8, "scale": 0.0625}}}}"#
    )
}

/// A 1-channel 3×3 conv with padding 1 on a 2×2 input with zero point 128, by hand.
///
/// Input scale 1/128, so the accumulator step is (1/128)·255/255 = 1/128 and the output multiplier
/// (1/128)/(1/16) = 1/8 = (2^30, −2): `y = round(floor((acc + 1)/2) / 4)`, ties away from zero.
/// Input bytes [[130, 120], [128, 200]] are the real steps x − 128 = [[2, −8], [0, 72]]. Each 3×3 window
/// covers the whole 2×2 input; the 5 padded positions are the real value 0 and add nothing:
/// (0,0): 2·5 − 8·6 + 0·8 + 72·9 = 610 → 305 → 76.25 → 76;
/// (0,1): 2·4 − 8·5 + 0·7 + 72·8 = 544 → 272 → 68;
/// (1,0): 2·2 − 8·3 + 0·5 + 72·6 = 412 → 206 → 51.5 → 52;
/// (1,1): 2·1 − 8·2 + 0·4 + 72·5 = 346 → 173 → 43.25 → 43.
#[test]
fn padded_conv_on_a_zero_pointed_input_by_hand() {
    let a = artifact([2, 2, 1], 0.0078125, Some("128"), &conv3x3("input"), "c", 4).unwrap();
    let m = compile(&a).unwrap();
    let op = &m.lowered.ops[0];
    let Kind::Conv { shape, stage, pad: Some(pad), .. } = &op.kind else { panic!("{:?}", op.kind) };
    // The bias carries −z·Σk = −128·45 (no left shift); the convolution runs unpadded on the 4×4 copy.
    assert_eq!(stage.bias, vec![-5760]);
    assert_eq!(stage.requant, vec![Requant { multiplier: 1 << 30, shift: -2 }]);
    assert_eq!(
        (shape.in_h, shape.in_w, shape.pad_top, shape.pad_left, shape.pad_bottom, shape.pad_right),
        (4, 4, 0, 0, 0, 0)
    );
    assert_eq!((pad.shape.in_h, pad.shape.in_w, pad.shape.c, pad.value), (2, 2, 1, 128));
    assert_eq!([pad.shape.pad_top, pad.shape.pad_left, pad.shape.pad_bottom, pad.shape.pad_right], [1; 4]);
    assert_eq!(op.macs, 4 * 9);
    // The plan holds the 16-byte padded copy beside the 4-byte output.
    assert_eq!(m.lowered.tensors[pad.buffer].len, 16);
    assert_eq!(m.plan.arena_bytes, 20);
    let out = Executor::new(&a).unwrap().run(&[130, 120, 128, 200]).unwrap().to_vec();
    assert_eq!(out, [76, 68, 52, 43]);
    // Inputs at the zero point are the real value 0 everywhere: the output is the requantized bias (0).
    assert_eq!(Executor::new(&a).unwrap().run(&[128; 4]).unwrap(), [0, 0, 0, 0]);
    // The report shows the zero point and counts the padded copy; the generated code pads, then convolves.
    let r = report(&m);
    assert_eq!((r.input_zero_point, r.layers[0].pad_bytes, r.arena_bytes), (128, 16, 20));
    let text = r.to_string();
    assert!(text.contains("input zero point 128"), "{text}");
    assert!(text.contains("c: input padded with the zero point 128 into 16 B of the arena"), "{text}");
    let src = emit(&m, "zp.bsq.json");
    assert!(src.contains("pub const INPUT_ZERO_POINT: u8 = 128;"), "{src}");
    assert!(src.contains("const L0_PAD: rt::PadShape = rt::PadShape {"), "{src}");
    assert!(src.contains("rt::pad(&L0_PAD, INPUT_ZERO_POINT, x, y)?;"), "{src}");
}

/// Without padding no copy is made (the fold alone is exact), and with a zero point of 0 the model is the
/// plain one: no pad step, no fold.
#[test]
fn no_copy_without_padding_or_zero_point() {
    let unpadded = conv3x3("input").replace("[1, 1, 1, 1]", "[0, 0, 0, 0]");
    let a = artifact([3, 3, 1], 0.0078125, Some("128"), &unpadded, "c", 1).unwrap();
    let m = compile(&a).unwrap();
    assert!(m.lowered.ops[0].input_pad().is_none());
    assert_eq!(m.plan.arena_bytes, 1);
    // x − 128 = 1 everywhere: Σ k = 45 → 45·1/8 → floor(46/2) = 23 → 23/4 = 5.75 → 6.
    assert_eq!(Executor::new(&a).unwrap().run(&[129; 9]).unwrap(), [6]);
    for z in [None, Some("0"), Some("null")] {
        let a = artifact([2, 2, 1], 0.0078125, z, &conv3x3("input"), "c", 4).unwrap();
        let m = compile(&a).unwrap();
        assert!(m.lowered.ops[0].input_pad().is_none(), "{z:?}");
        let Kind::Conv { stage, .. } = &m.lowered.ops[0].kind else { panic!() };
        assert_eq!(stage.bias, vec![0]);
        assert!(!a.to_json().unwrap().contains("zero_point"), "{z:?}: a zero zero point is not written");
        assert!(!report(&m).to_string().contains("zero point"));
    }
}

/// A dense layer on the flattened zero-pointed input: Σ k·(x − z) + bias.
///
/// Input [1,1,3] with scale 0.5 and z = 100; 2-bit weights [1, 2, 3] with scale 3 (real weight = k): the
/// accumulator step is 0.5 = the output step, multiplier (2^30, 1), so L = 1 and the integer bias is
/// `round(1.5/0.5 · 2) − 100·6·2 = 6 − 1200 = −1194`. Bytes [100, 110, 90]: Σ k·x = 590, 590·2 − 1194 =
/// −14 → −7 = (0·1 + 10·2 − 10·3) + 1.5/0.5.
#[test]
fn dense_on_the_flattened_input_by_hand() {
    let layers = r#"{"op": "flatten", "name": "f", "input": "input"},
        {"op": "dense", "name": "d", "input": "f", "in_features": 3, "out_features": 1,
         "weight": {"bits": 2, "scale": 3.0, "values": [1, 2, 3]}, "bias": [1.5],
         "out": {"bits": 8, "scale": 0.5, "signed": true}}"#;
    let a = artifact([1, 1, 3], 0.5, Some("100"), layers, "d", 1).unwrap();
    let m = compile(&a).unwrap();
    let Kind::Dense { stage, .. } = &m.lowered.ops[0].kind else { panic!() };
    assert_eq!(stage.bias, vec![-1194]);
    assert_eq!(Executor::new(&a).unwrap().run(&[100, 110, 90]).unwrap(), [(-7i8) as u8]);
    // The same layer without the zero point: 590 + 3 = 593 steps, clamped to 127.
    let plain = artifact([1, 1, 3], 0.5, None, layers, "d", 1).unwrap();
    assert_eq!(Executor::new(&plain).unwrap().run(&[100, 110, 90]).unwrap(), [127]);
}

/// Every reader of the zero-pointed input other than conv2d, dense and flatten is refused, naming the
/// layer and the field; the same models without a zero point load.
#[test]
fn only_conv_and_dense_may_read_a_zero_pointed_input() {
    let conv = conv3x3("input");
    let pool =
        |op: &str| format!(r#"{{"op": "{op}", "name": "p", "input": "input", "kernel": [2, 2], "stride": [2, 2]}}"#);
    // (layers, output, labels, the layer and the field at fault)
    let cases: [(String, &str, usize, &str, &str); 6] = [
        (pool("max_pool"), "p", 1, "p", "input"),
        (pool("avg_pool"), "p", 1, "p", "input"),
        (r#"{"op": "global_avg_pool", "name": "p", "input": "input"}"#.into(), "p", 1, "p", "input"),
        (
            r#"{"op": "add", "name": "s", "inputs": ["input", "input"], "out": {"bits": 8, "scale": 1.0}}"#.into(),
            "s",
            4,
            "s",
            "inputs[0]",
        ),
        (
            format!(
                r#"{conv}, {{"op": "add", "name": "s", "inputs": ["c", "input"], "out": {{"bits": 8, "scale": 1.0}}}}"#
            ),
            "s",
            4,
            "s",
            "inputs[1]",
        ),
        (
            r#"{"op": "flatten", "name": "f", "input": "input"},
               {"op": "max_pool", "name": "p", "input": "f", "kernel": [1, 1], "stride": [1, 1]}"#
                .into(),
            "p",
            4,
            "p",
            "input",
        ),
    ];
    for (layers, output, labels, layer, field) in cases {
        let e = artifact([2, 2, 1], 0.5, Some("7"), &layers, output, labels).unwrap_err();
        assert!(e.contains(&format!("layer `{layer}`, field `{field}`")), "{e}");
        assert!(e.contains("zero point 7") && e.contains("only conv2d and dense"), "{e}");
        artifact([2, 2, 1], 0.5, None, &layers, output, labels).unwrap_or_else(|e| panic!("without zero point: {e}"));
    }
}

/// A network output that is the (flattened) zero-pointed input computes nothing and is refused, as with
/// any zero point.
#[test]
fn the_input_as_output_is_refused() {
    let a = artifact([1, 1, 2], 0.5, Some("9"), r#"{"op": "flatten", "name": "f", "input": "input"}"#, "f", 2).unwrap();
    let e = compile(&a).unwrap_err();
    assert!(matches!(&e, CodegenError::Lowering { message, .. } if message.contains("computes nothing")), "{e}");
}

/// A zero point above 255 (or negative, or not an integer) is a JSON error; 255 is accepted and written.
#[test]
fn the_field_reads_and_writes() {
    for bad in ["256", "-1", "1.5", "\"1\""] {
        let e = artifact([2, 2, 1], 0.0078125, Some(bad), &conv3x3("input"), "c", 4).unwrap_err();
        assert!(e.contains("line"), "{bad}: {e}");
    }
    let a = artifact([2, 2, 1], 0.0078125, Some("255"), &conv3x3("input"), "c", 4).unwrap();
    assert_eq!(a.input.zero_point, 255);
    let text = a.to_json().unwrap();
    assert!(text.contains(r#""zero_point": 255"#), "{text}");
    let back = Artifact::from_json(&text, "again").unwrap();
    assert_eq!((back.input.zero_point, back.to_json().unwrap()), (255, text));
}

/// A dense layer with `n` weights 255 (8-bit, real weight = k at scale 255) on an input of scale 1 and
/// output scale 4 (multiplier 1/4: no left shift).
fn wide_dense(n: usize) -> String {
    format!(
        r#"{{"op": "dense", "name": "d", "input": "input", "in_features": {n}, "out_features": 1,
            "weight": {{"bits": 8, "scale": 255.0, "values": [{}]}}, "out": {{"bits": 8, "scale": 4.0}}}}"#,
        list(&vec![255; n])
    )
}

/// The folded bias enters the range check of the bias and the overflow proof
/// `(Σ|k|·255)·2^L + |bias| ≤ 2^31 − 1`, which stays a real bound on what the kernels compute (raw bytes).
#[test]
fn the_folded_bias_is_range_checked_and_in_the_overflow_proof() {
    // 20000 weights of 255: Σ|k|·255 = 1.30e9 fits; with z = 255 the bias −255·Σk = −1.30e9 doubles it.
    let layer = wide_dense(20000);
    compile(&artifact([1, 1, 20000], 1.0, None, &layer, "d", 1).unwrap()).unwrap();
    let e = compile(&artifact([1, 1, 20000], 1.0, Some("255"), &layer, "d", 1).unwrap()).unwrap_err();
    assert!(matches!(&e, CodegenError::AccumulatorOverflow { layer, channel: 0, .. } if layer == "d"), "{e}");
    // z = 127: 1.30e9 + 0.65e9 = 1.95e9 still fits.
    compile(&artifact([1, 1, 20000], 1.0, Some("127"), &layer, "d", 1).unwrap()).unwrap();
    // 40000 weights of 255 with z = 255: the folded bias −2.6e9 is outside i32 (checked before the proof).
    let layer = wide_dense(40000);
    let e = compile(&artifact([1, 1, 40000], 1.0, Some("255"), &layer, "d", 1).unwrap()).unwrap_err();
    let CodegenError::Lowering { layer, message } = &e else { panic!("{e}") };
    assert_eq!(layer, "d");
    assert!(message.contains("outside i32") && message.contains("input zero point 255"), "{message}");
}

/// Random padded convolutions (plain, grouped, depthwise; strides 1–2; asymmetric paddings) on a
/// zero-pointed input equal a naive `Σ k·(x − z)` over the window with the padding as the real value 0,
/// through the unfolded bias and the same output stage.
#[test]
fn padded_convs_equal_a_naive_zero_pointed_convolution() {
    let mut rng = Rng::new(0x2e40);
    for case in 0..60 {
        let groups = [1usize, 1, 2, 3][case % 4];
        let (gi, go) = if case % 3 == 0 { (1, 1 + case % 2) } else { (1 + case % 3, 1 + case % 2) };
        let (in_c, out_c) = (groups * gi, groups * go);
        let (kh, kw) = (rng.int(1, 4) as usize, rng.int(1, 4) as usize);
        let pad = [
            rng.int(0, kh as i32 - 1),
            rng.int(0, kw as i32 - 1),
            rng.int(0, kh as i32 - 1),
            rng.int(0, kw as i32 - 1),
        ]
        .map(|p| p as usize);
        let (sh, sw) = (rng.int(1, 2) as usize, rng.int(1, 2) as usize);
        let (h, w) = (rng.int(kh as i32, 6) as usize, rng.int(kw as i32, 6) as usize);
        let bits = rng.int(1, 8) as u8;
        let m = (1i32 << bits) - 1;
        let row = kh * kw * gi;
        let values: Vec<i32> = (0..out_c * row).map(|_| rng.int(-m, m)).collect();
        let z = [1u8, 128, 255, 37][case % 4];
        let bias: Vec<String> = (0..out_c).map(|_| format!("{:.3}", rng.float(-2.0, 2.0))).collect();
        let layer = format!(
            r#"{{"op": "conv2d", "name": "c", "input": "input", "in_channels": {in_c}, "out_channels": {out_c},
                "kernel": [{kh}, {kw}], "stride": [{sh}, {sw}], "padding": [{}, {}, {}, {}], "groups": {groups},
                "weight": {{"bits": {bits}, "scale": 0.8, "values": [{}]}}, "bias": [{}],
                "out": {{"bits": 8, "scale": 0.05, "signed": true}}}}"#,
            pad[0],
            pad[1],
            pad[2],
            pad[3],
            list(&values),
            bias.join(",")
        );
        let oh = (h + pad[0] + pad[2] - kh) / sh + 1;
        let ow = (w + pad[1] + pad[3] - kw) / sw + 1;
        let a = artifact([h, w, in_c], 0.02, Some(&z.to_string()), &layer, "c", oh * ow * out_c).unwrap();
        let model = compile(&a).unwrap();
        let op = &model.lowered.ops[0];
        assert_eq!(op.input_pad().is_some(), pad != [0; 4], "case {case}");
        let stage = match &op.kind {
            Kind::Conv { stage, .. } | Kind::GroupedConv { stage, .. } => stage.clone(),
            k => panic!("case {case}: {k:?}"),
        };
        // The bias without the zero point: bias_o + z·Σk·2^L.
        let unfolded: Vec<i32> = (0..out_c)
            .map(|o| {
                let rq = stage.requant[if stage.requant.len() == 1 { 0 } else { o }];
                let sum: i64 = values[o * row..(o + 1) * row].iter().map(|&k| k as i64).sum();
                (stage.bias[o] as i64 + ((z as i64 * sum) << rq.shift.max(0))) as i32
            })
            .collect();
        let naive_stage = OutputStage { bias: &unfolded, ..stage.as_runtime() };
        let mut ex = Executor::new(&a).unwrap();
        for t in 0..3 {
            let x: Vec<u8> = rng.bytes(h * w * in_c);
            let got = ex.run(&x).unwrap().to_vec();
            let mut want = Vec::new();
            for y in 0..oh {
                for xx in 0..ow {
                    for o in 0..out_c {
                        let g = o / go;
                        let mut acc = 0i32;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * sh + i) as isize - pad[0] as isize;
                                let ix = (xx * sw + j) as isize - pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue; // the real value 0
                                }
                                for c in 0..gi {
                                    let v = x[(iy as usize * w + ix as usize) * in_c + g * gi + c] as i32 - z as i32;
                                    acc += values[o * row + (i * kw + j) * gi + c] * v;
                                }
                            }
                        }
                        want.push(naive_stage.finish(o, acc));
                    }
                }
            }
            assert_eq!(got, want, "case {case} input {t}: {layer}");
        }
    }
}

/// The `zeropoint` fixture: its padded convolutions get a padded copy each, the dense layer on the
/// flattened input none, and its outputs are not all clamped (the calibration sees the real inputs).
#[test]
fn the_zeropoint_fixture() {
    let a = bsq_codegen::fixtures::fixture("zeropoint").unwrap();
    assert_eq!(a.input.zero_point, 128);
    let m = compile(&a).unwrap();
    let padded: Vec<&str> = m.lowered.ops.iter().filter(|o| o.input_pad().is_some()).map(|o| o.name.as_str()).collect();
    assert_eq!(padded, ["conv1", "dw"]);
    let mut ex = Executor::new(&a).unwrap();
    for x in bsq_codegen::fixtures::inputs("zeropoint", 192, 4) {
        let mut layers = Vec::new();
        ex.run_observed(&x, &mut |_, n, b| layers.push((n.to_string(), b.to_vec()))).unwrap();
        for (n, b) in &layers {
            let distinct = b.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(distinct > 1 || b.len() == 1, "layer {n} is constant: {b:?}");
        }
    }
}

/// The padded copy of a zero-pointed input must be a valid tensor (at most 2^31 − 1 bytes), else the
/// convolution is refused at `padding`; without the zero point (no copy) the same layer loads.
#[test]
fn a_padded_copy_above_2_31_bytes_is_refused() {
    // A 0-bit layer (no weights to write) over a 46340×46340 input: 46342² > 2^31 − 1.
    let big = r#"{"op": "conv2d", "name": "c", "input": "input", "in_channels": 1, "out_channels": 1,
        "kernel": [3, 3], "stride": [46341, 46341], "padding": [1, 1, 1, 1],
        "weight": {"bits": 0, "scale": 1.0, "values": []}, "out": {"bits": 8, "scale": 0.5}}"#;
    let e = artifact([46340, 46340, 1], 0.5, Some("3"), big, "c", 1).unwrap_err();
    assert!(e.contains("layer `c`, field `padding`"), "{e}");
    artifact([46340, 46340, 1], 0.5, None, big, "c", 1).unwrap();
}
