//! `bsq import`: a float ONNX model becomes a model description ([`Description`]) plus its pretrained
//! float weights ([`FloatWeights`], saved beside it by [`crate::weights::save_npz`]). `docs/import.md` is
//! the user's page.
//!
//! The ONNX file is parsed by Burn's own ONNX front end, the `onnx-ir` crate (the 0.22 release that goes
//! with burn 0.22): it reads the protobuf, applies every opset's defaults, infers shapes, lifts the
//! initializers into typed constants and simplifies the graph (shape computations folded, `Identity`
//! removed, `Gemm`/`MatMul`+`Add` turned into `Linear`). This module keeps only our mapping from its
//! typed nodes to the description's layers, one arm per op in [`Importer::node`].
//!
//! The mapping, in short (every refusal names the file, the ONNX node and its op — [`ImportError`]):
//! * `Conv` → `conv2d` (any kernel, strides, explicit or `SAME_*` pads incl. asymmetric, groups; dilation
//!   1 only); `Gemm` (transA 0, transB 0/1, alpha, beta), `MatMul` with a constant weight (+ `Add` of a
//!   constant bias) → `dense`;
//! * a `BatchNormalization` that alone reads a conv/dense output is fused into it (`batch_norm = true`,
//!   its γ, β, running mean and variance and ε kept as weights, folded only at export);
//! * a `Relu` (or `Clip` with min 0 and no max) that alone reads a conv, dense or add output becomes its
//!   activation `"pact"` — a learned clip, the method's activation, initialised from the float model's
//!   activations; `Clip(0, 6)` becomes `"relu6"`. A ReLU after a max pool is moved before it (the two
//!   commute). A conv/dense/add with no ReLU gets activation `"none"` (a signed 8-bit tensor);
//! * `MaxPool`, `AveragePool` → `max_pool` / `avg_pool`; `GlobalAveragePool` → `global_avg_pool`; `Add` of
//!   two tensors → `add`; `Concat` on the channel axis → `concat`; `Flatten` and a `Reshape` to `[N, -1]`
//!   make no layer of their own (a dense reads any tensor, flattened); `Dropout`/`Identity` pass through;
//!   a `Softmax`/`LogSoftmax` that is the network's last op is dropped (bsq trains on the logits; the
//!   argmax is the same).
//!
//! Layout: ONNX tensors are NCHW, descriptions and artifacts HWC. Conv weights are permuted
//! `[out][in/g][k_h][k_w]` → `[out][k_h][k_w][in/g]`; a dense that reads a flattened `C×H×W` tensor has
//! its weight columns permuted from CHW order (`c·H·W + y·W + x`) to HWC order (`(y·W + x)·C + c`).
//!
//! Layer names come from the ONNX node names, sanitised (`/layer1/layer1.0/conv1/Conv`, as PyTorch
//! writes them, becomes `layer1.0.conv1`), made unique, and never `input`. onnx-ir renames every node
//! (`conv2d1`, `linear2`, …), so the original names are read from the same file with onnx-ir's own
//! protobuf bindings and matched to the typed nodes in graph order ([`original_names`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use bsq_codegen::artifact::BatchNorm;
use bsq_codegen::desc::{
    self, Activation, AddSpec, ConcatSpec, ConvSpec, DataShape, DenseSpec, Description, FloatWeights, LayerSpec,
    LayerWeights, Padding, Pair, PoolSpec, UnarySpec,
};
use onnx_ir::node::clip::ClipInput;
use onnx_ir::node::padding::{AutoPad, PaddingConfig2d};
use onnx_ir::node::reshape::ReshapeInput;
use onnx_ir::{ArgType, Argument, Message, ModelProto, Node, OnnxGraph, OnnxGraphBuilder, TensorDataExt};

/// The ONNX ops `bsq import` maps (besides `Constant`, which only holds values).
pub const SUPPORTED_OPS: [&str; 15] = [
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "BatchNormalization",
    "Relu",
    "Clip",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Concat",
    "Flatten",
    "Reshape",
    "Dropout",
    "Identity",
];

/// Why an ONNX model could not be imported. Every message names the file; those about one node name the
/// node (its ONNX name) and its op.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not an ONNX model the parser can read (garbage, truncated, or malformed): the parser's message.
    #[error("{}: not a readable ONNX model: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        message: String,
    },
    /// An op with no counterpart in the description format.
    #[error(
        "{}: node `{node}` ({op}): op {op} is not supported; bsq imports {} (and drops a final Softmax)",
        path.display(),
        SUPPORTED_OPS.join(", ")
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The node's ONNX name.
        node: String,
        /// The op.
        op: String,
    },
    /// An input or tensor whose height, width or channels are not fixed in the file.
    #[error(
        "{}: {node} ({op}): shape {shape} is not static: bsq needs a fixed channels × height × width \
         (only the batch may be symbolic); export the model with a fixed input size",
        path.display()
    )]
    DynamicShape {
        /// The file.
        path: PathBuf,
        /// The graph input or node.
        node: String,
        /// `graph input` or the node's op.
        op: String,
        /// The shape as the file has it (`?` for a symbolic dimension).
        shape: String,
    },
    /// A dilated convolution or pooling.
    #[error("{}: node `{node}` ({op}): dilation {dilation:?} is not supported (only 1)", path.display())]
    Dilation {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// The op.
        op: String,
        /// The dilation.
        dilation: [usize; 2],
    },
    /// A `Clip` that is neither a ReLU (`min 0`) nor a ReLU6 (`min 0, max 6`).
    #[error(
        "{}: node `{node}` (Clip): bounds [{}, {}] are not supported: only Clip(0, 6) (ReLU6) and Clip(0) \
         (ReLU) map to an activation",
        path.display(),
        fmt_bound(*min),
        fmt_bound(*max)
    )]
    ClipBounds {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// Lower bound (`None`: none).
        min: Option<f64>,
        /// Upper bound (`None`: none).
        max: Option<f64>,
    },
    /// A `Reshape` other than a flatten to `[N, features]`.
    #[error(
        "{}: node `{node}` (Reshape): {message}; only a flatten to [N, -1] (or [N, features]) is supported",
        path.display()
    )]
    NotFlatten {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// What the reshape does.
        message: String,
    },
    /// A weight, bias or batch-norm parameter computed at run time instead of stored in the file.
    #[error(
        "{}: node `{node}` ({op}): its {what} is not a constant (an initializer or Constant): bsq imports \
         stored weights only",
        path.display()
    )]
    NonConstant {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// The op.
        op: String,
        /// Which input (`weight`, `bias`, `batch-norm scale`, …).
        what: String,
    },
    /// Any other node that cannot be mapped (a fusion that is not possible, an unsupported attribute).
    #[error("{}: node `{node}` ({op}): {message}", path.display())]
    Node {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// The op.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// The graph as a whole (inputs, outputs).
    #[error("{}: {message}", path.display())]
    Graph {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The imported description is not one bsq can train (e.g. a conv reading a tensor without ReLU).
    #[error("{}: the imported network is not a valid bsq model: {source}", path.display())]
    Description {
        /// The ONNX file.
        path: PathBuf,
        /// The description's own error (layer and field).
        source: desc::DescError,
    },
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map_or("none".to_string(), |v| format!("{v}"))
}

/// An imported model.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The description (its `weights` field empty: the caller names the `.npz` it writes).
    pub description: Description,
    /// The float weights, in the artifact's layouts.
    pub weights: FloatWeights,
    /// The number of network outputs (the output layer's size), i.e. the [`DataShape::outputs`] the
    /// description resolves with.
    pub outputs: usize,
}

