//! The artifact format: round trips, and one test per validation error (each names the layer and field).

use bsq_codegen::artifact::{Artifact, Layer};
use bsq_codegen::{ArtifactError, fixtures};

fn resblock() -> Artifact {
    fixtures::fixture("resblock").unwrap()
}

/// Applies `f` to the artifact's JSON value and loads the result.
fn load_modified(f: impl FnOnce(&mut serde_json::Value)) -> Result<Artifact, ArtifactError> {
    let mut v: serde_json::Value = serde_json::from_str(&resblock().to_json().unwrap()).unwrap();
    f(&mut v);
    Artifact::from_json(&v.to_string(), "test.bsq.json")
}

fn err_text(f: impl FnOnce(&mut serde_json::Value)) -> String {
    load_modified(f).expect_err("must be refused").to_string()
}

fn layer<'a>(v: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    v["layers"].as_array_mut().unwrap().iter_mut().find(|l| l["name"] == name).unwrap()
}

#[test]
fn every_fixture_round_trips_through_json() {
    for a in fixtures::all() {
        let text = a.to_json().unwrap();
        let back = Artifact::from_json(&text, "mem").unwrap();
        assert_eq!(a, back, "{}", a.name);
        assert_eq!(text, back.to_json().unwrap(), "{}: serialization is deterministic", a.name);
    }
}

