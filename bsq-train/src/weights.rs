//! Pretrained float weights ([`FloatWeights`]) as a NumPy `.npz` file: what `bsq import` writes beside a
//! model description and what the description's `weights` field names.
//!
//! One float32 array per parameter, named after its layer (`docs/import.md`):
//!
//! | array | shape |
//! |---|---|
//! | `<layer>.weight` | conv2d `[out, k_h, k_w, in/groups]`, dense `[out, in]` (`in` in HWC order) |
//! | `<layer>.bias` | `[out]` |
//! | `<layer>.bn.gamma`, `.bn.beta`, `.bn.mean`, `.bn.var` | `[out]` |
//! | `<layer>.bn.eps` | `[1]` |
//!
//! These are the artifact's layouts, so `np.load("net.npz")["conv1.weight"]` indexes like the artifact.
//! Loading checks every array (present, float32, finite) and names the file and the array at fault;
//! saving writes a temporary file and renames it ([`bsq_codegen::write_atomic`]).

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use bsq_codegen::artifact::BatchNorm;
use bsq_codegen::desc::{Description, FloatWeights, LayerSpec, LayerWeights};
use npyz::WriterBuilder;
use npyz::npz::{NpzArchive, NpzWriter};

/// Why a weights file could not be read or written; the message names the file (and the array).
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a `.npz` (zip) archive, or an array in it is not a readable `.npy`.
    #[error("{}: not a NumPy .npz file{}: {message}", path.display(), array.as_ref().map(|a| format!(" (array `{a}`)")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// The array being read, if any.
        array: Option<String>,
        /// What the reader said.
        message: String,
    },
    /// An array the layer needs is absent.
    #[error("{}: array `{array}` is missing ({why})", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The missing array.
        array: String,
        /// Why it is needed.
        why: String,
    },
    /// An array is not float32.
    #[error("{}: array `{array}` is {dtype}, expected float32 (`<f4`)", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// Its NumPy type string.
        dtype: String,
    },
    /// An array holds a NaN or an infinity.
    #[error("{}: array `{array}` has a non-finite value {value} at flat index {index}", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// Flat (C-order) index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// An array's name or shape does not fit the format.
    #[error("{}: array `{array}`: {message}", path.display())]
    Array {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// What is wrong.
        message: String,
    },
    /// Saving: a layer's weights do not fit its description.
    #[error("{}: layer `{layer}`: {message}", path.display())]
    Layer {
        /// The file being written.
        path: PathBuf,
        /// The layer.
        layer: String,
        /// What is wrong.
        message: String,
    },
}

/// The array-name suffixes of a layer's batch norm, in `(gamma, beta, mean, var, eps)` order.
const BN_FIELDS: [&str; 5] = ["bn.gamma", "bn.beta", "bn.mean", "bn.var", "bn.eps"];

/// The shape of `layer`'s weight array, from its description and the number of values.
fn weight_shape(desc: &Description, layer: &str, w: &LayerWeights) -> Result<Vec<u64>, String> {
    let spec = desc
        .layers
        .iter()
        .find(|l| l.name() == layer)
        .ok_or_else(|| "has weights but the description has no such layer".to_string())?;
    let n = w.weight.len();
    match spec {
        LayerSpec::Conv2d(c) => {
            let [kh, kw] = c.kernel.get();
            let per_in = c.out_channels * kh * kw;
            if per_in == 0 || !n.is_multiple_of(per_in) {
                return Err(format!(
                    "{n} weight values do not fill [out = {}, k_h = {kh}, k_w = {kw}, in/groups]",
                    c.out_channels
                ));
            }
            Ok(vec![c.out_channels as u64, kh as u64, kw as u64, (n / per_in) as u64])
        }
        LayerSpec::Dense(d) => {
            let out = d.out_features.or(w.bias.as_ref().map(Vec::len)).or(w.bn.as_ref().map(|b| b.gamma.len()));
            match out {
                Some(o) if o > 0 && n.is_multiple_of(o) => Ok(vec![o as u64, (n / o) as u64]),
                Some(o) => Err(format!("{n} weight values do not fill [out = {o}, in]")),
                None => {
                    Err("dense layer without out_features, bias or batch norm: the weight's shape is unknown".into())
                }
            }
        }
        other => Err(format!("has weights but is a {} layer (only conv2d and dense have weights)", other.op())),
    }
}

