//! The dataset readers on small real files written to a temporary directory: image folders (PNG, BMP,
//! JPEG), NumPy `.npz` / `.npy`, CSV, and the `DataSource` entry point. Each error case checks that the
//! message names the file and the row, column, array or element at fault.

use std::fs;
use std::path::{Path, PathBuf};

use bsq_data::{DataError, DataSource, Dataset, InputMap, Options, Splits, Task, load_source};
use npyz::WriterBuilder;

fn opts() -> Options {
    Options::default()
}

fn err_text<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
    r.expect_err("an error").to_string()
}

/// (input bytes, label) of every sample, sorted, for comparing sets of samples.
fn samples(ds: &Dataset) -> Vec<(Vec<u8>, u8)> {
    let mut v: Vec<_> = (0..ds.len()).map(|i| (ds.image(i).to_vec(), ds.labels[i])).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------
// Image folders

fn gray(path: &Path, w: u32, h: u32, seed: u8) -> Vec<u8> {
    let px: Vec<u8> = (0..w * h).map(|i| seed.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(7))).collect();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_raw(w, h, px.clone()).unwrap().save(path).unwrap();
    px
}

fn rgb(path: &Path, w: u32, h: u32, seed: u8) -> Vec<u8> {
    let px: Vec<u8> = (0..w * h * 3).map(|i| seed.wrapping_mul(17).wrapping_add((i as u8).wrapping_mul(5))).collect();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_raw(w, h, px.clone()).unwrap().save(path).unwrap();
    px
}

#[test]
fn image_folder_reads_classes_sorted_and_carves_a_seeded_stratified_test_split() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let mut expected = Vec::new();
    for i in 0..5u8 {
        // PNG and BMP, and a nested folder: all images of a class are found.
        expected.push((gray(&root.join(format!("zebra/z{i}.png")), 4, 3, i), 1u8));
        let sub = if i == 4 { "ant/more/a4.BMP".to_string() } else { format!("ant/a{i}.bmp") };
        expected.push((gray(&root.join(sub), 4, 3, 100 + i), 0u8));
    }
    fs::write(root.join("zebra/notes.txt"), "not an image").unwrap();
    fs::write(root.join("README.md"), "ignored").unwrap();
    fs::create_dir_all(root.join(".hidden")).unwrap();
    expected.sort();

    // An 8-bit BMP is stored with a palette and decodes as RGB: without `channels` the first image
    // (ant/a0.bmp) would make every input RGB.
    let rgb3 = load_source(&DataSource::ImageFolder(root.to_path_buf()), &Options { test_fraction: 0.4, ..opts() });
    assert_eq!(rgb3.unwrap().train.shape, [3, 4, 3]);
    let o = Options { test_fraction: 0.4, seed: 7, channels: Some(1), ..opts() };
    let s = load_source(&DataSource::ImageFolder(root.to_path_buf()), &o).unwrap();
    assert_eq!(s.train.class_names, vec!["ant", "zebra"]);
    assert_eq!((s.train.num_classes, s.test.num_classes), (2, 2));
    assert_eq!(s.train.shape, [3, 4, 1], "HWC of a 4 wide, 3 high grayscale image");
    assert_eq!(s.train.input, InputMap::IMAGE);
    assert!(s.val.is_none());
    // 40 % of each class of 5 = 2 test images per class.
    assert_eq!((s.train.len(), s.test.len()), (6, 4));
    assert_eq!(s.test.labels.iter().filter(|&&l| l == 0).count(), 2);
    let mut all = samples(&s.train);
    all.extend(samples(&s.test));
    all.sort();
    assert_eq!(all, expected, "every pixel and label as written");
    // Same seed, same split; another seed, another split.
    let again = load_source(&DataSource::ImageFolder(root.to_path_buf()), &o).unwrap();
    assert_eq!(again.test, s.test);
    let other = load_source(&DataSource::ImageFolder(root.to_path_buf()), &Options { seed: 8, ..o }).unwrap();
    assert_ne!(other.test.images, s.test.images);
    assert!(s.description.contains("2 classes"), "{}", s.description);
}

