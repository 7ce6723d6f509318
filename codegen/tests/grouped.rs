//! Grouped and depthwise convolutions through codegen (issue 12): validation refusals naming the layer
//! and the field, lowering (per-group fan-in, one packed row per output channel, BatchNorm per output
//! channel), the executor on hand-computed layers, the emitted kernel call, and old artifacts unchanged.

use bsq_codegen::lower::Kind;
use bsq_codegen::{Artifact, CodegenError, Executor, compile, emit::emit};

/// An artifact with the given input shape, layers (JSON objects) and output.
fn artifact(shape: [usize; 3], layers: &str, output: &str, labels: usize) -> Result<Artifact, String> {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "grouped",
            "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
            "labels": [{}], "input": {{"shape": [{}, {}, {}], "scale": 0.5}},
            "layers": [{layers}], "output": "{output}"}}"#,
        labels.join(","),
        shape[0],
        shape[1],
        shape[2]
    );
    Artifact::from_json(&json, "grouped.bsq.json").map_err(|e| e.to_string())
}

/// A conv2d layer `c` on the network input with the given channel counts, `groups` (JSON text, or
/// `None` for no field), kernel 2×2 and 2-bit weights `values`.
fn conv(in_c: usize, out_c: usize, groups: Option<&str>, values: &[i32], extra: &str) -> String {
    let groups = groups.map(|g| format!(r#""groups": {g},"#)).unwrap_or_default();
    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    format!(
        r#"{{"op": "conv2d", "name": "c", "input": "input", "in_channels": {in_c}, "out_channels": {out_c},
            "kernel": [2, 2], "stride": [1, 1], "padding": [0, 0, 0, 0], {groups}
            "weight": {{"bits": 2, "scale": 3.0, "values": [{}]}}, {extra}
            "out": {{"bits": 8, "scale": 0.5}}}}"#,
        values.join(",")
    )
}

/// A 2×2 depthwise layer on a 2×2×2 image, by hand. Input scale 0.5, weight scale 3 with 2-bit weights
/// (real weight = k), output scale 0.5: the accumulator step is 0.5·3/3 = 0.5 = the output step, so the
/// output byte is the accumulator itself (multiplier 2^30, shift 1).
#[test]
fn depthwise_layer_by_hand() {
    // Weights [out][k_h][k_w][in/groups = 1]: channel 0 = 1, 2, 3, −1; channel 1 = 0, 1, 0, 1.
    let a = artifact([2, 2, 2], &conv(2, 2, Some("2"), &[1, 2, 3, -1, 0, 1, 0, 1], ""), "c", 2).unwrap();
    let m = compile(&a).unwrap();
    let op = &m.lowered.ops[0];
    let Kind::GroupedConv { shape, bits, packed, stage, .. } = &op.kind else { panic!("{:?}", op.kind) };
    assert_eq!((shape.groups, shape.row_len(), *bits), (2, 4, 2));
    // One packed row per output channel: 4 fields of 3 bits = 12 bits → 2 bytes per row.
    assert_eq!(packed.len(), 4);
    assert_eq!(stage.requant, vec![bsq_runtime::Requant { multiplier: 1 << 30, shift: 1 }]);
    assert_eq!(stage.bias, vec![0, 0]);
    assert_eq!((op.params, op.macs), (8, 8));
    assert_eq!(m.plan.scratch_len, bsq_runtime::grouped_scratch_len(shape));
    // HWC input: pixel (0,0) = [1, 10], (0,1) = [2, 20], (1,0) = [3, 30], (1,1) = [4, 40].
    // Channel 0: 1·1 + 2·2 + 3·3 − 1·4 = 10; channel 1: 20 + 40 = 60.
    let out = Executor::new(&a).unwrap().run(&[1, 10, 2, 20, 3, 30, 4, 40]).unwrap().to_vec();
    assert_eq!(out, [10, 60]);
    // The generated code calls the per-width grouped kernel with the grouped shape.
    let src = emit(&m, "grouped.bsq.json");
    assert!(src.contains("rt::grouped_conv2d_bits::<2>(&L0_SHAPE, x, &L0_PACKED, &L0_STAGE, &mut scratch[..], y)?;"));
    assert!(src.contains("const L0_SHAPE: rt::GroupedConv2dShape = rt::GroupedConv2dShape {"));
    assert!(src.contains("    groups: 2,\n"));
}

