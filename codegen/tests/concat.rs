//! Channel `concat` through codegen: the artifact layer (op name, round trip), validation (fewer than two
//! inputs, a dangling input, a height/width mismatch, the output quantization, a zero-pointed input), the
//! lowering (identity for an input at the output's scale, one rescaling per input, the scale refusal), the
//! executor on hand-computed values, the emitted call, and the memory plan keeping every input live.

use bsq_codegen::lower::Kind;
use bsq_codegen::{Artifact, Executor, compile, emit::emit, fixtures};
use bsq_runtime::Requant;

/// An artifact whose input (`[1, 2, 2]`, scale 0.5, zero point `zp`) feeds `p` (a 1×1 max pool: a copy in the
/// arena at the input's quantization) and `q` (`[1, 1, 2]`), then `layers`; `output` is the last one. With a
/// zero point (which pools may not read), only `layers`.
fn artifact(zp: u8, layers: &str, output: &str, labels: usize) -> Result<Artifact, String> {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    let pools = if zp != 0 {
        ""
    } else {
        r#"{"op": "max_pool", "name": "p", "input": "input", "kernel": [1, 1], "stride": [1, 1]},
           {"op": "max_pool", "name": "q", "input": "input", "kernel": [1, 2], "stride": [1, 1]},"#
    };
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "cat",
            "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
            "labels": [{}], "input": {{"shape": [1, 2, 2], "scale": 0.5, "zero_point": {zp}}},
            "layers": [{pools} {layers}], "output": "{output}"}}"#,
        labels.join(","),
    );
    Artifact::from_json(&json, "cat.bsq.json").map_err(|e| e.to_string())
}

fn concat(inputs: &[&str], bits: u8, scale: f32, signed: bool) -> String {
    let inputs: Vec<String> = inputs.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        r#"{{"op": "concat", "name": "cat", "inputs": [{}], "out": {{"bits": {bits}, "scale": {scale}, "signed": {signed}}}}}"#,
        inputs.join(", ")
    )
}

/// Input pixels (1, 2) and (3, 40) at scale 0.5; `cat = [p, input]` at scale 1 (unsigned 4-bit): every
/// value halved, ties toward +∞ (0.5 → 1, 1.5 → 2), 20 clamped to 15. At scale 0.5 (signed 4-bit): the
/// identity, clamped to 7.
#[test]
fn concat_by_hand() {
    let a = artifact(0, &concat(&["p", "input"], 4, 1.0, false), "cat", 8).unwrap();
    let m = compile(&a).unwrap();
    assert_eq!(m.lowered.tensors[m.lowered.output].shape, [1, 2, 4]);
    let Kind::Concat { pixels, parts, stage } = &m.lowered.ops[2].kind else { panic!() };
    assert_eq!((*pixels, parts.as_slice()), (2, &[(2, false), (2, false)][..]));
    assert_eq!(stage.requant, [Requant { multiplier: 1 << 30, shift: 0 }], "one shared rescaling by 1/2");
    assert!(stage.bias.is_empty());
    assert_eq!(Executor::new(&a).unwrap().run(&[1, 2, 3, 40]).unwrap(), [1, 1, 1, 1, 2, 15, 2, 15]);

    let a = artifact(0, &concat(&["input", "p"], 4, 0.5, true), "cat", 8).unwrap();
    let m = compile(&a).unwrap();
    let Kind::Concat { stage, .. } = &m.lowered.ops[2].kind else { panic!() };
    assert_eq!(stage.requant, [Requant::IDENTITY]);
    assert_eq!((stage.min, stage.max, stage.signed), (-8, 7, true));
    assert_eq!(Executor::new(&a).unwrap().run(&[1, 2, 3, 40]).unwrap(), [1, 2, 1, 2, 3, 7, 3, 7]);
}