#[test]
fn image_folder_with_train_test_val_dirs_keeps_rgb_in_hwc_order() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let a = rgb(&root.join("train/cat/0.png"), 2, 2, 1);
    let b = rgb(&root.join("train/dog/0.png"), 2, 2, 2);
    let c = rgb(&root.join("test/cat/x.png"), 2, 2, 3);
    rgb(&root.join("test/dog/y.png"), 2, 2, 4);
    let v = rgb(&root.join("val/dog/v.png"), 2, 2, 5);
    rgb(&root.join("val/cat/v.png"), 2, 2, 6);
    let s = load_source(&DataSource::parse(root.to_str().unwrap()).unwrap(), &opts()).unwrap();
    assert_eq!(s.train.shape, [2, 2, 3]);
    assert_eq!((s.train.len(), s.test.len(), s.val.as_ref().unwrap().len()), (2, 2, 2));
    assert_eq!(s.train.image(0), &a[..]);
    assert_eq!(s.train.image(1), &b[..]);
    assert_eq!(s.train.labels, vec![0, 1]);
    assert_eq!(s.test.image(0), &c[..]);
    let val = s.val.as_ref().unwrap();
    assert_eq!(val.labels, vec![0, 1]);
    assert_eq!(val.image(1), &v[..]);

    // channels = 1 converts RGB to luma; reconstruction makes targets x/255.
    let o = Options { channels: Some(1), task: Some(Task::Reconstruction), ..opts() };
    let g = bsq_data::read_image_folder(root, &o).unwrap();
    assert_eq!(g.train.shape, [2, 2, 1]);
    assert_eq!(g.train.target_len, 4);
    assert!(g.train.labels.is_empty() && g.train.num_classes == 0);
    assert_eq!(g.train.target(0)[0], g.train.image(0)[0] as f32 / 255.0);
}

#[test]
fn image_folder_reads_jpeg_and_takes_channels_from_the_first_image() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    gray(&root.join("a/1.jpg"), 8, 8, 1);
    rgb(&root.join("b/1.jpeg"), 8, 8, 2);
    gray(&root.join("b/2.png"), 8, 8, 2);
    let s = bsq_data::read_image_folder(root, &Options { test_fraction: 0.5, ..opts() }).unwrap();
    // The first image (class a) is grayscale: the RGB JPEG is converted to one channel.
    assert_eq!(s.train.shape, [8, 8, 1]);
    assert_eq!(s.train.len() + s.test.len(), 3);
}

