//! Validation of a parsed artifact: every check names the layer and the field at fault.
//!
//! The result of validation is the **tensor table**: the shape and quantization of every named tensor,
//! which the later stages rely on (they never re-check what is checked here).

use std::collections::HashMap;

use bsq_runtime::MAX_POOL_WINDOW;

use crate::artifact::{Artifact, BatchNorm, Layer, Quant, Weight};
use crate::error::ArtifactError;

/// Name of the network input tensor.
pub const INPUT: &str = "input";

/// Shape and quantization of a tensor, as established by validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    /// `[H, W, C]`.
    pub shape: [usize; 3],
    /// Element count (overflow-checked).
    pub len: usize,
    /// Quantization (the network input: 8-bit unsigned at `input.scale`).
    pub quant: Quant,
}

/// The tensors of a valid artifact, by name (`"input"` and every layer).
pub type Tensors = HashMap<String, TensorInfo>;

/// Checks an artifact completely and returns its tensor table (see `docs/artifact.md` for the rules).
pub fn validate(a: &Artifact) -> Result<Tensors, ArtifactError> {
    let model = "<model>";
    let tensors = tensor_table(a)?;
    let out = tensors
        .get(&a.output)
        .filter(|_| a.output != INPUT)
        .ok_or_else(|| ArtifactError::field(model, "output", format!("`{}` is not a layer", a.output)))?;
    if a.labels.len() != out.len {
        return Err(ArtifactError::field(
            model,
            "labels",
            format!("{} labels for an output of {} values", a.labels.len(), out.len),
        ));
    }
    if !a.scheme.is_empty() && a.scheme != a.derived_scheme() {
        return Err(ArtifactError::field(
            model,
            "scheme",
            "does not match the layers' weight bits (remove it or fix it)",
        ));
    }
    Ok(tensors)
}

/// Checks the header and the graph (every layer, in order) and returns the tensor table; does not look
/// at `output`, `labels` or `scheme`.
pub fn tensor_table(a: &Artifact) -> Result<Tensors, ArtifactError> {
    let model = "<model>";
    if a.format != crate::artifact::FORMAT {
        return Err(ArtifactError::Format { found: a.format.clone() });
    }
    if a.version != crate::artifact::VERSION {
        return Err(ArtifactError::Version { found: a.version, supported: crate::artifact::VERSION });
    }
    if a.name.trim().is_empty() {
        return Err(ArtifactError::field(model, "name", "is empty"));
    }
    let p = &a.provenance;
    let numbers = [
        ("provenance.alpha", p.alpha),
        ("provenance.accuracy.float", p.accuracy.float),
        ("provenance.accuracy.fake_quant", p.accuracy.fake_quant),
        ("provenance.accuracy.integer", p.accuracy.integer),
    ];
    for (field, v) in numbers {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            return Err(ArtifactError::field(model, field, format!("{v} is not finite")));
        }
    }
    let in_len = checked_len(INPUT, "input.shape", a.input.shape)?;
    check_scale(INPUT, "input.scale", a.input.scale)?;
    let mut tensors: Tensors = HashMap::new();
    tensors.insert(
        INPUT.to_string(),
        TensorInfo { shape: a.input.shape, len: in_len, quant: Quant { bits: 8, scale: a.input.scale, signed: false } },
    );
    if a.layers.is_empty() {
        return Err(ArtifactError::field(model, "layers", "no layers"));
    }
    // The tensors whose bytes are the network input with a non-zero zero point: the input and `flatten`s of it.
    let mut zero_pointed: Vec<&str> = Vec::new();
    if a.input.zero_point != 0 {
        zero_pointed.push(INPUT);
    }
    for layer in &a.layers {
        let name = layer.name();
        if name.trim().is_empty() {
            return Err(ArtifactError::field("<unnamed>", "name", "layer name is empty"));
        }
        if tensors.contains_key(name) {
            let what = if name == INPUT { "is reserved for the network input" } else { "is used by an earlier layer" };
            return Err(ArtifactError::field(name, "name", format!("the name `{name}` {what}")));
        }
        let info = check_layer(layer, &tensors)?;
        check_zero_point(layer, &tensors, &mut zero_pointed, a.input.zero_point)?;
        tensors.insert(name.to_string(), info);
    }
    Ok(tensors)
}

