//! Regression tests for bugs found by the independent differential tester (issue 15): each builds the
//! smallest artifact that showed the bug, from JSON, and checks the documented behaviour.

use bsq_codegen::{Artifact, CodegenError, Executor, compile};

/// An artifact with the given input shape, layers (JSON objects) and output.
fn artifact(shape: [usize; 3], layers: &str, output: &str, labels: usize) -> Artifact {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "regression",
            "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
            "labels": [{}], "input": {{"shape": [{}, {}, {}], "scale": 0.5}},
            "layers": [{layers}], "output": "{output}"}}"#,
        labels.join(","),
        shape[0],
        shape[1],
        shape[2]
    );
    Artifact::from_json(&json, "regression.bsq.json").unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn run(a: &Artifact, input: &[u8]) -> Vec<u8> {
    Executor::new(a).unwrap_or_else(|e| panic!("{e}")).run(input).unwrap_or_else(|e| panic!("{e}")).to_vec()
}

/// Bug 1: a layer after `flatten` saw the tensor's shape from before the flatten.
#[test]
fn flatten_then_global_avg_pool_keeps_the_values() {
    let a = artifact(
        [2, 1, 1],
        r#"{"op": "flatten", "name": "f", "input": "input"},
           {"op": "global_avg_pool", "name": "g", "input": "f"}"#,
        "g",
        2,
    );
    // [1, 1, 2] averaged over a 1×1 window is itself.
    assert_eq!(run(&a, &[3, 5]), [3, 5]);
}

#[test]
fn flatten_then_max_pool_1x1_keeps_the_values() {
    let a = artifact(
        [2, 1, 1],
        r#"{"op": "flatten", "name": "f", "input": "input"},
           {"op": "max_pool", "name": "p", "input": "f", "kernel": [1, 1], "stride": [1, 1]}"#,
        "p",
        2,
    );
    assert_eq!(run(&a, &[3, 5]), [3, 5]);
}

/// A 1×1 convolution after a flatten reads the flattened `[1, 1, 4]` tensor as 4 channels.
#[test]
fn flatten_then_conv_1x1_reads_the_flattened_channels() {
    let a = artifact(
        [4, 1, 1],
        r#"{"op": "flatten", "name": "f", "input": "input"},
           {"op": "conv2d", "name": "c", "input": "f", "in_channels": 4, "out_channels": 1,
            "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0, 0, 0],
            "weight": {"bits": 2, "scale": 3.0, "values": [1, 2, 3, -1]},
            "out": {"bits": 8, "scale": 0.5}}"#,
        "c",
        1,
    );
    // Real weights scale·k/(2^2−1) = k; real inputs 0.5·x; y = 0.5·(1·1 + 2·2 + 3·3 − 1·4) = 5; q = y/0.5 = 10.
    assert_eq!(run(&a, &[1, 2, 3, 4]), [10]);
}

/// Bug 2: the overflow bound was computed in i64 and wrapped for a large left shift, so a layer whose
/// accumulator reaches 2,425,411,080 was accepted.
#[test]
fn the_overflow_proof_cannot_be_bypassed_by_a_large_left_shift() {
    let n = 132_103;
    let values = vec!["255"; n].join(",");
    // Input scale 0.5, weight step 1/255·scale: with weight.scale = 255 the accumulator step is 0.5; an
    // output scale of 0.5/2^30 asks for a real multiplier of 2^30 / 2 = 2^29 → left shift 30.
    let layers = format!(
        r#"{{"op": "dense", "name": "d", "input": "input", "in_features": {n}, "out_features": 1,
            "weight": {{"bits": 8, "scale": 255.0, "values": [{values}]}},
            "out": {{"bits": 8, "scale": {}, "signed": true}}}}"#,
        0.5f64 / 2f64.powi(29)
    );
    let a = artifact([1, 1, n], &layers, "d", 1);
    match compile(&a) {
        Err(CodegenError::AccumulatorOverflow { layer, channel, bound, .. }) => {
            assert_eq!((layer.as_str(), channel), ("d", 0));
            // sum |k| · max activation · 2^left = 132103 · 255 · 255 · 2^left.
            assert!(bound > i32::MAX as i128, "{bound}");
            assert_eq!(bound % (132_103 * 255 * 255), 0);
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a layer whose accumulator can overflow was accepted"),
    }
}

/// The pooling window limit (2^23 elements) is checked when the artifact is loaded, not at run time.
#[test]
fn a_pooling_window_above_2_pow_23_is_refused_at_load() {
    let json = r#"{"format": "bsq-artifact", "version": 1, "name": "big",
        "provenance": {"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"},
        "labels": ["a"], "input": {"shape": [4097, 2048, 1], "scale": 0.5},
        "layers": [{"op": "global_avg_pool", "name": "g", "input": "input"}], "output": "g"}"#;
    let e = Artifact::from_json(json, "big.bsq.json").expect_err("refused").to_string();
    assert!(e.contains("layer `g`") && e.contains("more than 2^23"), "{e}");
}

