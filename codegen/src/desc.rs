//! The model description: a network as a graph of layers, before training (format `"bsq-model"`,
//! [`VERSION`]), written in TOML or JSON. `docs/models.md` is the field-by-field description.
//!
//! A description uses the artifact's vocabulary ([`crate::artifact`]): the same op names, the same field
//! names, the same tensor layout. The artifact is "the description with integers filled in": the trainer
//! builds its model from a description and exports every layer 1:1 to an artifact layer of the same name.
//!
//! [`Description::resolve`] checks a description against the data it will be trained on and infers every
//! shape; each error names the file, the layer and the field ([`DescError`]). Nothing here panics on the
//! contents of a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The `format` field's value.
pub const FORMAT: &str = "bsq-model";
/// The description version this crate reads and writes.
pub const VERSION: u32 = 1;

/// A network description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Model name (becomes the artifact's name, with the dataset's).
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The network input.
    #[serde(default)]
    pub input: InputSpec,
    /// Default activation bits of every unsigned quantization point (else the trainer's `--act-bits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_bits: Option<u8>,
    /// Pretrained float weights (a `.npz` file, [`FloatWeights`]), relative to the description's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// The layers in execution order.
    pub layers: Vec<LayerSpec>,
    /// The layer whose output is the network output (default: the last layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The network input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `[H, W, C]` (a feature vector is `[1, 1, N]`); default: the dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 3]>,
    /// Real value of one input step; default: the dataset's (`1/255` for images, calibrated for floats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// The byte that stands for 0; default: the dataset's (0 for images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_point: Option<u8>,
}

/// One number for both axes, or `[vertical, horizontal]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Pair {
    /// The same on both axes.
    One(usize),
    /// `[vertical, horizontal]`.
    Two([usize; 2]),
}

impl Pair {
    /// `[vertical, horizontal]`.
    pub fn get(self) -> [usize; 2] {
        match self {
            Pair::One(n) => [n, n],
            Pair::Two(p) => p,
        }
    }
}

/// Padding: a number (all sides), `[vertical, horizontal]`, `[top, left, bottom, right]` (the artifact's
/// order), or `"same"` / `"valid"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    /// All four sides.
    One(usize),
    /// `[vertical, horizontal]` (top = bottom, left = right).
    Two([usize; 2]),
    /// `[top, left, bottom, right]`.
    Four([usize; 4]),
    /// `"same"` (output size `ceil(in/stride)`, the extra row or column at the bottom / right, as
    /// TensorFlow) or `"valid"` (none).
    Mode(String),
}

/// An activation after a conv2d, dense or add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// ReLU with a learned clip (PACT): an unsigned `act_bits`-bit tensor of scale `clip/(2^a − 1)`.
    Pact,
    /// ReLU whose clip is calibrated on training data when quantized training starts, then fixed.
    Relu,
    /// ReLU6: an unsigned tensor with the clip fixed at 6.
    Relu6,
    /// No activation: a signed 8-bit tensor with a calibrated scale (`max|y|/127`). Only an add, a pool,
    /// a concat or the network output may read it.
    None,
}

/// One layer; the object carries `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LayerSpec {
    /// `op = "conv2d"`.
    Conv2d(ConvSpec),
    /// `op = "dense"`.
    Dense(DenseSpec),
    /// `op = "max_pool"`.
    MaxPool(PoolSpec),
    /// `op = "avg_pool"`.
    AvgPool(PoolSpec),
    /// `op = "global_avg_pool"`.
    GlobalAvgPool(UnarySpec),
    /// `op = "flatten"`.
    Flatten(UnarySpec),
    /// `op = "add"`.
    Add(AddSpec),
    /// `op = "concat"` (channel concatenation).
    Concat(ConcatSpec),
}