#[test]
fn image_folder_errors_name_the_file_or_directory() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    gray(&root.join("a/1.png"), 4, 4, 1);
    gray(&root.join("a/2.png"), 5, 4, 1);
    gray(&root.join("b/1.png"), 4, 4, 1);
    let e = err_text(bsq_data::read_image_folder(root, &opts()));
    assert!(e.contains("2.png") && e.contains("5x4") && e.contains("expected 4x4") && e.contains("1.png"), "{e}");

    fs::remove_file(root.join("a/2.png")).unwrap();
    fs::write(root.join("b/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = err_text(bsq_data::read_image_folder(root, &opts()));
    assert!(e.contains("broken.png") && e.contains("decode"), "{e}");

    fs::remove_file(root.join("b/broken.png")).unwrap();
    fs::create_dir_all(root.join("c")).unwrap();
    fs::write(root.join("c/x.txt"), "x").unwrap();
    let e = err_text(bsq_data::read_image_folder(root, &opts()));
    assert!(e.contains(&format!("{}", root.join("c").display())) && e.contains("no image"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let e = err_text(bsq_data::read_image_folder(empty.path(), &opts()));
    assert!(e.contains("no class directories"), "{e}");

    let e = err_text(bsq_data::read_image_folder(root, &Options { channels: Some(2), ..opts() }));
    assert!(e.contains("channels 2"), "{e}");

    let split = tempfile::tempdir().unwrap();
    gray(&split.path().join("train/a/1.png"), 2, 2, 1);
    gray(&split.path().join("train/b/1.png"), 2, 2, 1);
    gray(&split.path().join("test/a/1.png"), 2, 2, 1);
    gray(&split.path().join("test/c/1.png"), 2, 2, 1);
    let e = err_text(bsq_data::read_image_folder(split.path(), &opts()));
    let (tr, te) = (split.path().join("train"), split.path().join("test"));
    assert!(e.contains(&tr.display().to_string()) && e.contains(&te.display().to_string()), "{e}");
    assert!(e.contains("missing [\"b\"]") && e.contains("extra [\"c\"]"), "{e}");
}

// ---------------------------------------------------------------------------------------------------
// NumPy

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    let f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(f).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn add_npz<T: npyz::AutoSerialize + Copy, W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    shape: &[u64],
    data: &[T],
) {
    let mut w = npz.array::<T>(name, Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// A `.npy` file written by hand: version 1.0 header with `descr`, `fortran_order` and `shape`.
fn raw_npy(path: &Path, descr: &str, fortran: bool, shape: &str, data: &[u8]) {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(&header);
    b.extend_from_slice(data);
    fs::write(path, b).unwrap();
}

#[test]
fn npz_of_uint8_images_gives_images_and_labels_with_val() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.npz");
    let x: Vec<u8> = (0..3 * 2 * 2).map(|i| i as u8 * 10).collect();
    {
        let mut npz = npyz::npz::NpzWriter::create(&p).unwrap();
        add_npz(&mut npz, "x_train", &[3, 2, 2], &x);
        add_npz(&mut npz, "y_train", &[3], &[0u8, 1, 1]);
        add_npz(&mut npz, "x_test", &[1, 2, 2], &[1u8, 2, 3, 4]);
        add_npz(&mut npz, "y_test", &[1, 1], &[4i64]);
        add_npz(&mut npz, "x_val", &[1, 2, 2], &[5u8, 6, 7, 8]);
        add_npz(&mut npz, "y_val", &[1], &[2i32]);
    }
    let s = load_source(&DataSource::parse(p.to_str().unwrap()).unwrap(), &opts()).unwrap();
    assert_eq!(s.train.shape, [2, 2, 1]);
    assert_eq!(s.train.input, InputMap::IMAGE);
    assert_eq!(s.train.images, x);
    assert_eq!(s.train.labels, vec![0, 1, 1]);
    assert_eq!(s.test.labels, vec![4]);
    assert_eq!(s.test.image(0), &[1, 2, 3, 4]);
    let val = s.val.as_ref().unwrap();
    assert_eq!((val.labels.clone(), val.image(0).to_vec()), (vec![2], vec![5, 6, 7, 8]));
    // num_classes = largest label over all splits + 1 (the 4 is only in the test split).
    assert_eq!(s.train.num_classes, 5);
    assert_eq!(s.val.unwrap().class_names, vec!["0", "1", "2", "3", "4"]);
}

#[test]
fn npy_directory_of_float_features_is_quantized_with_the_training_map() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Train features in [-1, 3]; a test value (5) beyond the training range saturates.
    write_npy(&d.join("x_train.npy"), &[2, 3], &[-1.0f32, 0.0, 3.0, 0.5, 1.0, 2.0]);
    write_npy(&d.join("y_train.npy"), &[2], &[0i64, 2]);
    write_npy(&d.join("x_test.npy"), &[1, 3], &[0.0f64, 5.0, -1.0]);
    write_npy(&d.join("y_test.npy"), &[1], &[1u16]);
    let s = load_source(&DataSource::parse(d.to_str().unwrap()).unwrap(), &opts()).unwrap();
    let map = InputMap::calibrate(-1.0, 3.0);
    assert_eq!(s.train.input, map);
    assert_eq!(map.zero_point, 64, "round(1 / (4/255))");
    assert_eq!(s.test.input, map);
    assert_eq!(s.train.shape, [1, 1, 3]);
    assert_eq!(s.train.image(0), &[0, 64, 255]);
    assert_eq!(s.train.image(1), &[map.quantize(0.5), map.quantize(1.0), map.quantize(2.0)]);
    assert_eq!(s.test.image(0), &[64, 255, 0]);
    assert_eq!((s.train.labels.clone(), s.test.labels.clone(), s.train.num_classes), (vec![0, 2], vec![1], 3));
    assert!(s.val.is_none());
}

#[test]
fn npz_float_y_is_regression_and_reconstruction_needs_no_y() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("r.npz");
    {
        let mut npz = npyz::npz::NpzWriter::create(&p).unwrap();
        add_npz(&mut npz, "x_train", &[2, 2], &[0.5f32, -0.5, 1.0, 0.0]);
        add_npz(&mut npz, "y_train", &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]);
        add_npz(&mut npz, "x_test", &[1, 2], &[0.25f32, 0.75]);
        add_npz(&mut npz, "y_test", &[1, 2], &[5.0f64, 6.0]);
    }
    let s = bsq_data::read_npz(&p, &opts()).unwrap();
    assert!(s.train.is_regression());
    assert_eq!((s.train.target_len, s.train.num_classes), (2, 0));
    assert_eq!(s.train.targets, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(s.test.target(0), &[5.0, 6.0]);
    assert!(s.train.labels.is_empty());

    let q = t.path().join("ae.npz");
    {
        let mut npz = npyz::npz::NpzWriter::create(&q).unwrap();
        add_npz(&mut npz, "x_train", &[2, 2], &[0.5f32, -0.5, 1.0, 0.0]);
        add_npz(&mut npz, "x_test", &[1, 2], &[0.25f32, 0.75]);
    }
    let s = bsq_data::read_npz(&q, &Options { task: Some(Task::Reconstruction), ..opts() }).unwrap();
    assert_eq!(s.train.target_len, 2);
    assert_eq!(s.train.targets, vec![0.5, -0.5, 1.0, 0.0], "the float features themselves");
    assert_eq!(s.test.targets, vec![0.25, 0.75]);
    assert_eq!(s.train.input, InputMap::calibrate(-0.5, 1.0));
    // Without the task, the missing y is an error listing what was found.
    let e = err_text(bsq_data::read_npz(&q, &opts()));
    assert!(e.contains("ae.npz") && e.contains("y_train") && e.contains("found: x_test, x_train"), "{e}");
}

#[test]
fn npy_shapes_dtypes_and_fortran_order() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // (N, H, W, C) = (1, 2, 3, 2) in Fortran order: element (0, h, w, c) is stored at h + 2w + 6c.
    let c_order: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let mut fortran = [0f64; 12];
    for h in 0..2 {
        for w in 0..3 {
            for c in 0..2 {
                fortran[h + 2 * w + 6 * c] = c_order[(h * 3 + w) * 2 + c];
            }
        }
    }
    let bytes: Vec<u8> = fortran.iter().flat_map(|v| v.to_le_bytes()).collect();
    raw_npy(&d.join("x_train.npy"), "<f8", true, "(1, 2, 3, 2)", &bytes);
    raw_npy(&d.join("y_train.npy"), "|b1", false, "(1,)", &[1]);
    write_npy(&d.join("x_test.npy"), &[1, 2, 3, 2], &c_order);
    // A big-endian int16 label.
    raw_npy(&d.join("y_test.npy"), ">i2", false, "(1,)", &[0, 1]);
    let s = bsq_data::read_npz(d, &opts()).unwrap();
    assert_eq!(s.test.labels, vec![1]);
    assert_eq!(s.train.shape, [2, 3, 2]);
    assert_eq!(s.train.images, s.test.images, "Fortran order is reordered to C (HWC) order");
    let map = InputMap::calibrate(0.0, 11.0);
    assert_eq!(s.train.images, c_order.iter().map(|&v| map.quantize(v as f32)).collect::<Vec<_>>());
    assert_eq!(s.train.labels, vec![1]);
}