/// docs/artifact.md, "Reading the file": a number is read as the nearest f64, then rounded to f32 — in the
/// layers (buffered by serde as f64) and at the top level alike. 1 + 2^−24 + 10^−28 has the f64 1 + 2^−24
/// (a tie between the f32 values 1 and 1 + 2^−23), which rounds to even: 1.0.
#[test]
fn floats_are_read_through_the_nearest_f64_everywhere() {
    let x = "1.0000000596046447753906250001";
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "floats",
        "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
        "labels": ["a"], "input": {{"shape": [1, 1, 1], "scale": {x}}},
        "layers": [{{"op": "dense", "name": "d", "input": "input", "in_features": 1, "out_features": 1,
                     "weight": {{"bits": 1, "scale": {x}, "values": [1]}}, "bias": [{x}],
                     "out": {{"bits": 8, "scale": {x}}}}}], "output": "d"}}"#
    );
    let a = Artifact::from_json(&json, "floats.bsq.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.input.scale, 1.0);
    let bsq_codegen::artifact::Layer::Dense(d) = &a.layers[0] else { panic!() };
    assert_eq!((d.weight.scale, d.out.scale, d.bias.as_deref()), (1.0, 1.0, Some(&[1.0f32][..])));
}

/// Found by the fuzzer (`tests/difftest/examples/fuzz.rs`): a loaded artifact must save to text that loads
/// back as the same artifact. The provenance's f64 numbers were written as the shortest *f32* text when
/// they happened to be f32 values (2^31 → "2.1474836e9"), and an infinite 0-bit weight scale was written
/// as `null`.
#[test]
fn every_loaded_artifact_saves_to_text_that_loads_back_equal() {
    let mut a = bsq_codegen::fixtures::fixture("zerobit").unwrap();
    a.provenance.alpha = Some(2147483648.0);
    a.provenance.accuracy.float = Some(9.223372036854776e18);
    a.provenance.accuracy.integer = Some(-1.0);
    let text = a.to_json().unwrap();
    let back = Artifact::from_json(&text, "roundtrip.bsq.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.provenance, a.provenance);
    let mut b = back.clone();
    b.scheme.clear();
    a.scheme.clear();
    assert_eq!(b, a);

    // A non-finite float is refused where it would not survive JSON, with the field named.
    let mut z = bsq_codegen::fixtures::fixture("zerobit").unwrap();
    let layer = z.layers.iter_mut().find_map(|l| match l {
        bsq_codegen::artifact::Layer::Conv2d(c) if c.weight.bits == 0 => Some(c),
        _ => None,
    });
    let c = layer.expect("zerobit has a 0-bit conv");
    c.weight.scale = f32::INFINITY;
    let e = z.to_json().expect_err("refused").to_string();
    assert!(e.contains("weight.scale") && e.contains("not finite"), "{e}");
    let mut p = bsq_codegen::fixtures::fixture("mlp").unwrap();
    p.provenance.alpha = Some(f64::NAN);
    let e = p.to_json().expect_err("refused").to_string();
    assert!(e.contains("provenance.alpha"), "{e}");
}

/// Grouped convolutions (issue 12): `groups` 0 and a `groups` that does not divide both channel counts
/// are refused at load, naming the layer and the field; the weight count is `out·k_h·k_w·in/groups`.
#[test]
fn grouped_convolution_refusals_name_the_layer_and_field() {
    let conv = |groups: &str, in_c: usize, out_c: usize, values: usize| {
        let values = vec!["1"; values].join(",");
        format!(
            r#"{{"format": "bsq-artifact", "version": 1, "name": "g",
                "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
                "labels": [{}], "input": {{"shape": [3, 3, {in_c}], "scale": 0.5}},
                "layers": [{{"op": "conv2d", "name": "dw", "input": "input", "in_channels": {in_c},
                    "out_channels": {out_c}, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1, 1, 1],
                    "groups": {groups}, "weight": {{"bits": 1, "scale": 1.0, "values": [{values}]}},
                    "out": {{"bits": 8, "scale": 1.0}}}}],
                "output": "dw"}}"#,
            vec!["\"x\""; 9 * out_c].join(",")
        )
    };
    let err = |json: String| Artifact::from_json(&json, "g.bsq.json").expect_err("refused").to_string();
    assert_eq!(err(conv("0", 4, 4, 36)), "layer `dw`, field `groups`: is 0");
    assert_eq!(
        err(conv("3", 6, 4, 4 * 9 * 2)),
        "layer `dw`, field `groups`: 3 does not divide both in_channels (6) and out_channels (4)"
    );
    assert_eq!(
        err(conv("4", 6, 8, 8 * 9 * 2)),
        "layer `dw`, field `groups`: 4 does not divide both in_channels (6) and out_channels (8)"
    );
    // Depthwise: 4 channels, 9 weights each (not 36).
    assert_eq!(
        err(conv("4", 4, 4, 4 * 9 * 4)),
        "layer `dw`, field `weight.values`: has 144 values, the shape needs 36"
    );
    assert!(Artifact::from_json(&conv("4", 4, 4, 36), "g.bsq.json").is_ok());
    // A negative or fractional `groups` is a JSON-shape error (an unsigned integer field).
    assert!(err(conv("-1", 4, 4, 36)).contains("g.bsq.json: line"));
    assert!(err(conv("2.0", 4, 4, 36)).contains("g.bsq.json: line"));
}