/// Fields of a quantized layer's weights and output shared by conv2d and dense.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    /// Unique name (not `"input"`).
    pub name: String,
    /// The layer it reads (default: the previous layer, or `"input"` for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `k` or `[k_h, k_w]`.
    pub kernel: Pair,
    /// Stride (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Pair>,
    /// Padding (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<Padding>,
    /// Groups (default 1; `in_channels` for a depthwise convolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<usize>,
    /// A float bias (default: true without batch norm, false with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// Batch normalization after the convolution (folded at export).
    #[serde(default)]
    pub batch_norm: bool,
    /// The activation.
    pub activation: Activation,
    /// Activation bits of this layer's unsigned output (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_bits: Option<u8>,
    /// Take part in BSQ (default true). `false`: the weights stay 8-bit and are not counted in the
    /// regularizer or the average bits (as the official code treats ResNet downsample convolutions).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub bsq: bool,
}

/// A dense (fully connected) layer. It reads any tensor, flattened in HWC order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// Unique name.
    pub name: String,
    /// The layer it reads (default: the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Output features; may be left out on the network's output layer, where it is the dataset's number
    /// of classes (or of regression targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_features: Option<usize>,
    /// A float bias (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub bias: bool,
    /// Batch normalization after the layer (folded at export).
    #[serde(default)]
    pub batch_norm: bool,
    /// The activation.
    pub activation: Activation,
    /// Activation bits of this layer's unsigned output (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_bits: Option<u8>,
    /// Take part in BSQ (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub bsq: bool,
}

/// Max or average pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Unique name.
    pub name: String,
    /// The layer it reads (default: the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Window `k` or `[k_h, k_w]`.
    pub kernel: Pair,
    /// Stride (default: the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Pair>,
    /// Padding (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<Padding>,
}

/// A layer with one input and no parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnarySpec {
    /// Unique name.
    pub name: String,
    /// The layer it reads (default: the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// Residual add of two tensors of the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSpec {
    /// Unique name.
    pub name: String,
    /// The two layers it adds.
    pub inputs: [String; 2],
    /// The activation of the sum.
    pub activation: Activation,
    /// Activation bits of an unsigned output (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_bits: Option<u8>,
}

/// Channel concatenation of tensors of the same height and width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatSpec {
    /// Unique name.
    pub name: String,
    /// The layers it concatenates, in channel order (at least two).
    pub inputs: Vec<String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Why a description was refused; the message names the file, the layer and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{message}", origin.as_ref().map(|o| format!("{}: ", o.display())).unwrap_or_default(), place(layer, field))]
pub struct DescError {
    /// The description file (if read from one).
    pub origin: Option<PathBuf>,
    /// The layer at fault (`None`: the model as a whole).
    pub layer: Option<String>,
    /// The field at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn place(layer: &Option<String>, field: &Option<String>) -> String {
    match (layer, field) {
        (Some(l), Some(f)) => format!("layer `{l}`, field `{f}`: "),
        (Some(l), None) => format!("layer `{l}`: "),
        (None, Some(f)) => format!("field `{f}`: "),
        (None, None) => String::new(),
    }
}

impl DescError {
    fn new(layer: Option<&str>, field: Option<&str>, message: impl Into<String>) -> Self {
        DescError {
            origin: None,
            layer: layer.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    fn at(mut self, origin: &Path) -> Self {
        self.origin = Some(origin.to_path_buf());
        self
    }
}

/// A resolved description: every default filled in, every shape known (see [`Description::resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Model name.
    pub name: String,
    /// Input `[H, W, C]`.
    pub input: [usize; 3],
    /// The nodes in execution order.
    pub nodes: Vec<Node>,
    /// Index of the output node.
    pub output: usize,
}

/// Where a node reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// The network input.
    Input,
    /// The output of node `i`.
    Node(usize),
}

/// How a tensor is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorQuant {
    /// The network input (unsigned bytes with the input map).
    Input,
    /// Unsigned `bits`-bit (after a ReLU).
    Unsigned(u8),
    /// Signed 8-bit.
    Signed,
}

/// One resolved layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Layer name.
    pub name: String,
    /// Inputs.
    pub inputs: Vec<Src>,
    /// The operation.
    pub op: Op,
    /// Output shape `[H, W, C]` (`[1, 1, N]` for vectors).
    pub shape: [usize; 3],
    /// Output quantization.
    pub quant: TensorQuant,
}