#[test]
fn numpy_errors_name_the_file_the_array_and_the_element() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let base = |d: &Path| {
        write_npy(&d.join("x_train.npy"), &[2, 2], &[0.0f32, 1.0, 2.0, 3.0]);
        write_npy(&d.join("y_train.npy"), &[2], &[0u8, 1]);
        write_npy(&d.join("x_test.npy"), &[1, 2], &[0.0f32, 1.0]);
        write_npy(&d.join("y_test.npy"), &[1], &[1u8]);
    };
    base(d);
    bsq_data::read_npz(d, &opts()).expect("the base case reads");

    // Missing array: names it and lists what was found.
    fs::remove_file(d.join("y_test.npy")).unwrap();
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(
        e.contains("y_test") && e.contains("missing") && e.contains("found: x_test.npy, x_train.npy, y_train.npy"),
        "{e}"
    );
    base(d);

    // Truncated data.
    let mut b = fs::read(d.join("x_train.npy")).unwrap();
    b.truncate(b.len() - 3);
    fs::write(d.join("x_train.npy"), &b).unwrap();
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("x_train.npy") && e.contains("array x_train") && e.contains("truncated"), "{e}");
    base(d);

    // A header that is not a .npy header.
    fs::write(d.join("x_test.npy"), b"garbage").unwrap();
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("x_test.npy") && e.contains("not a valid .npy"), "{e}");
    base(d);

    // N mismatch between x and y.
    write_npy(&d.join("y_train.npy"), &[3], &[0u8, 1, 1]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("y_train") && e.contains("3 samples") && e.contains("x_train has 2"), "{e}");
    base(d);

    // Non-finite value: the flat index.
    write_npy(&d.join("x_train.npy"), &[2, 2], &[0.0f32, 1.0, 2.0, f32::NAN]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("x_train") && e.contains("non-finite") && e.contains("flat index 3"), "{e}");
    base(d);

    // Labels: negative, too large.
    write_npy(&d.join("y_train.npy"), &[2], &[0i32, -1]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("y_train") && e.contains("negative label -1 at index 1"), "{e}");
    write_npy(&d.join("y_train.npy"), &[2], &[256i32, 0]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("y_train") && e.contains("label 256 at index 0"), "{e}");
    base(d);

    // Unsupported dtype (complex64) and shape.
    raw_npy(&d.join("x_test.npy"), "<c8", false, "(1, 2)", &[0; 16]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("x_test.npy") && e.contains("unsupported dtype <c8"), "{e}");
    write_npy(&d.join("x_test.npy"), &[2], &[0.0f32, 1.0]);
    let e = err_text(bsq_data::read_npz(d, &opts()));
    assert!(e.contains("x_test") && e.contains("shape [2]"), "{e}");
    base(d);

    // Float class labels need the task asked for.
    write_npy(&d.join("y_train.npy"), &[2], &[0.0f32, 1.0]);
    let s = bsq_data::read_npz(d, &Options { task: Some(Task::Classification), ..opts() }).unwrap();
    assert_eq!(s.train.labels, vec![0, 1]);
    write_npy(&d.join("y_train.npy"), &[2, 2], &[0.0f32, 1.0, 1.0, 0.0]);
    let s = bsq_data::read_npz(d, &Options { task: Some(Task::Classification), ..opts() }).unwrap();
    assert_eq!(s.train.labels, vec![1, 0], "one-hot rows");
    write_npy(&d.join("y_train.npy"), &[2], &[0.5f32, 1.0]);
    let e = err_text(bsq_data::read_npz(d, &Options { task: Some(Task::Classification), ..opts() }));
    assert!(e.contains("label 0.5 at index 0 is not an integer"), "{e}");

    // A corrupt or truncated .npz archive.
    let p = d.join("bad.npz");
    fs::write(&p, b"PK\x03\x04 this is no zip").unwrap();
    let e = err_text(bsq_data::read_npz(&p, &opts()));
    assert!(e.contains("bad.npz") && e.contains("corrupt"), "{e}");
    let good = d.join("good.npz");
    {
        let mut npz = npyz::npz::NpzWriter::create(&good).unwrap();
        add_npz(&mut npz, "x_train", &[64, 4], &[1.5f32; 256]);
    }
    let mut z = fs::read(&good).unwrap();
    z.truncate(z.len() / 2);
    fs::write(&p, &z).unwrap();
    let e = err_text(bsq_data::read_npz(&p, &opts()));
    assert!(e.contains("bad.npz") && e.contains("truncated"), "{e}");
    // A damaged member (the archive's directory intact): the CRC or the inflater names the array.
    {
        let mut npz = npyz::npz::NpzWriter::create(&good).unwrap();
        let x: Vec<f32> = (0..256).map(|i| (i * i % 97) as f32 / 7.0).collect();
        add_npz(&mut npz, "x_train", &[64, 4], &x);
        add_npz(&mut npz, "y_train", &[64], &[0u8; 64]);
        add_npz(&mut npz, "x_test", &[64, 4], &x);
        add_npz(&mut npz, "y_test", &[64], &[0u8; 64]);
    }
    let mut z = fs::read(&good).unwrap();
    bsq_data::read_npz(&good, &opts()).expect("the undamaged archive reads");
    z[300] ^= 0x55;
    fs::write(&p, &z).unwrap();
    let e = err_text(bsq_data::read_npz(&p, &opts()));
    assert!(e.contains("bad.npz") && e.contains("array x_train"), "{e}");
}