/// Imports an ONNX model: its description (named `name`, else after the file) and its float weights in
/// the artifact's layouts. The description's `weights` field is left empty (the caller names the `.npz`
/// it writes). The result is checked with [`Description::resolve`] against the model's own input shape
/// and output size.
pub fn import(path: &Path, name: Option<&str>) -> Result<(Description, FloatWeights), ImportError> {
    import_model(path, name).map(|m| (m.description, m.weights))
}

/// [`import`], with the number of outputs.
pub fn import_model(path: &Path, name: Option<&str>) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    import_bytes(&bytes, path, name)
}

/// [`import_model`] of a model already in memory; `path` names it in errors (and gives the default name).
pub fn import_bytes(bytes: &[u8], path: &Path, name: Option<&str>) -> Result<Imported, ImportError> {
    let malformed = |message: String| ImportError::Malformed { path: path.to_path_buf(), message };
    // onnx-ir's protobuf reader and graph passes are not written for hostile input: on some malformed
    // files they panic instead of returning an error. `catch_unwind` turns such a panic into an
    // `ImportError::Malformed` (the default panic hook still prints the panic message on stderr).
    let parsed = std::panic::catch_unwind(|| {
        let proto = ModelProto::parse_from_bytes(bytes).map_err(|e| e.to_string())?;
        let graph = OnnxGraphBuilder::new().parse_bytes(bytes).map_err(|e| e.to_string())?;
        Ok::<_, String>((proto, graph))
    });
    let (proto, graph) = match parsed {
        Ok(Ok(pg)) => pg,
        Ok(Err(message)) => return Err(malformed(message)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            return Err(malformed(format!("the ONNX parser failed on this file ({what})")));
        }
    };
    if proto.graph.node.is_empty() {
        return Err(malformed("the file holds no graph nodes (empty, or not an ONNX model)".into()));
    }
    let names = original_names(&proto, &graph);
    let model_name = name.map(str::to_string).unwrap_or_else(|| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let s = sanitize(&stem);
        if s.is_empty() { "imported".into() } else { s }
    });
    let mut imp = Importer::new(path, &graph, names)?;
    for (i, node) in graph.nodes.iter().enumerate() {
        if imp.live.contains(&i) {
            imp.node(i, node)?;
        }
    }
    imp.finish(model_name)
}

/// The ONNX op a typed node came from (onnx-ir splits `Conv` into `Conv2d`, … and fuses `Gemm` and
/// `MatMul`+`Add` into `Linear`).
fn onnx_op(node: &Node) -> String {
    match node {
        Node::Custom(c) => c.op_type.clone(),
        Node::Linear(l) if l.config.transpose_weight => "Gemm".into(),
        Node::Linear(_) => "MatMul".into(),
        _ => {
            let t = node.node_type().to_string();
            for (prefix, op) in [
                ("ConvTranspose", "ConvTranspose"),
                ("Conv", "Conv"),
                ("MaxPool", "MaxPool"),
                ("AveragePool", "AveragePool"),
                ("LpPool", "LpPool"),
            ] {
                if t.starts_with(prefix) && t.len() <= prefix.len() + 2 {
                    return op.into();
                }
            }
            t
        }
    }
}

/// The original ONNX name (and op) of each typed node, by index.
///
/// onnx-ir renames every node after its type (`conv2d1`) and keeps no trace of the original name, but it
/// keeps the nodes in the file's order, only dropping some (constants lifted into their readers,
/// `Identity`, nodes folded or found dead) and fusing a `MatMul` with the `Add` right after it. So the
/// typed nodes are matched in order to the file's nodes of the same op, each match searching forward from
/// the previous one; a node with no match (created by a simplification) keeps onnx-ir's name. The names
/// only label layers: a mismatch could misname a layer, never change the network.
fn original_names(proto: &ModelProto, graph: &OnnxGraph) -> Vec<(String, String)> {
    let file_nodes = &proto.graph.node;
    let mut cursor = 0;
    let mut out = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let op = onnx_op(node);
        let fallback = (node.name().to_string(), op.clone());
        if matches!(node, Node::Constant(_)) {
            out.push(fallback);
            continue;
        }
        // A `Linear` came from a `Gemm` or a `MatMul` (its `transpose_weight` tells which, but a Gemm with
        // transB = 0 would pass for a MatMul): either is accepted.
        let accepts = |file_op: &str| {
            file_op.eq_ignore_ascii_case(&op)
                || (matches!(node, Node::Linear(_)) && matches!(file_op, "Gemm" | "MatMul"))
        };
        match file_nodes.iter().enumerate().skip(cursor).find(|(_, n)| accepts(&n.op_type)) {
            Some((k, n)) => {
                cursor = k + 1;
                // A MatMul fused with the following Add (the bias) consumed that Add too.
                if n.op_type == "MatMul"
                    && node.inputs().len() == 3
                    && file_nodes.get(k + 1).is_some_and(|a| a.op_type == "Add")
                {
                    cursor += 1;
                }
                let name = if n.name.is_empty() { fallback.0 } else { n.name.clone() };
                out.push((name, n.op_type.clone()));
            }
            None => out.push(fallback),
        }
    }
    out
}

