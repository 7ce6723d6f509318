//! Datasets: our own readers for MNIST / Fashion-MNIST IDX files and CIFAR-10 binary batches, a
//! built-in generated dataset that needs no files, and readers for the user's own data: image folders
//! ([`read_image_folder`]), NumPy `.npz` / `.npy` ([`read_npz`]) and CSV ([`read_csv`]). [`DataSource`]
//! and [`load_source`] are the one entry point for all of them.
//!
//! Every dataset is held in memory as `u8` inputs in **HWC** order (the layout of the artifact and of the
//! runtime) plus one `u8` label (or `target_len` float targets) per input. Float features are quantized to
//! bytes with an [`InputMap`] calibrated on the training split. Malformed or truncated files give a
//! [`DataError`] naming the file and what is wrong; nothing here panics on file contents.
//!
//! This crate has no Burn dependency: the deployment side of the `bsq` command (`eval`, `simulate`) reads
//! datasets through it without compiling the trainer.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use thiserror::Error;

mod folder;
mod numpy;
mod source;
mod tabular;

pub use folder::read_image_folder;
pub use numpy::read_npz;
pub use source::{DataSource, Options, Task, load_source};
pub use tabular::read_csv;

/// Errors of the dataset readers.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are not what the format says.
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (magic, count, size, …).
        what: String,
    },
    /// Images and labels disagree.
    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        /// Images file.
        images: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Labels file.
        labels: PathBuf,
        /// Number of labels.
        n_labels: usize,
    },
    /// No data directory was given.
    #[error("dataset {0} needs a data directory: pass --data-dir DIR or set BSQ_DATA_DIR")]
    NoDataDir(String),
    /// Unknown dataset name.
    #[error("unknown dataset {0:?} (expected builtin, mnist, fashion or cifar10)")]
    UnknownDataset(String),
    /// An array of a NumPy file is missing, of an unsupported kind, or holds bad values.
    #[error("{path}: array {array}: {what}")]
    Array {
        /// The `.npz` archive or `.npy` file.
        path: PathBuf,
        /// The array's name (`x_train`, …).
        array: String,
        /// What is wrong.
        what: String,
    },
    /// A CSV row is malformed (field count, a non-numeric or non-finite value, an unknown class).
    #[error("{path}, line {line}: {what}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1).
        line: u64,
        /// What is wrong, naming the column.
        what: String,
    },
    /// A `--dataset` argument that names neither a built-in dataset nor a readable dataset path.
    #[error("dataset {source_name:?}: {what}; accepted: {}", source::ACCEPTED)]
    UnknownSource {
        /// The argument as given.
        source_name: String,
        /// Why it was not recognised.
        what: String,
    },
    /// A dataset option that does not fit the dataset (test fraction, channels, task, label column).
    #[error("{0}")]
    BadOption(String),
}

/// How a stored input byte maps to the network's real input value: `real = scale · (x − zero_point)`.
///
/// Images use `scale = 1/255`, `zero_point = 0` (the default). Float features (audio features, sensor
/// windows) are quantized to bytes by [`InputMap::calibrate`] with a zero point, so that signed values keep
/// their sign and zero stays exactly representable (padding adds exact zeros).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMap {
    /// Real value of one input step, finite and `> 0`.
    pub scale: f32,
    /// The byte that stands for the real value 0.
    pub zero_point: u8,
}

impl Default for InputMap {
    fn default() -> Self {
        InputMap { scale: 1.0 / 255.0, zero_point: 0 }
    }
}

impl InputMap {
    /// The map of 8-bit images: `x/255`.
    pub const IMAGE: InputMap = InputMap { scale: 1.0 / 255.0, zero_point: 0 };

    /// The affine map that covers `[min, max]` (widened to contain 0) with 256 steps; the zero point is
    /// the byte nearest to 0 (so 0 is exact). Non-finite bounds or an empty range give the image map's
    /// scale over `[0, 1]`.
    pub fn calibrate(min: f32, max: f32) -> InputMap {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        if !(lo.is_finite() && hi.is_finite()) || hi - lo <= 0.0 {
            return InputMap::IMAGE;
        }
        let scale = (hi - lo) / 255.0;
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        InputMap { scale, zero_point }
    }