// ---------------------------------------------------------------------------------------------------
// CSV

#[test]
fn csv_train_and_test_files_with_class_names() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fs::write(d.join("train.csv"), "a,label,b\n-1,setosa,0\n3, virginica ,1.5\n0,setosa,2\n").unwrap();
    fs::write(d.join("test.csv"), "b,a,label\n0.5,4,virginica\n").unwrap();
    let src = DataSource::parse(d.join("train.csv").to_str().unwrap()).unwrap();
    assert_eq!(
        src,
        DataSource::Csv { train: d.join("train.csv"), test: Some(d.join("test.csv")), val: None },
        "test.csv beside train.csv is the test file"
    );
    let s = load_source(&src, &opts()).unwrap();
    assert_eq!(s.train.class_names, vec!["setosa", "virginica"]);
    assert_eq!(s.train.labels, vec![0, 1, 0]);
    assert_eq!(s.test.labels, vec![1]);
    assert_eq!(s.train.shape, [1, 1, 2]);
    let map = InputMap::calibrate(-1.0, 3.0);
    assert_eq!(s.train.input, map);
    assert_eq!(s.train.image(0), &[0, 64]);
    assert_eq!(s.train.image(1), &[255, map.quantize(1.5)]);
    // Columns of the test file are matched by name; 4 saturates.
    assert_eq!(s.test.image(0), &[255, map.quantize(0.5)]);
}