/// The `.npz` bytes of `weights` (arrays in layer-name order, so the bytes are deterministic); the
/// weight shapes come from `desc`. `path` is only named in errors.
pub fn npz_bytes(weights: &FloatWeights, desc: &Description, path: &Path) -> Result<Vec<u8>, WeightsError> {
    let io = |source: std::io::Error| WeightsError::Io { path: path.to_path_buf(), source };
    let mut arrays: Vec<(String, Vec<u64>, &[f32])> = Vec::new();
    let sorted: BTreeMap<&String, &LayerWeights> = weights.layers.iter().collect();
    let mut eps_store: Vec<(String, [f32; 1])> = Vec::new();
    for (layer, w) in &sorted {
        let shape = weight_shape(desc, layer, w).map_err(|message| WeightsError::Layer {
            path: path.to_path_buf(),
            layer: (*layer).clone(),
            message,
        })?;
        arrays.push((format!("{layer}.weight"), shape, &w.weight));
        if let Some(b) = &w.bias {
            arrays.push((format!("{layer}.bias"), vec![b.len() as u64], b));
        }
        if let Some(bn) = &w.bn {
            for (field, v) in BN_FIELDS.iter().zip([&bn.gamma, &bn.beta, &bn.mean, &bn.var]) {
                arrays.push((format!("{layer}.{field}"), vec![v.len() as u64], v));
            }
            eps_store.push((format!("{layer}.bn.eps"), [bn.eps]));
        }
    }
    for (name, eps) in &eps_store {
        arrays.push((name.clone(), vec![1], eps));
    }
    arrays.sort_by(|a, b| a.0.cmp(&b.0));
    let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
    for (name, shape, values) in &arrays {
        let mut w = npz
            .array::<f32>(name, Default::default())
            .map_err(io)?
            .default_dtype()
            .shape(shape)
            .begin_nd()
            .map_err(io)?;
        w.extend(values.iter().copied()).map_err(io)?;
        w.finish().map_err(io)?;
    }
    let cursor = npz.zip_writer().finish().map_err(|e| io(std::io::Error::other(e)))?;
    Ok(cursor.into_inner())
}

/// Writes `weights` as a `.npz` (shapes from `desc`), atomically: a reader sees the old file or the
/// complete new one.
pub fn save_npz(path: &Path, weights: &FloatWeights, desc: &Description) -> Result<(), WeightsError> {
    let bytes = npz_bytes(weights, desc, path)?;
    bsq_codegen::write_atomic(path, &bytes).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })
}

/// Reads a `.npz` written by [`save_npz`] (or by NumPy with the same array names).
pub fn load_npz(path: &Path) -> Result<FloatWeights, WeightsError> {
    let file = std::fs::File::open(path).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })?;
    read_npz(std::io::BufReader::new(file), path)
}

