//! Tests of the artifact generator: determinism, validity per `docs/artifact.md` (checked by an independent
//! reading of the documented rules below), exact `f32` floats, and coverage statistics over 2000 seeds,
//! including the share of models that lowering refuses (artifact.md § Refusals, recomputed here from the
//! documented formulas: 3–25 % expected).
//!
//! `cargo test -p bsq-difftest --release -- --nocapture` prints the coverage table.

use std::collections::{BTreeMap, BTreeSet};

use bsq_difftest::generate::{GenOptions, artifact, input_bytes};
use serde_json::Value;

const SEEDS: u64 = 2000;

/// A tensor of the checked model: shape, bits, scale, signed.
#[derive(Clone, Debug)]
struct T {
    shape: [u64; 3],
    bits: u64,
    scale: f64,
    signed: bool,
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}
fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}
fn fs(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}
fn pair(v: &Value) -> [u64; 2] {
    let a = v.as_array().expect("pair");
    assert_eq!(a.len(), 2, "{v}");
    [u(&a[0]), u(&a[1])]
}
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// log2 of the real multipliers (per channel of conv/dense layers with nonzero weights), of the weight
/// scales and of the activation scales, gathered by [`check`].
#[derive(Default)]
struct Scales {
    mult: Vec<f64>,
    weight: Vec<f64>,
    act: Vec<f64>,
    /// Multiply-accumulates per model.
    macs: Vec<u64>,
}

