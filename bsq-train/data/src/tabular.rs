//! CSV tables: a header row, one sample per row, float feature columns and a label column.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use csv::StringRecord;

use crate::source::{Task, split_indices};
use crate::{DataError, Dataset, InputMap, Options, Splits};

/// A CSV file as read: its header and its rows with their 1-based line numbers.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(u64, StringRecord)>,
}

impl Table {
    fn read(path: &Path) -> Result<Table, DataError> {
        let file = std::fs::File::open(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
        let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(file);
        let header: Vec<String> = r.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_string).collect();
        if header.iter().all(String::is_empty) {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                what: "empty file: expected a header row, then one row per sample".into(),
            });
        }
        for (i, name) in header.iter().enumerate() {
            if name.is_empty() {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line: 1,
                    what: format!("column {} has no name", i + 1),
                });
            }
            if header[..i].contains(name) {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line: 1,
                    what: format!("column name {name:?} appears twice"),
                });
            }
        }
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| csv_error(path, e))?;
            let line = rec.position().map_or(0, |p| p.line());
            if rec.len() != header.len() {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line,
                    what: format!("{} fields, but the header has {} columns", rec.len(), header.len()),
                });
            }
            rows.push((line, rec));
        }
        if rows.is_empty() {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                what: "no data rows after the header".into(),
            });
        }
        Ok(Table { path: path.to_path_buf(), header, rows })
    }

    fn err(&self, line: u64, what: String) -> DataError {
        DataError::Csv { path: self.path.clone(), line, what }
    }

    /// The positions in this table of the columns `names` (all of which must exist).
    fn columns(&self, names: &[String]) -> Result<Vec<usize>, DataError> {
        names
            .iter()
            .map(|n| {
                self.header
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| self.err(1, format!("no column {n:?} (columns: {})", self.header.join(", "))))
            })
            .collect()
    }

    /// The float values of columns `cols` (named `names`), row by row.
    fn floats(&self, cols: &[usize], names: &[String]) -> Result<Vec<f32>, DataError> {
        let mut out = Vec::with_capacity(self.rows.len() * cols.len());
        for (line, rec) in &self.rows {
            for (&c, name) in cols.iter().zip(names) {
                let s = &rec[c];
                let v: f32 = match s.parse() {
                    Ok(v) => v,
                    Err(_) if s.is_empty() => return Err(self.err(*line, format!("column {name:?}: empty value"))),
                    Err(_) => return Err(self.err(*line, format!("column {name:?}: {s:?} is not a number"))),
                };
                if !v.is_finite() {
                    return Err(self.err(*line, format!("column {name:?}: value {s:?} is not finite")));
                }
                out.push(v);
            }
        }
        Ok(out)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    match e.position() {
        Some(p) => DataError::Csv { path: path.to_path_buf(), line: p.line(), what: e.to_string() },
        None => DataError::Malformed { path: path.to_path_buf(), what: e.to_string() },
    }
}

/// The samples of one split before quantization.
#[derive(Default)]
struct Rows {
    features: Vec<f32>,
    labels: Vec<u8>,
    targets: Vec<f32>,
}

impl Rows {
    fn subset(&self, idx: &[usize], f: usize, k: usize) -> Rows {
        Rows {
            features: idx.iter().flat_map(|&i| self.features[i * f..(i + 1) * f].iter().copied()).collect(),
            labels: if self.labels.is_empty() { Vec::new() } else { idx.iter().map(|&i| self.labels[i]).collect() },
            targets: idx.iter().flat_map(|&i| self.targets[i * k..(i + 1) * k].iter().copied()).collect(),
        }
    }
}

/// How labels are read: integers, or class names.
enum Classes {
    Integers,
    Names(Vec<String>),
}

