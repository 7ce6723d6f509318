//! Building firmware crates from `boards/`.
//!
//! `.cargo/config.toml` is read from the current directory, so every build runs `cargo build --release`
//! with `current_dir(boards/<crate>)`. All crates share `boards/target` (explicit `--target-dir`, whatever
//! `CARGO_TARGET_DIR` says); binary names carry the crate name, so boards on one triple never overwrite each
//! other's ELF. Cargo's lock on the target directory serializes concurrent builds.

use crate::{Board, Error, repo_root};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Environment of the host build that must not leak into the firmware build.
const SCRUB: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_MAKEFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "OUT_DIR",
];

/// Where the firmware of `board` and its ELF files are.
#[derive(Debug, Clone)]
pub struct Built {
    /// `boards/target/<triple>/release`.
    pub dir: PathBuf,
    /// Seconds the build took in this process (0 if another test built it).
    pub secs: f64,
}

impl Built {
    /// The ELF of binary `bin` (`""` for the suite, `"-panic"`, `"-fault"`, `"-hang"`, `"-bench"`).
    pub fn elf(&self, board: &Board, bin: &str) -> PathBuf {
        self.dir.join(format!("{}{}", board.krate, bin))
    }
}

/// `boards/`.
pub fn boards_dir() -> PathBuf {
    repo_root().join("boards")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds `boards/<krate>` (all its binaries) in release mode, once per process.
pub fn build(board: &Board) -> Result<Built, Error> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Result<Built, String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // One lock for every crate: cargo would serialize the builds anyway, and a test waiting here
    // gets the cached result instead of a second cargo run.
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = map.get(board.krate) {
        return r.clone().map(|b| Built { secs: 0.0, ..b }).map_err(Error::Build);
    }
    let r = build_uncached(board).map_err(|e| e.to_string());
    map.insert(board.krate, r.clone());
    r.map_err(Error::Build)
}

fn build_uncached(board: &Board) -> Result<Built, Error> {
    let boards = boards_dir();
    let crate_dir = boards.join(board.krate);
    let target_dir = boards.join("target");
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&crate_dir).args(["build", "--release", "--target-dir"]).arg(&target_dir);
    for v in SCRUB {
        cmd.env_remove(v);
    }
    cmd.env("CARGO_TERM_COLOR", "never");
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| Error::Build(format!("running `{} build` in {}: {e}", cargo(), crate_dir.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::Build(format!(
            "`cargo build --release` in {} failed ({}):\n{}",
            crate_dir.display(),
            out.status,
            tail.join("\n")
        )));
    }
    Ok(Built { dir: target_dir.join(board.target).join("release"), secs: start.elapsed().as_secs_f64() })
}

/// How long a QEMU run may take before it is killed: `BSQ_QEMU_TIMEOUT` seconds, default 120.
pub fn default_timeout() -> Duration {
    let secs = std::env::var("BSQ_QEMU_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

/// One build of the probe firmware (`boards/probe`: one binary per model whose only code path is the
/// generated `predict`): a target, and optionally a CPU and the runtime's `dsp` feature (Armv8-M Mainline
/// with the DSP extension), in its own target directory.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// A short name (`thumbv7em`, `thumbv8m.main+dsp`, …).
    pub name: &'static str,
    /// Target triple.
    pub target: &'static str,
    /// `-C target-cpu` (with `dsp`), or none.
    pub cpu: Option<&'static str>,
}

/// The probe configurations: the four thumb targets, and Armv8-M Mainline with the DSP kernels
/// (Cortex-M33, as the `mps2-an505` firmware builds it).
pub const PROBE_CONFIGS: [ProbeConfig; 5] = [
    ProbeConfig { name: "thumbv6m", target: "thumbv6m-none-eabi", cpu: None },
    ProbeConfig { name: "thumbv7m", target: "thumbv7m-none-eabi", cpu: None },
    ProbeConfig { name: "thumbv7em", target: "thumbv7em-none-eabihf", cpu: None },
    ProbeConfig { name: "thumbv8m.main", target: "thumbv8m.main-none-eabihf", cpu: None },
    ProbeConfig { name: "thumbv8m.main+dsp", target: "thumbv8m.main-none-eabihf", cpu: Some("cortex-m33") },
];

/// The models of the probe (its binaries are `probe-<model>`).
pub const PROBE_MODELS: [&str; 10] =
    ["mlp", "convnet", "resblock", "zerobit", "widths", "dsconv", "zeropoint", "poolpad", "concat", "lenet"];

/// Builds every probe binary for `cfg`; returns the directory of the ELF files.
pub fn build_probe(cfg: &ProbeConfig) -> Result<PathBuf, Error> {
    let boards = boards_dir();
    let crate_dir = boards.join("probe");
    // A CPU flag changes every artifact's fingerprint: such builds get their own target directory.
    let target_dir = match cfg.cpu {
        None => boards.join("target"),
        Some(cpu) => boards.join("target").join(format!("probe-{cpu}")),
    };
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&crate_dir)
        .args(["build", "--release", "--bins", "--target", cfg.target, "--target-dir"])
        .arg(&target_dir);
    for v in SCRUB {
        cmd.env_remove(v);
    }
    if let Some(cpu) = cfg.cpu {
        cmd.args(["--features", "dsp"]).env("CARGO_ENCODED_RUSTFLAGS", format!("-Ctarget-cpu={cpu}"));
    }
    cmd.env("CARGO_TERM_COLOR", "never");
    let out = cmd
        .output()
        .map_err(|e| Error::Build(format!("running `{} build` in {}: {e}", cargo(), crate_dir.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::Build(format!(
            "building the probe firmware for {} failed ({}):\n{}",
            cfg.name,
            out.status,
            tail.join("\n")
        )));
    }
    Ok(target_dir.join(cfg.target).join("release"))
}