/// A resolved operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution.
    Conv {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// `[k_h, k_w]`.
        kernel: [usize; 2],
        /// `[s_h, s_w]`.
        stride: [usize; 2],
        /// `[top, left, bottom, right]`.
        padding: [usize; 4],
        /// Groups.
        groups: usize,
        /// Float bias.
        bias: bool,
        /// Batch norm.
        batch_norm: bool,
        /// Activation.
        activation: Activation,
        /// Takes part in BSQ.
        bsq: bool,
    },
    /// Dense layer.
    Dense {
        /// Input features (the input tensor flattened in HWC order).
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Float bias.
        bias: bool,
        /// Batch norm.
        batch_norm: bool,
        /// Activation.
        activation: Activation,
        /// Takes part in BSQ.
        bsq: bool,
    },
    /// Max pooling.
    MaxPool {
        /// `[k_h, k_w]`.
        kernel: [usize; 2],
        /// `[s_h, s_w]`.
        stride: [usize; 2],
        /// `[top, left, bottom, right]`.
        padding: [usize; 4],
    },
    /// Average pooling.
    AvgPool {
        /// `[k_h, k_w]`.
        kernel: [usize; 2],
        /// `[s_h, s_w]`.
        stride: [usize; 2],
        /// `[top, left, bottom, right]`.
        padding: [usize; 4],
    },
    /// Global average pooling (`[H, W, C] → [1, 1, C]`).
    GlobalAvgPool,
    /// Flatten (`[H, W, C] → [1, 1, H·W·C]`, HWC order).
    Flatten,
    /// Residual add.
    Add {
        /// Activation of the sum.
        activation: Activation,
    },
    /// Channel concatenation.
    Concat,
}

impl Op {
    /// The op's name as written in descriptions and artifacts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv { .. } => "conv2d",
            Op::Dense { .. } => "dense",
            Op::MaxPool { .. } => "max_pool",
            Op::AvgPool { .. } => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
            Op::Add { .. } => "add",
            Op::Concat => "concat",
        }
    }
}

impl LayerSpec {
    /// The op's name as written in descriptions (and artifacts).
    pub fn op(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d(_) => "conv2d",
            LayerSpec::Dense(_) => "dense",
            LayerSpec::MaxPool(_) => "max_pool",
            LayerSpec::AvgPool(_) => "avg_pool",
            LayerSpec::GlobalAvgPool(_) => "global_avg_pool",
            LayerSpec::Flatten(_) => "flatten",
            LayerSpec::Add(_) => "add",
            LayerSpec::Concat(_) => "concat",
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        match self {
            LayerSpec::Conv2d(l) => &l.name,
            LayerSpec::Dense(l) => &l.name,
            LayerSpec::MaxPool(l) | LayerSpec::AvgPool(l) => &l.name,
            LayerSpec::GlobalAvgPool(l) | LayerSpec::Flatten(l) => &l.name,
            LayerSpec::Add(l) => &l.name,
            LayerSpec::Concat(l) => &l.name,
        }
    }
}

/// What the data says about the network's ends, for [`Description::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    /// The dataset's input `[H, W, C]`.
    pub input: [usize; 3],
    /// Number of network outputs: classes (classification) or targets (regression).
    pub outputs: usize,
}

impl Description {
    /// Parses a description from TOML (`toml = true`) or JSON text; `origin` names the file in errors.
    pub fn parse(text: &str, toml_syntax: bool, origin: &Path) -> Result<Self, DescError> {
        let d: Description = if toml_syntax {
            toml::from_str(text).map_err(|e| DescError::new(None, None, e.to_string().trim_end().to_string()))
        } else {
            serde_json::from_str(text).map_err(|e| DescError::new(None, None, e.to_string()))
        }
        .map_err(|e| e.at(origin))?;
        if d.format != FORMAT {
            return Err(DescError::new(
                None,
                Some("format"),
                format!("is {:?}, a model description has format {FORMAT:?}", d.format),
            )
            .at(origin));
        }
        if d.version != VERSION {
            return Err(DescError::new(
                None,
                Some("version"),
                format!("is {}, this bsq reads model descriptions of version {VERSION}", d.version),
            )
            .at(origin));
        }
        Ok(d)
    }