/// Depthwise with a channel multiplier of 2 (2 input channels, 4 outputs): outputs 0 and 1 read input
/// channel 0, outputs 2 and 3 channel 1. With a bias (real 1.0 = 2 output steps) on channel 3 and a
/// BatchNorm-free layer.
#[test]
fn channel_multiplier_by_hand() {
    let values = [1, 1, 1, 1, 1, -1, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0];
    let a = artifact([2, 2, 2], &conv(2, 4, Some("2"), &values, r#""bias": [0, 0, 0, 1.0],"#), "c", 4).unwrap();
    // Channel 0: 1+2+3+4 = 10; channel 1: 1 − 2 = −1 → 0 (ReLU clamp); channel 2: 40 (input channel 1,
    // last tap); channel 3: 2·10 + 2 (bias) = 22.
    let out = Executor::new(&a).unwrap().run(&[1, 10, 2, 20, 3, 30, 4, 40]).unwrap().to_vec();
    assert_eq!(out, [10, 0, 40, 22]);
}

/// General groups (2 input channels per group) and BatchNorm folded per output channel.
#[test]
fn general_groups_with_batchnorm() {
    // 4 input channels, 2 groups, 2 outputs: output 0 reads channels 0, 1; output 1 reads 2, 3.
    // Weights [out][2][2][2]: output 0 takes channel 0 of every tap (+1) and nothing of channel 1;
    // output 1 takes channel 3 at the first tap only (+2).
    let mut values = vec![0; 16];
    for t in 0..4 {
        values[2 * t] = 1;
    }
    values[8 + 1] = 2;
    // BatchNorm: output 0 γ = 2 (doubles), output 1 γ = 1, β = 0, μ = 0, σ² = 1 − ε... use ε = 0, σ² = 1.
    let bn = r#""bn": {"gamma": [2.0, 1.0], "beta": [0.0, 0.0], "mean": [0.0, 0.0], "var": [1.0, 1.0], "eps": 0.0},"#;
    let a = artifact([2, 2, 4], &conv(4, 2, Some("2"), &values, bn), "c", 2).unwrap();
    let input: Vec<u8> = (0..4).flat_map(|p| [p + 1, 100, 100, 10 * (p + 1)]).collect();
    // Output 0: 2·(1+2+3+4) = 20; output 1: 2·10 = 20 (channel 3 of pixel 0).
    let out = Executor::new(&a).unwrap().run(&input).unwrap().to_vec();
    assert_eq!(out, [20, 20]);
    let m = compile(&a).unwrap();
    let Kind::GroupedConv { stage, .. } = &m.lowered.ops[0].kind else { panic!() };
    assert_eq!(stage.requant.len(), 2, "BatchNorm gives one requantization per output channel");
}

/// `groups` 1, absent and `null` are the same layer (the plain convolution) with the same bytes; an
/// artifact without `groups` is saved without it.
#[test]
fn groups_one_is_the_plain_convolution() {
    let values: Vec<i32> = (0..16).map(|i| (i % 7) - 3).collect();
    let input: Vec<u8> = (0..8).map(|i| i * 31).collect();
    let mut outs = Vec::new();
    for g in [None, Some("1"), Some("null")] {
        let a = artifact([2, 2, 2], &conv(2, 2, g, &values, ""), "c", 2).unwrap();
        let m = compile(&a).unwrap();
        assert!(matches!(m.lowered.ops[0].kind, Kind::Conv { .. }), "groups {g:?}");
        outs.push(Executor::new(&a).unwrap().run(&input).unwrap().to_vec());
        if g.is_none() || g == Some("null") {
            assert!(!a.to_json().unwrap().contains("groups"));
        }
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

/// The scheme counts `out·k_h·k_w·in/groups` weights; `groups` survives a save and a load.
#[test]
fn scheme_counts_the_grouped_weights() {
    let a = artifact([2, 2, 2], &conv(2, 2, Some("2"), &[1, 2, 3, -1, 0, 1, 0, 1], ""), "c", 2).unwrap();
    assert_eq!(a.derived_scheme()[0].params, 8);
    assert!(a.to_json().unwrap().contains("\"groups\": 2"));
    // Saved and loaded back, it is itself.
    let back = Artifact::from_json(&a.to_json().unwrap(), "x").unwrap();
    assert_eq!(back.layers, a.layers);
    assert_eq!(back.to_json().unwrap(), a.to_json().unwrap());
}

/// The overflow proof uses the per-group fan-in: a depthwise 1×1 layer over 40 000 channels with 8-bit
/// weights and inputs is fine (one product per output), while a grouped layer whose group fan-in
/// reaches 40 000 · 255 · 255 > 2^31 is refused naming the layer, channel and fan-in.
#[test]
fn overflow_proof_uses_the_group_fan_in() {
    let n = 40_000;
    let layer = |groups: usize, out_c: usize| {
        let count = out_c * n * 2 / groups;
        let values = vec!["255"; count].join(",");
        format!(
            r#"{{"op": "conv2d", "name": "big", "input": "input", "in_channels": {}, "out_channels": {out_c},
                "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0, 0, 0], "groups": {groups},
                "weight": {{"bits": 8, "scale": 1.0, "values": [{values}]}},
                "out": {{"bits": 8, "scale": 1000.0}}}}"#,
            2 * n
        )
    };
    let dw = artifact([1, 1, 2 * n], &layer(2 * n, 2 * n), "big", 2 * n).unwrap();
    compile(&dw).unwrap();
    let grouped = artifact([1, 1, 2 * n], &layer(2, 2), "big", 2).unwrap();
    match compile(&grouped) {
        Err(e @ CodegenError::AccumulatorOverflow { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("big") && msg.contains("fan-in 40000"), "{msg}");
        }
        other => panic!("expected an overflow refusal, got {other:?}"),
    }
}