/// Checks one document against the documented rules and returns the features it covers.
fn check(doc: &Value, sc: &mut Scales) -> BTreeSet<String> {
    let mut cov = BTreeSet::new();
    let mut add = |s: String| {
        cov.insert(s);
    };
    assert_eq!(doc["format"], "bsq-artifact");
    assert_eq!(doc["version"], 1);
    assert!(!doc["name"].as_str().unwrap().is_empty());
    let p = &doc["provenance"];
    assert_eq!(p["tool"], "bsq-difftest");
    assert_eq!(p["created"], "1970-01-01T00:00:00Z");
    assert!(p["dataset"].is_string() && p["notes"].is_string());
    let shape: Vec<u64> = doc["input"]["shape"].as_array().unwrap().iter().map(u).collect();
    assert!(shape.len() == 3 && shape.iter().all(|&d| d > 0));
    let s_in = f(&doc["input"]["scale"]);
    assert!(s_in.is_finite() && s_in > 0.0);
    add(format!("input:C={}", shape[2]));
    add(format!("input:H={}", shape[0]));
    add(format!("input:W={}", shape[1]));
    // artifact.md § Top-level fields: optional `zero_point`, an integer 0..=255, absent or null = 0.
    let z = match doc["input"].get("zero_point") {
        None => 0,
        Some(Value::Null) => {
            add("input:zero_point-null".into());
            0
        }
        Some(v) => {
            let z = u(v);
            assert!(z <= 255, "zero_point {z}");
            add(match z {
                0 => "input:zero_point=0-explicit".into(),
                128 => "input:zero_point=128".into(),
                _ => "input:zero_point-other".into(),
            });
            z
        }
    };
    let input = T { shape: [shape[0], shape[1], shape[2]], bits: 8, scale: s_in, signed: false };
    let mut tensors: BTreeMap<String, (T, String)> = BTreeMap::from([("input".into(), (input, "input".into()))]);
    let layers = doc["layers"].as_array().unwrap();
    assert!(!layers.is_empty() && layers.len() <= 10, "{} layers", layers.len());
    let mut refused = false;
    // Tensors that are the network input's bytes under another name (flattens of the input).
    let mut aliases = BTreeSet::from(["input".to_string()]);
    let mut macs = 0;
    let mut last_name = String::new();
    for l in layers {
        let obj = l.as_object().unwrap();
        let op = l["op"].as_str().unwrap().to_string();
        let name = l["name"].as_str().unwrap().to_string();
        let allowed: &[&str] = match op.as_str() {
            "conv2d" => &["in_channels", "out_channels", "kernel", "stride", "padding", "groups", "input"],
            "dense" => &["in_features", "out_features", "input"],
            "max_pool" | "avg_pool" => &["kernel", "stride", "padding", "input"],
            "add" | "concat" => &["inputs", "out"],
            _ => &["input"],
        };
        let weighted = ["weight", "bias", "bn", "channel_scale", "out"];
        for key in obj.keys() {
            let extra = matches!(op.as_str(), "conv2d" | "dense") && weighted.contains(&key.as_str());
            assert!(key == "op" || key == "name" || allowed.contains(&key.as_str()) || extra, "{name}: field {key}");
        }
        assert!(name != "input" && !tensors.contains_key(&name), "duplicate name {name}");
        add(format!("op:{op}"));
        let get = |key: &str| -> (T, String) {
            let n = l[key].as_str().unwrap();
            tensors.get(n).unwrap_or_else(|| panic!("{name}: dangling input {n}")).clone()
        };
        let check_out = |l: &Value| -> T {
            let o = &l["out"];
            let (bits, scale, signed) = (u(&o["bits"]), f(&o["scale"]), o["signed"].as_bool().unwrap());
            assert!(if signed { (2..=8).contains(&bits) } else { (1..=8).contains(&bits) }, "{name}: {o}");
            assert!(scale.is_finite() && scale > 0.0);
            T { shape: [0; 3], bits, scale, signed }
        };
        let mut feature = |s: &str| add(s.to_string());
        let out: T = match op.as_str() {
            "conv2d" | "dense" => {
                let (x, xop) = get("input");
                assert!(!x.signed, "{name}: signed input to {op}");
                if xop == "flatten" {
                    feature(&format!("flatten:before-{op}"));
                }
                // Reads the network input with a zero point (directly or through flatten).
                let zp = z != 0 && aliases.contains(l["input"].as_str().unwrap());
                if zp {
                    feature(&format!("zp:{op}"));
                    if xop == "flatten" {
                        feature(&format!("zp:{op}-after-flatten"));
                    }
                    if op == "conv2d" && l["padding"].as_array().unwrap().iter().any(|p| u(p) > 0) {
                        feature("zp:conv2d-padded");
                    }
                    if obj.get("groups").is_some_and(|g| u(g) > 1) {
                        feature("zp:conv2d-grouped");
                    }
                }
                let (fan_in, outs, shape) = if op == "conv2d" {
                    let (k, s) = (pair(&l["kernel"]), pair(&l["stride"]));
                    let pad: Vec<u64> = l["padding"].as_array().unwrap().iter().map(u).collect();
                    assert_eq!(u(&l["in_channels"]), x.shape[2], "{name}: in_channels");
                    assert!(s[0] > 0 && s[1] > 0 && k[0] > 0 && k[1] > 0);
                    assert!(pad[0] < k[0] && pad[2] < k[0] && pad[1] < k[1] && pad[3] < k[1], "{name}: padding");
                    let (ph, pw) = (x.shape[0] + pad[0] + pad[2], x.shape[1] + pad[1] + pad[3]);
                    assert!(k[0] <= ph && k[1] <= pw, "{name}: kernel does not fit");
                    if k[0] != k[1] {
                        feature("conv:non-square");
                    }
                    if k == [1, 1] {
                        feature("conv:1x1");
                    }
                    if s[0] > 1 || s[1] > 1 {
                        feature("conv:stride>1");
                    }
                    if s[0] != s[1] {
                        feature("conv:stride-h!=w");
                    }
                    if pad[0] != pad[2] || pad[1] != pad[3] {
                        feature("conv:asymmetric-pad");
                    }
                    let o = u(&l["out_channels"]);
                    // artifact.md: optional `groups` (default 1) dividing both channel counts.
                    let g = obj.get("groups").map_or(1, u);
                    assert!(g >= 1 && x.shape[2].is_multiple_of(g) && o.is_multiple_of(g), "{name}: groups {g}");
                    match (obj.get("groups"), g) {
                        (Some(_), 1) => feature("conv:groups=1-explicit"),
                        (_, 1) => {}
                        _ if g == x.shape[2] && o == g => feature("conv:depthwise"),
                        _ if g == x.shape[2] => feature("conv:depthwise-multiplier"),
                        _ => feature("conv:grouped"),
                    }
                    (k[0] * k[1] * (x.shape[2] / g), o, [(ph - k[0]) / s[0] + 1, (pw - k[1]) / s[1] + 1, o])
                } else {
                    assert_eq!(u(&l["in_features"]), x.shape.iter().product::<u64>(), "{name}: in_features");
                    let o = u(&l["out_features"]);
                    (u(&l["in_features"]), o, [1, 1, o])
                };
                let w = &l["weight"];
                let n = u(&w["bits"]);
                assert!(n <= 8);
                let sw = f(&w["scale"]);
                // artifact.md § Validation: for 0 bits the scale is ignored and not checked.
                assert!(n == 0 || (sw.is_finite() && sw > 0.0), "{name}: weight.scale {sw}");
                if n == 0 && sw <= 0.0 {
                    feature("wbits0:scale<=0");
                }
                let vals: Vec<i64> = w["values"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                let kmax = (1i64 << n) - 1;
                assert!(vals.len() as u64 == fan_in * outs || (n == 0 && vals.is_empty()), "{name}: weight count");
                assert!(vals.iter().all(|v| v.abs() <= kmax), "{name}: weight range");
                feature(&format!("wbits:{n}"));
                let nonzero = vals.iter().any(|&v| v != 0);
                match (n, vals.is_empty(), nonzero) {
                    (0, true, _) => feature("wbits0:empty"),
                    (0, false, _) => feature("wbits0:explicit-zeros"),
                    (_, _, false) => feature("wbits>0:all-zero"),
                    _ => {}
                }
                let vec_of = |key: &str| -> Option<Vec<f64>> {
                    let v = obj.get(key).filter(|v| !v.is_null())?;
                    let v = fs(v);
                    assert_eq!(v.len() as u64, outs, "{name}: {key} length");
                    assert!(v.iter().all(|x| x.is_finite()));
                    Some(v)
                };
                let bias = vec_of("bias");
                feature(match obj.get("bias") {
                    None => "bias:missing",
                    Some(Value::Null) => "bias:null",
                    _ => "bias:present",
                });
                let cs = vec_of("channel_scale");
                let bn = obj.get("bn").filter(|v| !v.is_null());
                assert!(!(cs.is_some() && bn.is_some()), "{name}: bn and channel_scale");
                let o = check_out(l);
                // Per channel: the gain c_o and the real bias B_o (artifact.md § conv2d and dense).
                let b = bias.clone().unwrap_or(vec![0.0; outs as usize]);
                let (c, big_b): (Vec<f64>, Vec<f64>) = if let Some(bn) = bn {
                    feature("bn");
                    let (g, be, mu, var) = (fs(&bn["gamma"]), fs(&bn["beta"]), fs(&bn["mean"]), fs(&bn["var"]));
                    let eps = f(&bn["eps"]);
                    assert!([&g, &be, &mu, &var].iter().all(|v| v.len() as u64 == outs));
                    assert!(eps.is_finite() && eps >= 0.0);
                    assert!(var.iter().all(|&v| v >= 0.0 && v as f32 + eps as f32 > 0.0), "{name}: var + eps");
                    let (mg, mb, mv) = (
                        median(g.iter().map(|g| g.abs()).collect()),
                        median(be.iter().map(|b| b.abs()).collect()),
                        median(var.clone()),
                    );
                    for (what, yes) in [
                        ("bn:eps=0", eps == 0.0),
                        ("bn:negative-gamma", g.iter().any(|&g| g < 0.0)),
                        ("bn:gamma=0", g.contains(&0.0)),
                        ("bn:tiny-gamma", g.iter().any(|g| g.abs() < 1e-4 * mg && *g != 0.0)),
                        ("bn:large-beta", be.iter().any(|b| b.abs() > 1e3 * mb.max(1e-30))),
                        ("bn:var=0", var.contains(&0.0)),
                        ("bn:tiny-var", var.iter().any(|&v| v < 1e-6 * mv && v != 0.0)),
                        ("bn:large-var", var.iter().any(|&v| v > 1e6 * mv)),
                    ] {
                        if yes {
                            feature(what);
                        }
                    }
                    let c: Vec<f64> = (0..outs as usize).map(|i| g[i] / (var[i] + eps).sqrt()).collect();
                    let big_b = (0..outs as usize).map(|i| be[i] + c[i] * (b[i] - mu[i])).collect();
                    (c, big_b)
                } else if let Some(cs) = cs {
                    feature("channel_scale");
                    if cs.iter().any(|&c| c < 0.0) {
                        feature("channel_scale:negative");
                    }
                    if cs.contains(&0.0) {
                        feature("channel_scale:zero");
                    }
                    let big_b = cs.iter().zip(&b).map(|(c, b)| c * b).collect();
                    (cs, big_b)
                } else {
                    (vec![1.0; outs as usize], b.clone())
                };
                if let Some(b) = &bias
                    && b.iter().any(|v| v.abs() > 100.0 * median(b.iter().map(|b| b.abs()).collect()))
                {
                    feature("bias:large");
                }
                if n > 0 {
                    sc.weight.push(sw.log2());
                }
                macs += fan_in * shape.iter().product::<u64>();
                // Lowering refusals of a non-constant layer, per channel in the documented order.
                if nonzero {
                    let step = x.scale * sw / kmax as f64;
                    for (o_i, row) in vals.chunks(fan_in as usize).enumerate() {
                        let big_c = c[o_i] * step;
                        let why = if big_c == 0.0 {
                            Some("refusal:zero-multiplier")
                        } else if let Some(shift) = quantize_shift(big_c / o.scale) {
                            sc.mult.push((big_c / o.scale).abs().log2());
                            let l2 = 2f64.powi(shift.max(0));
                            // The input zero point is folded into the bias: − z · Σk · 2^L.
                            let folded = if zp { z as f64 * row.iter().sum::<i64>() as f64 * l2 } else { 0.0 };
                            let bias_o = (big_b[o_i] / big_c * l2).round() - folded;
                            let sum: i64 = row.iter().map(|k| k.abs()).sum();
                            if bias_o.abs() > I32_MAX {
                                Some("refusal:bias")
                            } else if (sum as f64 * max_q(&x)) * l2 + bias_o.abs() > I32_MAX {
                                Some("refusal:accumulator")
                            } else {
                                None
                            }
                        } else {
                            Some("refusal:multiplier>=2^30")
                        };
                        if let Some(why) = why {
                            feature(why);
                            refused = true;
                            break;
                        }
                    }
                }
                T { shape, ..o }
            }
            "max_pool" | "avg_pool" => {
                let (x, xop) = get("input");
                assert!(
                    z == 0 || !aliases.contains(l["input"].as_str().unwrap()),
                    "{name}: reads a zero-pointed input"
                );
                if xop == "flatten" {
                    feature("flatten:before-pool");
                }
                let (k, s) = (pair(&l["kernel"]), pair(&l["stride"]));
                assert!(s[0] > 0 && s[1] > 0 && k[0] > 0 && k[1] > 0);
                // artifact.md: optional `padding` (absent or null: none), each side smaller than the kernel.
                let pad: [u64; 4] = match obj.get("padding") {
                    None => [0; 4],
                    Some(Value::Null) => {
                        feature("pool:padding-null");
                        [0; 4]
                    }
                    Some(p) => {
                        let p: Vec<u64> = p.as_array().unwrap().iter().map(u).collect();
                        [p[0], p[1], p[2], p[3]]
                    }
                };
                assert!(pad[0] < k[0] && pad[2] < k[0] && pad[1] < k[1] && pad[3] < k[1], "{name}: pool padding");
                match pad {
                    [0, 0, 0, 0] if obj.get("padding").is_some_and(Value::is_array) => feature("pool:padding-zeros"),
                    [0, 0, 0, 0] => {}
                    [t, l, b, r] => {
                        feature(&format!("pool:padded-{op}"));
                        if t != b || l != r {
                            feature("pool:asymmetric-pad");
                        }
                        if x.signed {
                            feature("pool:padded-signed");
                        }
                    }
                }
                let (ph, pw) = (x.shape[0] + pad[0] + pad[2], x.shape[1] + pad[1] + pad[3]);
                assert!(k[0] <= ph && k[1] <= pw, "{name}: pool kernel does not fit");
                if x.signed {
                    feature("pool:signed-input");
                }
                T { shape: [(ph - k[0]) / s[0] + 1, (pw - k[1]) / s[1] + 1, x.shape[2]], ..x }
            }
            "global_avg_pool" => {
                let (x, xop) = get("input");
                assert!(
                    z == 0 || !aliases.contains(l["input"].as_str().unwrap()),
                    "{name}: reads a zero-pointed input"
                );
                if xop == "flatten" {
                    feature("flatten:before-pool");
                }
                T { shape: [1, 1, x.shape[2]], ..x }
            }
            "flatten" => {
                let (x, xop) = get("input");
                match xop.as_str() {
                    "input" => feature("flatten:after-input"),
                    _ if aliases.contains(l["input"].as_str().unwrap()) => {}
                    "flatten" => feature("flatten:of-flatten"),
                    _ => {}
                }
                if aliases.contains(l["input"].as_str().unwrap()) {
                    aliases.insert(name.clone());
                }
                T { shape: [1, 1, x.shape.iter().product()], ..x }
            }
            "add" => {
                let ins = l["inputs"].as_array().unwrap();
                assert_eq!(ins.len(), 2);
                for i in ins {
                    assert!(z == 0 || !aliases.contains(i.as_str().unwrap()), "{name}: reads a zero-pointed input");
                }
                let a = tensors.get(ins[0].as_str().unwrap()).expect("dangling add input").0.clone();
                let b = tensors.get(ins[1].as_str().unwrap()).expect("dangling add input").0.clone();
                assert_eq!(a.shape, b.shape, "{name}: add shapes");
                if ins[0] == ins[1] {
                    feature("add:self");
                }
                if a.scale != b.scale {
                    feature("add:different-scales");
                }
                if a.signed != b.signed {
                    feature("add:mixed-signedness");
                }
                if a.signed && b.signed {
                    feature("add:both-signed");
                }
                let o = check_out(l);
                if (a.scale / b.scale).max(b.scale / a.scale) > 512.0 {
                    feature("add:scales>2^9-apart");
                }
                // artifact.md § add: refused when even K = 0 gives peak ≥ 2^30.
                let peak = max_mag(&a) * (a.scale / o.scale) + max_mag(&b) * (b.scale / o.scale);
                if peak >= 2f64.powi(30) {
                    feature("refusal:add-peak");
                    refused = true;
                }
                T { shape: a.shape, ..o }
            }
            "concat" => {
                let ins = l["inputs"].as_array().unwrap();
                assert!(ins.len() >= 2, "{name}: {} concat inputs", ins.len());
                let xs: Vec<(T, String)> = ins
                    .iter()
                    .map(|i| {
                        let i = i.as_str().unwrap();
                        assert!(z == 0 || !aliases.contains(i), "{name}: reads a zero-pointed input");
                        tensors.get(i).expect("dangling concat input").clone()
                    })
                    .collect();
                let [h, w, _] = xs[0].0.shape;
                for (x, _) in &xs {
                    assert_eq!(x.shape[..2], [h, w], "{name}: concat heights and widths");
                }
                let o = check_out(l);
                if ins.len() >= 3 {
                    feature("concat:3+inputs");
                }
                if (1..ins.len()).any(|k| ins[..k].contains(&ins[k])) {
                    feature("concat:repeated-input");
                }
                if ins.iter().any(|i| i == "input") {
                    feature("concat:network-input");
                }
                let same = |x: &T| x.bits == o.bits && x.scale == o.scale && x.signed == o.signed;
                if xs.iter().any(|(x, _)| same(x)) {
                    feature("concat:copied-input");
                }
                if xs.iter().any(|(x, _)| !same(x)) {
                    feature("concat:rescaled-input");
                }
                if xs.iter().any(|(x, _)| x.signed) && xs.iter().any(|(x, _)| !x.signed) {
                    feature("concat:mixed-signedness");
                }
                // artifact.md § concat: refused when an input's `s_in / s_out` quantizes to 2^30 or more.
                if xs.iter().any(|(x, _)| quantize_shift(x.scale / o.scale).is_none()) {
                    feature("refusal:concat-scale");
                    refused = true;
                }
                let c = xs.iter().map(|(x, _)| x.shape[2]).sum();
                T { shape: [h, w, c], ..o }
            }
            other => panic!("unknown op {other}"),
        };
        sc.act.push(out.scale.log2());
        add(format!("act:{}{}", if out.signed { "s" } else { "u" }, out.bits));
        tensors.insert(name.clone(), (out, op));
        last_name = name;
    }
    let (out, out_op) = tensors.get(doc["output"].as_str().unwrap()).expect("output is a layer").clone();
    assert_ne!(out_op, "input");
    assert_eq!(doc["labels"].as_array().unwrap().len() as u64, out.shape.iter().product::<u64>(), "labels");
    if doc["output"] != last_name.as_str() {
        add("output:not-last".into());
    }
    if out_op == "flatten" {
        add("flatten:output".into());
    }
    if aliases.contains(doc["output"].as_str().unwrap()) {
        add("refusal:output-is-input".into());
        refused = true;
    }
    if out.signed {
        add("output:signed".into());
    }
    if refused {
        add("refusal:any".into());
    }
    sc.macs.push(macs);
    cov
}

const I32_MAX: f64 = i32::MAX as f64;

/// The largest value of an unsigned tensor (`a_max`).
fn max_q(t: &T) -> f64 {
    ((1u64 << t.bits) - 1) as f64
}

/// The largest magnitude of a tensor's range (`A` of artifact.md § add).
fn max_mag(t: &T) -> f64 {
    if t.signed { (1u64 << (t.bits - 1)) as f64 } else { max_q(t) }
}

/// The shift of `quantize(r)` (artifact.md § Lowering), `None` when it refuses.
fn quantize_shift(r: f64) -> Option<i32> {
    if r == 0.0 {
        return Some(0);
    }
    let a = r.abs();
    if !a.is_finite() {
        return None;
    }
    let mut e = a.log2().floor() as i32 + 1;
    while a >= 2f64.powi(e) {
        e += 1;
    }
    while a < 2f64.powi(e - 1) {
        e -= 1;
    }
    if e > 30 {
        return None;
    }
    if e < -31 {
        return Some(-31); // denormalized mantissa < 0.5: cannot round up to 1.0
    }
    if (a / 2f64.powi(e) * 2f64.powi(31)).round_ties_even() == 2f64.powi(31) {
        e += 1;
    }
    (e <= 30).then_some(e)
}

/// Every number that is not an integer is an exact `f32`; every count, shape and weight is an integer.
fn check_numbers(v: &Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let x = n.as_f64().unwrap();
            assert!(x.is_finite() && f64::from(x as f32) == x, "{x} is not an exact f32");
        }
        Value::Array(a) => a.iter().for_each(check_numbers),
        Value::Object(o) => o.values().for_each(check_numbers),
        _ => {}
    }
}

