//! Image folders: `root/<class>/*.png|jpg|jpeg|bmp` (the Keras `image_dataset_from_directory` /
//! torchvision `ImageFolder` layout), optionally split as `root/train/`, `root/test/`, `root/val/`.

use std::path::{Path, PathBuf};

use crate::source::{Task, extension, split_indices};
use crate::{DataError, Dataset, Options, Splits};

/// The image extensions read (compared case-insensitively); other files are ignored.
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Names of the directories that hold a validation split, in order of preference.
const VAL_DIRS: [&str; 2] = ["val", "validation"];

/// Reads an image folder.
///
/// Layout: `root/<class>/…/*.png|jpg|jpeg|bmp`; classes are the subdirectory names, sorted (names
/// starting with `.` are skipped), label `i` = the `i`-th name; images in a class are found recursively
/// and taken in sorted path order. If `root/train/` exists, the splits are `root/train/<class>/…`,
/// `root/test/<class>/…` and, if present, `root/val/<class>/…` (or `validation/`), whose class sets must
/// equal train's; without `root/test/`, the test split is carved off the training images: a seeded,
/// per-class fraction `opts.test_fraction`.
///
/// Every image is converted to `opts.channels` (1 = grayscale, 3 = RGB; default: grayscale if the first
/// image is grayscale, else RGB; alpha is dropped) and must have the size of the first image: nothing is
/// resized. Inputs keep the 8-bit image map `x/255` ([`crate::InputMap::IMAGE`]).
///
/// Errors name the file or directory: an image that cannot be decoded, an image of another size, an
/// empty class directory, no class directories, more than 256 classes, class sets that differ between
/// splits. `opts.task` may be classification (default) or reconstruction.
pub fn read_image_folder(root: &Path, opts: &Options) -> Result<Splits, DataError> {
    let reconstruct = match opts.task {
        None | Some(Task::Classification) => false,
        Some(Task::Reconstruction) => true,
        Some(Task::Regression) => {
            return Err(DataError::BadOption(format!(
                "{}: an image folder has class labels, not regression targets",
                root.display()
            )));
        }
    };
    if let Some(c) = opts.channels
        && c != 1
        && c != 3
    {
        return Err(DataError::BadOption(format!("channels {c}: expected 1 (grayscale) or 3 (RGB)")));
    }
    let train_dir = root.join("train");
    let split_layout = train_dir.is_dir();
    let class_root = if split_layout { train_dir.clone() } else { root.to_path_buf() };
    let classes = class_dirs(&class_root)?;
    let train_files = list_split(&class_root, &classes)?;
    let mut reader = ImageReader { channels: opts.channels, size: None };
    let mut all = reader.read(&train_files, &classes)?;

    let read_other = |dir: PathBuf, reader: &mut ImageReader| -> Result<Dataset, DataError> {
        let other = class_dirs(&dir)?;
        if other != classes {
            let missing: Vec<&String> = classes.iter().filter(|c| !other.contains(c)).collect();
            let extra: Vec<&String> = other.iter().filter(|c| !classes.contains(c)).collect();
            return Err(DataError::Malformed {
                path: dir.clone(),
                what: format!(
                    "class folders differ from {}: missing {missing:?}, extra {extra:?}",
                    class_root.display()
                ),
            });
        }
        reader.read(&list_split(&dir, &classes)?, &classes)
    };

    let test_dir = root.join("test");
    let (train, test, how) = if split_layout && test_dir.is_dir() {
        let test = read_other(test_dir, &mut reader)?;
        (all, test, "train/ and test/".to_string())
    } else {
        let (tr, te) = split_indices(all.len(), Some(&all.labels), opts.test_fraction, opts.seed, &class_root)?;
        let test = all.subset(&te);
        all = all.subset(&tr);
        (all, test, format!("test = {} of each class, seed {}", opts.test_fraction, opts.seed))
    };
    let val = match VAL_DIRS.iter().map(|d| root.join(d)).find(|d| split_layout && d.is_dir()) {
        Some(d) => Some(read_other(d, &mut reader)?),
        None => None,
    };
    let [h, w, c] = train.shape;
    let description = format!(
        "image folder {} ({} classes, {h}x{w}x{c}; train {} / test {}{}; {how})",
        root.display(),
        classes.len(),
        train.len(),
        test.len(),
        val.as_ref().map(|v| format!(" / val {}", v.len())).unwrap_or_default(),
    );
    let splits = Splits { train, test, val, description };
    Ok(if reconstruct { crate::source::reconstruction(splits) } else { splits })
}

