//! The build-script API: `Builder::new("model.bsq.json").module_name("model").generate()` in `build.rs`
//! writes `$OUT_DIR/model.rs`, to be included with `include!`.

use std::path::{Path, PathBuf};

use crate::CodegenError;
use crate::artifact::Artifact;
use crate::exec::{Compiled, compile};
use crate::report::{Report, report};

/// Generates a model's Rust source from an artifact (for `build.rs` and the CLI).
#[derive(Debug, Clone)]
pub struct Builder {
    artifact: PathBuf,
    module: Option<String>,
    out_dir: Option<PathBuf>,
    flash_budget: Option<usize>,
    ram_budget: Option<usize>,
    cargo: bool,
}

/// What [`Builder::generate`] produced.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The file written.
    pub path: PathBuf,
    /// The generated source.
    pub source: String,
    /// The memory report.
    pub report: Report,
    /// The compiled model (for host execution).
    pub model: Compiled,
}

impl Builder {
    /// A builder for the artifact at `path`. In a build script a relative path is resolved against
    /// `CARGO_MANIFEST_DIR`, not against the current directory (see [`Builder::artifact_path`]).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            artifact: path.as_ref().to_path_buf(),
            module: None,
            out_dir: None,
            flash_budget: None,
            ram_budget: None,
            cargo: std::env::var_os("CARGO_MANIFEST_DIR").is_some() && std::env::var_os("OUT_DIR").is_some(),
        }
    }

    /// File stem of the generated file (`<module>.rs`); default: the model name, sanitized.
    pub fn module_name(mut self, name: impl Into<String>) -> Self {
        self.module = Some(name.into());
        self
    }

    /// Directory to write to; default `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Refuse models whose constants exceed `bytes` of flash.
    pub fn flash_budget(mut self, bytes: usize) -> Self {
        self.flash_budget = Some(bytes);
        self
    }

    /// Refuse models whose arena + scratch exceed `bytes` of RAM.
    pub fn ram_budget(mut self, bytes: usize) -> Self {
        self.ram_budget = Some(bytes);
        self
    }

    /// Whether to print `cargo:rerun-if-changed` (default: when run from a build script).
    pub fn cargo_metadata(mut self, on: bool) -> Self {
        self.cargo = on;
        self
    }

    /// The artifact path after resolution: inside a build script (`CARGO_MANIFEST_DIR` and `OUT_DIR` set)
    /// a relative path is relative to the crate's manifest directory; elsewhere (a CLI, even one started by
    /// `cargo run`, which sets only `CARGO_MANIFEST_DIR`) to the current directory.
    pub fn artifact_path(&self) -> PathBuf {
        if self.artifact.is_relative()
            && std::env::var_os("OUT_DIR").is_some()
            && let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR")
        {
            return Path::new(&dir).join(&self.artifact);
        }
        self.artifact.clone()
    }

    /// Loads, validates, lowers, plans, checks budgets and emits; writes `<out_dir>/<module>.rs` atomically.
    pub fn generate(self) -> Result<Generated, CodegenError> {
        let path = self.artifact_path();
        if self.cargo {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let artifact = Artifact::load(&path)?;
        let model = compile(&artifact)?;
        let report = report(&model);
        report.check_budget(self.flash_budget, self.ram_budget)?;
        let source_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let source = crate::emit::emit(&model, &source_name);
        let module = self.module.unwrap_or_else(|| sanitize(&artifact.name));
        let dir = match self.out_dir {
            Some(d) => d,
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| CodegenError::Output {
                path: "OUT_DIR".into(),
                message: "not set: call Builder::out_dir outside a build script".into(),
            })?,
        };
        let out = dir.join(format!("{module}.rs"));
        crate::write_atomic(&out, source.as_bytes())
            .map_err(|e| CodegenError::Output { path: out.display().to_string(), message: e.to_string() })?;
        Ok(Generated { path: out, source, report, model })
    }
}

/// A Rust identifier from a model name.
pub fn sanitize(name: &str) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'm');
    }
    s
}