    /// Reads a description file: TOML unless its name ends in `.json`.
    pub fn load(path: &Path) -> Result<Self, DescError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DescError::new(None, None, format!("cannot read: {e}")).at(path))?;
        let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, !json, path)
    }

    /// The description as TOML text.
    pub fn to_toml(&self) -> Result<String, DescError> {
        toml::to_string(self).map_err(|e| DescError::new(None, None, format!("cannot write TOML: {e}")))
    }

    /// Writes the description (TOML, or JSON for a `.json` name) atomically.
    pub fn save(&self, path: &Path) -> Result<(), DescError> {
        let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let text = if json {
            serde_json::to_string_pretty(self).map_err(|e| DescError::new(None, None, e.to_string()))?
        } else {
            self.to_toml()?
        };
        crate::write_atomic(path, text.as_bytes())
            .map_err(|e| DescError::new(None, None, format!("cannot write: {e}")).at(path))
    }

    /// Checks the description against the data and infers every shape. `origin` (the file) is named in
    /// errors.
    pub fn resolve(&self, data: DataShape, origin: Option<&Path>) -> Result<Resolved, DescError> {
        self.resolve_inner(data).map_err(|mut e| {
            e.origin = origin.map(Path::to_path_buf);
            e
        })
    }

    fn resolve_inner(&self, data: DataShape) -> Result<Resolved, DescError> {
        let input = match self.input.shape {
            Some(s) if s != data.input => {
                return Err(DescError::new(
                    Some("input"),
                    Some("shape"),
                    format!("is {s:?} but the data's inputs are {:?}", data.input),
                ));
            }
            _ => data.input,
        };
        if input.contains(&0) {
            return Err(DescError::new(Some("input"), Some("shape"), format!("{input:?} has a zero dimension")));
        }
        if let Some(s) = self.input.scale
            && !(s.is_finite() && s > 0.0)
        {
            return Err(DescError::new(Some("input"), Some("scale"), format!("{s} is not a finite number > 0")));
        }
        if let Some(b) = self.act_bits {
            check_bits(None, "act_bits", b)?;
        }
        if self.layers.is_empty() {
            return Err(DescError::new(None, Some("layers"), "no layer"));
        }
        let default_bits = self.act_bits.unwrap_or(4);
        let out_name = self.output.clone().unwrap_or_else(|| self.layers[self.layers.len() - 1].name().to_string());
        if !self.layers.iter().any(|l| l.name() == out_name) {
            return Err(DescError::new(None, Some("output"), format!("no layer is named `{out_name}`")));
        }
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut nodes: Vec<Node> = Vec::new();
        for (i, spec) in self.layers.iter().enumerate() {
            let name = spec.name();
            let err = |field: Option<&str>, m: String| DescError::new(Some(name), field, m);
            if name.is_empty() || name == "input" {
                return Err(err(Some("name"), format!("{name:?} is reserved or empty")));
            }
            if ids.contains_key(name) {
                return Err(err(Some("name"), "two layers have this name".into()));
            }
            let prev = if i == 0 { Src::Input } else { Src::Node(i - 1) };
            let lookup = |field: &str, n: &Option<String>| -> Result<Src, DescError> {
                match n.as_deref() {
                    None => Ok(prev),
                    Some("input") => Ok(Src::Input),
                    Some(n) => ids.get(n).map(|&j| Src::Node(j)).ok_or_else(|| {
                        let later = self.layers[i..].iter().any(|l| l.name() == n);
                        DescError::new(
                            Some(name),
                            Some(field),
                            if later {
                                format!("`{n}` comes later: a layer reads only `input` and earlier layers")
                            } else {
                                format!("no layer is named `{n}`")
                            },
                        )
                    }),
                }
            };
            let shape_of = |s: Src| match s {
                Src::Input => input,
                Src::Node(j) => nodes[j].shape,
            };
            let quant_of = |s: Src| match s {
                Src::Input => TensorQuant::Input,
                Src::Node(j) => nodes[j].quant,
            };
            let is_output = name == out_name;
            let act_quant = |act: Activation, bits: Option<u8>| -> Result<TensorQuant, DescError> {
                let b = bits.unwrap_or(default_bits);
                check_bits(Some(name), "act_bits", b)?;
                Ok(match act {
                    Activation::None => TensorQuant::Signed,
                    _ => TensorQuant::Unsigned(b),
                })
            };
            let unsigned_input = |field: &str, s: Src| -> Result<(), DescError> {
                if quant_of(s) == TensorQuant::Signed {
                    let from = match s {
                        Src::Node(j) => nodes[j].name.clone(),
                        Src::Input => "input".into(),
                    };
                    return Err(DescError::new(
                        Some(name),
                        Some(field),
                        format!(
                            "reads `{from}`, a signed tensor (activation \"none\"): {} needs an unsigned input \
                             (give `{from}` a ReLU activation)",
                            spec.op()
                        ),
                    ));
                }
                Ok(())
            };
            let node = match spec {
                LayerSpec::Conv2d(c) => {
                    let src = lookup("input", &c.input)?;
                    unsigned_input("input", src)?;
                    let [h, w, ci] = shape_of(src);
                    if h == 1
                        && w == 1
                        && matches!(src, Src::Node(j) if matches!(nodes[j].op, Op::Dense { .. } | Op::Flatten | Op::GlobalAvgPool))
                    {
                        // A vector is a 1×1 image; allowed, nothing to refuse.
                    }
                    let kernel = c.kernel.get();
                    let stride = c.stride.unwrap_or(Pair::One(1)).get();
                    let groups = c.groups.unwrap_or(1);
                    positive(name, "kernel", &kernel)?;
                    positive(name, "stride", &stride)?;
                    if c.out_channels == 0 {
                        return Err(err(Some("out_channels"), "is 0".into()));
                    }
                    if groups == 0 || ci % groups != 0 || c.out_channels % groups != 0 {
                        return Err(err(
                            Some("groups"),
                            format!(
                                "{groups} does not divide both the input channels ({ci}) and out_channels ({})",
                                c.out_channels
                            ),
                        ));
                    }
                    let padding = resolve_padding(name, c.padding.as_ref(), [h, w], kernel, stride)?;
                    let (oh, ow) = out_size(name, [h, w], kernel, stride, padding)?;
                    let bias = c.bias.unwrap_or(!c.batch_norm);
                    Node {
                        name: name.into(),
                        inputs: vec![src],
                        op: Op::Conv {
                            in_channels: ci,
                            out_channels: c.out_channels,
                            kernel,
                            stride,
                            padding,
                            groups,
                            bias,
                            batch_norm: c.batch_norm,
                            activation: c.activation,
                            bsq: c.bsq,
                        },
                        shape: [oh, ow, c.out_channels],
                        quant: act_quant(c.activation, c.act_bits)?,
                    }
                }
                LayerSpec::Dense(d) => {
                    let src = lookup("input", &d.input)?;
                    unsigned_input("input", src)?;
                    let in_features: usize = shape_of(src).iter().product();
                    let out = match (d.out_features, is_output) {
                        (Some(0), _) => return Err(err(Some("out_features"), "is 0".into())),
                        (Some(n), true) if n != data.outputs => {
                            return Err(err(
                                Some("out_features"),
                                format!(
                                    "is {n} on the output layer, but the data has {} classes (or targets)",
                                    data.outputs
                                ),
                            ));
                        }
                        (Some(n), _) => n,
                        (None, true) => data.outputs,
                        (None, false) => {
                            return Err(err(
                                Some("out_features"),
                                "missing (only the output layer may leave it to the data)".into(),
                            ));
                        }
                    };
                    Node {
                        name: name.into(),
                        inputs: vec![src],
                        op: Op::Dense {
                            in_features,
                            out_features: out,
                            bias: d.bias,
                            batch_norm: d.batch_norm,
                            activation: d.activation,
                            bsq: d.bsq,
                        },
                        shape: [1, 1, out],
                        quant: act_quant(d.activation, d.act_bits)?,
                    }
                }
                LayerSpec::MaxPool(p) | LayerSpec::AvgPool(p) => {
                    let src = lookup("input", &p.input)?;
                    let [h, w, c] = shape_of(src);
                    let kernel = p.kernel.get();
                    let stride = p.stride.map(Pair::get).unwrap_or(kernel);
                    positive(name, "kernel", &kernel)?;
                    positive(name, "stride", &stride)?;
                    let padding = resolve_padding(name, p.padding.as_ref(), [h, w], kernel, stride)?;
                    if padding.iter().zip([kernel[0], kernel[1], kernel[0], kernel[1]]).any(|(&p, k)| p >= k) {
                        return Err(err(
                            Some("padding"),
                            format!("{padding:?} is not smaller than the kernel {kernel:?} on every side"),
                        ));
                    }
                    let (oh, ow) = out_size(name, [h, w], kernel, stride, padding)?;
                    let op = if matches!(spec, LayerSpec::MaxPool(_)) {
                        Op::MaxPool { kernel, stride, padding }
                    } else {
                        Op::AvgPool { kernel, stride, padding }
                    };
                    Node { name: name.into(), inputs: vec![src], op, shape: [oh, ow, c], quant: quant_of(src) }
                }
                LayerSpec::GlobalAvgPool(u) => {
                    let src = lookup("input", &u.input)?;
                    let c = shape_of(src)[2];
                    Node {
                        name: name.into(),
                        inputs: vec![src],
                        op: Op::GlobalAvgPool,
                        shape: [1, 1, c],
                        quant: quant_of(src),
                    }
                }
                LayerSpec::Flatten(u) => {
                    let src = lookup("input", &u.input)?;
                    let n = shape_of(src).iter().product();
                    Node {
                        name: name.into(),
                        inputs: vec![src],
                        op: Op::Flatten,
                        shape: [1, 1, n],
                        quant: quant_of(src),
                    }
                }
                LayerSpec::Add(a) => {
                    let s0 = lookup("inputs[0]", &Some(a.inputs[0].clone()))?;
                    let s1 = lookup("inputs[1]", &Some(a.inputs[1].clone()))?;
                    if shape_of(s0) != shape_of(s1) {
                        return Err(err(
                            Some("inputs"),
                            format!(
                                "`{}` is {:?} but `{}` is {:?}: an add needs equal shapes",
                                a.inputs[0],
                                shape_of(s0),
                                a.inputs[1],
                                shape_of(s1)
                            ),
                        ));
                    }
                    Node {
                        name: name.into(),
                        inputs: vec![s0, s1],
                        op: Op::Add { activation: a.activation },
                        shape: shape_of(s0),
                        quant: act_quant(a.activation, a.act_bits)?,
                    }
                }
                LayerSpec::Concat(c) => {
                    if c.inputs.len() < 2 {
                        return Err(err(Some("inputs"), "a concat needs at least two inputs".into()));
                    }
                    let mut srcs = Vec::new();
                    for (k, n) in c.inputs.iter().enumerate() {
                        srcs.push(lookup(&format!("inputs[{k}]"), &Some(n.clone()))?);
                    }
                    let [h, w, _] = shape_of(srcs[0]);
                    let mut ch = 0;
                    for (k, &s) in srcs.iter().enumerate() {
                        let [sh, sw, sc] = shape_of(s);
                        if [sh, sw] != [h, w] {
                            return Err(err(
                                Some(&format!("inputs[{k}]")),
                                format!(
                                    "`{}` is {sh}×{sw}, `{}` is {h}×{w}: a concat needs equal heights and widths",
                                    c.inputs[k], c.inputs[0]
                                ),
                            ));
                        }
                        ch += sc;
                    }
                    let q = srcs.iter().map(|&s| quant_of(s)).collect::<Vec<_>>();
                    let quant = if q.contains(&TensorQuant::Signed) {
                        TensorQuant::Signed
                    } else {
                        q.iter()
                            .map(|q| match q {
                                TensorQuant::Unsigned(b) => *b,
                                _ => 8,
                            })
                            .max()
                            .map(TensorQuant::Unsigned)
                            .unwrap_or(TensorQuant::Unsigned(8))
                    };
                    Node { name: name.into(), inputs: srcs, op: Op::Concat, shape: [h, w, ch], quant }
                }
            };
            ids.insert(name, i);
            nodes.push(node);
        }
        let output = *ids
            .get(out_name.as_str())
            .ok_or_else(|| DescError::new(None, Some("output"), format!("no layer is named `{out_name}`")))?;
        let out_len: usize = nodes[output].shape.iter().product();
        if out_len != data.outputs {
            return Err(DescError::new(
                Some(&out_name),
                None,
                format!(
                    "the network output has {out_len} values ({:?}) but the data has {} classes (or targets)",
                    nodes[output].shape, data.outputs
                ),
            ));
        }
        Ok(Resolved { name: self.name.clone(), input, nodes, output })
    }
}

