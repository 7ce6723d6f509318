//! Lowering, planning and emission: fixed-point multipliers, BN folding, the overflow proof, budgets,
//! 0-bit layers, determinism, and agreement of the integer model with the float semantics.

use bsq_codegen::artifact::{Artifact, Layer};
use bsq_codegen::lower::{Kind, quantize_multiplier};
use bsq_codegen::{CodegenError, Executor, compile, emit::emit, fixtures, report::report};
use bsq_runtime::PackedWeights;

#[test]
fn multipliers_are_exact_to_q31() {
    for &real in &[1.0, 0.5, 0.75, 1e-3, 3.999, 123.456, 1e-9, 2.0f64.powi(-31), 0.999_999_999_9, -0.37, -5.5] {
        let r = quantize_multiplier(real).unwrap();
        let back = r.multiplier as f64 * 2f64.powi(r.shift as i32) / 2f64.powi(31);
        let rel = ((back - real) / real).abs();
        assert!(rel < 1e-9 || (back - real).abs() < 2f64.powi(-62), "{real}: {r:?} -> {back}");
        assert!((-31..=30).contains(&r.shift), "{real}: {r:?}");
    }
    assert_eq!(quantize_multiplier(0.0).unwrap().multiplier, 0);
    assert!(quantize_multiplier(2f64.powi(31)).is_err());
    // A value whose mantissa rounds up to 1.0 is renormalized.
    let r = quantize_multiplier(1.0 - 1e-12).unwrap();
    assert_eq!((r.multiplier, r.shift), (1 << 30, 1));
}

#[test]
fn folding_batchnorm_leaves_the_integer_weights_unchanged() {
    let a = fixtures::fixture("resblock").unwrap();
    let m = compile(&a).unwrap();
    for (layer, op) in a
        .layers
        .iter()
        .filter_map(|l| if let Layer::Conv2d(c) = l { Some(c) } else { None })
        .zip(m.lowered.ops.iter().filter(|o| matches!(o.kind, Kind::Conv { .. })))
    {
        let Kind::Conv { shape, bits, packed, .. } = &op.kind else { unreachable!() };
        let w = PackedWeights::new(*bits, shape.out_c, shape.row_len(), packed).unwrap();
        let decoded: Vec<i32> = (0..shape.out_c)
            .flat_map(|o| (0..shape.row_len()).map(move |i| (o, i)))
            .map(|(o, i)| w.get(o, i))
            .collect();
        assert_eq!(decoded, layer.weight.values, "{}", layer.name);
    }
}

#[test]
fn negative_gamma_gives_a_negative_multiplier() {
    let m = compile(&fixtures::fixture("resblock").unwrap()).unwrap();
    let Kind::Conv { stage, .. } = &m.lowered.ops[0].kind else { panic!() };
    assert!(stage.requant[4].multiplier < 0, "the fixture's channel 4 has gamma < 0");
    assert!(stage.requant.iter().filter(|r| r.multiplier < 0).count() == 1);
}

#[test]
fn accumulator_overflow_is_refused_naming_the_layer() {
    let mut a = fixtures::fixture("mlp").unwrap();
    a.scheme.clear();
    // 8-bit weights all at the maximum on a 64-input layer with 8-bit inputs cannot overflow...
    let Layer::Dense(d) = &mut a.layers[1] else { panic!() };
    d.weight.bits = 8;
    d.weight.values.iter_mut().for_each(|v| *v = 255);
    compile(&a).unwrap();
    // ...but a huge bias at the accumulator scale can.
    let Layer::Dense(d) = &mut a.layers[1] else { panic!() };
    d.bias = Some(vec![1.0e6; 32]);
    d.weight.scale = 1e-3;
    let e = compile(&a).unwrap_err();
    assert!(matches!(e, CodegenError::AccumulatorOverflow { .. } | CodegenError::Lowering { .. }), "{e}");
    assert!(e.to_string().starts_with("layer `fc1`"), "{e}");
}

#[test]
fn accumulator_bound_counts_fan_in() {
    // A 1x1 conv over 40000 channels of 8-bit weights at 255 and 8-bit inputs: 40000·255·255 > 2^31.
    let text = format!(
        r#"{{"format":"bsq-artifact","version":1,"name":"big","provenance":{{"tool":"t","created":"c","dataset":"d"}},
        "labels":["a"],"input":{{"shape":[1,1,40000],"scale":0.1}},
        "layers":[{{"op":"dense","name":"fc","input":"input","in_features":40000,"out_features":1,
          "weight":{{"bits":8,"scale":1.0,"values":[{}]}},"out":{{"bits":8,"scale":1.0,"signed":true}}}}],
        "output":"fc"}}"#,
        vec!["255"; 40000].join(",")
    );
    let a = Artifact::from_json(&text, "big").unwrap();
    let e = compile(&a).unwrap_err().to_string();
    assert_eq!(
        e,
        "layer `fc`, channel 0: the i32 accumulator can reach 2601000000 > 2147483647 \
         (fan-in 40000, max |k| 255, sum |k| 10200000, max activation 255, left shift 0, |bias| 0)"
    );
}

