//! Generated models: the codegen fixture artifacts (`codegen/fixtures/*.bsq.json`), their deterministic
//! inputs, and their host reference results from the codegen host executor.

use crate::case::LayerOutput;
use bsq_codegen::report::Report;
use bsq_codegen::{Artifact, CodegenError, Compiled, Executor};
use std::path::{Path, PathBuf};

/// One model artifact the suite runs.
#[derive(Debug, Clone)]
pub struct ModelDef {
    /// Name (the artifact's file stem, as in `codegen/fixtures/<name>.bsq.json`): one name everywhere.
    pub name: String,
    /// The artifact file.
    pub path: PathBuf,
    /// Validated, lowered, planned.
    pub compiled: Compiled,
    /// Memory report (flash, arena, scratch, MACs).
    pub report: Report,
    /// The input the firmware embeds (`bsq_codegen::fixtures::inputs(name, len, 1)[0]`).
    pub input: Vec<u8>,
}

impl ModelDef {
    /// Loads and compiles the artifact at `path`.
    pub fn load(path: &Path) -> Result<Self, CodegenError> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let name = file.strip_suffix(".bsq.json").unwrap_or(&file).to_string();
        let artifact = Artifact::load(path)?;
        let compiled = bsq_codegen::compile(&artifact)?;
        let report = bsq_codegen::report::report(&compiled);
        let input = bsq_codegen::fixtures::inputs(&name, compiled.input_len(), 1).remove(0);
        Ok(Self { name, path: path.to_path_buf(), compiled, report, input })
    }

    /// Rust module name of the generated code.
    pub fn module(&self) -> String {
        format!("model_{}", bsq_codegen::sanitize(&self.name))
    }

    /// Every layer's output and the network output on the host (codegen's executor: bsq-runtime with the
    /// same memory plan). The network output is the artifact's `output` tensor, not necessarily the last
    /// layer's.
    pub fn run_host(&self) -> Result<(Vec<LayerOutput>, Vec<u8>), CodegenError> {
        let mut exec = Executor::from_compiled(self.compiled.clone());
        let mut layers = Vec::new();
        let output = exec
            .run_observed(&self.input, &mut |_, name, bytes| {
                layers.push(LayerOutput { name: name.to_string(), bytes: bytes.to_vec() })
            })?
            .to_vec();
        Ok((layers, output))
    }
}

/// `codegen/fixtures` (resolved from this crate's manifest directory, never the current directory).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The fixture artifacts, in `bsq_codegen::fixtures::NAMES` order, then any other `*.bsq.json` by name.
pub fn fixtures() -> Result<Vec<ModelDef>, Box<dyn std::error::Error>> {
    let dir = fixtures_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bsq.json"))
        .collect();
    let rank = |p: &PathBuf| {
        let stem = p.file_name().map(|f| f.to_string_lossy().replace(".bsq.json", "")).unwrap_or_default();
        (bsq_codegen::fixtures::NAMES.iter().position(|n| *n == stem).unwrap_or(usize::MAX), stem)
    };
    paths.sort_by_key(rank);
    paths.iter().map(|p| ModelDef::load(p).map_err(|e| format!("{}: {e}", p.display()).into())).collect()
}

/// The user's artifact named by the `BSQ_MODEL` environment variable (absolute, or relative to the current
/// directory of the build), if set: `bsq flash` and `BSQ_MODEL=… cargo run --release` in a board directory
/// put it into the firmware ahead of the fixtures.
pub fn user_model() -> Option<Result<ModelDef, Box<dyn std::error::Error>>> {
    let path = PathBuf::from(std::env::var_os("BSQ_MODEL")?);
    Some(ModelDef::load(&path).map_err(|e| {
        let e = e.to_string();
        (if e.contains(&*path.to_string_lossy()) { e } else { format!("BSQ_MODEL={}: {e}", path.display()) }).into()
    }))
}
