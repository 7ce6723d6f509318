//! Padded `max_pool` / `avg_pool` through codegen: the optional `padding` field (absent and `null` = none,
//! never written when absent), validation (each side smaller than the kernel, the kernel fits the padded
//! input), the output shape, the executor on hand-computed windows (padded cells ignored by max, not counted
//! by the average), the emitted shape, and the pools of every fixture unchanged.

use bsq_codegen::lower::Kind;
use bsq_codegen::{Artifact, Executor, compile, emit::emit, fixtures};

/// An artifact whose input (scale 0.5) feeds `layers`; `output` is the last one.
fn artifact(shape: [usize; 3], layers: &str, output: &str, labels: usize) -> Result<Artifact, String> {
    let labels: Vec<String> = (0..labels).map(|i| format!("\"l{i}\"")).collect();
    let json = format!(
        r#"{{"format": "bsq-artifact", "version": 1, "name": "pools",
            "provenance": {{"tool": "test", "created": "1970-01-01T00:00:00Z", "dataset": "none"}},
            "labels": [{}], "input": {{"shape": [{}, {}, {}], "scale": 0.5}},
            "layers": [{layers}], "output": "{output}"}}"#,
        labels.join(","),
        shape[0],
        shape[1],
        shape[2]
    );
    Artifact::from_json(&json, "pools.bsq.json").map_err(|e| e.to_string())
}