#[test]
fn zero_bit_layers_become_constants() {
    let m = compile(&fixtures::fixture("zerobit").unwrap()).unwrap();
    let zero = m.lowered.ops.iter().find(|o| o.name == "zero").unwrap();
    assert!(matches!(&zero.kind, Kind::Fill { values } if values.len() == 4));
    assert_eq!(zero.macs, 0);
    assert_eq!(zero.weight_bits, Some(0));
}

#[test]
fn budgets_name_the_largest_layers() {
    let a = fixtures::fixture("widths").unwrap();
    let r = report(&compile(&a).unwrap());
    r.check_budget(Some(r.flash_bytes), Some(r.ram_bytes())).unwrap();
    let e = r.check_budget(Some(4096), None).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("model `widths` needs {} bytes of flash but the budget is 4096 bytes", r.flash_bytes)),
        "{e}"
    );
    assert!(e.contains("largest layers: d1 (968 B), d2 (888 B), d3 (872 B)"), "{e}");
    let e = r.check_budget(None, Some(100)).unwrap_err().to_string();
    assert!(e.contains("bytes of RAM"), "{e}");
}

#[test]
fn memory_plan_is_valid_and_near_the_liveness_bound() {
    for a in fixtures::all() {
        let m = compile(&a).unwrap();
        let p = &m.plan;
        assert!(p.arena_bytes >= p.lower_bound);
        // Tensors live at the same op never overlap.
        for (i, op) in m.lowered.ops.iter().enumerate() {
            let mut live: Vec<(usize, usize)> = vec![p.range(op.output).unwrap()];
            for &t in &op.inputs {
                if let Some(r) = p.range(t) {
                    live.push(r);
                }
            }
            for x in 0..live.len() {
                for y in x + 1..live.len() {
                    let (a, b) = (live[x], live[y]);
                    assert!(
                        a == b || a.1 <= b.0 || b.1 <= a.0 || x > 0 && y > 0,
                        "{}: op {i} overlaps {a:?} {b:?}",
                        m.lowered.name
                    );
                }
            }
        }
    }
}

#[test]
fn generated_source_is_deterministic() {
    for a in fixtures::all() {
        let one = emit(&compile(&a).unwrap(), "x.bsq.json");
        let two = emit(&compile(&a.clone()).unwrap(), "x.bsq.json");
        assert_eq!(one, two);
        assert!(one.starts_with("// @generated by bsq-codegen"));
        assert!(one.contains("rt::FORMAT_VERSION == 1"));
    }
}

#[test]
fn fixtures_are_deterministic_and_committed() {
    for a in fixtures::all() {
        let committed =
            std::fs::read_to_string(format!("{}/fixtures/{}.bsq.json", env!("CARGO_MANIFEST_DIR"), a.name)).unwrap();
        assert!(
            committed == a.to_json().unwrap(),
            "{}: the committed fixture differs; regenerate with `cargo run -p bsq-codegen --features cli -- fixtures --out codegen/fixtures`",
            a.name
        );
    }
}

/// The integer model follows the float semantics of the artifact: for the MLP (no residuals, no pools),
/// compute each layer in f64 from the previous layer's integer output; the integer result differs by at
/// most one quantization step (double rounding of the fixed-point multiplier can move a value across a tie).
#[test]
fn integer_model_follows_the_float_semantics_within_one_step() {
    let a = fixtures::fixture("widths").unwrap();
    let mut ex = Executor::new(&a).unwrap();
    for x in fixtures::inputs("widths", 64, 4) {
        let mut outs: Vec<Vec<u8>> = Vec::new();
        ex.run_observed(&x, &mut |_, _, b| outs.push(b.to_vec())).unwrap();
        let mut prev: Vec<f64> = x.iter().map(|&v| v as f64 * a.input.scale as f64).collect();
        for (layer, out) in a.layers.iter().skip(1).zip(&outs) {
            let Layer::Dense(d) = layer else { panic!() };
            let y = fixtures::float_dense(d, &prev);
            let (lo, hi) = if d.out.signed {
                (-(1 << (d.out.bits - 1)), (1 << (d.out.bits - 1)) - 1)
            } else {
                (0, (1 << d.out.bits) - 1)
            };
            for (o, (&yf, &q)) in y.iter().zip(out).enumerate() {
                let expect = (yf / d.out.scale as f64).round().clamp(lo as f64, hi as f64) as i32;
                let got = bsq_runtime::requant::load(q, d.out.signed);
                assert!((expect - got).abs() <= 1, "{} output {o}: float {expect} vs integer {got}", d.name);
            }
            prev =
                out.iter().map(|&q| bsq_runtime::requant::load(q, d.out.signed) as f64 * d.out.scale as f64).collect();
        }
    }
}