impl Resolved {
    /// `(parameters, multiply-accumulates per inference)` as the MLPerf Tiny tables count them: conv and
    /// dense weights plus one bias per output channel where the layer has a bias or batch norm (batch norm
    /// folded), and the multiply-accumulates of conv and dense layers.
    pub fn counts(&self) -> (usize, usize) {
        let (mut params, mut macs) = (0, 0);
        for n in &self.nodes {
            match n.op {
                Op::Conv { in_channels, out_channels, kernel, groups, bias, batch_norm, .. } => {
                    let w = out_channels * kernel[0] * kernel[1] * (in_channels / groups.max(1));
                    params += w + if bias || batch_norm { out_channels } else { 0 };
                    macs += w * n.shape[0] * n.shape[1];
                }
                Op::Dense { in_features, out_features, bias, batch_norm, .. } => {
                    params += in_features * out_features + if bias || batch_norm { out_features } else { 0 };
                    macs += in_features * out_features;
                }
                _ => {}
            }
        }
        (params, macs)
    }
}

fn check_bits(layer: Option<&str>, field: &str, b: u8) -> Result<(), DescError> {
    if (1..=8).contains(&b) { Ok(()) } else { Err(DescError::new(layer, Some(field), format!("{b} is not in 1..=8"))) }
}