#[test]
fn csv_single_file_with_integer_labels_in_the_last_column_is_split_per_class() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("data.csv");
    let mut text = String::from("x0,x1,class\n");
    for i in 0..20 {
        text += &format!("{},{},{}\n", i, -i, i % 2 * 3);
    }
    fs::write(&p, text).unwrap();
    let o = Options { test_fraction: 0.3, seed: 5, ..opts() };
    let s = load_source(&DataSource::parse(p.to_str().unwrap()).unwrap(), &o).unwrap();
    // Labels 0 and 3 → 4 classes "0".."3"; 30 % of each class of 10 = 3.
    assert_eq!(s.train.num_classes, 4);
    assert_eq!((s.train.len(), s.test.len()), (14, 6));
    assert_eq!(s.test.labels.iter().filter(|&&l| l == 3).count(), 3);
    // The map is calibrated on the training rows only: ±(the largest i among them).
    let m = (0..s.train.len()).map(|i| s.train.input.real(s.train.image(i)[0])).fold(0.0f32, f32::max).round();
    assert_eq!(s.train.input, InputMap::calibrate(-m, m));
    let again = load_source(&DataSource::parse(p.to_str().unwrap()).unwrap(), &o).unwrap();
    assert_eq!(again.test, s.test);
}

#[test]
fn csv_regression_and_reconstruction() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("r_train.csv");
    fs::write(&p, "f,y1,y2\n1,0.5,-2\n2,1.5,-3\n").unwrap();
    fs::write(t.path().join("r_test.csv"), "f,y1,y2\n3,2.5,-4\n").unwrap();
    fs::write(t.path().join("r_val.csv"), "y2,f,y1\n-5,4,3.5\n").unwrap();
    let src = DataSource::parse(p.to_str().unwrap()).unwrap();
    let o = Options { task: Some(Task::Regression), label_columns: vec!["y1".into(), "y2".into()], ..opts() };
    let s = load_source(&src, &o).unwrap();
    assert_eq!((s.train.target_len, s.train.shape), (2, [1, 1, 1]));
    assert_eq!(s.train.targets, vec![0.5, -2.0, 1.5, -3.0]);
    assert_eq!(s.test.targets, vec![2.5, -4.0]);
    assert_eq!(s.val.as_ref().unwrap().targets, vec![3.5, -5.0]);
    assert_eq!(s.train.input, InputMap::calibrate(1.0, 2.0));

    let o = Options { task: Some(Task::Reconstruction), label_columns: vec!["y1".into()], ..opts() };
    let s = load_source(&src, &o).unwrap();
    assert_eq!((s.train.target_len, s.train.shape), (2, [1, 1, 2]));
    assert_eq!(s.train.targets, vec![1.0, -2.0, 2.0, -3.0], "the features f, y2 themselves");

    let e = err_text(load_source(&src, &Options { label_columns: vec!["y1".into(), "y2".into()], ..opts() }));
    assert!(e.contains("one label column"), "{e}");
    let e = err_text(load_source(&src, &Options { label_columns: vec!["nope".into()], ..opts() }));
    assert!(e.contains("r_train.csv") && e.contains("no column \"nope\"") && e.contains("f, y1, y2"), "{e}");
}

