use std::path::PathBuf;

/// Why an artifact was refused. Every message names the place at fault (file, layer, field).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid JSON, or JSON of the wrong shape.
    #[error("{origin}: line {line}, column {column}: {message}")]
    Json {
        /// File name or `"<memory>"`.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde said.
        message: String,
    },
    /// The `format` field is not `"bsq-artifact"`.
    #[error("not a bsq artifact: format is {found:?}, expected \"bsq-artifact\"")]
    Format {
        /// The format found.
        found: String,
    },
    /// A version this crate cannot read.
    #[error("unsupported artifact version {found} (this bsq reads version {supported})")]
    Version {
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// A field of a layer (or of the model: layer `"<model>"`, or `"input"`) is invalid.
    #[error("layer `{layer}`, field `{field}`: {message}")]
    Field {
        /// Layer name.
        layer: String,
        /// Field path, e.g. `weight.values[17]`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ArtifactError {
    pub(crate) fn field(layer: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ArtifactError::Field { layer: layer.to_string(), field: field.into(), message: message.into() }
    }
}

/// Why code generation (or host execution) failed. Each message names the layer at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// The artifact is invalid.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A layer cannot be lowered to integers.
    #[error("layer `{layer}`: {message}")]
    Lowering {
        /// Layer name.
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// An accumulator could overflow `i32`: the model is refused.
    #[error("layer `{layer}`, channel {channel}: the i32 accumulator can reach {bound} > 2147483647 ({detail})")]
    AccumulatorOverflow {
        /// Layer name.
        layer: String,
        /// Output channel.
        channel: usize,
        /// The proven bound.
        bound: i128,
        /// Fan-in, weights, activation and bias magnitudes.
        detail: String,
    },
    /// The model does not fit the given flash or RAM budget.
    #[error(
        "model `{model}` needs {need} bytes of {memory} but the budget is {budget} bytes ({over} over); largest layers: {largest}"
    )]
    Budget {
        /// Model name.
        model: String,
        /// `"flash"` or `"RAM"`.
        memory: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes allowed.
        budget: usize,
        /// `need - budget`.
        over: usize,
        /// The largest contributors, `name (bytes)`.
        largest: String,
    },
    /// A kernel refused its arguments while executing on the host.
    #[error("layer `{layer}`: {source}")]
    Kernel {
        /// Layer name.
        layer: String,
        /// The runtime's error.
        source: bsq_runtime::Error,
    },
    /// The model input has the wrong length.
    #[error("model input has {got} bytes, expected {expected}")]
    InputLength {
        /// Expected bytes.
        expected: usize,
        /// Given bytes.
        got: usize,
    },
    /// Writing the generated source failed, or the build-script environment is incomplete.
    #[error("{path}: {message}")]
    Output {
        /// The file or variable.
        path: String,
        /// What went wrong.
        message: String,
    },
}