/// Reads CSV data: `train` with a header row, and the optional `test` and `val` files with the same
/// columns (in any order). Without a test file, the test split is carved off `train`: a seeded fraction
/// `opts.test_fraction` (per class for classification).
///
/// **Columns.** The label column(s) are `opts.label_columns`, else the column named `label`, else the last
/// column (for reconstruction: `label` if present, else none). Every other column is a float feature:
/// a sample is `[1, 1, F]`, quantized with `InputMap::calibrate(min, max)` over the training rows (the
/// same map for every split).
///
/// **Labels.** Classification (the default task): if every training label is an integer, labels are those
/// integers (`0..=255`, `num_classes` = the largest over all files + 1, names `"0"`, `"1"`, …); otherwise
/// they are class names, sorted, label `i` = the `i`-th name, and a test or validation label that the
/// training file lacks is an error. Regression: the label column(s) are float targets. Reconstruction:
/// the targets are the float features themselves.
///
/// Errors name the file, the 1-based line (the header is line 1) and the column: a wrong field count, a
/// non-numeric, empty or non-finite value, an unknown class, a label out of range; an empty file or one
/// without data rows names the file.
pub fn read_csv(train: &Path, test: Option<&Path>, val: Option<&Path>, opts: &Options) -> Result<Splits, DataError> {
    let task = opts.task.unwrap_or(Task::Classification);
    let train_t = Table::read(train)?;
    let header = &train_t.header;
    let label_names: Vec<String> = if !opts.label_columns.is_empty() {
        train_t.columns(&opts.label_columns)?;
        opts.label_columns.clone()
    } else if header.iter().any(|h| h == "label") {
        vec!["label".to_string()]
    } else if task == Task::Reconstruction {
        Vec::new()
    } else {
        header.last().cloned().into_iter().collect()
    };
    if task == Task::Classification && label_names.len() != 1 {
        return Err(DataError::BadOption(format!(
            "classification reads one label column, got {label_names:?}; several columns are regression targets"
        )));
    }
    let feature_names: Vec<String> = header.iter().filter(|h| !label_names.contains(h)).cloned().collect();
    if feature_names.is_empty() {
        return Err(train_t.err(1, format!("no feature column besides the label column(s) {label_names:?}")));
    }
    let mut tables = vec![train_t];
    for p in [test, val].into_iter().flatten() {
        let t = Table::read(p)?;
        let expected: BTreeSet<&String> = tables[0].header.iter().collect();
        if let Some(extra) = t.header.iter().find(|h| !expected.contains(h)) {
            return Err(t.err(1, format!("column {extra:?} is not in {}", train.display())));
        }
        t.columns(tables[0].header.as_slice())?;
        tables.push(t);
    }

    let classes = match task {
        Task::Classification => {
            let col = tables[0].columns(&label_names)?[0];
            if tables[0].rows.iter().all(|(_, r)| r[col].parse::<i64>().is_ok()) {
                Classes::Integers
            } else {
                let names: BTreeSet<&str> = tables[0].rows.iter().map(|(_, r)| &r[col]).collect();
                if names.len() > 256 {
                    return Err(DataError::Malformed {
                        path: train.to_path_buf(),
                        what: format!(
                            "{} class names in column {:?}: at most 256 fit a u8 label",
                            names.len(),
                            label_names[0]
                        ),
                    });
                }
                Classes::Names(names.into_iter().map(str::to_string).collect())
            }
        }
        _ => Classes::Integers,
    };

    let f = feature_names.len();
    let mut rows = Vec::new();
    for t in &tables {
        let features = t.floats(&t.columns(&feature_names)?, &feature_names)?;
        let mut r = Rows { features, ..Rows::default() };
        match task {
            Task::Classification => r.labels = read_labels(t, t.columns(&label_names)?[0], &label_names[0], &classes)?,
            Task::Regression => r.targets = t.floats(&t.columns(&label_names)?, &label_names)?,
            Task::Reconstruction => r.targets = r.features.clone(),
        }
        rows.push(r);
    }
    let target_len = match task {
        Task::Classification => 0,
        Task::Regression => label_names.len(),
        Task::Reconstruction => f,
    };
    let mut how = String::new();
    if test.is_none() {
        let all = rows.remove(0);
        let n = all.features.len() / f;
        let strata = (task == Task::Classification).then_some(&all.labels[..]);
        let (tr, te) = split_indices(n, strata, opts.test_fraction, opts.seed, train)?;
        rows.insert(0, all.subset(&te, f, target_len));
        rows.insert(0, all.subset(&tr, f, target_len));
        how = format!(
            "; test = {} of {}, seed {}",
            opts.test_fraction,
            if strata.is_some() { "each class" } else { "the rows" },
            opts.seed
        );
    }

    let (lo, hi) = rows[0].features.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    let input = InputMap::calibrate(lo, hi);
    let (num_classes, class_names) = match &classes {
        _ if task != Task::Classification => (0, Vec::new()),
        Classes::Names(names) => (names.len(), names.clone()),
        Classes::Integers => {
            let k = rows.iter().flat_map(|r| r.labels.iter()).map(|&l| l as usize + 1).max().unwrap_or(0);
            (k, (0..k).map(|c| c.to_string()).collect())
        }
    };
    let mut datasets = rows.into_iter().map(|r| Dataset {
        shape: [1, 1, f],
        images: r.features.iter().map(|&x| input.quantize(x)).collect(),
        labels: r.labels,
        num_classes,
        class_names: class_names.clone(),
        input,
        targets: r.targets,
        target_len,
    });
    let (Some(train_ds), Some(test_ds)) = (datasets.next(), datasets.next()) else {
        return Err(DataError::Malformed { path: train.to_path_buf(), what: "no train and test split".into() });
    };
    let val_ds = datasets.next();
    let what = match task {
        Task::Classification => format!("{num_classes} classes"),
        Task::Regression => format!("regression, {target_len} targets"),
        Task::Reconstruction => "reconstruction".to_string(),
    };
    let description = format!(
        "csv {} ({what}; {f} features, input scale {} zero point {}; train {} / test {}{}{how})",
        train.display(),
        input.scale,
        input.zero_point,
        train_ds.len(),
        test_ds.len(),
        val_ds.as_ref().map(|v| format!(" / val {}", v.len())).unwrap_or_default(),
    );
    Ok(Splits { train: train_ds, test: test_ds, val: val_ds, description })
}

/// The class labels of column `col` (named `name`) of `t`.
fn read_labels(t: &Table, col: usize, name: &str, classes: &Classes) -> Result<Vec<u8>, DataError> {
    t.rows
        .iter()
        .map(|(line, r)| {
            let s = &r[col];
            if s.is_empty() {
                return Err(t.err(*line, format!("column {name:?}: empty label")));
            }
            match classes {
                Classes::Integers => {
                    let v: i64 = s.parse().map_err(|_| {
                        t.err(
                            *line,
                            format!(
                                "column {name:?}: {s:?} is not an integer label (the training labels are integers)"
                            ),
                        )
                    })?;
                    u8::try_from(v).map_err(|_| t.err(*line, format!("column {name:?}: label {v} is not in 0..=255")))
                }
                Classes::Names(names) => match names.binary_search_by(|n| n.as_str().cmp(s)) {
                    // `names` has at most 256 entries.
                    Ok(i) => Ok(i as u8),
                    Err(_) => Err(t.err(
                        *line,
                        format!(
                            "column {name:?}: unknown class {s:?} (classes of the training file: {})",
                            names.join(", ")
                        ),
                    )),
                },
            }
        })
        .collect()
}