#[test]
fn csv_errors_name_the_file_the_line_and_the_column() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let tr = d.join("train.csv");
    let te = d.join("test.csv");
    let read = |train: &str, test: Option<&str>| {
        fs::write(&tr, train).unwrap();
        if let Some(test) = test {
            fs::write(&te, test).unwrap();
        }
        let test = test.map(|_| te.as_path());
        err_text(bsq_data::read_csv(&tr, test, None, &opts()))
    };
    let e = read("a,b,label\n1,2,x\n1,2\n", None);
    assert!(e.contains("train.csv, line 3") && e.contains("2 fields") && e.contains("3 columns"), "{e}");
    let e = read("a,b,label\n1,2,x\n1,zz,y\n", None);
    assert!(
        e.contains("train.csv, line 3") && e.contains("column \"b\"") && e.contains("\"zz\" is not a number"),
        "{e}"
    );
    let e = read("a,b,label\n1,2,x\n\"1\",NaN,y\n", None);
    assert!(e.contains("line 3") && e.contains("column \"b\"") && e.contains("not finite"), "{e}");
    let e = read("a,b,label\n1,2,x\n1,,y\n", None);
    assert!(e.contains("line 3") && e.contains("column \"b\": empty value"), "{e}");
    let e = read("a,label\n1,x\n2,y\n", Some("a,label\n1,x\n3,z\n"));
    assert!(e.contains("test.csv, line 3") && e.contains("unknown class \"z\"") && e.contains("x, y"), "{e}");
    let e = read("a,label\n1,0\n2,1\n", Some("a,label\n1,7\n3,cat\n"));
    assert!(e.contains("test.csv, line 3") && e.contains("\"cat\" is not an integer label"), "{e}");
    let e = read("a,label\n1,0\n2,-1\n", None);
    assert!(e.contains("train.csv, line 3") && e.contains("label -1"), "{e}");
    let e = read("a,label\n1,0\n", Some("a,label,extra\n1,0,2\n"));
    assert!(e.contains("test.csv, line 1") && e.contains("\"extra\""), "{e}");
    let e = read("", None);
    assert!(e.contains("train.csv") && e.contains("empty file"), "{e}");
    let e = read("a,label\n", None);
    assert!(e.contains("train.csv") && e.contains("no data rows"), "{e}");
    let e = read("a,label\n1,0\n", None);
    assert!(e.contains("train.csv") && e.contains("leaves the") && e.contains("split empty"), "{e}");
}

