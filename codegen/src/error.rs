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
