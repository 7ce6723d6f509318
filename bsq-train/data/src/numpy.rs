//! NumPy data: a `.npz` archive or a directory of `.npy` files holding the Keras arrays `x_train`,
//! `y_train`, `x_test`, `y_test` (and optionally `x_val`, `y_val`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use npyz::npz::NpzArchive;
use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use crate::source::Task;
use crate::{DataError, Dataset, InputMap, Options, Splits};

/// The values of an array, in C (row-major) order.
enum Values {
    /// dtype `uint8`.
    U8(Vec<u8>),
    /// Any other integer dtype, and `bool` (0 / 1).
    Int(Vec<i64>),
    /// `float32` / `float64`, every value finite.
    Float(Vec<f32>),
}

/// One array read from the file.
struct Array {
    /// The file that holds it (the `.npz`, or the `.npy` of a directory).
    path: PathBuf,
    /// Its name.
    name: String,
    /// Its dtype as numpy writes it (`|u1`, `<f4`, …).
    dtype: String,
    /// Its shape.
    shape: Vec<usize>,
    /// Its values.
    values: Values,
}

impl Array {
    fn err(&self, what: String) -> DataError {
        DataError::Array { path: self.path.clone(), array: self.name.clone(), what }
    }

    /// Number of samples (the first axis).
    fn samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    fn is_float(&self) -> bool {
        matches!(self.values, Values::Float(_))
    }

    /// Every value as `f32`.
    fn to_f32(&self) -> Vec<f32> {
        match &self.values {
            Values::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Values::Int(v) => v.iter().map(|&x| x as f32).collect(),
            Values::Float(v) => v.clone(),
        }
    }

    /// The `[H, W, C]` of one sample: (N,H,W) → [H,W,1], (N,H,W,C) → [H,W,C], (N,F) → [1,1,F].
    fn sample_shape(&self) -> Result<[usize; 3], DataError> {
        let s = &self.shape;
        let shape = match s.len() {
            2 => [1, 1, s[1]],
            3 => [s[1], s[2], 1],
            4 => [s[1], s[2], s[3]],
            _ => {
                return Err(self.err(format!("shape {s:?}: expected (N, features), (N, H, W) or (N, H, W, C)")));
            }
        };
        if s[0] == 0 || shape.contains(&0) {
            return Err(self.err(format!("shape {s:?} holds no data")));
        }
        Ok(shape)
    }
}

/// Where the arrays are.
enum Store {
    Npz { path: PathBuf, archive: NpzArchive<BufReader<File>>, names: Vec<String> },
    Dir { path: PathBuf, names: Vec<String> },
}