/// A layer name from an ONNX node name: the PyTorch scope path (`/layer1/layer1.0/conv1/Conv`) becomes
/// the module path (`layer1.0.conv1`); characters other than letters, digits, `_`, `-` and `.` become `_`.
fn layer_name(raw: &str, op: &str) -> String {
    let mut segs: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() > 1
        && let Some(last) = segs.last()
        && last.split('_').next().is_some_and(|head| head.eq_ignore_ascii_case(op))
    {
        segs.pop();
    }
    let mut path: Vec<&str> = Vec::new();
    for seg in segs {
        match path.last_mut() {
            // `layer1` then `layer1.0`: the second is the full module path.
            Some(prev)
                if seg.len() > prev.len() + 1 && seg.starts_with(*prev) && seg.as_bytes()[prev.len()] == b'.' =>
            {
                *prev = seg
            }
            _ => path.push(seg),
        }
    }
    sanitize(&path.join("."))
}

fn sanitize(s: &str) -> String {
    let s: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' }).collect();
    s.trim_matches(|c| c == '.' || c == '_').to_string()
}

/// A tensor's shape in the description's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dims {
    /// A 4-D `[N, C, H, W]` tensor: `[H, W, C]`.
    Image([usize; 3]),
    /// A 2-D `[N, F]` tensor; `from`: the `[H, W, C]` it was flattened from (in CHW order), if any.
    Flat { n: usize, from: Option<[usize; 3]> },
}

impl Dims {
    fn features(self) -> usize {
        match self {
            Dims::Image([h, w, c]) => h * w * c,
            Dims::Flat { n, .. } => n,
        }
    }

    /// Whether the flat element order of the ONNX tensor differs from the description's (HWC).
    fn chw_order_differs(self) -> bool {
        match self {
            Dims::Image([h, w, _]) | Dims::Flat { from: Some([h, w, _]), .. } => h * w > 1,
            Dims::Flat { from: None, .. } => false,
        }
    }
}

/// What an ONNX tensor is in the description.
#[derive(Debug, Clone, Copy)]
struct Val {
    /// The layer whose output it is (`None`: the network input).
    src: Option<usize>,
    dims: Dims,
    /// The layer a ReLU reading this tensor (alone) may become the activation of.
    relu_to: Option<usize>,
    /// The conv/dense a BatchNormalization reading this tensor (alone) may be fused into.
    bn_to: Option<usize>,
    /// The conv/dense an Add of a constant reading this tensor (alone) may become the bias of.
    bias_to: Option<usize>,
}

struct Layer {
    spec: LayerSpec,
    weights: Option<LayerWeights>,
    /// A float bias (conv/dense).
    has_bias: bool,
}

struct Importer<'a> {
    path: &'a Path,
    /// `(original name, ONNX op)` per typed node.
    names: Vec<(String, String)>,
    /// Indices of the nodes the output depends on.
    live: HashSet<usize>,
    /// How many live nodes (and graph outputs) read each tensor.
    readers: HashMap<String, usize>,
    vals: HashMap<String, Val>,
    layers: Vec<Layer>,
    used: HashSet<String>,
    input: [usize; 3],
    graph_output: String,
}

fn shape_text(ty: &ArgType) -> String {
    match ty.static_shape() {
        Some(dims) => {
            let d: Vec<String> = dims.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
            format!("[{}]", d.join(", "))
        }
        None => format!("(rank {}, sizes unknown)", ty.rank()),
    }
}

