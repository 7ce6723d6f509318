//! `bsq` as an installed tool (issue 10): built without the default `train` feature it compiles no Burn
//! crate, and a copy of the binary outside the checkout, run from an empty directory, compiles, reports
//! and simulates a model on QEMU byte-exactly, building the firmware from a bsq checkout named at run time
//! (`--bsq-root` or `$BSQ_ROOT`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Builds `bsq` with `--no-default-features` into its own target directory (what `cargo install --path
/// bsq-train/cli --no-default-features` compiles) and returns (binary, target dir).
fn build_burn_free() -> (PathBuf, PathBuf) {
    let root = repo_root();
    let target = root.join("target").join("burn-free");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--release", "--locked", "-p", "bsq-cli", "--no-default-features", "--bin", "bsq"])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("running cargo");
    assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    (target.join("release").join("bsq"), target)
}

fn run(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(bin);
    c.current_dir(dir).args(args);
    // Nothing of this test's cargo environment may leak into the installed tool.
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO") || k == "BSQ_ROOT" {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running bsq")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn burn_free_bsq_runs_from_an_empty_directory_outside_the_checkout() {
    let (built, target) = build_burn_free();
    // No Burn crate was compiled for it.
    let deps: Vec<String> = std::fs::read_dir(target.join("release").join("deps"))
        .expect("deps")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(deps.iter().any(|f| f.starts_with("libbsq_codegen")), "the build compiled bsq-codegen");
    let burn: Vec<&String> = deps.iter().filter(|f| f.contains("burn")).collect();
    assert!(burn.is_empty(), "the Burn-free build compiled Burn crates: {burn:?}");

    // "Install": copy the binary out of the checkout; work in an empty directory.
    let base = std::env::temp_dir().join(format!("bsq-installed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (bin_dir, work) = (base.join("bin"), base.join("work"));
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let bin = bin_dir.join("bsq");
    std::fs::copy(&built, &bin).unwrap();
    let root = repo_root();
    std::fs::copy(root.join("codegen/fixtures/convnet.bsq.json"), work.join("convnet.bsq.json")).unwrap();

    // The deployment commands are there, the training ones are not.
    let help = run(&bin, &work, &["--help"], &[]);
    let h = String::from_utf8_lossy(&help.stdout);
    let commands: Vec<&str> =
        h.lines().filter_map(|l| l.strip_prefix("  ")).filter_map(|l| l.split_whitespace().next()).collect();
    for cmd in ["codegen", "report", "eval", "simulate", "flash"] {
        assert!(commands.contains(&cmd), "`{cmd}` missing from --help:\n{h}");
    }
    for cmd in ["train", "sweep", "export", "demo"] {
        assert!(!commands.contains(&cmd), "`{cmd}` in the Burn-free --help:\n{h}");
    }

    let o = run(&bin, &work, &["codegen", "convnet.bsq.json", "-o", "model.rs", "--board", "lm3s6965evb"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(work.join("model.rs")).unwrap().contains("pub fn predict"));
    let o = run(&bin, &work, &["report", "convnet.bsq.json", "--svg", "scheme.svg"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(work.join("scheme.svg")).unwrap().starts_with("<svg"));
    let o = run(&bin, &work, &["eval", "convnet.bsq.json", "--limit", "50"], &[]);
    // The fixture takes 12x12x1 images, the built-in dataset is 28x28x1: a clear refusal, not a panic.
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("but the dataset has [28, 28, 1]"),
        "{}",
        text(&o)
    );

    // Simulation, with the checkout named by --bsq-root and then by $BSQ_ROOT.
    let o = run(
        &bin,
        &work,
        &["simulate", "convnet.bsq.json", "--machine", "mps2-an386", "--count", "2", "--bsq-root"],
        &[],
    );
    assert!(!o.status.success(), "--bsq-root without a value must fail: {}", text(&o));
    let root_s = root.to_string_lossy().into_owned();
    let o = run(
        &bin,
        &work,
        &["simulate", "convnet.bsq.json", "--machine", "mps2-an386", "--count", "2", "--bsq-root", &root_s],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2/2 inputs byte-identical to the host"), "{}", text(&o));
    let o = run(&bin, &work, &["simulate", "convnet.bsq.json", "--count", "1"], &[("BSQ_ROOT", root.as_path())]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1/1 inputs byte-identical"), "{}", text(&o));
    // A directory that is not a checkout is named in the error.
    let o = run(&bin, &work, &["simulate", "convnet.bsq.json", "--bsq-root", "."], &[]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("is not a bsq checkout"),
        "{}",
        text(&o)
    );
    // Nothing was written into the empty directory but what was asked for.
    let mut names: Vec<String> =
        std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["convnet.bsq.json", "model.rs", "scheme.svg"]);
    std::fs::remove_dir_all(&base).ok();
}