impl Store {
    fn open(path: &Path) -> Result<Store, DataError> {
        let io = |source| DataError::Io { path: path.to_path_buf(), source };
        if path.is_dir() {
            let mut names = Vec::new();
            for e in std::fs::read_dir(path).map_err(io)? {
                let p = e.map_err(io)?.path();
                if p.is_file() && crate::source::extension(&p).as_deref() == Some("npy") {
                    names.extend(p.file_stem().map(|s| s.to_string_lossy().into_owned()));
                }
            }
            names.sort();
            return Ok(Store::Dir { path: path.to_path_buf(), names });
        }
        let archive = NpzArchive::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => DataError::Malformed {
                path: path.to_path_buf(),
                what: format!("not a readable .npz (zip) archive, truncated or corrupt: {e}"),
            },
            _ => io(e),
        })?;
        let mut names: Vec<String> = archive.array_names().map(str::to_string).collect();
        names.sort();
        Ok(Store::Npz { path: path.to_path_buf(), archive, names })
    }

    fn names(&self) -> &[String] {
        match self {
            Store::Npz { names, .. } | Store::Dir { names, .. } => names,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names().iter().any(|n| n == name)
    }

    /// The array `name`, or an error naming it and listing the arrays found.
    fn require(&mut self, name: &str) -> Result<Array, DataError> {
        match self.get(name)? {
            Some(a) => Ok(a),
            None => {
                let (path, found) = match self {
                    Store::Npz { path, names, .. } => (path.clone(), names.join(", ")),
                    Store::Dir { path, names } => {
                        (path.clone(), names.iter().map(|n| format!("{n}.npy")).collect::<Vec<_>>().join(", "))
                    }
                };
                let found = if found.is_empty() { "nothing".to_string() } else { found };
                Err(DataError::Array { path, array: name.to_string(), what: format!("missing (found: {found})") })
            }
        }
    }

    /// The array `name`, `None` if the store has none of that name.
    fn get(&mut self, name: &str) -> Result<Option<Array>, DataError> {
        if !self.has(name) {
            return Ok(None);
        }
        match self {
            Store::Dir { path, .. } => {
                let file = path.join(format!("{name}.npy"));
                let bytes = std::fs::read(&file).map_err(|source| DataError::Io { path: file.clone(), source })?;
                let mut data = &bytes[..];
                let header = NpyHeader::from_reader(&mut data).map_err(|e| bad_header(&file, name, e))?;
                decode(&header, data, &file, name).map(Some)
            }
            Store::Npz { path, archive, .. } => {
                let corrupt = |e: std::io::Error| DataError::Array {
                    path: path.clone(),
                    array: name.to_string(),
                    what: format!("cannot read the archive member, truncated or corrupt: {e}"),
                };
                let npy = match archive.by_name(name) {
                    Ok(Some(npy)) => npy,
                    Ok(None) => return Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(bad_header(path, name, e)),
                    Err(e) => return Err(corrupt(e)),
                };
                let header = npy.header().clone();
                let mut data = Vec::new();
                npy.into_inner().read_to_end(&mut data).map_err(corrupt)?;
                decode(&header, &data, path, name).map(Some)
            }
        }
    }
}

fn bad_header(path: &Path, name: &str, e: std::io::Error) -> DataError {
    DataError::Array { path: path.to_path_buf(), array: name.to_string(), what: format!("not a valid .npy array: {e}") }
}

/// Reads all elements of type `T` from the raw data.
fn elements<T: npyz::Deserialize>(header: &NpyHeader, data: &[u8]) -> std::io::Result<Vec<T>> {
    NpyFile::with_header(header.clone(), data).into_vec::<T>()
}

/// Reorders a Fortran-order (column-major) array into C order.
fn c_order<T: Copy>(v: Vec<T>, shape: &[usize], order: Order) -> Vec<T> {
    let k = shape.len();
    if order == Order::C || k < 2 || v.is_empty() {
        return v;
    }
    let mut stride = vec![1usize; k];
    for j in 1..k {
        stride[j] = stride[j - 1] * shape[j - 1];
    }
    let mut idx = vec![0usize; k];
    let mut f = 0usize;
    let mut out = Vec::with_capacity(v.len());
    for _ in 0..v.len() {
        out.push(v[f]);
        for j in (0..k).rev() {
            idx[j] += 1;
            f += stride[j];
            if idx[j] < shape[j] {
                break;
            }
            f -= stride[j] * shape[j];
            idx[j] = 0;
        }
    }
    out
}