/// The sorted class subdirectory names of `dir` (names starting with `.` skipped); at least one, at
/// most 256.
fn class_dirs(dir: &Path) -> Result<Vec<String>, DataError> {
    let io = |source| DataError::Io { path: dir.to_path_buf(), source };
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(DataError::Malformed {
            path: dir.to_path_buf(),
            what: "no class directories (expected <dir>/<class>/*.png|jpg|jpeg|bmp)".into(),
        });
    }
    if names.len() > 256 {
        return Err(DataError::Malformed {
            path: dir.to_path_buf(),
            what: format!("{} class directories: at most 256 classes fit a u8 label", names.len()),
        });
    }
    Ok(names)
}

/// (file, label) of every image under `dir/<class>/`, class by class, files in sorted path order.
fn list_split(dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u8)>, DataError> {
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let cdir = dir.join(class);
        let mut files = Vec::new();
        walk(&cdir, &mut files)?;
        if files.is_empty() {
            return Err(DataError::Malformed {
                path: cdir,
                what: format!("class directory holds no image ({})", IMAGE_EXTENSIONS.join(", ")),
            });
        }
        files.sort();
        // `classes` has at most 256 entries (checked by `class_dirs`).
        out.extend(files.into_iter().map(|f| (f, label as u8)));
    }
    Ok(out)
}

/// Appends the image files under `dir`, recursively (entries starting with `.` skipped).
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let io = |source| DataError::Io { path: dir.to_path_buf(), source };
    for e in std::fs::read_dir(dir).map_err(io)? {
        let p = e.map_err(io)?.path();
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if p.is_dir() {
            walk(&p, files)?;
        } else if extension(&p).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            files.push(p);
        }
    }
    Ok(())
}

/// Decodes images to a common channel count and size: both fixed by the first image read unless given.
struct ImageReader {
    channels: Option<usize>,
    /// (width, height, the file that set it).
    size: Option<(u32, u32, PathBuf)>,
}

impl ImageReader {
    fn read(&mut self, files: &[(PathBuf, u8)], classes: &[String]) -> Result<Dataset, DataError> {
        let mut images = Vec::new();
        let mut labels = Vec::with_capacity(files.len());
        for (path, label) in files {
            let bad = |what: String| DataError::Malformed { path: path.clone(), what };
            let img = image::ImageReader::open(path)
                .map_err(|source| DataError::Io { path: path.clone(), source })?
                .with_guessed_format()
                .map_err(|source| DataError::Io { path: path.clone(), source })?
                .decode()
                .map_err(|e| bad(format!("cannot decode image: {e}")))?;
            let (w, h) = (img.width(), img.height());
            match &self.size {
                None => self.size = Some((w, h, path.clone())),
                Some((ew, eh, first)) if (*ew, *eh) != (w, h) => {
                    return Err(bad(format!(
                        "image is {w}x{h} (width x height), expected {ew}x{eh} like {} (images are not resized)",
                        first.display()
                    )));
                }
                Some(_) => {}
            }
            let channels = *self.channels.get_or_insert(if img.color().has_color() { 3 } else { 1 });
            if channels == 1 {
                images.extend_from_slice(img.to_luma8().as_raw());
            } else {
                images.extend_from_slice(img.to_rgb8().as_raw());
            }
            labels.push(*label);
        }
        let (w, h) = self.size.as_ref().map(|(w, h, _)| (*w as usize, *h as usize)).unwrap_or((0, 0));
        Ok(Dataset::classification([h, w, self.channels.unwrap_or(1)], images, labels, classes.to_vec()))
    }
}