fn pool(op: &str, kernel: [usize; 2], stride: [usize; 2], padding: &str) -> String {
    let padding = if padding.is_empty() { String::new() } else { format!(r#", "padding": {padding}"#) };
    format!(
        r#"{{"op": "{op}", "name": "p", "input": "input", "kernel": [{}, {}], "stride": [{}, {}]{padding}}}"#,
        kernel[0], kernel[1], stride[0], stride[1]
    )
}

/// A 3×3 image 1..9, 3×3 windows with stride 2 and padding 1: four windows {1,2,4,5}, {2,3,5,6},
/// {4,5,7,8}, {5,6,8,9} of four input cells each: max 5, 6, 8, 9; average 3, 4, 6, 7.
#[test]
fn padded_pools_by_hand() {
    let input = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    for (op, want) in [("max_pool", [5u8, 6, 8, 9]), ("avg_pool", [3, 4, 6, 7])] {
        let a = artifact([3, 3, 1], &pool(op, [3, 3], [2, 2], "[1, 1, 1, 1]"), "p", 4).unwrap();
        let m = compile(&a).unwrap();
        assert_eq!(m.lowered.tensors[m.lowered.output].shape, [2, 2, 1]);
        let (Kind::MaxPool { shape, .. } | Kind::AvgPool { shape, .. }) = &m.lowered.ops[0].kind else { panic!() };
        assert_eq!([shape.pad_top, shape.pad_left, shape.pad_bottom, shape.pad_right], [1; 4]);
        assert_eq!(Executor::new(&a).unwrap().run(&input).unwrap(), want, "{op}");
        let src = emit(&m, "pools.bsq.json");
        assert!(src.contains("    pad_top: 1,\n    pad_left: 1,\n    pad_bottom: 1,\n    pad_right: 1,\n"), "{src}");
    }
}

/// Asymmetric padding on one row (1×3, window 2×2, stride 1, padding top and left 1): windows of 1, 2 and
/// 2 input cells. [1, 2, 4]: average 1, 1.5 → 2, 3 (counting the padded cells would give 0, 1, 2).
#[test]
fn the_average_divides_by_the_input_cells() {
    let a = artifact([1, 3, 1], &pool("avg_pool", [2, 2], [1, 1], "[1, 1, 0, 0]"), "p", 3).unwrap();
    assert_eq!(Executor::new(&a).unwrap().run(&[1, 2, 4]).unwrap(), [1, 2, 3]);
    let a = artifact([1, 3, 1], &pool("max_pool", [2, 2], [1, 1], "[1, 1, 0, 0]"), "p", 3).unwrap();
    assert_eq!(Executor::new(&a).unwrap().run(&[1, 2, 4]).unwrap(), [1, 2, 4]);
}

/// `padding` absent or `null`: no padding, not written; `[0, 0, 0, 0]` is the same computation and is
/// written back as given.
#[test]
fn the_field_is_optional() {
    for padding in ["", "null"] {
        let a = artifact([4, 4, 1], &pool("max_pool", [2, 2], [2, 2], padding), "p", 4).unwrap();
        assert!(!a.to_json().unwrap().contains("padding"), "{padding:?}");
    }
    let zeros = artifact([4, 4, 1], &pool("max_pool", [2, 2], [2, 2], "[0, 0, 0, 0]"), "p", 4).unwrap();
    assert!(zeros.to_json().unwrap().contains(r#""padding": [0,0,0,0]"#), "{}", zeros.to_json().unwrap());
    let plain = artifact([4, 4, 1], &pool("max_pool", [2, 2], [2, 2], ""), "p", 4).unwrap();
    let x: Vec<u8> = (0..16).collect();
    assert_eq!(Executor::new(&zeros).unwrap().run(&x).unwrap(), Executor::new(&plain).unwrap().run(&x).unwrap());
    // Wrong lengths and types are JSON errors.
    for bad in ["[1, 1, 1]", "[1, 1, 1, 1, 1]", "[-1, 0, 0, 0]", "1"] {
        let e = artifact([4, 4, 1], &pool("avg_pool", [2, 2], [2, 2], bad), "p", 4).unwrap_err();
        assert!(e.contains("line"), "{bad}: {e}");
    }
}

/// Each side smaller than the kernel (else field `padding`), the kernel fits the padded input (else field
/// `kernel`), sizes that overflow (field `padding`).
#[test]
fn padding_refusals_name_the_layer_and_field() {
    let cases = [
        (pool("max_pool", [2, 2], [1, 1], "[2, 0, 0, 0]"), "padding"),
        (pool("avg_pool", [2, 3], [1, 1], "[0, 0, 0, 3]"), "padding"),
        (pool("avg_pool", [3, 1], [1, 1], "[1, 0, 0, 0]"), "kernel"),
        (pool("max_pool", [2, 2], [1, 1], &format!("[1, 1, {}, 1]", usize::MAX)), "padding"),
    ];
    for (layer, field) in cases {
        let e = artifact([1, 4, 1], &layer, "p", 4).unwrap_err();
        assert!(e.contains(&format!("layer `p`, field `{field}`")), "{layer}: {e}");
    }
    // A kernel that fits only because of the padding is fine: 1×4 padded to 3×4 by a 3×2 window.
    let a = artifact([1, 4, 1], &pool("max_pool", [3, 2], [1, 2], "[1, 0, 1, 0]"), "p", 2).unwrap();
    assert_eq!(Executor::new(&a).unwrap().run(&[4, 1, 2, 9]).unwrap(), [4, 9]);
}

/// Every fixture's pools (unpadded) are lowered with zero padding; their artifacts have no `padding`.
#[test]
fn fixture_pools_are_unpadded_unless_asked() {
    for a in fixtures::all() {
        let m = compile(&a).unwrap();
        for op in &m.lowered.ops {
            if let Kind::MaxPool { shape, .. } | Kind::AvgPool { shape, .. } = &op.kind {
                let padded = [shape.pad_top, shape.pad_left, shape.pad_bottom, shape.pad_right] != [0; 4];
                let asked = a.layers.iter().any(|l| match l {
                    bsq_codegen::artifact::Layer::MaxPool(p) | bsq_codegen::artifact::Layer::AvgPool(p) => {
                        p.name == op.name && p.padding.is_some_and(|p| p != [0; 4])
                    }
                    _ => false,
                });
                assert_eq!(padded, asked, "{} {}", a.name, op.name);
            }
        }
    }
}