#[test]
fn save_and_load_a_file() {
    let dir = std::env::temp_dir().join(format!("bsq-artifact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.bsq.json");
    resblock().save(&p).unwrap();
    assert_eq!(Artifact::load(&p).unwrap(), resblock());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_an_invalid_artifact_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("bsq-artifact-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.bsq.json");
    let mut a = resblock();
    a.output = "nope".into();
    assert!(a.save(&p).is_err());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scheme_is_readable_at_a_glance() {
    let text = resblock().to_json().unwrap();
    assert!(text.contains(r#"{"layer": "b2c2", "bits": 1, "params": 2304}"#), "{}", &text[..800]);
}

#[test]
fn missing_file_names_the_path() {
    let e = Artifact::load(std::path::Path::new("/nonexistent/m.bsq.json")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/m.bsq.json"), "{e}");
}

#[test]
fn truncated_json_gives_line_and_column() {
    let text = resblock().to_json().unwrap();
    let e = Artifact::from_json(&text[..text.len() / 2], "m.bsq.json").unwrap_err();
    assert!(matches!(e, ArtifactError::Json { line, .. } if line > 1), "{e}");
    assert!(e.to_string().starts_with("m.bsq.json: line "), "{e}");
}

#[test]
fn wrong_format_is_refused() {
    let e = err_text(|v| v["format"] = "onnx".into());
    assert!(e.contains("not a bsq artifact") && e.contains("onnx"), "{e}");
}

#[test]
fn unknown_version_is_refused() {
    let e = load_modified(|v| v["version"] = 7.into()).unwrap_err();
    assert!(matches!(e, ArtifactError::Version { found: 7, supported: 1 }), "{e}");
}

#[test]
fn unknown_field_is_refused() {
    let e = err_text(|v| layer(v, "stem")["dilation"] = 2.into());
    assert!(e.contains("dilation"), "{e}");
}

#[test]
fn weight_bits_out_of_range() {
    let e = err_text(|v| layer(v, "b1c1")["weight"]["bits"] = 9.into());
    assert_eq!(e, "layer `b1c1`, field `weight.bits`: 9 is outside 0..=8");
}

#[test]
fn weight_value_out_of_range_for_its_bits() {
    let e = err_text(|v| layer(v, "b2c2")["weight"]["values"][17] = 2.into());
    assert_eq!(e, "layer `b2c2`, field `weight.values[17]`: 2 is outside [-1, 1] for 1-bit weights");
}

#[test]
fn weight_count_must_match_the_shape() {
    let e = err_text(|v| {
        layer(v, "fc")["weight"]["values"].as_array_mut().unwrap().pop();
    });
    assert_eq!(e, "layer `fc`, field `weight.values`: has 159 values, the shape needs 160");
}

#[test]
fn shapes_that_do_not_chain() {
    let e = err_text(|v| layer(v, "b1c1")["in_channels"] = 5.into());
    assert!(e.starts_with("layer `b1c1`, field `in_channels`: 5 but input `stem` has shape [8, 8, 8]"), "{e}");
    let e = err_text(|v| layer(v, "fc")["in_features"] = 15.into());
    assert!(e.starts_with("layer `fc`, field `in_features`"), "{e}");
    let e = err_text(|v| layer(v, "b2add")["inputs"][1] = "b1add".into());
    assert!(e.starts_with("layer `b2add`, field `inputs`: shapes do not match"), "{e}");
}

#[test]
fn dangling_input() {
    let e = err_text(|v| layer(v, "b1c2")["input"] = "ghost".into());
    assert_eq!(e, "layer `b1c2`, field `input`: `ghost` is neither `input` nor an earlier layer (dangling input)");
    // A later layer is not an input either (layers are in execution order).
    let e = err_text(|v| layer(v, "b1c1")["input"] = "b2c1".into());
    assert!(e.contains("dangling"), "{e}");
}

#[test]
fn nan_inf_and_zero_scales() {
    // JSON has no NaN/inf literals: a huge number overflows f32 to inf.
    let e = err_text(|v| layer(v, "stem")["out"]["scale"] = serde_json::json!(1e300));
    assert!(e.starts_with("layer `stem`, field `out.scale`: scale inf must be finite and > 0"), "{e}");
    let e = err_text(|v| layer(v, "stem")["weight"]["scale"] = 0.0.into());
    assert!(e.starts_with("layer `stem`, field `weight.scale`: scale 0 must be finite"), "{e}");
    let e = err_text(|v| v["input"]["scale"] = (-1.0).into());
    assert!(e.starts_with("layer `input`, field `input.scale`"), "{e}");
    let e = err_text(|v| layer(v, "b1c1")["bn"]["gamma"][3] = serde_json::json!(1e39));
    assert!(e.starts_with("layer `b1c1`, field `bn.gamma[3]`: inf is not finite"), "{e}");
    let e = err_text(|v| layer(v, "b1c1")["bn"]["var"][0] = (-1.0).into());
    assert!(e.starts_with("layer `b1c1`, field `bn.var[0]`"), "{e}");
}

#[test]
fn sizes_whose_products_overflow() {
    let e = err_text(|v| v["input"]["shape"] = serde_json::json!([usize::MAX / 2, 4, 3]));
    assert!(e.contains("too large"), "{e}");
    let e = err_text(|v| {
        layer(v, "fc")["out_features"] = serde_json::json!(usize::MAX / 4);
    });
    assert!(e.starts_with("layer `fc`"), "{e}");
}

#[test]
fn activation_bits_out_of_range() {
    let e = err_text(|v| layer(v, "stem")["out"]["bits"] = 9.into());
    assert_eq!(e, "layer `stem`, field `out.bits`: 9 is outside 1..=8 for unsigned activations");
    let e = err_text(|v| layer(v, "fc")["out"]["bits"] = 1.into());
    assert_eq!(e, "layer `fc`, field `out.bits`: 1 is outside 2..=8 for signed activations");
}

#[test]
fn convolutions_take_unsigned_inputs() {
    let e = err_text(|v| layer(v, "b2c1")["input"] = "b1c2".into());
    assert!(e.contains("`b1c2` is signed"), "{e}");
}

#[test]
fn padding_and_kernel_checks() {
    let e = err_text(|v| layer(v, "stem")["padding"] = serde_json::json!([3, 1, 1, 1]));
    assert!(e.starts_with("layer `stem`, field `padding`"), "{e}");
    let e = err_text(|v| layer(v, "stem")["stride"] = serde_json::json!([0, 1]));
    assert!(e.starts_with("layer `stem`, field `stride`"), "{e}");
}

#[test]
fn duplicate_and_reserved_names() {
    let e = err_text(|v| layer(v, "b1c1")["name"] = "stem".into());
    assert!(e.contains("is used by an earlier layer"), "{e}");
    let e = err_text(|v| layer(v, "stem")["name"] = "input".into());
    assert!(e.contains("reserved"), "{e}");
}

#[test]
fn output_labels_and_scheme() {
    let e = err_text(|v| v["output"] = "nope".into());
    assert_eq!(e, "layer `<model>`, field `output`: `nope` is not a layer");
    let e = err_text(|v| {
        v["labels"].as_array_mut().unwrap().pop();
    });
    assert_eq!(e, "layer `<model>`, field `labels`: 9 labels for an output of 10 values");
    let e = err_text(|v| v["scheme"][0]["bits"] = 3.into());
    assert!(e.contains("`scheme`"), "{e}");
}

#[test]
fn bn_and_channel_scale_are_exclusive() {
    let e = err_text(|v| layer(v, "stem")["channel_scale"] = serde_json::json!(vec![1.0; 8]));
    assert!(e.contains("either `bn` or `channel_scale`"), "{e}");
}

#[test]
fn zero_bit_layers_may_omit_values() {
    let mut a = fixtures::fixture("zerobit").unwrap();
    let Layer::Conv2d(c) = &mut a.layers[1] else { panic!("layer 1 is a conv") };
    assert_eq!(c.weight.bits, 0);
    c.weight.values.clear();
    Artifact::from_json(&a.to_json().unwrap(), "mem").unwrap();
}
