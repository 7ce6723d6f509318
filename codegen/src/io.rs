//! Reading and writing artifacts: JSON in, validated model out; atomic writes with arrays of numbers on one line.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::artifact::{Artifact, FORMAT, VERSION};
use crate::error::ArtifactError;

impl Artifact {
    /// Parses and validates an artifact from JSON text. `origin` names the source in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ArtifactError> {
        let json_err = |e: serde_json::Error| ArtifactError::Json {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        // Check format and version before the full schema, so that a newer file gets a version error.
        let value: Value = serde_json::from_str(text).map_err(json_err)?;
        let format = value.get("format").and_then(Value::as_str).unwrap_or("");
        if format != FORMAT {
            return Err(ArtifactError::Format { found: format.to_string() });
        }
        match value.get("version").and_then(Value::as_u64) {
            Some(v) if v == VERSION as u64 => {}
            Some(v) => return Err(ArtifactError::Version { found: v.min(u32::MAX as u64) as u32, supported: VERSION }),
            None => return Err(ArtifactError::field("<model>", "version", "missing or not an unsigned integer")),
        }
        let artifact: Artifact = serde_json::from_str(text).map_err(json_err)?;
        crate::validate::validate(&artifact)?;
        Ok(artifact)
    }

    /// Reads and validates an artifact file.
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ArtifactError::Io { path: path.to_path_buf(), source })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The scheme table derived from the layers.
    pub fn derived_scheme(&self) -> Vec<crate::artifact::SchemeEntry> {
        self.layers
            .iter()
            .filter_map(|l| {
                let w = l.weight()?;
                let params = match l {
                    crate::artifact::Layer::Conv2d(c) => c.out_channels * c.kernel[0] * c.kernel[1] * c.group_in(),
                    crate::artifact::Layer::Dense(d) => d.out_features * d.in_features,
                    _ => 0,
                };
                Some(crate::artifact::SchemeEntry { layer: l.name().to_string(), bits: w.bits, params })
            })
            .collect()
    }

    /// Serializes to the artifact's JSON text (objects indented, arrays of numbers on one line), with the
    /// scheme table filled in from the layers. Validates first.
    pub fn to_json(&self) -> Result<String, ArtifactError> {
        let mut a = self.clone();
        a.format = FORMAT.to_string();
        a.version = VERSION;
        a.scheme = a.derived_scheme();
        crate::validate::validate(&a)?;
        let value = serde_json::to_value(&a).map_err(|e| ArtifactError::Json {
            origin: "<serialize>".into(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        let mut out = String::new();
        write_value(&mut out, &value, 0, false);
        out.push('\n');
        Ok(out)
    }

    /// Validates and writes the artifact atomically (temporary file + rename): a failure never leaves a
    /// half-written file at `path`.
    pub fn save(&self, path: &Path) -> Result<(), ArtifactError> {
        let text = self.to_json()?;
        write_atomic(path, text.as_bytes()).map_err(|source| ArtifactError::Io { path: path.to_path_buf(), source })
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so that readers
/// see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `v`; `f64s`: the numbers under this value are `f64` fields (the provenance), written exactly
/// (shortest `f64` text), not as the shortest `f32` text the model's `f32` fields use.
fn write_value(out: &mut String, v: &Value, indent: usize, f64s: bool) {
    let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
    match v {
        // Small all-scalar objects (scheme rows, quantizations) stay on one line.
        Value::Object(map) if map.len() <= 4 && map.values().all(|v| !v.is_object() && !v.is_array()) => {
            out.push('{');
            for (i, (k, val)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write_value(out, val, indent, f64s);
            }
            out.push('}');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, val)) in map.iter().enumerate() {
                pad(out, indent + 2);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write_value(out, val, indent + 2, f64s || k == "provenance");
                if i + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push('}');
        }
        Value::Array(items) if items.iter().any(|x| x.is_object() || x.is_array()) => {
            out.push_str("[\n");
            for (i, val) in items.iter().enumerate() {
                pad(out, indent + 2);
                write_value(out, val, indent + 2, f64s);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push(']');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, val) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, val, indent, f64s);
            }
            out.push(']');
        }
        Value::Number(n) if n.is_f64() => {
            // The model's floats are f32 (widened by serde_json): print the shortest text that reads back
            // as the same f32. The provenance's are f64: print them exactly.
            let x = n.as_f64().unwrap_or(0.0);
            if !f64s && (x as f32) as f64 == x {
                out.push_str(&format!("{:?}", x as f32))
            } else {
                out.push_str(&n.to_string())
            }
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}