fn positive(layer: &str, field: &str, v: &[usize; 2]) -> Result<(), DescError> {
    if v.contains(&0) { Err(DescError::new(Some(layer), Some(field), format!("{v:?} has a 0"))) } else { Ok(()) }
}

/// `[top, left, bottom, right]` of a padding spec on an `hw` input.
fn resolve_padding(
    layer: &str,
    p: Option<&Padding>,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> Result<[usize; 4], DescError> {
    Ok(match p {
        None => [0; 4],
        Some(Padding::One(n)) => [*n; 4],
        Some(Padding::Two([v, h])) => [*v, *h, *v, *h],
        Some(Padding::Four(p)) => *p,
        Some(Padding::Mode(m)) if m == "valid" => [0; 4],
        Some(Padding::Mode(m)) if m == "same" => {
            let total = |i: usize| {
                let out = hw[i].div_ceil(stride[i]);
                ((out - 1) * stride[i] + kernel[i]).saturating_sub(hw[i])
            };
            let (tv, th) = (total(0), total(1));
            [tv / 2, th / 2, tv - tv / 2, th - th / 2]
        }
        Some(Padding::Mode(m)) => {
            return Err(DescError::new(
                Some(layer),
                Some("padding"),
                format!(
                    "{m:?} is not a padding: give a number, [v, h], [top, left, bottom, right], \"same\" or \"valid\""
                ),
            ));
        }
    })
}

fn out_size(
    layer: &str,
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    p: [usize; 4],
) -> Result<(usize, usize), DescError> {
    let (ph, pw) = (h + p[0] + p[2], w + p[1] + p[3]);
    if ph < kernel[0] || pw < kernel[1] {
        return Err(DescError::new(
            Some(layer),
            Some("kernel"),
            format!("{kernel:?} is larger than the padded input {ph}×{pw}"),
        ));
    }
    Ok(((ph - kernel[0]) / stride[0] + 1, (pw - kernel[1]) / stride[1] + 1))
}

/// Pretrained float weights of a description's layers, in the artifact's layouts (conv
/// `[out][k_h][k_w][in/groups]`, dense `[out][in]` with `in` in HWC order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FloatWeights {
    /// Per layer name.
    pub layers: HashMap<String, LayerWeights>,
}

/// One layer's float parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerWeights {
    /// Weights in the artifact's layout.
    pub weight: Vec<f32>,
    /// Bias (if the layer has one).
    pub bias: Option<Vec<f32>>,
    /// Batch norm `(gamma, beta, mean, var, eps)` (if the layer has one).
    pub bn: Option<crate::artifact::BatchNorm>,
}
