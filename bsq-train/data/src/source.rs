//! The one entry point: [`DataSource`] (what to read), [`Options`] (how), [`load_source`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, DatasetKind, Rng, Splits};

/// What a `--dataset` argument may be, for error messages.
pub(crate) const ACCEPTED: &str = "builtin, mnist, fashion, cifar10; a directory of class folders \
(root/<class>/*.png|jpg|jpeg|bmp, or root/train/<class>/… + root/test/<class>/…); a .npz file or a \
directory with x_train.npy (x_train, y_train, x_test, y_test); a .csv file or a directory with train.csv";

/// What the samples carry besides their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// One class label per sample.
    Classification,
    /// Float targets per sample (NumPy `y` arrays, or the CSV label column(s)).
    Regression,
    /// The targets are the sample's own float features (autoencoders); labels are not read.
    Reconstruction,
}

impl std::str::FromStr for Task {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "classification" => Ok(Task::Classification),
            "regression" => Ok(Task::Regression),
            "reconstruction" | "autoencoder" => Ok(Task::Reconstruction),
            _ => Err(DataError::BadOption(format!(
                "unknown task {s:?} (expected classification, regression or reconstruction)"
            ))),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Reconstruction => "reconstruction",
        })
    }
}

/// How [`load_source`] reads a dataset. `Options::default()` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Seed of every random choice (the carved-off test split, the generated built-in set). Default 0.
    pub seed: u64,
    /// Fraction of the samples held out as the test split when the data has no test split of its own
    /// (an image folder without `train/`+`test/`, a single CSV file). In `(0, 1)`; default 0.2.
    pub test_fraction: f64,
    /// Image folders: 1 = grayscale, 3 = RGB; `None` (default) = the channels of the first image.
    pub channels: Option<usize>,
    /// CSV: the label column(s) by header name. Empty (default) = the column named `label`, else the
    /// last column. Several columns only for [`Task::Regression`].
    pub label_columns: Vec<String>,
    /// What the samples carry. `None` (default) = inferred: NumPy from `y_train`'s dtype (integer →
    /// classification, float → regression); image folders and CSV → classification.
    pub task: Option<Task>,
    /// Data directory of the built-in downloadable sets (mnist, fashion, cifar10); `None` (default) =
    /// the `BSQ_DATA_DIR` environment variable.
    pub data_dir: Option<PathBuf>,
    /// Number of generated training images of the `builtin` set (its test set has a quarter as many).
    /// Default 4000.
    pub builtin_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 0,
            test_fraction: 0.2,
            channels: None,
            label_columns: Vec::new(),
            task: None,
            data_dir: None,
            builtin_size: 4000,
        }
    }
}

/// A dataset to load: a built-in one, or the user's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// The built-in generated dataset.
    Builtin,
    /// MNIST IDX files in `<data dir>/mnist/`.
    Mnist,
    /// Fashion-MNIST IDX files in `<data dir>/fashion/`.
    Fashion,
    /// CIFAR-10 binary batches in `<data dir>/cifar10/cifar-10-batches-bin/`.
    Cifar10,
    /// A directory of class folders (see [`crate::read_image_folder`]).
    ImageFolder(PathBuf),
    /// A `.npz` archive or a directory of `.npy` files (see [`crate::read_npz`]).
    Npz(PathBuf),
    /// CSV files (see [`crate::read_csv`]): a training file, and optional test and validation files
    /// (without a test file, the test split is carved off the training file).
    Csv {
        /// Training file (or the only file).
        train: PathBuf,
        /// Test file.
        test: Option<PathBuf>,
        /// Validation file.
        val: Option<PathBuf>,
    },
}

impl DataSource {
    /// Maps a `--dataset` argument to a source: `builtin`, `mnist`, `fashion` (`fashion-mnist`),
    /// `cifar10` (`cifar-10`) are the built-in sets (write `./mnist` for a directory of that name);
    /// anything else is a path:
    /// - a directory holding `x_train.npy` → [`DataSource::Npz`];
    /// - a directory holding `train.csv` → [`DataSource::Csv`] (with `test.csv`, `val.csv` beside it if present);
    /// - any other directory with subdirectories → [`DataSource::ImageFolder`];
    /// - a `*.npz` file → [`DataSource::Npz`];
    /// - a `*.csv` file → [`DataSource::Csv`]; if its name ends in `train.csv` (`train.csv`,
    ///   `iris_train.csv`, …), the files with `test` / `val` in place of `train` beside it, when they
    ///   exist, are the test and validation files.
    ///
    /// A path that does not exist or is none of these is an error naming it and listing what is accepted.
    pub fn parse(s: &str) -> Result<DataSource, DataError> {
        if let Ok(kind) = s.parse::<DatasetKind>() {
            return Ok(DataSource::from(kind));
        }
        let unknown = |what: &str| DataError::UnknownSource { source_name: s.to_string(), what: what.to_string() };
        if s.is_empty() {
            return Err(unknown("empty name"));
        }
        let path = PathBuf::from(s);
        if path.is_dir() {
            if path.join("x_train.npy").is_file() {
                return Ok(DataSource::Npz(path));
            }
            if path.join("train.csv").is_file() {
                return Ok(csv_with_siblings(path.join("train.csv")));
            }
            let has_subdir = std::fs::read_dir(&path)
                .map_err(|source| DataError::Io { path: path.clone(), source })?
                .filter_map(Result::ok)
                .any(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'));
            if has_subdir {
                return Ok(DataSource::ImageFolder(path));
            }
            return Err(unknown("the directory holds no class folders, no x_train.npy and no train.csv"));
        }
        if path.is_file() {
            return match extension(&path).as_deref() {
                Some("npz") => Ok(DataSource::Npz(path)),
                Some("csv") => Ok(csv_with_siblings(path)),
                _ => Err(unknown("a file that is neither .npz nor .csv")),
            };
        }
        if path.exists() {
            return Err(unknown("neither a file nor a directory"));
        }
        Err(unknown("not a built-in dataset name, and no such file or directory"))
    }

    /// The built-in set this source names, if it is one.
    pub fn builtin_kind(&self) -> Option<DatasetKind> {
        match self {
            DataSource::Builtin => Some(DatasetKind::Builtin),
            DataSource::Mnist => Some(DatasetKind::Mnist),
            DataSource::Fashion => Some(DatasetKind::Fashion),
            DataSource::Cifar10 => Some(DatasetKind::Cifar10),
            _ => None,
        }
    }
}

impl From<DatasetKind> for DataSource {
    fn from(kind: DatasetKind) -> Self {
        match kind {
            DatasetKind::Builtin => DataSource::Builtin,
            DatasetKind::Mnist => DataSource::Mnist,
            DatasetKind::Fashion => DataSource::Fashion,
            DatasetKind::Cifar10 => DataSource::Cifar10,
        }
    }
}

impl std::str::FromStr for DataSource {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        DataSource::parse(s)
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::ImageFolder(p) | DataSource::Npz(p) => write!(f, "{}", p.display()),
            DataSource::Csv { train, .. } => write!(f, "{}", train.display()),
            other => match other.builtin_kind() {
                Some(kind) => write!(f, "{kind}"),
                None => Ok(()),
            },
        }
    }
}

