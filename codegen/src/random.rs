//! Artifacts with random weights built from a model description ([`crate::desc`]): the network's exact
//! structure, every weight drawn at the bit width a scheme gives its layer, batch norms and biases drawn,
//! and every activation scale calibrated on deterministic inputs exactly as the fixtures are
//! ([`crate::fixtures`]). Such an artifact compiles, reports its flash and RAM, and runs byte-exact on a
//! device like a trained one; only its outputs mean nothing.
//!
//! What it is for: sizing and timing a network for a board before (or without) training it, e.g. the MLPerf
//! Tiny reference models whose datasets are not available here (`cargo run -p bsq-tests --release --bin
//! bench-mlperf`, docs/benchmarks.md).

use std::path::Path;

use crate::artifact::{Conv2d, Dense, Input, Layer, Pool, Quant};
use crate::desc::{DataShape, DescError, Description, Node, Op, Resolved, Src, TensorQuant};
use crate::fixtures::{Act, Gen, float_conv, float_dense, s, u};

/// Why no artifact could be built.
#[derive(Debug, thiserror::Error)]
pub enum RandomError {
    /// The description is invalid for the given data shape.
    #[error(transparent)]
    Description(#[from] DescError),
    /// A layer's op has no artifact form yet.
    #[error("layer `{layer}`: op `{op}` cannot be compiled yet")]
    Unsupported {
        /// Layer name.
        layer: String,
        /// Op name.
        op: &'static str,
    },
    /// A weight width out of `0..=8`.
    #[error("layer `{layer}`: weight width {bits} is out of range (0..=8)")]
    Bits {
        /// Layer name.
        layer: String,
        /// The width asked for.
        bits: u8,
    },
    /// The network does not compile (e.g. an accumulator bound): the same message codegen gives.
    #[error(transparent)]
    Codegen(#[from] crate::CodegenError),
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct RandomSpec {
    /// Input shape, scale and zero point (the shape must be the description's, if it gives one).
    pub input: Input,
    /// Number of network outputs (classes or regression targets).
    pub outputs: usize,
    /// Seed of the weights (the calibration inputs depend on the model name only).
    pub seed: u64,
}

/// Builds an artifact named `desc.name` with random weights: layer `n` gets `bits(n)`-bit weights
/// (`0..=8`). `origin` names the description's file in errors.
pub fn artifact(
    desc: &Description,
    origin: Option<&Path>,
    spec: &RandomSpec,
    bits: impl Fn(&Node) -> u8,
) -> Result<crate::Artifact, RandomError> {
    let resolved = desc.resolve(DataShape { input: spec.input.shape, outputs: spec.outputs }, origin)?;
    let mut g = Gen::new(&desc.name, spec.input.shape, spec.outputs);
    g.a.input = spec.input.clone();
    g.rng = crate::fixtures::Rng::new(spec.seed);
    g.a.provenance.notes = format!("random weights (seed {}) for the description `{}`", spec.seed, desc.name);
    g.a.provenance.dataset = "none (random weights)".into();
    // Check the whole network once before calibrating layer by layer (every prefix is then valid).
    let mut skeleton = g.a.clone();
    let mut scratch = Gen::new(&desc.name, spec.input.shape, spec.outputs);
    for n in &resolved.nodes {
        skeleton.layers.push(layer(&mut scratch, &resolved, n, bits(n), false)?);
    }
    skeleton.output = resolved.nodes[resolved.output].name.clone();
    skeleton.scheme = skeleton.derived_scheme();
    crate::compile(&skeleton)?;
    for n in &resolved.nodes {
        let l = layer(&mut g, &resolved, n, bits(n), true)?;
        g.push(l);
    }
    g.a.output = resolved.nodes[resolved.output].name.clone();
    Ok(g.finish())
}

fn src_name(r: &Resolved, s: Src) -> String {
    match s {
        Src::Input => "input".into(),
        Src::Node(i) => r.nodes[i].name.clone(),
    }
}

fn act_of(q: TensorQuant) -> Act {
    match q {
        TensorQuant::Unsigned(b) => u(b),
        TensorQuant::Signed | TensorQuant::Input => s(8),
    }
}

/// One artifact layer; with `calibrate`, its output scale comes from the real outputs on `g`'s calibration
/// inputs (the layers before it must be in `g`), else it is 1.
fn layer(g: &mut Gen, r: &Resolved, n: &Node, bits: u8, calibrate: bool) -> Result<Layer, RandomError> {
    let input = n.inputs.first().map(|&s| src_name(r, s)).unwrap_or_else(|| "input".into());
    let act = act_of(n.quant);
    let quant = |scale: f32| Quant { bits: act.bits, scale, signed: act.signed };
    let check = |bits: u8| if bits > 8 { Err(RandomError::Bits { layer: n.name.clone(), bits }) } else { Ok(bits) };
    Ok(match n.op {
        Op::Conv { in_channels, out_channels, kernel, stride, padding, groups, bias, batch_norm, .. } => {
            let bits = check(bits)?;
            let weight = g.weights(bits, out_channels * kernel[0] * kernel[1] * (in_channels / groups.max(1)));
            let bias = bias.then(|| g.biases(out_channels));
            let bn = batch_norm.then(|| g.bn(out_channels));
            let mut c = Conv2d {
                name: n.name.clone(),
                input: input.clone(),
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                groups: (groups != 1).then_some(groups),
                weight,
                bias,
                bn,
                channel_scale: None,
                out: quant(1.0),
            };
            if calibrate {
                let (xs, shape) = g.real(&input);
                let ys: Vec<Vec<f64>> = xs.iter().map(|x| float_conv(&c, shape, x)).collect();
                c.out.scale = Gen::calibrate(&ys, act);
            }
            Layer::Conv2d(c)
        }
        Op::Dense { in_features, out_features, bias, batch_norm, .. } => {
            let bits = check(bits)?;
            let weight = g.weights(bits, out_features * in_features);
            let bias = bias.then(|| g.biases(out_features));
            let bn = batch_norm.then(|| g.bn(out_features));
            let mut d = Dense {
                name: n.name.clone(),
                input: input.clone(),
                in_features,
                out_features,
                weight,
                bias,
                bn,
                channel_scale: None,
                out: quant(1.0),
            };
            if calibrate {
                let (xs, _) = g.real(&input);
                let ys: Vec<Vec<f64>> = xs.iter().map(|x| float_dense(&d, x)).collect();
                d.out.scale = Gen::calibrate(&ys, act);
            }
            Layer::Dense(d)
        }
        Op::MaxPool { kernel, stride, padding } | Op::AvgPool { kernel, stride, padding } => {
            let p =
                Pool { name: n.name.clone(), input, kernel, stride, padding: (padding != [0; 4]).then_some(padding) };
            if matches!(n.op, Op::MaxPool { .. }) { Layer::MaxPool(p) } else { Layer::AvgPool(p) }
        }
        Op::GlobalAvgPool => Layer::GlobalAvgPool(crate::artifact::Unary { name: n.name.clone(), input }),
        Op::Flatten => Layer::Flatten(crate::artifact::Unary { name: n.name.clone(), input }),
        Op::Add { .. } => {
            let (a, b) = match n.inputs.as_slice() {
                [a, b] => (src_name(r, *a), src_name(r, *b)),
                _ => return Err(RandomError::Unsupported { layer: n.name.clone(), op: "add of other than 2 inputs" }),
            };
            let mut scale = 1.0;
            if calibrate {
                let (xa, _) = g.real(&a);
                let (xb, _) = g.real(&b);
                let ys: Vec<Vec<f64>> =
                    xa.iter().zip(&xb).map(|(p, q)| p.iter().zip(q).map(|(x, y)| x + y).collect()).collect();
                scale = Gen::calibrate(&ys, act);
            }
            Layer::Add(crate::artifact::Add { name: n.name.clone(), inputs: [a, b], out: quant(scale) })
        }
        Op::Concat => {
            let inputs: Vec<String> = n.inputs.iter().map(|&s| src_name(r, s)).collect();
            let mut scale = 1.0;
            if calibrate {
                // Channel concatenation of HWC tensors: pixel by pixel, each input's channels in turn.
                let parts: Vec<(Vec<Vec<f64>>, [usize; 3])> = inputs.iter().map(|i| g.real(i)).collect();
                let pixels = n.shape[0] * n.shape[1];
                let ys: Vec<Vec<f64>> = (0..g.calib.len())
                    .map(|k| {
                        (0..pixels)
                            .flat_map(|p| {
                                parts.iter().flat_map(move |(x, sh)| x[k][p * sh[2]..(p + 1) * sh[2]].iter().copied())
                            })
                            .collect()
                    })
                    .collect();
                scale = Gen::calibrate(&ys, act);
            }
            Layer::Concat(crate::artifact::Concat { name: n.name.clone(), inputs, out: quant(scale) })
        }
    })
}

/// The weighted layers (conv2d and dense) of a resolved description, in order.
pub fn weighted(r: &Resolved) -> impl Iterator<Item = &Node> {
    r.nodes.iter().filter(|n| matches!(n.op, Op::Conv { .. } | Op::Dense { .. }))
}