/// The input zero point `z` (real value `scale · (x − z)`) is exact only where it is folded into a bias
/// (`conv2d`, `dense`) or passed on unchanged (`flatten`): any other reader of a zero-pointed tensor (pools,
/// `add`, `global_avg_pool`) would take the byte `z` for the value `z`, not 0, and is refused. A padded
/// convolution reads a copy of its input padded with the byte `z`, which must be a valid tensor size.
fn check_zero_point<'a>(
    layer: &'a Layer,
    tensors: &Tensors,
    zero_pointed: &mut Vec<&'a str>,
    z: u8,
) -> Result<(), ArtifactError> {
    let name = layer.name();
    for (i, input) in layer.inputs().into_iter().enumerate() {
        if !zero_pointed.contains(&input) {
            continue;
        }
        match layer {
            Layer::Dense(_) => {}
            Layer::Flatten(_) => zero_pointed.push(name),
            Layer::Conv2d(c) => {
                let x = tensors[input].shape;
                let [pt, pl, pb, pr] = c.padding;
                if c.padding != [0; 4] {
                    // Validated by `check_layer`: the padded sides do not overflow.
                    let elements = (x[0] + pt + pb).checked_mul(x[1] + pl + pr).and_then(|v| v.checked_mul(x[2]));
                    if elements.is_none_or(|n| n > i32::MAX as usize) {
                        return Err(ArtifactError::field(
                            name,
                            "padding",
                            format!(
                                "`{input}` (zero point {z}) padded by {:?} would be a copy of more than 2^31 - 1 bytes",
                                c.padding
                            ),
                        ));
                    }
                }
            }
            _ => {
                let field = if matches!(layer, Layer::Add(_) | Layer::Concat(_)) {
                    format!("inputs[{i}]")
                } else {
                    "input".to_string()
                };
                return Err(ArtifactError::field(
                    name,
                    field,
                    format!(
                        "`{input}` is the network input with zero point {z} (real value scale·(x − {z})); only conv2d \
                         and dense layers can read it (directly or through flatten), a {} would take the byte {z} \
                         for the value {z}",
                        layer.op()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn checked_len(layer: &str, field: &str, shape: [usize; 3]) -> Result<usize, ArtifactError> {
    if shape.contains(&0) {
        return Err(ArtifactError::field(layer, field, format!("{shape:?} has a zero dimension")));
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i32::MAX as usize)
        .ok_or_else(|| ArtifactError::field(layer, field, format!("{shape:?} is too large")))
}

fn check_scale(layer: &str, field: &str, s: f32) -> Result<(), ArtifactError> {
    if !s.is_finite() || s <= 0.0 {
        return Err(ArtifactError::field(layer, field, format!("scale {s} must be finite and > 0")));
    }
    Ok(())
}

fn check_quant(layer: &str, q: &Quant) -> Result<(), ArtifactError> {
    let min_bits = if q.signed { 2 } else { 1 };
    if q.bits < min_bits || q.bits > 8 {
        return Err(ArtifactError::field(
            layer,
            "out.bits",
            format!(
                "{} is outside {min_bits}..=8 for {} activations",
                q.bits,
                if q.signed { "signed" } else { "unsigned" }
            ),
        ));
    }
    check_scale(layer, "out.scale", q.scale)
}

fn input_of<'t>(layer: &str, field: &str, name: &str, tensors: &'t Tensors) -> Result<&'t TensorInfo, ArtifactError> {
    tensors.get(name).ok_or_else(|| {
        ArtifactError::field(layer, field, format!("`{name}` is neither `input` nor an earlier layer (dangling input)"))
    })
}

fn check_floats(layer: &str, field: &str, v: &[f32], n: usize) -> Result<(), ArtifactError> {
    if v.len() != n {
        return Err(ArtifactError::field(layer, field, format!("has {} values, expected {n}", v.len())));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(ArtifactError::field(layer, format!("{field}[{i}]"), format!("{} is not finite", v[i])));
    }
    Ok(())
}

fn check_bn(layer: &str, bn: &BatchNorm, n: usize) -> Result<(), ArtifactError> {
    check_floats(layer, "bn.gamma", &bn.gamma, n)?;
    check_floats(layer, "bn.beta", &bn.beta, n)?;
    check_floats(layer, "bn.mean", &bn.mean, n)?;
    check_floats(layer, "bn.var", &bn.var, n)?;
    if !bn.eps.is_finite() || bn.eps < 0.0 {
        return Err(ArtifactError::field(layer, "bn.eps", format!("{} must be finite and >= 0", bn.eps)));
    }
    if let Some(i) = bn.var.iter().position(|&v| v < 0.0 || v + bn.eps <= 0.0) {
        return Err(ArtifactError::field(layer, format!("bn.var[{i}]"), "variance + eps must be > 0"));
    }
    Ok(())
}

fn check_weight(layer: &str, w: &Weight, count: usize) -> Result<(), ArtifactError> {
    if w.bits > 8 {
        return Err(ArtifactError::field(layer, "weight.bits", format!("{} is outside 0..=8", w.bits)));
    }
    if w.bits > 0 {
        check_scale(layer, "weight.scale", w.scale)?;
    } else if !w.scale.is_finite() {
        // Unused by a 0-bit layer, but it must survive a save and a load (JSON has no infinity).
        return Err(ArtifactError::field(layer, "weight.scale", format!("{} is not finite", w.scale)));
    }
    if !(w.values.len() == count || (w.bits == 0 && w.values.is_empty())) {
        return Err(ArtifactError::field(
            layer,
            "weight.values",
            format!("has {} values, the shape needs {count}", w.values.len()),
        ));
    }
    let m = bsq_runtime::pack::max_magnitude(w.bits) as i64;
    if let Some(i) = w.values.iter().position(|&v| (v as i64).abs() > m) {
        return Err(ArtifactError::field(
            layer,
            format!("weight.values[{i}]"),
            format!("{} is outside [-{m}, {m}] for {}-bit weights", w.values[i], w.bits),
        ));
    }
    Ok(())
}

/// Shared checks of conv/dense parameters: bias, BN, channel scale.
fn check_affine(
    layer: &str,
    bias: &Option<Vec<f32>>,
    bn: &Option<BatchNorm>,
    cs: &Option<Vec<f32>>,
    n: usize,
) -> Result<(), ArtifactError> {
    if let Some(b) = bias {
        check_floats(layer, "bias", b, n)?;
    }
    if let Some(bn) = bn {
        check_bn(layer, bn, n)?;
    }
    if let Some(cs) = cs {
        if bn.is_some() {
            return Err(ArtifactError::field(layer, "channel_scale", "give either `bn` or `channel_scale`, not both"));
        }
        check_floats(layer, "channel_scale", cs, n)?;
    }
    Ok(())
}

/// Refuses a pooling window above the runtime's [`MAX_POOL_WINDOW`] at load time.
fn check_window(layer: &str, field: &str, elements: usize) -> Result<(), ArtifactError> {
    if elements > MAX_POOL_WINDOW {
        return Err(ArtifactError::field(
            layer,
            field,
            format!("the pooling window has {elements} elements, more than 2^23 = {MAX_POOL_WINDOW}"),
        ));
    }
    Ok(())
}

fn check_layer(layer: &Layer, tensors: &Tensors) -> Result<TensorInfo, ArtifactError> {
    let name = layer.name();
    let product = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let too_large = |field: &str| ArtifactError::field(name, field, "size overflows");
    match layer {
        Layer::Conv2d(c) => {
            let x = input_of(name, "input", &c.input, tensors)?;
            if x.quant.signed {
                return Err(ArtifactError::field(
                    name,
                    "input",
                    format!("`{}` is signed; convolutions take unsigned activations", c.input),
                ));
            }
            if c.in_channels != x.shape[2] {
                return Err(ArtifactError::field(
                    name,
                    "in_channels",
                    format!(
                        "{} but input `{}` has shape {:?} ({} channels)",
                        c.in_channels, c.input, x.shape, x.shape[2]
                    ),
                ));
            }
            if c.out_channels == 0 {
                return Err(ArtifactError::field(name, "out_channels", "is 0"));
            }
            let groups = c.groups();
            if groups == 0 {
                return Err(ArtifactError::field(name, "groups", "is 0"));
            }
            if !c.in_channels.is_multiple_of(groups) || !c.out_channels.is_multiple_of(groups) {
                return Err(ArtifactError::field(
                    name,
                    "groups",
                    format!(
                        "{groups} does not divide both in_channels ({}) and out_channels ({})",
                        c.in_channels, c.out_channels
                    ),
                ));
            }
            let [kh, kw] = c.kernel;
            let [sh, sw] = c.stride;
            let [pt, pl, pb, pr] = c.padding;
            if kh == 0 || kw == 0 {
                return Err(ArtifactError::field(name, "kernel", format!("{:?} has a zero dimension", c.kernel)));
            }
            if sh == 0 || sw == 0 {
                return Err(ArtifactError::field(name, "stride", format!("{:?} has a zero stride", c.stride)));
            }
            if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
                return Err(ArtifactError::field(
                    name,
                    "padding",
                    format!("{:?} must be smaller than the kernel {:?}", c.padding, c.kernel),
                ));
            }
            let ph = x.shape[0].checked_add(pt).and_then(|v| v.checked_add(pb)).ok_or_else(|| too_large("padding"))?;
            let pw = x.shape[1].checked_add(pl).and_then(|v| v.checked_add(pr)).ok_or_else(|| too_large("padding"))?;
            if ph < kh || pw < kw {
                return Err(ArtifactError::field(
                    name,
                    "kernel",
                    format!(
                        "{:?} is larger than the padded input {}x{} (`{}` is {:?})",
                        c.kernel, ph, pw, c.input, x.shape
                    ),
                ));
            }
            let shape = [(ph - kh) / sh + 1, (pw - kw) / sw + 1, c.out_channels];
            let count = product(&[c.out_channels, kh, kw, c.group_in()]).ok_or_else(|| too_large("weight"))?;
            check_weight(name, &c.weight, count)?;
            check_affine(name, &c.bias, &c.bn, &c.channel_scale, c.out_channels)?;
            check_quant(name, &c.out)?;
            let len = checked_len(name, "output shape", shape)?;
            Ok(TensorInfo { shape, len, quant: c.out })
        }
        Layer::Dense(d) => {
            let x = input_of(name, "input", &d.input, tensors)?;
            if x.quant.signed {
                return Err(ArtifactError::field(
                    name,
                    "input",
                    format!("`{}` is signed; dense layers take unsigned activations", d.input),
                ));
            }
            if d.in_features != x.len {
                return Err(ArtifactError::field(
                    name,
                    "in_features",
                    format!("{} but input `{}` has shape {:?} ({} values)", d.in_features, d.input, x.shape, x.len),
                ));
            }
            if d.out_features == 0 {
                return Err(ArtifactError::field(name, "out_features", "is 0"));
            }
            let count = product(&[d.out_features, d.in_features]).ok_or_else(|| too_large("weight"))?;
            check_weight(name, &d.weight, count)?;
            check_affine(name, &d.bias, &d.bn, &d.channel_scale, d.out_features)?;
            check_quant(name, &d.out)?;
            let shape = [1, 1, d.out_features];
            let len = checked_len(name, "output shape", shape)?;
            Ok(TensorInfo { shape, len, quant: d.out })
        }
        Layer::MaxPool(p) | Layer::AvgPool(p) => {
            let x = input_of(name, "input", &p.input, tensors)?;
            let [kh, kw] = p.kernel;
            let [sh, sw] = p.stride;
            let [pt, pl, pb, pr] = p.padding();
            if kh == 0 || kw == 0 {
                return Err(ArtifactError::field(name, "kernel", format!("{:?} has a zero dimension", p.kernel)));
            }
            // Each padding smaller than the kernel: every window holds at least one input cell.
            if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
                return Err(ArtifactError::field(
                    name,
                    "padding",
                    format!("{:?} must be smaller than the kernel {:?}", p.padding(), p.kernel),
                ));
            }
            let ph = x.shape[0].checked_add(pt).and_then(|v| v.checked_add(pb)).ok_or_else(|| too_large("padding"))?;
            let pw = x.shape[1].checked_add(pl).and_then(|v| v.checked_add(pr)).ok_or_else(|| too_large("padding"))?;
            if kh > ph || kw > pw {
                let padded = if p.padding() == [0; 4] { String::new() } else { format!(" padded to {ph}x{pw}") };
                return Err(ArtifactError::field(
                    name,
                    "kernel",
                    format!("{:?} does not fit input `{}` of shape {:?}{padded}", p.kernel, p.input, x.shape),
                ));
            }
            if sh == 0 || sw == 0 {
                return Err(ArtifactError::field(name, "stride", format!("{:?} has a zero stride", p.stride)));
            }
            check_window(name, "kernel", kh * kw)?;
            let shape = [(ph - kh) / sh + 1, (pw - kw) / sw + 1, x.shape[2]];
            let len = checked_len(name, "output shape", shape)?;
            Ok(TensorInfo { shape, len, quant: x.quant })
        }
        Layer::GlobalAvgPool(u) => {
            let x = input_of(name, "input", &u.input, tensors)?;
            check_window(name, "input", x.shape[0] * x.shape[1])?;
            let shape = [1, 1, x.shape[2]];
            Ok(TensorInfo { shape, len: x.shape[2], quant: x.quant })
        }
        Layer::Flatten(u) => {
            let x = input_of(name, "input", &u.input, tensors)?;
            Ok(TensorInfo { shape: [1, 1, x.len], len: x.len, quant: x.quant })
        }
        Layer::Add(ad) => {
            let a = input_of(name, "inputs[0]", &ad.inputs[0], tensors)?;
            let b = input_of(name, "inputs[1]", &ad.inputs[1], tensors)?;
            if a.shape != b.shape {
                return Err(ArtifactError::field(
                    name,
                    "inputs",
                    format!(
                        "shapes do not match: `{}` is {:?}, `{}` is {:?}",
                        ad.inputs[0], a.shape, ad.inputs[1], b.shape
                    ),
                ));
            }
            check_quant(name, &ad.out)?;
            Ok(TensorInfo { shape: a.shape, len: a.len, quant: ad.out })
        }
        Layer::Concat(cc) => {
            if cc.inputs.len() < 2 {
                return Err(ArtifactError::field(
                    name,
                    "inputs",
                    format!("{} input(s): a concat takes at least 2", cc.inputs.len()),
                ));
            }
            let first = input_of(name, "inputs[0]", &cc.inputs[0], tensors)?;
            let mut channels: usize = 0;
            for (i, input) in cc.inputs.iter().enumerate() {
                let x = input_of(name, &format!("inputs[{i}]"), input, tensors)?;
                if x.shape[..2] != first.shape[..2] {
                    return Err(ArtifactError::field(
                        name,
                        format!("inputs[{i}]"),
                        format!(
                            "height and width do not match: `{}` is {:?}, `{input}` is {:?} (a concat joins channels)",
                            cc.inputs[0], first.shape, x.shape
                        ),
                    ));
                }
                channels = channels
                    .checked_add(x.shape[2])
                    .ok_or_else(|| ArtifactError::field(name, "inputs", "the channel count overflows".to_string()))?;
            }
            check_quant(name, &cc.out)?;
            let shape = [first.shape[0], first.shape[1], channels];
            let len = checked_len(name, "output shape", shape)?;
            Ok(TensorInfo { shape, len, quant: cc.out })
        }
    }
}