/// Reads `.npz` bytes; `path` is named in errors.
pub fn read_npz<R: Read + Seek>(reader: R, path: &Path) -> Result<FloatWeights, WeightsError> {
    let fmt = |array: Option<&str>, e: &dyn std::fmt::Display| WeightsError::Format {
        path: path.to_path_buf(),
        array: array.map(str::to_string),
        message: e.to_string(),
    };
    let mut npz = NpzArchive::new(reader).map_err(|e| fmt(None, &e))?;
    let names: Vec<String> = npz.array_names().map(str::to_string).collect();
    // Layer → field → values.
    let mut by_layer: BTreeMap<String, HashMap<&'static str, Vec<f32>>> = BTreeMap::new();
    for name in &names {
        let (layer, field) = split_name(name).ok_or_else(|| WeightsError::Array {
            path: path.to_path_buf(),
            array: name.clone(),
            message: "not a weights array: names are `<layer>.weight`, `<layer>.bias` or `<layer>.bn.<gamma|beta|mean|var|eps>`"
                .into(),
        })?;
        let arr = npz.by_name(name).map_err(|e| fmt(Some(name), &e))?.ok_or_else(|| WeightsError::Missing {
            path: path.to_path_buf(),
            array: name.clone(),
            why: "listed in the archive but cannot be opened".into(),
        })?;
        let dtype = arr.dtype();
        let is_f32 =
            matches!(&dtype, npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4);
        if !is_f32 {
            return Err(WeightsError::Dtype {
                path: path.to_path_buf(),
                array: name.clone(),
                dtype: dtype.descr().trim_matches('\'').to_string(),
            });
        }
        let shape = arr.shape().to_vec();
        let ndim_ok = match field {
            "weight" => shape.len() == 2 || shape.len() == 4,
            "bn.eps" => shape.iter().product::<u64>() == 1,
            _ => shape.len() == 1,
        };
        if !ndim_ok {
            let want = match field {
                "weight" => "a conv2d weight [out, k_h, k_w, in/groups] or a dense weight [out, in]",
                "bn.eps" => "one value",
                _ => "a vector [out]",
            };
            return Err(WeightsError::Array {
                path: path.to_path_buf(),
                array: name.clone(),
                message: format!("has shape {shape:?}, expected {want}"),
            });
        }
        let fortran = arr.order() == npyz::Order::Fortran;
        let mut values: Vec<f32> = arr.into_vec::<f32>().map_err(|e| fmt(Some(name), &e))?;
        if fortran {
            values = c_order(&values, &shape);
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(WeightsError::NonFinite { path: path.to_path_buf(), array: name.clone(), index, value });
        }
        by_layer.entry(layer.to_string()).or_default().insert(field, values);
    }
    let mut out = FloatWeights::default();
    for (layer, mut fields) in by_layer {
        let missing = |field: &str, why: &str| WeightsError::Missing {
            path: path.to_path_buf(),
            array: format!("{layer}.{field}"),
            why: why.to_string(),
        };
        let weight = fields.remove("weight").ok_or_else(|| missing("weight", "the layer has other arrays"))?;
        let bias = fields.remove("bias");
        let bn = if BN_FIELDS.iter().any(|f| fields.contains_key(f)) {
            let mut get = |f: &str| fields.remove(f).ok_or_else(|| missing(f, "the layer has other bn.* arrays"));
            let (gamma, beta, mean, var, eps) =
                (get("bn.gamma")?, get("bn.beta")?, get("bn.mean")?, get("bn.var")?, get("bn.eps")?);
            Some(BatchNorm { gamma, beta, mean, var, eps: eps[0] })
        } else {
            None
        };
        out.layers.insert(layer, LayerWeights { weight, bias, bn });
    }
    Ok(out)
}

/// The C-order (row-major) copy of Fortran-order (column-major) `values` of `shape`.
fn c_order(values: &[f32], shape: &[u64]) -> Vec<f32> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let mut out = Vec::with_capacity(values.len());
    for flat in 0..values.len() {
        // Multi-index of C-order position `flat`, then its Fortran-order offset.
        let (mut rest, mut offset, mut stride) = (flat, 0, 1);
        let mut idx = vec![0; shape.len()];
        for (d, &n) in shape.iter().enumerate().rev() {
            idx[d] = rest % n.max(1);
            rest /= n.max(1);
        }
        for (d, &n) in shape.iter().enumerate() {
            offset += idx[d] * stride;
            stride *= n;
        }
        out.push(values[offset]);
    }
    out
}