    /// The byte that represents `v` (rounded to nearest, saturated to `0..=255`).
    pub fn quantize(&self, v: f32) -> u8 {
        (v / self.scale + self.zero_point as f32).round().clamp(0.0, 255.0) as u8
    }

    /// The real value of byte `x`.
    pub fn real(&self, x: u8) -> f32 {
        self.scale * (x as f32 - self.zero_point as f32)
    }
}

/// An in-memory dataset: `u8` inputs in HWC order, and per sample either a class label (classification)
/// or `target_len` float targets (regression / reconstruction).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `[H, W, C]` of every input (a flat feature vector is `[1, 1, N]`).
    pub shape: [usize; 3],
    /// All inputs, concatenated, each `H·W·C` bytes in HWC order.
    pub images: Vec<u8>,
    /// One label per input, `< num_classes` (empty for a regression dataset).
    pub labels: Vec<u8>,
    /// Number of classes (0 for a regression dataset).
    pub num_classes: usize,
    /// Class names, one per class.
    pub class_names: Vec<String>,
    /// How the bytes map to real input values.
    pub input: InputMap,
    /// Regression targets, `target_len` per input (empty for classification).
    pub targets: Vec<f32>,
    /// Number of targets per input (0 for classification).
    pub target_len: usize,
}

impl Dataset {
    /// A classification dataset of 8-bit images (`x/255`).
    pub fn classification(shape: [usize; 3], images: Vec<u8>, labels: Vec<u8>, class_names: Vec<String>) -> Dataset {
        Dataset {
            shape,
            images,
            labels,
            num_classes: class_names.len(),
            class_names,
            input: InputMap::IMAGE,
            targets: Vec::new(),
            target_len: 0,
        }
    }

    /// Whether samples carry float targets instead of class labels.
    pub fn is_regression(&self) -> bool {
        self.target_len > 0
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.images.len() / self.image_len().max(1)
    }

    /// Whether the dataset holds no input.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per input.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The input `i` (HWC bytes).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The targets of input `i` (empty for classification).
    pub fn target(&self, i: usize) -> &[f32] {
        let n = self.target_len;
        &self.targets[i * n..(i + 1) * n]
    }

    /// The inputs at `idx`, in that order, with their labels or targets.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let n = self.image_len();
        let t = self.target_len;
        Dataset {
            images: idx.iter().flat_map(|&i| self.images[i * n..(i + 1) * n].iter().copied()).collect(),
            labels: if self.labels.is_empty() { Vec::new() } else { idx.iter().map(|&i| self.labels[i]).collect() },
            targets: idx.iter().flat_map(|&i| self.targets[i * t..(i + 1) * t].iter().copied()).collect(),
            shape: self.shape,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
            input: self.input,
            target_len: self.target_len,
        }
    }

    /// The first `n` inputs (or all of them).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// The same inputs as a reconstruction (autoencoder) dataset: the targets of each input are its own
    /// real input values `input.real(x)` (for 8-bit images `x/255`), one per byte; labels are dropped.
    pub fn reconstruction(self) -> Dataset {
        let targets = self.images.iter().map(|&x| self.input.real(x)).collect();
        Dataset {
            target_len: self.image_len(),
            targets,
            labels: Vec::new(),
            num_classes: 0,
            class_names: Vec::new(),
            ..self
        }
    }
}

/// A train/test pair (and an explicit validation set when the data provides one) and a description of
/// the split for reports.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training set.
    pub train: Dataset,
    /// Held-out set (accuracies are measured on it).
    pub test: Dataset,
    /// The data's own validation set (`val/`, `x_val`, a val CSV), `None` where the data has none
    /// (the built-in datasets); the trainer then carves one off `train` itself.
    pub val: Option<Dataset>,
    /// Dataset name and split, e.g. `"mnist (train 60000 / t10k 10000)"`.
    pub description: String,
}