/// Decodes the data of an array: checks its size against the header, converts it to [`Values`] in C
/// order and checks that floats are finite.
fn decode(header: &NpyHeader, data: &[u8], path: &Path, name: &str) -> Result<Array, DataError> {
    let err = |what: String| DataError::Array { path: path.to_path_buf(), array: name.to_string(), what };
    let dtype = header.dtype();
    let descr = match &dtype {
        DType::Plain(ts) => ts.to_string(),
        other => other.descr(),
    };
    if header.uses_pickled_array() {
        return Err(err(format!("unsupported dtype {descr}: object arrays (pickle) are not supported")));
    }
    let DType::Plain(ts) = &dtype else {
        return Err(err(format!("unsupported dtype {descr}: structured arrays are not supported")));
    };
    let too_large = || err(format!("shape {:?} is too large", header.shape()));
    let shape: Vec<usize> =
        header.shape().iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| too_large())?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_large)?;
    let item = ts.num_bytes().ok_or_else(too_large)?;
    let need = count.checked_mul(item).ok_or_else(too_large)?;
    if data.len() != need {
        return Err(err(format!(
            "{} bytes of data, but shape {shape:?} of {descr} needs {need}{}",
            data.len(),
            if data.len() < need { " (truncated)" } else { " (trailing bytes)" }
        )));
    }
    let order = header.order();
    let read_err = |e: std::io::Error| err(format!("cannot read the data: {e}"));
    macro_rules! int {
        ($t:ty) => {
            Values::Int(c_order(
                elements::<$t>(header, data).map_err(read_err)?.into_iter().map(|x| i64::from(x)).collect(),
                &shape,
                order,
            ))
        };
    }
    let values = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Uint, 1) => Values::U8(c_order(elements::<u8>(header, data).map_err(read_err)?, &shape, order)),
        (TypeChar::Uint, 2) => int!(u16),
        (TypeChar::Uint, 4) => int!(u32),
        (TypeChar::Uint, 8) => Values::Int(c_order(
            elements::<u64>(header, data)
                .map_err(read_err)?
                .into_iter()
                .map(|x| i64::try_from(x).unwrap_or(i64::MAX))
                .collect(),
            &shape,
            order,
        )),
        (TypeChar::Int, 1) => int!(i8),
        (TypeChar::Int, 2) => int!(i16),
        (TypeChar::Int, 4) => int!(i32),
        (TypeChar::Int, 8) => int!(i64),
        (TypeChar::Bool, 1) => int!(bool),
        (TypeChar::Float, 4) => {
            let v = c_order(elements::<f32>(header, data).map_err(read_err)?, &shape, order);
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(err(format!("non-finite value {} at flat index {i}", v[i])));
            }
            Values::Float(v)
        }
        (TypeChar::Float, 8) => {
            let v = c_order(elements::<f64>(header, data).map_err(read_err)?, &shape, order);
            let mut out = Vec::with_capacity(v.len());
            for (i, &x) in v.iter().enumerate() {
                if !x.is_finite() {
                    return Err(err(format!("non-finite value {x} at flat index {i}")));
                }
                let y = x as f32;
                if !y.is_finite() {
                    return Err(err(format!("value {x} at flat index {i} is out of the float32 range")));
                }
                out.push(y);
            }
            Values::Float(out)
        }
        _ => {
            return Err(err(format!(
                "unsupported dtype {descr} (expected uint8, another integer type, bool, float32 or float64)"
            )));
        }
    };
    Ok(Array { path: path.to_path_buf(), name: name.to_string(), dtype: descr, shape, values })
}

/// One split as read: its name, `x` and (unless reconstructing) `y`.
struct Part {
    split: &'static str,
    x: Array,
    y: Option<Array>,
}