#[test]
fn same_seed_same_document() {
    let opts = GenOptions::default();
    for seed in 0..50 {
        assert_eq!(artifact(seed, &opts), artifact(seed, &opts));
    }
    let distinct: BTreeSet<String> = (0..50).map(|s| artifact(s, &opts).to_string()).collect();
    assert_eq!(distinct.len(), 50);
    assert_eq!(artifact(7, &opts)["name"], "diff-7");
}

#[test]
fn text_round_trip_is_exact() {
    let opts = GenOptions::default();
    for seed in 0..200 {
        let doc = artifact(seed, &opts);
        check_numbers(&doc);
        let back: Value = serde_json::from_str(&serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        assert_eq!(back, doc, "seed {seed}");
    }
}

#[test]
fn inputs_are_deterministic_and_mixed() {
    let a = input_bytes(3, 100, 64);
    assert_eq!(a, input_bytes(3, 100, 64));
    assert_ne!(a, input_bytes(4, 100, 64));
    assert!(a.len() == 64 && a.iter().all(|v| v.len() == 100));
    assert!(a.iter().any(|v| v.iter().all(|&b| b == 0)));
    assert!(a.iter().any(|v| v.iter().all(|&b| b == 255)));
    assert!(a.iter().any(|v| v.iter().all(|&b| b <= 3) && v.iter().any(|&b| b > 0)));
    assert!(a.iter().any(|v| v.iter().any(|&b| (4..255).contains(&b))));
    assert!(input_bytes(1, 0, 3).iter().all(Vec::is_empty));
}

#[test]
fn valid_and_covering() {
    let opts = GenOptions::default();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut layers = 0;
    let mut sc = Scales::default();
    for seed in 0..SEEDS {
        let doc = artifact(seed, &opts);
        layers += doc["layers"].as_array().unwrap().len();
        for feature in check(&doc, &mut sc) {
            *counts.entry(feature).or_default() += 1;
        }
    }
    let pct = |k: &str| 100.0 * *counts.get(k).unwrap_or(&0) as f64 / SEEDS as f64;
    println!("{SEEDS} models, {:.2} layers per model; % of models with:", layers as f64 / SEEDS as f64);
    for k in counts.keys() {
        println!("  {k:28} {:6.2}", pct(k));
    }
    for (what, v) in [("real multiplier", &mut sc.mult), ("weight.scale", &mut sc.weight), ("out.scale", &mut sc.act)] {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
        let within = v.iter().filter(|&&m| (-14.0..=1.0).contains(&m)).count() as f64 / v.len() as f64;
        println!(
            "log2 {what:16}: min {:6.1}  1% {:6.1}  10% {:6.1}  50% {:6.1}  90% {:6.1}  99% {:6.1}  max {:6.1}  (in [-14, 1]: {:.1}%)",
            q(0.0),
            q(0.01),
            q(0.1),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0),
            100.0 * within
        );
    }
    sc.macs.sort_unstable();
    let sizes: Vec<usize> = (0..SEEDS).map(|s| artifact(s, &opts).to_string().len()).collect();
    println!(
        "MACs per model: median {}, max {}; JSON bytes: mean {}, max {}",
        sc.macs[sc.macs.len() / 2],
        sc.macs[sc.macs.len() - 1],
        sizes.iter().sum::<usize>() / sizes.len(),
        sizes.iter().max().unwrap()
    );
    let mut required: Vec<String> =
        ["conv2d", "dense", "max_pool", "avg_pool", "global_avg_pool", "flatten", "add", "concat"]
            .iter()
            .map(|o| format!("op:{o}"))
            .collect();
    required.extend((0..=8).map(|n| format!("wbits:{n}")));
    required.extend((1..=8).map(|a| format!("act:u{a}")));
    required.extend((2..=8).map(|a| format!("act:s{a}")));
    required.extend((1..=4).map(|c| format!("input:C={c}")));
    required.extend((1..=12).flat_map(|h| [format!("input:H={h}"), format!("input:W={h}")]));
    for k in [
        "wbits0:empty",
        "wbits0:explicit-zeros",
        "wbits>0:all-zero",
        "wbits0:scale<=0",
        "conv:non-square",
        "conv:1x1",
        "conv:stride>1",
        "conv:stride-h!=w",
        "conv:asymmetric-pad",
        "conv:depthwise",
        "conv:depthwise-multiplier",
        "conv:grouped",
        "conv:groups=1-explicit",
        "bn",
        "bn:eps=0",
        "bn:negative-gamma",
        "bn:tiny-gamma",
        "bn:large-beta",
        "bn:tiny-var",
        "bn:large-var",
        "channel_scale",
        "channel_scale:negative",
        "channel_scale:zero",
        "bn:gamma=0",
        "bn:var=0",
        "add:scales>2^9-apart",
        "bias:present",
        "bias:null",
        "bias:missing",
        "bias:large",
        "add:self",
        "add:different-scales",
        "add:mixed-signedness",
        "add:both-signed",
        "concat:3+inputs",
        "concat:repeated-input",
        "concat:network-input",
        "concat:copied-input",
        "concat:rescaled-input",
        "concat:mixed-signedness",
        "pool:signed-input",
        "pool:padded-max_pool",
        "pool:padded-avg_pool",
        "pool:padded-signed",
        "pool:asymmetric-pad",
        "pool:padding-zeros",
        "pool:padding-null",
        "flatten:after-input",
        "flatten:before-dense",
        "flatten:before-conv2d",
        "flatten:before-pool",
        "flatten:of-flatten",
        "input:zero_point=128",
        "input:zero_point-other",
        "input:zero_point-null",
        "input:zero_point=0-explicit",
        "zp:conv2d",
        "zp:conv2d-padded",
        "zp:conv2d-grouped",
        "zp:dense",
        "zp:dense-after-flatten",
        "flatten:output",
        "output:not-last",
        "output:signed",
    ] {
        required.push(k.into());
    }
    for k in &required {
        assert!(pct(k) >= 0.5, "{k} in only {:.2}% of the models", pct(k));
    }
    let refused = pct("refusal:any");
    assert!((3.0..=25.0).contains(&refused), "estimated refusals {refused:.1}%");
}