/// The datasets this crate can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// The built-in generated dataset (no files).
    Builtin,
    /// MNIST IDX files in `<data>/mnist/`.
    Mnist,
    /// Fashion-MNIST IDX files in `<data>/fashion/`.
    Fashion,
    /// CIFAR-10 binary batches in `<data>/cifar10/cifar-10-batches-bin/` (data_batch_5 held out).
    Cifar10,
}

impl std::str::FromStr for DatasetKind {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "builtin" => Ok(Self::Builtin),
            "mnist" => Ok(Self::Mnist),
            "fashion" | "fashion-mnist" => Ok(Self::Fashion),
            "cifar10" | "cifar-10" => Ok(Self::Cifar10),
            _ => Err(DataError::UnknownDataset(s.to_string())),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Builtin => "builtin",
            Self::Mnist => "mnist",
            Self::Fashion => "fashion",
            Self::Cifar10 => "cifar10",
        })
    }
}

/// The data directory: the given one, else the `BSQ_DATA_DIR` environment variable.
pub fn data_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| std::env::var_os("BSQ_DATA_DIR").map(PathBuf::from))
}

/// Loads a dataset's train and test splits. `builtin_size` is the number of generated training images
/// (the generated test set has a quarter as many).
pub fn load(kind: DatasetKind, dir: Option<&Path>, seed: u64, builtin_size: usize) -> Result<Splits, DataError> {
    let need_dir = || data_dir(dir).ok_or_else(|| DataError::NoDataDir(kind.to_string()));
    match kind {
        DatasetKind::Builtin => {
            let train = builtin(builtin_size, seed);
            let test = builtin((builtin_size / 4).max(1), seed ^ 0x9e37_79b9_7f4a_7c15);
            let description = format!("builtin (generated, seed {seed}; train {} / test {})", train.len(), test.len());
            Ok(Splits { train, test, val: None, description })
        }
        DatasetKind::Mnist | DatasetKind::Fashion => {
            let sub = if kind == DatasetKind::Mnist { "mnist" } else { "fashion" };
            let d = need_dir()?.join(sub);
            let names = if kind == DatasetKind::Mnist { mnist_names() } else { fashion_names() };
            let train = load_idx_pair(&d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &names)?;
            let test = load_idx_pair(&d, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &names)?;
            let description = format!("{sub} (train {} / t10k {})", train.len(), test.len());
            Ok(Splits { train, test, val: None, description })
        }
        DatasetKind::Cifar10 => {
            let d = need_dir()?.join("cifar10").join("cifar-10-batches-bin");
            let train_files: Vec<PathBuf> = (1..=4).map(|i| d.join(format!("data_batch_{i}.bin"))).collect();
            let train = read_cifar10(&train_files)?;
            let test = read_cifar10(&[d.join("data_batch_5.bin")])?;
            let description = format!(
                "cifar10 (train data_batch_1..4 {} / held-out data_batch_5 {}; official test batch absent)",
                train.len(),
                test.len()
            );
            Ok(Splits { train, test, val: None, description })
        }
    }
}

fn mnist_names() -> Vec<String> {
    (0..10).map(|i| i.to_string()).collect()
}