/// Reads a `.npz` archive or a directory of `.npy` files with the Keras arrays `x_train`, `y_train`,
/// `x_test`, `y_test` and optionally `x_val`, `y_val` (without `x_val`, [`Splits::val`] is `None`).
///
/// **Inputs.** `x` of shape (N, H, W) → `[H, W, 1]`, (N, H, W, C) → `[H, W, C]`, (N, F) → `[1, 1, F]`; every
/// split must have the sample shape of `x_train`. `uint8` x are images with the map `x/255`
/// ([`InputMap::IMAGE`]); any other numeric x are float features, quantized with
/// `InputMap::calibrate(min, max)` over `x_train` only, the same map for every split (test values outside
/// the training range saturate). Fortran-order arrays are reordered.
///
/// **Targets.** The task is `opts.task`, else inferred from `y_train`'s dtype:
/// - classification (integer y; bool counts as integer): shape (N,) or (N, 1), each label in `0..=255`;
///   `num_classes` = the largest label over all splits + 1, names `"0"`, `"1"`, …. With the task given
///   explicitly, float y of integral values, and one-hot float y of shape (N, K), are accepted too;
/// - regression (float y): shape (N,) → 1 target, (N, K) → K targets per sample;
/// - reconstruction: the targets are the float features of x itself (`x/255` for `uint8` images, the
///   file's values otherwise); the y arrays are not read.
///
/// Errors name the file and the array: a missing array (listing those found), a truncated or corrupt
/// file, an unsupported dtype or shape, a sample count of y that differs from x, a non-finite value (with
/// its flat index in C order), a label out of range (with its index).
pub fn read_npz(path: &Path, opts: &Options) -> Result<Splits, DataError> {
    let mut store = Store::open(path)?;
    let reconstruct = opts.task == Some(Task::Reconstruction);
    let mut parts = Vec::new();
    for split in ["train", "test", "val"] {
        let (xn, yn) = (format!("x_{split}"), format!("y_{split}"));
        let x = if split == "val" {
            match store.get(&xn)? {
                Some(x) => x,
                None if !reconstruct && store.has(&yn) => {
                    return Err(DataError::Array {
                        path: path.to_path_buf(),
                        array: xn,
                        what: format!("missing, but {yn} is present"),
                    });
                }
                None => continue,
            }
        } else {
            store.require(&xn)?
        };
        let y = if reconstruct { None } else { Some(store.require(&yn)?) };
        parts.push(Part { split, x, y });
    }

    // Inputs.
    let shape = parts[0].x.sample_shape()?;
    let float_x = !matches!(parts[0].x.values, Values::U8(_));
    for p in &parts[1..] {
        let s = p.x.sample_shape()?;
        if s != shape {
            return Err(p
                .x
                .err(format!("shape {:?} differs from x_train's {:?} per sample", p.x.shape, parts[0].x.shape)));
        }
        if float_x == matches!(p.x.values, Values::U8(_)) {
            return Err(p.x.err(format!(
                "dtype {} but x_train has {}: uint8 images and float features cannot be mixed",
                p.x.dtype, parts[0].x.dtype
            )));
        }
    }
    let input = if float_x {
        let v = parts[0].x.to_f32();
        let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
        InputMap::calibrate(lo, hi)
    } else {
        InputMap::IMAGE
    };

    // Targets.
    let task = match opts.task {
        Some(t) => t,
        None if parts[0].y.as_ref().is_some_and(Array::is_float) => Task::Regression,
        None => Task::Classification,
    };
    let explicit = opts.task.is_some();
    let mut datasets = Vec::new();
    let mut num_classes = 0;
    let mut target_len = None;
    for p in &parts {
        let n = p.x.samples();
        if let Some(y) = &p.y
            && y.samples() != n
        {
            return Err(y.err(format!("{} samples, but x_{} has {n}", y.samples(), p.split)));
        }
        let (images, features) = match &p.x.values {
            Values::U8(v) => (v.clone(), None),
            _ => {
                let f = p.x.to_f32();
                (f.iter().map(|&x| input.quantize(x)).collect(), Some(f))
            }
        };
        let mut ds = Dataset::classification(shape, images, Vec::new(), Vec::new());
        ds.input = input;
        match (task, &p.y) {
            (Task::Reconstruction, _) => {
                ds = ds.reconstruction();
                if let Some(f) = features {
                    ds.targets = f;
                }
            }
            (Task::Classification, Some(y)) => {
                ds.labels = labels(y, explicit)?;
                num_classes = num_classes.max(ds.labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0));
            }
            (Task::Regression, Some(y)) => {
                let k = match y.shape.len() {
                    1 => 1,
                    2 => y.shape[1],
                    _ => return Err(y.err(format!("shape {:?}: regression targets need (N,) or (N, K)", y.shape))),
                };
                if k == 0 {
                    return Err(y.err(format!("shape {:?} holds no targets", y.shape)));
                }
                if let Some(k0) = target_len
                    && k0 != k
                {
                    return Err(y.err(format!("{k} targets per sample, but y_train has {k0}")));
                }
                target_len = Some(k);
                ds.targets = y.to_f32();
                ds.target_len = k;
            }
            (_, None) => {}
        }
        datasets.push(ds);
    }
    if task == Task::Classification {
        let names: Vec<String> = (0..num_classes).map(|c| c.to_string()).collect();
        for ds in &mut datasets {
            ds.num_classes = num_classes;
            ds.class_names = names.clone();
        }
    }
    let mut it = datasets.into_iter();
    let (Some(train), Some(test)) = (it.next(), it.next()) else {
        return Err(DataError::Malformed { path: path.to_path_buf(), what: "no train and test split".into() });
    };
    let val = it.next();
    let [h, w, c] = shape;
    let what = match task {
        Task::Classification => format!("{num_classes} classes"),
        Task::Regression => format!("regression, {} targets", train.target_len),
        Task::Reconstruction => "reconstruction".to_string(),
    };
    let inputs = if float_x {
        format!("float features {h}x{w}x{c}, input scale {} zero point {}", input.scale, input.zero_point)
    } else {
        format!("uint8 {h}x{w}x{c}")
    };
    let description = format!(
        "numpy {} ({what}; {inputs}; train {} / test {}{})",
        path.display(),
        train.len(),
        test.len(),
        val.as_ref().map(|v| format!(" / val {}", v.len())).unwrap_or_default()
    );
    Ok(Splits { train, test, val, description })
}