impl<'a> Importer<'a> {
    fn new(path: &'a Path, graph: &OnnxGraph, names: Vec<(String, String)>) -> Result<Self, ImportError> {
        let gerr = |message: String| ImportError::Graph { path: path.to_path_buf(), message };
        let [input] = graph.inputs.as_slice() else {
            return Err(gerr(format!(
                "the graph has {} inputs ({}): bsq networks have one (an image or a feature vector)",
                graph.inputs.len(),
                graph.inputs.iter().map(|i| format!("`{}`", i.name)).collect::<Vec<_>>().join(", ")
            )));
        };
        let [output] = graph.outputs.as_slice() else {
            return Err(gerr(format!("the graph has {} outputs: bsq networks have one", graph.outputs.len())));
        };
        let dynamic = || ImportError::DynamicShape {
            path: path.to_path_buf(),
            node: format!("graph input `{}`", input.name),
            op: "NCHW".into(),
            shape: shape_text(&input.ty),
        };
        let dims = input.ty.static_shape().ok_or_else(dynamic)?;
        let known = |d: &Option<usize>| d.ok_or_else(dynamic);
        let dims = match dims.as_slice() {
            [_, c, h, w] => Dims::Image([known(h)?, known(w)?, known(c)?]),
            [_, f] => Dims::Flat { n: known(f)?, from: None },
            _ => {
                return Err(gerr(format!(
                    "graph input `{}` has shape {}: bsq reads an image [N, C, H, W] or a vector [N, F]",
                    input.name,
                    shape_text(&input.ty)
                )));
            }
        };
        if dims.features() == 0 {
            return Err(gerr(format!("graph input `{}` has an empty shape {}", input.name, shape_text(&input.ty))));
        }
        let input_hwc = match dims {
            Dims::Image(s) => s,
            Dims::Flat { n, .. } => [1, 1, n],
        };
        // Liveness: the nodes the output depends on, through data inputs only (a Reshape's target shape
        // may be computed by Shape/Gather/… nodes that are then no part of the network).
        let producer: HashMap<&str, usize> = graph
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.outputs().iter().map(move |o| (o.name.as_str(), i)))
            .collect();
        let data_inputs = |n: &Node| -> Vec<String> {
            let args: &[Argument] = match n {
                Node::Reshape(r) => &r.inputs[..r.inputs.len().min(1)],
                _ => n.inputs(),
            };
            args.iter().filter(|a| a.is_dynamic()).map(|a| a.name.clone()).collect()
        };
        let mut live = HashSet::new();
        let mut stack = vec![output.name.clone()];
        while let Some(t) = stack.pop() {
            if let Some(&i) = producer.get(t.as_str())
                && live.insert(i)
            {
                stack.extend(data_inputs(&graph.nodes[i]));
            }
        }
        let mut readers: HashMap<String, usize> = HashMap::new();
        *readers.entry(output.name.clone()).or_default() += 1;
        for &i in &live {
            for a in data_inputs(&graph.nodes[i]) {
                *readers.entry(a).or_default() += 1;
            }
        }
        let mut vals = HashMap::new();
        vals.insert(input.name.clone(), Val { src: None, dims, relu_to: None, bn_to: None, bias_to: None });
        Ok(Importer {
            path,
            names,
            live,
            readers,
            vals,
            layers: Vec::new(),
            used: HashSet::new(),
            input: input_hwc,
            graph_output: output.name.clone(),
        })
    }

    fn readers(&self, arg: &Argument) -> usize {
        self.readers.get(&arg.name).copied().unwrap_or(0)
    }

    /// A unique layer name for node `i`.
    fn fresh_name(&mut self, i: usize) -> String {
        let (raw, op) = &self.names[i];
        let mut base = layer_name(raw, op);
        if base.is_empty() {
            base = op.to_lowercase();
        }
        let mut name = base.clone();
        let mut k = 2;
        while name == "input" || self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// The description name of a tensor's source.
    fn src_name(&self, v: &Val) -> String {
        v.src.map_or("input".to_string(), |l| self.layers[l].spec.name().to_string())
    }

    /// `Some(name)` unless the tensor is the previous layer's output (the description's default input).
    fn input_field(&self, v: &Val) -> Option<String> {
        let default = if self.layers.is_empty() { None } else { Some(self.layers.len() - 1) };
        if v.src == default { None } else { Some(self.src_name(v)) }
    }

    fn push(&mut self, spec: LayerSpec, weights: Option<LayerWeights>, has_bias: bool) -> usize {
        self.layers.push(Layer { spec, weights, has_bias });
        self.layers.len() - 1
    }

    fn node(&mut self, i: usize, node: &Node) -> Result<(), ImportError> {
        let (onnx_name, op) = self.names[i].clone();
        let path = self.path.to_path_buf();
        let refuse = |message: String| ImportError::Node {
            path: path.clone(),
            node: onnx_name.clone(),
            op: op.clone(),
            message,
        };
        let non_constant = |what: &str| ImportError::NonConstant {
            path: path.clone(),
            node: onnx_name.clone(),
            op: op.clone(),
            what: what.into(),
        };
        let dilation = |d: [usize; 2]| ImportError::Dilation {
            path: path.clone(),
            node: onnx_name.clone(),
            op: op.clone(),
            dilation: d,
        };
        let inputs = node.inputs();
        // A stored input's values as `f32`, with its shape.
        let stored = |a: Option<&Argument>, what: &str| -> Result<(Vec<f32>, Vec<usize>), ImportError> {
            let data = a.and_then(Argument::value).ok_or_else(|| non_constant(what))?;
            let shape: Vec<usize> = data.shape().iter().copied().collect();
            let v = data.to_f32_vec().map_err(|e| refuse(format!("its {what} cannot be read as numbers: {e:?}")))?;
            if v.len() != shape.iter().product::<usize>() {
                return Err(refuse(format!("its {what} holds {} values for the shape {shape:?}", v.len())));
            }
            Ok((v, shape))
        };
        let get = |k: usize| -> Result<Val, ImportError> {
            let a = inputs.get(k).ok_or_else(|| refuse(format!("input {k} is missing")))?;
            if !a.is_dynamic() {
                return Err(refuse(format!("input {k} is a constant where a tensor of the network is expected")));
            }
            self.vals
                .get(&a.name)
                .copied()
                .ok_or_else(|| refuse(format!("reads `{}`, which comes from a node bsq did not import", a.name)))
        };
        let image = |v: Val| -> Result<[usize; 3], ImportError> {
            match v.dims {
                Dims::Image(s) => Ok(s),
                Dims::Flat { n, .. } => {
                    Err(refuse(format!("reads a flat [N, {n}] tensor: {op} needs an image [N, C, H, W]")))
                }
            }
        };
        let alone_v: Vec<bool> = inputs.iter().map(|a| self.readers(a) == 1).collect();
        let alone = |k: usize| alone_v.get(k).copied().unwrap_or(false);
        let out_name = node.outputs().first().map(|o| o.name.clone()).unwrap_or_default();
        let val = match node {
            Node::Conv2d(n) => {
                let c = &n.config;
                if c.dilation != [1, 1] {
                    return Err(dilation(c.dilation));
                }
                let x = get(0)?;
                let [h, w, ci] = image(x)?;
                let (wv, ws) = stored(inputs.get(1), "weight")?;
                let [o, ig, kh, kw] = ws[..] else {
                    return Err(refuse(format!("weight shape {ws:?} is not [out, in/groups, k_h, k_w]")));
                };
                let g = c.groups.max(1);
                if ci % g != 0 || ci / g != ig || o % g != 0 {
                    return Err(refuse(format!(
                        "weight {ws:?} with {g} groups does not fit the input's {ci} channels"
                    )));
                }
                let bias = match inputs.get(2).filter(|a| !a.is_optional()) {
                    Some(a) => Some(stored(Some(a), "bias")?.0),
                    None => None,
                };
                if bias.as_ref().is_some_and(|b| b.len() != o) {
                    return Err(refuse(format!(
                        "bias has {} values for {o} output channels",
                        bias.map_or(0, |b| b.len())
                    )));
                }
                let pad = pads(&c.auto_pad, &c.padding, [h, w], [kh, kw], c.stride);
                out_size([h, w], [kh, kw], c.stride, pad, false)
                    .ok_or_else(|| refuse(format!("kernel {:?} does not fit the padded {h}×{w} input", [kh, kw])))?;
                // OIHW → [out][kh][kw][in/g].
                let mut wt = vec![0f32; wv.len()];
                for oc in 0..o {
                    for ic in 0..ig {
                        for y in 0..kh {
                            for xx in 0..kw {
                                wt[((oc * kh + y) * kw + xx) * ig + ic] = wv[((oc * ig + ic) * kh + y) * kw + xx];
                            }
                        }
                    }
                }
                let [oh, ow] = out_size([h, w], [kh, kw], c.stride, pad, false).unwrap_or([1, 1]);
                let spec = ConvSpec {
                    name: self.fresh_name(i),
                    input: self.input_field(&x),
                    out_channels: o,
                    kernel: pair([kh, kw]),
                    stride: (c.stride != [1, 1]).then(|| pair(c.stride)),
                    padding: padding(pad),
                    groups: (g != 1).then_some(g),
                    bias: None,
                    batch_norm: false,
                    activation: Activation::None,
                    act_bits: None,
                    bsq: true,
                };
                let has_bias = bias.is_some();
                let l = self.push(LayerSpec::Conv2d(spec), Some(LayerWeights { weight: wt, bias, bn: None }), has_bias);
                Val {
                    src: Some(l),
                    dims: Dims::Image([oh, ow, o]),
                    relu_to: Some(l),
                    bn_to: Some(l),
                    bias_to: (!has_bias).then_some(l),
                }
            }
            Node::Linear(_) | Node::Gemm(_) | Node::MatMul(_) => {
                // The weight as [out][in] and the bias, whatever the op's conventions.
                let (wt, out, inn, bias) = match node {
                    Node::Linear(n) => {
                        let (wv, ws) = stored(inputs.get(1), "weight")?;
                        let [a, b] = ws[..] else { return Err(refuse(format!("weight shape {ws:?} is not 2-D"))) };
                        let (wt, out, inn) =
                            if n.config.transpose_weight { (wv, a, b) } else { (transpose(&wv, a, b), b, a) };
                        let bias = match inputs.get(2).filter(|a| !a.is_optional()) {
                            Some(a) => Some(stored(Some(a), "bias")?.0),
                            None => None,
                        };
                        (wt, out, inn, bias)
                    }
                    Node::Gemm(n) => {
                        let c = &n.config;
                        if c.trans_a != 0 {
                            return Err(refuse("transA = 1 is not supported (the input must be [N, features])".into()));
                        }
                        let (wv, ws) = stored(inputs.get(1), "weight (B)")?;
                        let [a, b] = ws[..] else { return Err(refuse(format!("weight shape {ws:?} is not 2-D"))) };
                        let (wt, out, inn) = if c.trans_b != 0 { (wv, a, b) } else { (transpose(&wv, a, b), b, a) };
                        let wt: Vec<f32> = wt.iter().map(|v| v * c.alpha).collect();
                        let bias = match inputs.get(2).filter(|a| !a.is_optional()) {
                            Some(a) => {
                                let (cv, _) = stored(Some(a), "bias (C)")?;
                                let cv = broadcast(&cv, out).ok_or_else(|| {
                                    refuse(format!("bias (C) has {} values: expected 1 or {out}", cv.len()))
                                })?;
                                Some(cv.iter().map(|v| v * c.beta).collect())
                            }
                            None => None,
                        };
                        (wt, out, inn, bias)
                    }
                    _ => {
                        let (wv, ws) = stored(inputs.get(1), "weight (second operand)")?;
                        let [a, b] = ws[..] else { return Err(refuse(format!("weight shape {ws:?} is not 2-D"))) };
                        (transpose(&wv, a, b), b, a, None)
                    }
                };
                let x = get(0)?;
                let Dims::Flat { n: features, from } = x.dims else {
                    return Err(refuse(format!(
                        "reads a 4-D tensor: {op} multiplies the last axis only; flatten the tensor first \
                         (Flatten or Reshape to [N, -1])"
                    )));
                };
                if features != inn {
                    return Err(refuse(format!("weight has {inn} input features, the input has {features}")));
                }
                if bias.as_ref().is_some_and(|b| b.len() != out) {
                    return Err(refuse(format!("bias has {} values for {out} outputs", bias.map_or(0, |b| b.len()))));
                }
                // Columns from CHW order to the description's HWC order.
                let wt = match from {
                    Some([h, w, c]) if h * w > 1 => {
                        let mut p = vec![0f32; wt.len()];
                        for o in 0..out {
                            for ch in 0..c {
                                for yx in 0..h * w {
                                    p[o * inn + yx * c + ch] = wt[o * inn + ch * h * w + yx];
                                }
                            }
                        }
                        p
                    }
                    _ => wt,
                };
                let has_bias = bias.is_some();
                let spec = DenseSpec {
                    name: self.fresh_name(i),
                    input: self.input_field(&x),
                    out_features: Some(out),
                    bias: has_bias,
                    batch_norm: false,
                    activation: Activation::None,
                    act_bits: None,
                    bsq: true,
                };
                let l = self.push(LayerSpec::Dense(spec), Some(LayerWeights { weight: wt, bias, bn: None }), has_bias);
                Val {
                    src: Some(l),
                    dims: Dims::Flat { n: out, from: None },
                    relu_to: Some(l),
                    bn_to: Some(l),
                    bias_to: (!has_bias).then_some(l),
                }
            }
            Node::BatchNormalization(n) => {
                let x = get(0)?;
                let target = x.bn_to.filter(|_| alone(0)).ok_or_else(|| {
                    refuse(
                        "a BatchNormalization must directly follow a Conv or Gemm/MatMul whose output it alone reads \
                         (it is fused into that layer; bsq has no standalone batch norm)"
                            .into(),
                    )
                })?;
                let mut p = Vec::new();
                for (k, what) in [(1, "scale (γ)"), (2, "bias (β)"), (3, "running mean"), (4, "running variance")] {
                    p.push(stored(inputs.get(k), what)?.0);
                }
                let eps = match &n.config {
                    onnx_ir::node::batch_norm::BatchNormConfig::Static(c) => c.epsilon,
                    onnx_ir::node::batch_norm::BatchNormConfig::Runtime(c) => c.epsilon,
                } as f32;
                let channels = x.dims.features()
                    / match x.dims {
                        Dims::Image([h, w, _]) => h * w,
                        Dims::Flat { .. } => 1,
                    };
                if p.iter().any(|v| v.len() != channels) {
                    return Err(refuse(format!(
                        "parameters of {:?} values for {channels} channels",
                        p.iter().map(Vec::len).collect::<Vec<_>>()
                    )));
                }
                let [gamma, beta, mean, var] = <[Vec<f32>; 4]>::try_from(p).unwrap_or_default();
                let layer = &mut self.layers[target];
                match &mut layer.spec {
                    LayerSpec::Conv2d(c) => c.batch_norm = true,
                    LayerSpec::Dense(d) => d.batch_norm = true,
                    _ => {}
                }
                if let Some(w) = &mut layer.weights {
                    w.bn = Some(BatchNorm { gamma, beta, mean, var, eps });
                }
                Val { relu_to: Some(target), bn_to: None, bias_to: None, ..x }
            }
            Node::Relu(_) | Node::Clip(_) => {
                let act = match node {
                    Node::Clip(n) => {
                        let bound = |b: &Option<ClipInput>| match b {
                            None => Ok(None),
                            Some(ClipInput::Static(v)) => Ok(Some(*v)),
                            Some(ClipInput::Runtime(_)) => Err(non_constant("bound")),
                        };
                        let (min, max) = (bound(&n.config.min)?, bound(&n.config.max)?);
                        match (min, max) {
                            (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Activation::Relu6,
                            (Some(0.0), None) => Activation::Pact,
                            (Some(lo), Some(hi)) if lo == 0.0 && hi == f64::INFINITY => Activation::Pact,
                            _ => {
                                return Err(ImportError::ClipBounds { path, node: onnx_name, min, max });
                            }
                        }
                    }
                    _ => Activation::Pact,
                };
                let x = get(0)?;
                let target = x.relu_to.filter(|_| alone(0)).ok_or_else(|| {
                    refuse(format!(
                        "this {op} reads {}: a ReLU becomes the activation of the Conv, Gemm/MatMul (after its \
                         BatchNormalization, if any) or Add whose output it alone reads",
                        match x.src {
                            None => "the network input".to_string(),
                            Some(l) => format!(
                                "the output of `{}`, which is shared or already activated",
                                self.layers[l].spec.name()
                            ),
                        }
                    ))
                })?;
                match &mut self.layers[target].spec {
                    LayerSpec::Conv2d(c) => c.activation = act,
                    LayerSpec::Dense(d) => d.activation = act,
                    LayerSpec::Add(a) => a.activation = act,
                    _ => {}
                }
                Val { relu_to: None, bn_to: None, bias_to: None, ..x }
            }
            Node::MaxPool2d(_) | Node::AveragePool2d(_) => {
                let a = match node {
                    Node::MaxPool2d(n) => PoolAttrs::new(
                        &n.config.kernel_size,
                        n.config.strides,
                        n.config.dilation,
                        &n.config.auto_pad,
                        &n.config.padding,
                        n.config.ceil_mode,
                        true,
                    ),
                    Node::AveragePool2d(n) => PoolAttrs::new(
                        &n.config.kernel_size,
                        n.config.strides,
                        n.config.dilation,
                        &n.config.auto_pad,
                        &n.config.padding,
                        n.config.ceil_mode,
                        n.config.count_include_pad,
                    ),
                    _ => return Err(ImportError::Unsupported { path, node: onnx_name, op }),
                };
                let (kernel, stride, dil, ceil) = (a.kernel, a.stride, a.dilation, a.ceil);
                if dil != [1, 1] {
                    return Err(dilation(dil));
                }
                let x = get(0)?;
                let [h, w, c] = image(x)?;
                let pad = pads(&a.auto_pad, &a.padding, [h, w], kernel, stride);
                let [oh, ow] = out_size([h, w], kernel, stride, pad, false)
                    .ok_or_else(|| refuse(format!("window {kernel:?} does not fit the padded {h}×{w} input")))?;
                if ceil && out_size([h, w], kernel, stride, pad, true) != Some([oh, ow]) {
                    return Err(refuse(
                        "ceil_mode = 1 gives a larger output than bsq's pooling (which rounds down) on this input"
                            .into(),
                    ));
                }
                let is_max = matches!(node, Node::MaxPool2d(_));
                if !is_max && a.count_include_pad && pad.iter().any(|&p| p > 0) {
                    return Err(refuse(
                        "padded average pooling with count_include_pad = 1 is not supported (bsq divides by the \
                         window's input cells only: count_include_pad = 0, PyTorch AvgPool2d(count_include_pad=False), \
                         Keras AveragePooling2D(padding=\"same\"))"
                            .into(),
                    ));
                }
                let spec = PoolSpec {
                    name: self.fresh_name(i),
                    input: self.input_field(&x),
                    kernel: pair(kernel),
                    stride: (stride != kernel).then(|| pair(stride)),
                    padding: padding(pad),
                };
                let l =
                    self.push(if is_max { LayerSpec::MaxPool(spec) } else { LayerSpec::AvgPool(spec) }, None, false);
                // max(relu(x)) = relu(max(x)): a ReLU after a max pool may become the activation before it.
                let relu_to = if is_max && alone(0) { x.relu_to } else { None };
                Val { src: Some(l), dims: Dims::Image([oh, ow, c]), relu_to, bn_to: None, bias_to: None }
            }
            Node::GlobalAveragePool(_) => {
                let x = get(0)?;
                let [_, _, c] = image(x)?;
                let spec = UnarySpec { name: self.fresh_name(i), input: self.input_field(&x) };
                let l = self.push(LayerSpec::GlobalAvgPool(spec), None, false);
                Val { src: Some(l), dims: Dims::Image([1, 1, c]), relu_to: None, bn_to: None, bias_to: None }
            }
            Node::Flatten(n) => {
                let x = get(0)?;
                if n.config.axis != 1 {
                    return Err(refuse(format!("axis {} is not supported (only 1: [N, rest])", n.config.axis)));
                }
                flattened(x, alone(0))
            }
            Node::Reshape(n) => {
                let x = get(0)?;
                let f = x.dims.features();
                let not_flatten =
                    |message: String| ImportError::NotFlatten { path: path.clone(), node: onnx_name.clone(), message };
                match &n.config.shape {
                    ReshapeInput::Static(s) => {
                        let ok = match s[..] {
                            [b, -1] => matches!(b, 0 | 1),
                            [b, t] => matches!(b, -1..=1) && t == f as i64,
                            _ => false,
                        };
                        if !ok {
                            return Err(not_flatten(format!(
                                "target shape {s:?} on a tensor of {f} features per sample"
                            )));
                        }
                    }
                    ReshapeInput::Runtime(_) => {
                        let out = node.outputs().first().map(|o| &o.ty);
                        let known = out.and_then(|t| t.static_shape()).is_some_and(|s| s.len() == 2 && s[1] == Some(f));
                        if !known {
                            return Err(not_flatten(format!(
                                "its target shape is computed at run time and gives {}",
                                out.map_or("an unknown shape".into(), shape_text)
                            )));
                        }
                    }
                }
                flattened(x, alone(0))
            }
            Node::Add(_) => {
                let (a0, a1) = (inputs.first(), inputs.get(1));
                let is_const = |a: Option<&Argument>| a.is_some_and(|a| !a.is_dynamic());
                if is_const(a0) || is_const(a1) {
                    // A constant bias added to a conv/dense without one.
                    let (k, c) = if is_const(a1) { (0, a1) } else { (1, a0) };
                    let x = get(k)?;
                    let (cv, _) = stored(c, "addend")?;
                    let target = x.bias_to.filter(|_| alone(k)).ok_or_else(|| {
                        refuse("adds a constant to a tensor that is not the output of a Conv or MatMul without bias (read by this Add alone)".into())
                    })?;
                    let out = match x.dims {
                        Dims::Image([_, _, c]) => c,
                        Dims::Flat { n, .. } => n,
                    };
                    let bias = broadcast(&cv, out).ok_or_else(|| {
                        refuse(format!("the constant has {} values: a per-channel bias needs 1 or {out}", cv.len()))
                    })?;
                    let layer = &mut self.layers[target];
                    layer.has_bias = true;
                    if let LayerSpec::Dense(d) = &mut layer.spec {
                        d.bias = true;
                    }
                    if let Some(w) = &mut layer.weights {
                        w.bias = Some(bias);
                    }
                    Val { bias_to: None, ..x }
                } else {
                    let (x, y) = (get(0)?, get(1)?);
                    if x.dims != y.dims {
                        return Err(refuse(format!(
                            "adds tensors of shapes {:?} and {:?}: bsq adds equal shapes",
                            x.dims, y.dims
                        )));
                    }
                    if x.dims.chw_order_differs() && matches!(x.dims, Dims::Flat { .. }) {
                        return Err(refuse("adds flattened images: add them before flattening".into()));
                    }
                    let spec = AddSpec {
                        name: self.fresh_name(i),
                        inputs: [self.src_name(&x), self.src_name(&y)],
                        activation: Activation::None,
                        act_bits: None,
                    };
                    let dims = match x.dims {
                        Dims::Flat { n, .. } => Dims::Flat { n, from: None },
                        d => d,
                    };
                    let l = self.push(LayerSpec::Add(spec), None, false);
                    Val { src: Some(l), dims, relu_to: Some(l), bn_to: None, bias_to: None }
                }
            }
            Node::Concat(n) => {
                let xs = (0..inputs.len()).map(get).collect::<Result<Vec<_>, _>>()?;
                let dims = match (n.config.axis, xs.first().map(|x| x.dims)) {
                    (1, Some(Dims::Image([h, w, _]))) => {
                        let mut c = 0;
                        for x in &xs {
                            match x.dims {
                                Dims::Image([xh, xw, xc]) if [xh, xw] == [h, w] => c += xc,
                                d => return Err(refuse(format!("concatenates {d:?} with a {h}×{w} image"))),
                            }
                        }
                        Dims::Image([h, w, c])
                    }
                    (1, Some(Dims::Flat { .. })) => {
                        if let Some(x) =
                            xs.iter().find(|x| x.dims.chw_order_differs() || matches!(x.dims, Dims::Image(_)))
                        {
                            return Err(refuse(format!(
                                "concatenates a flattened image ({:?}): concatenate before flattening",
                                x.dims
                            )));
                        }
                        Dims::Flat { n: xs.iter().map(|x| x.dims.features()).sum(), from: None }
                    }
                    (axis, _) => return Err(refuse(format!("axis {axis}: only the channel axis (1) is supported"))),
                };
                let spec =
                    ConcatSpec { name: self.fresh_name(i), inputs: xs.iter().map(|x| self.src_name(x)).collect() };
                let l = self.push(LayerSpec::Concat(spec), None, false);
                Val { src: Some(l), dims, relu_to: None, bn_to: None, bias_to: None }
            }
            Node::Dropout(_) | Node::Identity(_) => {
                let x = get(0)?;
                if alone(0) { x } else { Val { relu_to: None, bn_to: None, bias_to: None, ..x } }
            }
            // The network's last op may be a softmax: bsq trains on the logits before it (same argmax).
            Node::Softmax(_) | Node::LogSoftmax(_) if out_name == self.graph_output => {
                let x = get(0)?;
                if !matches!(x.dims, Dims::Flat { .. }) {
                    return Err(refuse("a softmax over an image tensor is not supported".into()));
                }
                Val { relu_to: None, bn_to: None, bias_to: None, ..x }
            }
            Node::Constant(_) => return Ok(()),
            _ => return Err(ImportError::Unsupported { path, node: onnx_name, op }),
        };
        self.vals.insert(out_name, val);
        Ok(())
    }

    fn finish(self, name: String) -> Result<Imported, ImportError> {
        let gerr = |message: String| ImportError::Graph { path: self.path.to_path_buf(), message };
        let out = self.vals.get(&self.graph_output).copied().ok_or_else(|| {
            gerr(format!("the graph output `{}` is not computed by any imported node", self.graph_output))
        })?;
        let Some(out_layer) = out.src else {
            return Err(gerr("the graph output is the input itself: there is no layer".into()));
        };
        if out.dims.chw_order_differs() && matches!(out.dims, Dims::Flat { .. }) {
            return Err(gerr(
                "the network output is a flattened image, whose element order would differ (CHW in ONNX, HWC in \
                 bsq): end the network with a dense layer or a global average pool"
                    .into(),
            ));
        }
        let mut weights = FloatWeights::default();
        let mut layers = Vec::new();
        for mut l in self.layers {
            if let LayerSpec::Conv2d(c) = &mut l.spec {
                // The description's default is a bias exactly when there is no batch norm.
                c.bias = (l.has_bias == c.batch_norm).then_some(l.has_bias);
            }
            if let Some(w) = l.weights {
                weights.layers.insert(l.spec.name().to_string(), w);
            }
            layers.push(l.spec);
        }
        let out_name = layers[out_layer].name().to_string();
        let output = (out_layer + 1 != layers.len()).then_some(out_name);
        let desc = Description {
            format: desc::FORMAT.into(),
            version: desc::VERSION,
            name,
            description: format!(
                "imported from {} by bsq import",
                self.path
                    .file_name()
                    .map_or_else(|| self.path.display().to_string(), |f| f.to_string_lossy().into_owned())
            ),
            input: desc::InputSpec { shape: Some(self.input), scale: None, zero_point: None },
            act_bits: None,
            weights: None,
            layers,
            output,
        };
        let outputs = out.dims.features();
        desc.resolve(DataShape { input: self.input, outputs }, None)
            .map_err(|source| ImportError::Description { path: self.path.to_path_buf(), source })?;
        Ok(Imported { description: desc, weights, outputs })
    }
}

/// The attributes of a max or average pooling.
struct PoolAttrs {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    auto_pad: AutoPad,
    padding: PaddingConfig2d,
    ceil: bool,
    count_include_pad: bool,
}

impl PoolAttrs {
    fn new(
        kernel: &[usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        auto_pad: &AutoPad,
        padding: &PaddingConfig2d,
        ceil: bool,
        count_include_pad: bool,
    ) -> Self {
        PoolAttrs {
            kernel: *kernel,
            stride,
            dilation,
            auto_pad: auto_pad.clone(),
            padding: padding.clone(),
            ceil,
            count_include_pad,
        }
    }
}

/// A Flatten/Reshape to `[N, features]`: no layer of its own, the tensor remembers the image it came from.
fn flattened(x: Val, alone: bool) -> Val {
    let dims = match x.dims {
        Dims::Image([h, w, c]) => Dims::Flat { n: h * w * c, from: Some([h, w, c]) },
        d => d,
    };
    // The values do not change: a ReLU after the flatten is still the layer's activation.
    Val { dims, relu_to: x.relu_to.filter(|_| alone), bn_to: None, bias_to: None, ..x }
}

/// `[top, left, bottom, right]` of a conv or pool.
fn pads(auto: &AutoPad, explicit: &PaddingConfig2d, hw: [usize; 2], k: [usize; 2], s: [usize; 2]) -> [usize; 4] {
    let same = |lower: bool| {
        let total = |i: usize| {
            let out = hw[i].div_ceil(s[i].max(1));
            ((out.max(1) - 1) * s[i] + k[i]).saturating_sub(hw[i])
        };
        let (v, h) = (total(0), total(1));
        if lower { [v - v / 2, h - h / 2, v / 2, h / 2] } else { [v / 2, h / 2, v - v / 2, h - h / 2] }
    };
    match auto {
        AutoPad::SameUpper => same(false),
        AutoPad::SameLower => same(true),
        AutoPad::Valid => [0; 4],
        AutoPad::NotSet => {
            let (t, l, b, r) = explicit.as_tuple();
            [t, l, b, r]
        }
    }
}

/// Output `[H, W]` of a window over a padded input (`None` when the window does not fit).
fn out_size(hw: [usize; 2], k: [usize; 2], s: [usize; 2], p: [usize; 4], ceil: bool) -> Option<[usize; 2]> {
    let one = |i: usize, a: usize, b: usize| {
        let padded = hw[i] + a + b;
        let span = padded.checked_sub(k[i])?;
        let s = s[i].max(1);
        Some(if ceil { span.div_ceil(s) } else { span / s } + 1)
    };
    Some([one(0, p[0], p[2])?, one(1, p[1], p[3])?])
}

fn pair([a, b]: [usize; 2]) -> Pair {
    if a == b { Pair::One(a) } else { Pair::Two([a, b]) }
}

fn padding([t, l, b, r]: [usize; 4]) -> Option<Padding> {
    if [t, l, b, r] == [0; 4] {
        None
    } else if t == l && l == b && b == r {
        Some(Padding::One(t))
    } else if t == b && l == r {
        Some(Padding::Two([t, l]))
    } else {
        Some(Padding::Four([t, l, b, r]))
    }
}

/// `[rows][cols]` → `[cols][rows]`.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// A per-channel vector of `n` values from a constant of `n` values or one value.
fn broadcast(v: &[f32], n: usize) -> Option<Vec<f32>> {
    match v.len() {
        1 => Some(vec![v[0]; n]),
        l if l == n => Some(v.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_follow_the_module_path() {
        assert_eq!(layer_name("/layer1/layer1.0/conv1/Conv", "Conv"), "layer1.0.conv1");
        assert_eq!(layer_name("/fc/Gemm", "Gemm"), "fc");
        assert_eq!(layer_name("/relu/Relu_1", "Relu"), "relu");
        assert_eq!(layer_name("conv 1", "Conv"), "conv_1");
        assert_eq!(layer_name("Conv_0", "Conv"), "Conv_0");
        assert_eq!(layer_name("", "Conv"), "");
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_where_the_mode_says() {
        assert_eq!(pads(&AutoPad::SameUpper, &PaddingConfig2d::Valid, [6, 6], [2, 2], [1, 1]), [0, 0, 1, 1]);
        assert_eq!(pads(&AutoPad::SameLower, &PaddingConfig2d::Valid, [6, 6], [2, 2], [1, 1]), [1, 1, 0, 0]);
        assert_eq!(
            pads(&AutoPad::NotSet, &PaddingConfig2d::Explicit(1, 0, 2, 3), [6, 6], [2, 2], [1, 1]),
            [1, 0, 2, 3]
        );
        assert_eq!(out_size([7, 7], [2, 2], [2, 2], [0; 4], false), Some([3, 3]));
        assert_eq!(out_size([7, 7], [2, 2], [2, 2], [0; 4], true), Some([4, 4]));
        assert_eq!(out_size([1, 1], [3, 3], [1, 1], [0; 4], false), None);
    }
}