fn fashion_names() -> Vec<String> {
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Finds `<dir>/<stem>.gz` or `<dir>/<stem>`.
fn find_idx(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() { gz } else { dir.join(stem) }
}

fn load_idx_pair(dir: &Path, images: &str, labels: &str, names: &[String]) -> Result<Dataset, DataError> {
    let ip = find_idx(dir, images);
    let lp = find_idx(dir, labels);
    let (shape, imgs) = read_idx_images(&ip)?;
    let labs = read_idx_labels(&lp)?;
    let n_images = imgs.len() / shape.iter().product::<usize>().max(1);
    if n_images != labs.len() {
        return Err(DataError::CountMismatch { images: ip, n_images, labels: lp, n_labels: labs.len() });
    }
    if let Some(&bad) = labs.iter().find(|&&l| l as usize >= names.len()) {
        return Err(DataError::Malformed { path: lp, what: format!("label {bad} out of range 0..{}", names.len()) });
    }
    Ok(Dataset::classification(shape, imgs, labs, names.to_vec()))
}

/// Reads a whole file, gunzipping it when its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let raw = std::fs::read(path).map_err(io)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| DataError::Malformed {
            path: path.to_path_buf(),
            what: format!("invalid or truncated gzip stream: {e}"),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads an IDX3 image file (`.gz` or raw): magic 0x00000803, count, rows, cols, then the pixels.
/// Returns `[rows, cols, 1]` and the pixels.
pub fn read_idx_images(path: &Path) -> Result<([usize; 3], Vec<u8>), DataError> {
    parse_idx_images(&read_maybe_gz(path)?, path)
}

/// [`read_idx_images`] on the (decompressed) bytes of a file; `path` names it in errors.
pub fn parse_idx_images(b: &[u8], path: &Path) -> Result<([usize; 3], Vec<u8>), DataError> {
    let bad = |what: String| DataError::Malformed { path: path.to_path_buf(), what };
    if b.len() < 16 {
        return Err(bad(format!("file too short for an IDX3 header: {} bytes, need 16", b.len())));
    }
    let magic = be_u32(b, 0);
    if magic != 0x0803 {
        return Err(bad(format!("bad magic {magic:#010x}, expected 0x00000803 (IDX3 u8 images)")));
    }
    let (n, rows, cols) = (be_u32(b, 4) as usize, be_u32(b, 8) as usize, be_u32(b, 12) as usize);
    if rows == 0 || cols == 0 {
        return Err(bad(format!("image size {rows}x{cols} is empty")));
    }
    let want = rows
        .checked_mul(cols)
        .and_then(|px| px.checked_mul(n))
        .ok_or_else(|| bad(format!("{n} images of {rows}x{cols} pixels is too large")))?;
    let have = b.len() - 16;
    if have != want {
        return Err(bad(format!(
            "size mismatch: header says {n} images of {rows}x{cols} = {want} bytes, file has {have} bytes of pixels{}",
            if have < want { " (truncated)" } else { "" }
        )));
    }
    Ok(([rows, cols, 1], b[16..].to_vec()))
}

/// Reads an IDX1 label file (`.gz` or raw): magic 0x00000801, count, then the labels.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_idx_labels(&read_maybe_gz(path)?, path)
}

/// [`read_idx_labels`] on the (decompressed) bytes of a file; `path` names it in errors.
pub fn parse_idx_labels(b: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let bad = |what: String| DataError::Malformed { path: path.to_path_buf(), what };
    if b.len() < 8 {
        return Err(bad(format!("file too short for an IDX1 header: {} bytes, need 8", b.len())));
    }
    let magic = be_u32(b, 0);
    if magic != 0x0801 {
        return Err(bad(format!("bad magic {magic:#010x}, expected 0x00000801 (IDX1 u8 labels)")));
    }
    let n = be_u32(b, 4) as usize;
    let have = b.len() - 8;
    if have != n {
        return Err(bad(format!(
            "count mismatch: header says {n} labels, file has {have}{}",
            if have < n { " (truncated)" } else { "" }
        )));
    }
    Ok(b[8..].to_vec())
}

/// CIFAR-10 class names.
pub fn cifar10_names() -> Vec<String> {
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Reads CIFAR-10 binary batches (records of 1 label byte + 3072 bytes CHW 32×32×3), converting to HWC.
pub fn read_cifar10(files: &[PathBuf]) -> Result<Dataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let b = std::fs::read(path).map_err(|source| DataError::Io { path: path.clone(), source })?;
        let (l, i) = parse_cifar10_batch(&b, path)?;
        labels.extend(l);
        images.extend(i);
    }
    Ok(Dataset::classification([32, 32, 3], images, labels, cifar10_names()))
}