/// Inputs at different scales get one requantization each; the layer round-trips through JSON as `concat`.
#[test]
fn one_rescaling_per_input_and_the_json_form() {
    let layers = format!(
        r#"{{"op": "add", "name": "s", "inputs": ["p", "p"], "out": {{"bits": 8, "scale": 2.0, "signed": false}}}},
           {}"#,
        concat(&["s", "p", "p"], 8, 1.0, false).replace("\"cat\"", "\"j\"")
    );
    let a = artifact(0, &layers, "j", 12).unwrap();
    let json = a.to_json().unwrap();
    assert!(json.contains(r#""op": "concat""#), "{json}");
    assert_eq!(Artifact::from_json(&json, "x").unwrap(), a);
    let m = compile(&a).unwrap();
    let Kind::Concat { stage, parts, .. } = &m.lowered.ops[3].kind else { panic!() };
    assert_eq!(parts.len(), 3);
    let half = Requant { multiplier: 1 << 30, shift: 0 };
    assert_eq!(stage.requant, [Requant { multiplier: 1 << 30, shift: 2 }, half, half]);
    // s = round(p/2) at scale 2 (ties up); at scale 1: s·2 and p·0.5 (ties up).
    let out = Executor::new(&a).unwrap().run(&[1, 2, 3, 40]).unwrap().to_vec();
    assert_eq!(out, [2, 2, 1, 1, 1, 1, 4, 40, 2, 20, 2, 20]);
    let src = emit(&m, "cat.bsq.json");
    assert!(src.contains("rt::arena::split_ins_out(&mut bytes[..], ["), "{src}");
    assert!(src.contains("rt::ConcatInput { data: x2, channels: 2, signed: false },"), "{src}");
}

/// The network input read directly: the emitted code takes it from the caller's slice.
#[test]
fn the_network_input_is_read_in_place() {
    let a = artifact(0, &concat(&["input", "input"], 8, 0.5, false), "cat", 8).unwrap();
    let m = compile(&a).unwrap();
    assert_eq!(Executor::new(&a).unwrap().run(&[1, 2, 3, 40]).unwrap(), [1, 2, 1, 2, 3, 40, 3, 40]);
    let src = emit(&m, "cat.bsq.json");
    assert!(src.contains("        let x0: &[u8] = input;\n        let x1: &[u8] = input;\n"), "{src}");
}

fn refusal(zp: u8, layer: &str) -> String {
    let a = artifact(zp, layer, "cat", 8);
    match a {
        Err(e) => e,
        Ok(a) => compile(&a).err().map(|e| e.to_string()).unwrap_or_else(|| "accepted".into()),
    }
}

#[test]
fn refusals_name_the_layer_and_field() {
    let cases = [
        (0, concat(&["p"], 8, 1.0, false), "inputs", "1 input(s): a concat takes at least 2"),
        (0, concat(&["p", "nope"], 8, 1.0, false), "inputs[1]", "`nope` is neither `input` nor an earlier layer"),
        (0, concat(&["p", "q"], 8, 1.0, false), "inputs[1]", "height and width do not match"),
        (0, concat(&["p", "p"], 1, 1.0, true), "out.bits", "1 is outside 2..=8 for signed activations"),
        (0, concat(&["p", "p"], 9, 1.0, false), "out.bits", "outside 1..=8"),
        (0, concat(&["p", "p"], 8, -1.0, false), "out.scale", "must be finite and > 0"),
        (3, concat(&["input", "input"], 8, 1.0, false), "inputs[0]", "network input with zero point 3"),
    ];
    for (zp, layer, field, message) in cases {
        let e = refusal(zp, &layer);
        assert!(e.contains("`cat`") && e.contains(field) && e.contains(message), "{layer}: {e}");
    }
    let e = refusal(0, &concat(&["p", "input"], 8, 1e-10, false));
    assert!(e.contains("cat") && e.contains("inputs[0] (`p`)") && e.contains("too large"), "{e}");
}

/// Every input of a concat stays live until it runs (none shares bytes with another input or the output),
/// in the fixture with four-input and two-input concats.
#[test]
fn the_plan_keeps_every_input_live() {
    let a = fixtures::fixture("concat").unwrap();
    let m = compile(&a).unwrap();
    for op in m.lowered.ops.iter().filter(|o| o.op == "concat") {
        let out = m.plan.range(op.output).unwrap();
        let ins: Vec<(usize, usize)> = op.inputs.iter().filter_map(|&t| m.plan.range(t)).collect();
        for (k, r) in ins.iter().enumerate() {
            assert!(r.1 <= out.0 || out.1 <= r.0, "{}: input {k} overlaps the output", op.name);
            for s in &ins[k + 1..] {
                assert!(r.1 <= s.0 || s.1 <= r.0 || r == s, "{}: inputs overlap", op.name);
            }
        }
    }
}