/// Class labels from `y`: integers of shape (N,) or (N, 1) in `0..=255`; with `explicit` (the task was
/// asked for), also integral floats, and one-hot float rows of shape (N, K).
fn labels(y: &Array, explicit: bool) -> Result<Vec<u8>, DataError> {
    let column = y.shape.len() == 1 || (y.shape.len() == 2 && y.shape[1] == 1);
    let check = |i: usize, v: i64| -> Result<u8, DataError> {
        u8::try_from(v).map_err(|_| {
            y.err(if v < 0 {
                format!("negative label {v} at index {i}")
            } else {
                format!("label {v} at index {i} does not fit a u8 (at most 256 classes)")
            })
        })
    };
    match &y.values {
        Values::U8(v) if column => Ok(v.clone()),
        Values::Int(v) if column => v.iter().enumerate().map(|(i, &x)| check(i, x)).collect(),
        Values::Float(v) if explicit && column => v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.fract() != 0.0 {
                    return Err(y.err(format!("label {x} at index {i} is not an integer")));
                }
                check(i, x as i64)
            })
            .collect(),
        Values::Float(v) if explicit && y.shape.len() == 2 => {
            let k = y.shape[1];
            if k == 0 {
                return Err(y.err(format!("shape {:?} holds no labels", y.shape)));
            }
            if k > 256 {
                return Err(y.err(format!("{k} one-hot columns: at most 256 classes fit a u8 label")));
            }
            v.chunks_exact(k)
                .enumerate()
                .map(|(i, row)| {
                    let ones: Vec<usize> = (0..k).filter(|&j| row[j] == 1.0).collect();
                    if ones.len() != 1 || row.iter().any(|&x| x != 0.0 && x != 1.0) {
                        return Err(y.err(format!("row {i} is not one-hot (exactly one 1, the rest 0)")));
                    }
                    Ok(ones[0] as u8)
                })
                .collect()
        }
        Values::Float(_) => Err(y.err(format!(
            "float dtype {} for class labels: use integer labels, or ask for the regression task",
            y.dtype
        ))),
        _ => Err(y.err(format!("shape {:?}: class labels need shape (N,) or (N, 1)", y.shape))),
    }
}