/// One CIFAR-10 binary batch's bytes → (labels, HWC images); `path` names it in errors.
pub fn parse_cifar10_batch(b: &[u8], path: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    const REC: usize = 1 + 3072;
    let bad = |what: String| DataError::Malformed { path: path.to_path_buf(), what };
    if b.is_empty() || !b.len().is_multiple_of(REC) {
        return Err(bad(format!(
            "size {} bytes is not a whole number of {REC}-byte records ({} records + {} bytes: truncated?)",
            b.len(),
            b.len() / REC,
            b.len() % REC
        )));
    }
    let mut images = Vec::with_capacity(b.len());
    let mut labels = Vec::with_capacity(b.len() / REC);
    for (r, rec) in b.chunks_exact(REC).enumerate() {
        if rec[0] >= 10 {
            return Err(bad(format!("record {r}: label {} out of range 0..10", rec[0])));
        }
        labels.push(rec[0]);
        let px = &rec[1..];
        for i in 0..1024 {
            images.extend_from_slice(&[px[i], px[1024 + i], px[2048 + i]]);
        }
    }
    Ok((labels, images))
}

/// The deterministic generator of data generation, shuffling and initialization: SplitMix64 from
/// `rand_xoshiro` (the same generator as codegen's fixtures), whose stream is fixed by its definition, so
/// a seed gives the same data and runs on every machine and version.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator whose state is `seed`.
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::seed_from_u64(seed))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// In-place Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Names of the built-in classes.
pub const BUILTIN_CLASSES: [&str; 4] = ["hbar", "vbar", "box", "cross"];

/// The built-in generated dataset: `n` 28×28×1 images of 4 classes (horizontal bar, vertical bar, hollow
/// box, cross) at random positions, sizes and intensities over light noise. Deterministic for a seed.
pub fn builtin(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (h, w) = (28usize, 28usize);
    let mut images = vec![0u8; n * h * w];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = rng.below(4);
        let img = &mut images[i * h * w..(i + 1) * h * w];
        for p in img.iter_mut() {
            *p = rng.below(40) as u8;
        }
        let ink = 160 + rng.below(96) as u8;
        let thick = 2 + rng.below(3);
        let len = 12 + rng.below(10);
        let cy = 6 + rng.below(16);
        let cx = 6 + rng.below(16);
        let mut set = |y: isize, x: isize| {
            if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                img[y as usize * w + x as usize] = ink;
            }
        };
        let (cy, cx, len, thick) = (cy as isize, cx as isize, len as isize, thick as isize);
        match class {
            0 => {
                for t in 0..thick {
                    for d in -len / 2..len / 2 {
                        set(cy + t - thick / 2, cx + d);
                    }
                }
            }
            1 => {
                for t in 0..thick {
                    for d in -len / 2..len / 2 {
                        set(cy + d, cx + t - thick / 2);
                    }
                }
            }
            2 => {
                let r = len / 3 + 2;
                for d in -r..=r {
                    for t in 0..2 {
                        set(cy - r + t, cx + d);
                        set(cy + r - t, cx + d);
                        set(cy + d, cx - r + t);
                        set(cy + d, cx + r - t);
                    }
                }
            }
            _ => {
                for t in 0..thick {
                    for d in -len / 2..len / 2 {
                        set(cy + t - thick / 2, cx + d);
                        set(cy + d, cx + t - thick / 2);
                    }
                }
            }
        }
        labels.push(class as u8);
    }
    Dataset::classification([h, w, 1], images, labels, BUILTIN_CLASSES.iter().map(|s| s.to_string()).collect())
}

#[cfg(test)]
mod tests {