// ---------------------------------------------------------------------------------------------------
// DataSource

#[test]
fn data_source_parse_maps_names_and_paths() {
    assert_eq!(DataSource::parse("mnist").unwrap(), DataSource::Mnist);
    assert_eq!(DataSource::parse("fashion-mnist").unwrap(), DataSource::Fashion);
    assert_eq!(DataSource::parse("cifar10").unwrap(), DataSource::Cifar10);
    assert_eq!(DataSource::parse("builtin").unwrap(), DataSource::Builtin);
    assert_eq!(DataSource::Cifar10.to_string(), "cifar10");

    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let e = err_text(DataSource::parse(d.join("nope").to_str().unwrap()));
    assert!(e.contains("nope") && e.contains("no such file") && e.contains("accepted: builtin, mnist"), "{e}");
    fs::write(d.join("x.txt"), "").unwrap();
    let e = err_text(DataSource::parse(d.join("x.txt").to_str().unwrap()));
    assert!(e.contains("x.txt") && e.contains("neither .npz nor .csv") && e.contains(".npz file"), "{e}");
    let e = err_text(DataSource::parse(d.to_str().unwrap()));
    assert!(e.contains("no class folders"), "{e}");

    let npy = d.join("npy");
    fs::create_dir_all(&npy).unwrap();
    fs::write(npy.join("x_train.npy"), "").unwrap();
    assert_eq!(DataSource::parse(npy.to_str().unwrap()).unwrap(), DataSource::Npz(npy.clone()));
    fs::write(d.join("a.NPZ"), "").unwrap();
    assert_eq!(DataSource::parse(d.join("a.NPZ").to_str().unwrap()).unwrap(), DataSource::Npz(d.join("a.NPZ")));
    let imgs = d.join("imgs");
    fs::create_dir_all(imgs.join("cat")).unwrap();
    assert_eq!(DataSource::parse(imgs.to_str().unwrap()).unwrap(), DataSource::ImageFolder(imgs.clone()));
    let csvd = d.join("csv");
    fs::create_dir_all(&csvd).unwrap();
    for f in ["train.csv", "val.csv"] {
        fs::write(csvd.join(f), "").unwrap();
    }
    assert_eq!(
        DataSource::parse(csvd.to_str().unwrap()).unwrap(),
        DataSource::Csv { train: csvd.join("train.csv"), test: None, val: Some(csvd.join("val.csv")) }
    );
    assert_eq!(
        DataSource::parse(csvd.join("val.csv").to_str().unwrap()).unwrap(),
        DataSource::Csv { train: csvd.join("val.csv"), test: None, val: None }
    );
}

#[test]
fn built_in_sources_load_as_before() {
    let o = Options { builtin_size: 40, seed: 3, ..opts() };
    let s: Splits = load_source(&DataSource::Builtin, &o).unwrap();
    let old = bsq_data::load(bsq_data::DatasetKind::Builtin, None, 3, 40).unwrap();
    assert_eq!((s.train, s.test), (old.train, old.test));
    assert!(s.val.is_none() && old.val.is_none());
    let r = load_source(&DataSource::Builtin, &Options { task: Some(Task::Reconstruction), ..o.clone() }).unwrap();
    assert_eq!(r.train.target_len, 28 * 28);
    let e = err_text(load_source(&DataSource::Builtin, &Options { task: Some(Task::Regression), ..o }));
    assert!(e.contains("builtin"), "{e}");
    let missing: PathBuf = tempfile::tempdir().unwrap().path().join("none");
    let e = err_text(load_source(&DataSource::Mnist, &Options { data_dir: Some(missing), ..opts() }));
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}