/// Lower-case extension of a path.
pub(crate) fn extension(p: &Path) -> Option<String> {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// A CSV source for `file`, with the `test` / `val` files beside it when its name ends in `train.csv`.
fn csv_with_siblings(file: PathBuf) -> DataSource {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let sibling = |with: &str| -> Option<PathBuf> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix("train.csv")?;
        let prefix = &name[..stem.len()];
        let p = file.with_file_name(format!("{prefix}{with}.csv"));
        p.is_file().then_some(p)
    };
    let (test, val) = (sibling("test"), sibling("val"));
    DataSource::Csv { train: file, test, val }
}

/// Loads a source's splits with the given options.
///
/// The built-in sets behave as [`crate::load`] (data directory from `opts.data_dir` or `BSQ_DATA_DIR`)
/// and support the classification and reconstruction tasks.
pub fn load_source(source: &DataSource, opts: &Options) -> Result<Splits, DataError> {
    let kind = match source {
        DataSource::ImageFolder(root) => return crate::read_image_folder(root, opts),
        DataSource::Npz(path) => return crate::read_npz(path, opts),
        DataSource::Csv { train, test, val } => {
            return crate::read_csv(train, test.as_deref(), val.as_deref(), opts);
        }
        DataSource::Builtin => DatasetKind::Builtin,
        DataSource::Mnist => DatasetKind::Mnist,
        DataSource::Fashion => DatasetKind::Fashion,
        DataSource::Cifar10 => DatasetKind::Cifar10,
    };
    let splits = crate::load(kind, opts.data_dir.as_deref(), opts.seed, opts.builtin_size)?;
    match opts.task {
        None | Some(Task::Classification) => Ok(splits),
        Some(Task::Reconstruction) => Ok(reconstruction(splits)),
        Some(Task::Regression) => {
            Err(DataError::BadOption(format!("the built-in dataset {kind} has class labels, not regression targets")))
        }
    }
}

/// Every split of `s` as a reconstruction dataset.
pub(crate) fn reconstruction(s: Splits) -> Splits {
    Splits {
        train: s.train.reconstruction(),
        test: s.test.reconstruction(),
        val: s.val.map(Dataset::reconstruction),
        description: s.description + ", reconstruction targets",
    }
}

/// Checks a test fraction: finite and in `(0, 1)`.
pub(crate) fn check_fraction(f: f64) -> Result<(), DataError> {
    if f.is_finite() && f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(DataError::BadOption(format!("test fraction {f} is not in (0, 1)")))
    }
}

/// Splits `0..n` into (train, test) index lists, each in increasing order: `round(fraction·count)` of the
/// samples go to the test split, per class when `labels` are given (stratified), chosen by a shuffle
/// seeded with `seed`. `what` names the data in the error given when a split would be empty.
pub(crate) fn split_indices(
    n: usize,
    labels: Option<&[u8]>,
    fraction: f64,
    seed: u64,
    what: &Path,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    check_fraction(fraction)?;
    let mut rng = Rng::new(seed);
    let groups: Vec<Vec<usize>> = match labels {
        Some(l) => {
            let k = l.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
            let mut g = vec![Vec::new(); k];
            for (i, &c) in l.iter().enumerate() {
                g[c as usize].push(i);
            }
            g
        }
        None => vec![(0..n).collect()],
    };
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut g in groups {
        rng.shuffle(&mut g);
        let k = (g.len() as f64 * fraction).round() as usize;
        test.extend_from_slice(&g[..k]);
        train.extend_from_slice(&g[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    if train.is_empty() || test.is_empty() {
        return Err(DataError::Malformed {
            path: what.to_path_buf(),
            what: format!(
                "a test fraction of {fraction} of {n} samples leaves the {} split empty",
                if test.is_empty() { "test" } else { "train" }
            ),
        });
    }
    Ok((train, test))
}