    /// rows·cols·count beyond usize is refused with a message (every product is checked, also on 32-bit
    /// hosts where rows·cols alone can overflow).
    #[test]
    fn idx_sizes_that_overflow_are_refused() {
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2];
        b.extend_from_slice(&[0xff; 8]);
        b.push(7);
        let e = parse_idx_images(&b, Path::new("huge.idx")).expect_err("refused").to_string();
        assert!(e.contains("huge.idx") && e.contains("too large"), "{e}");
        // A CIFAR batch with a bad label names the record.
        let mut c = vec![0u8; 2 * 3073];
        c[3073] = 10;
        let e = parse_cifar10_batch(&c, Path::new("b.bin")).expect_err("refused").to_string();
        assert!(e.contains("record 1: label 10"), "{e}");
    }

    use super::*;
    use std::io::Write;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bsq-data-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn idx3(n: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0x0803u32, n, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend((0..pixels).map(|i| i as u8));
        b
    }

    fn idx1(n: u32, labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x0801u32.to_be_bytes());
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn idx_roundtrip_raw_and_gz() {
        let d = tmpdir("idx");
        std::fs::write(d.join("train-images-idx3-ubyte.gz"), gz(&idx3(3, 2, 2, 12))).unwrap();
        std::fs::write(d.join("train-labels-idx1-ubyte"), idx1(3, &[1, 2, 9])).unwrap();
        std::fs::write(d.join("t10k-images-idx3-ubyte"), idx3(1, 2, 2, 4)).unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gz(&idx1(1, &[0]))).unwrap();
        let ds = load_idx_pair(&d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &mnist_names()).unwrap();
        assert_eq!(ds.shape, [2, 2, 1]);
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.image(2), &[8, 9, 10, 11]);
        assert_eq!(ds.labels, vec![1, 2, 9]);
        let root = d.parent().unwrap().join(format!("bsq-data-test-{}-root", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::rename(&d, root.join("mnist")).unwrap();
        let s = load(DatasetKind::Mnist, Some(&root), 0, 0).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (3, 1));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn truncated_and_bad_idx_files_name_the_file_and_the_problem() {
        let d = tmpdir("bad");
        let p = d.join("imgs");
        let mut b = idx3(3, 2, 2, 12);
        b.truncate(20);
        std::fs::write(&p, &b).unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(e.contains("imgs") && e.contains("truncated") && e.contains("3 images"), "{e}");

        let mut b = idx3(1, 2, 2, 4);
        b[3] = 0x01;
        std::fs::write(&p, &b).unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");

        std::fs::write(&p, [0u8; 5]).unwrap();
        assert!(read_idx_images(&p).unwrap_err().to_string().contains("too short"));

        let l = d.join("labels");
        std::fs::write(&l, idx1(5, &[1, 2])).unwrap();
        let e = read_idx_labels(&l).unwrap_err().to_string();
        assert!(e.contains("labels") && e.contains("5 labels") && e.contains("truncated"), "{e}");

        let g = d.join("x.gz");
        let mut z = gz(&idx1(3, &[1, 2, 3]));
        z.truncate(z.len() / 2);
        std::fs::write(&g, &z).unwrap();
        assert!(read_idx_labels(&g).unwrap_err().to_string().contains("gzip"));

        let missing = read_idx_labels(&d.join("nope")).unwrap_err().to_string();
        assert!(missing.contains("nope"), "{missing}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn cifar_reader_converts_chw_to_hwc_and_rejects_truncation() {
        let d = tmpdir("cifar");
        let p = d.join("b.bin");
        let mut rec = vec![7u8];
        rec.extend((0..3072).map(|i| (i / 1024) as u8 * 10 + (i % 1024 % 3) as u8));
        std::fs::write(&p, &rec).unwrap();
        let ds = read_cifar10(std::slice::from_ref(&p)).unwrap();
        assert_eq!(ds.labels, vec![7]);
        assert_eq!(&ds.image(0)[..6], &[0, 10, 20, 1, 11, 21]);
        rec.truncate(3000);
        std::fs::write(&p, &rec).unwrap();
        let e = read_cifar10(&[p]).unwrap_err().to_string();
        assert!(e.contains("b.bin") && e.contains("truncated"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn builtin_is_deterministic_and_balanced() {
        let a = builtin(200, 3);
        assert_eq!(a, builtin(200, 3));
        assert_ne!(a.images, builtin(200, 4).images);
        for c in 0..4 {
            assert!(a.labels.iter().filter(|&&l| l == c).count() > 25);
        }
    }

    #[test]
    fn missing_data_dir_is_an_error() {
        // SAFETY-free: only reads the variable; skip if the environment provides one.
        if std::env::var_os("BSQ_DATA_DIR").is_none() {
            assert!(matches!(load(DatasetKind::Mnist, None, 0, 0), Err(DataError::NoDataDir(_))));
        }
    }
}