/// `"<layer>.<field>"` → `(layer, field)`; the batch-norm suffixes are matched first, so layer names
/// may contain dots.
fn split_name(name: &str) -> Option<(&str, &'static str)> {
    for field in BN_FIELDS.iter().copied().chain(["weight", "bias"]) {
        if let Some(layer) = name.strip_suffix(field).and_then(|l| l.strip_suffix('.'))
            && !layer.is_empty()
        {
            return Some((layer, field));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc() -> Description {
        Description::parse(
            r#"
format = "bsq-model"
version = 1
name = "t"
[[layers]]
op = "conv2d"
name = "layer1.0.conv1"
out_channels = 2
kernel = [1, 2]
batch_norm = true
activation = "pact"
[[layers]]
op = "dense"
name = "fc"
out_features = 3
activation = "none"
"#,
            true,
            Path::new("t.toml"),
        )
        .unwrap()
    }

    fn weights() -> FloatWeights {
        let mut w = FloatWeights::default();
        w.layers.insert(
            "layer1.0.conv1".into(),
            LayerWeights {
                weight: (0..12).map(|i| i as f32 * 0.5 - 2.0).collect(),
                bias: None,
                bn: Some(BatchNorm {
                    gamma: vec![1.0, 2.0],
                    beta: vec![0.1, -0.1],
                    mean: vec![0.0, 0.5],
                    var: vec![1.0, 4.0],
                    eps: 1e-5,
                }),
            },
        );
        w.layers.insert(
            "fc".into(),
            LayerWeights { weight: (0..6).map(|i| i as f32).collect(), bias: Some(vec![0.5, -0.5, 1.5]), bn: None },
        );
        w
    }

    #[test]
    fn npz_round_trips_with_the_artifact_shapes() {
        let dir = std::env::temp_dir().join(format!("bsq-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.npz");
        save_npz(&p, &weights(), &desc()).unwrap();
        assert_eq!(load_npz(&p).unwrap(), weights());
        let mut a = NpzArchive::open(&p).unwrap();
        assert_eq!(a.by_name("layer1.0.conv1.weight").unwrap().unwrap().shape(), &[2, 1, 2, 3]);
        assert_eq!(a.by_name("fc.weight").unwrap().unwrap().shape(), &[3, 2]);
        assert_eq!(a.by_name("layer1.0.conv1.bn.eps").unwrap().unwrap().shape(), &[1]);
        // Deterministic bytes.
        assert_eq!(npz_bytes(&weights(), &desc(), &p).unwrap(), std::fs::read(&p).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn npz_with(arrays: &[(&str, &[u64], Vec<f32>)]) -> Vec<u8> {
        let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
        for (name, shape, v) in arrays {
            let mut w =
                npz.array::<f32>(name, Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
            w.extend(v.iter().copied()).unwrap();
            w.finish().unwrap();
        }
        npz.zip_writer().finish().unwrap().into_inner()
    }

    #[test]
    fn load_errors_name_the_file_and_the_array() {
        let p = Path::new("net.npz");
        let read = |b: Vec<u8>| read_npz(Cursor::new(b), p).unwrap_err().to_string();
        let e = read(npz_with(&[("fc.weight", &[1, 3], vec![1.0, f32::NAN, 2.0])]));
        assert!(e.contains("net.npz") && e.contains("`fc.weight`") && e.contains("index 1"), "{e}");
        let e = read(npz_with(&[("fc.bias", &[1], vec![1.0])]));
        assert!(e.contains("`fc.weight` is missing"), "{e}");
        let e = read(npz_with(&[("c.weight", &[1, 1], vec![1.0]), ("c.bn.gamma", &[1], vec![1.0])]));
        assert!(e.contains("`c.bn.beta` is missing"), "{e}");
        let e = read(npz_with(&[("c.weights", &[1, 1], vec![1.0])]));
        assert!(e.contains("`c.weights`") && e.contains("not a weights array"), "{e}");
        let e = read(npz_with(&[("c.weight", &[1], vec![1.0])]));
        assert!(e.contains("`c.weight`") && e.contains("shape [1]"), "{e}");
        // A Fortran-order array is read in C order.
        let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
        let mut w = npz
            .array::<f32>("c.weight", Default::default())
            .unwrap()
            .default_dtype()
            .order(npyz::Order::Fortran)
            .shape(&[2, 3])
            .begin_nd()
            .unwrap();
        w.extend([0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0]).unwrap();
        w.finish().unwrap();
        let got = read_npz(Cursor::new(npz.zip_writer().finish().unwrap().into_inner()), p).unwrap();
        assert_eq!(got.layers["c"].weight, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let e = read(b"not a zip".to_vec());
        assert!(e.contains("net.npz") && e.contains("not a NumPy .npz"), "{e}");
        // A float64 array.
        let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
        let mut w = npz
            .array::<f64>("fc.weight", Default::default())
            .unwrap()
            .default_dtype()
            .shape(&[1, 1])
            .begin_nd()
            .unwrap();
        w.push(&1.0).unwrap();
        w.finish().unwrap();
        let e = read(npz.zip_writer().finish().unwrap().into_inner());
        assert!(e.contains("`fc.weight` is <f8") && e.contains("float32"), "{e}");
    }

    #[test]
    fn save_refuses_weights_that_do_not_fit_the_description() {
        let mut w = weights();
        w.layers.get_mut("fc").unwrap().weight.pop();
        let e = npz_bytes(&w, &desc(), Path::new("x.npz")).unwrap_err().to_string();
        assert!(e.contains("x.npz") && e.contains("layer `fc`") && e.contains("5 weight values"), "{e}");
        let mut w = weights();
        w.layers.insert("nope".into(), LayerWeights::default());
        let e = npz_bytes(&w, &desc(), Path::new("x.npz")).unwrap_err().to_string();
        assert!(e.contains("layer `nope`") && e.contains("no such layer"), "{e}");
    }
}
