//! Simulation of a user's artifact on a QEMU machine (`bsq simulate`, the demo, the end-to-end test):
//! build the QEMU firmware template `boards/example-app` of a bsq checkout ([`crate::bsq_root`]) with the
//! artifact (its `build.rs` runs codegen), run it under QEMU, and compare every output and per-layer
//! checksum with the host executor byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bsq_board_build::LayerOutput;
use bsq_codegen::{Artifact, Executor, fixtures};

use crate::{Error, board_for_machine, bsq_root, compare, elf, protocol, qemu};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// QEMU machine (`mps2-an386`, `lm3s6965evb`, `mps2-an505`, `microbit`).
    pub machine: String,
    /// The artifact.
    pub artifact: PathBuf,
    /// Inputs (`INPUT_LEN` bytes each, HWC); empty: `count` deterministic inputs.
    pub inputs: Vec<Vec<u8>>,
    /// Number of deterministic inputs when `inputs` is empty.
    pub count: usize,
    /// Where to write the inputs file (default: the template's `target/`).
    pub work_dir: Option<PathBuf>,
    /// The bsq checkout to build the firmware from (default: [`crate::bsq_root`]`(None)`).
    pub root: Option<PathBuf>,
    /// QEMU timeout.
    pub timeout: Duration,
}

/// The result of one input.
#[derive(Debug, Clone)]
pub struct InputResult {
    /// Host executor output bytes.
    pub host: Vec<u8>,
    /// Device output bytes.
    pub device: Option<Vec<u8>>,
    /// Instructions for one inference (SysTick ticks under `-icount` × instructions per tick).
    pub instructions: Option<u64>,
    /// `Err(what differed)` if the device did not match the host byte for byte.
    pub matches: Result<(), String>,
}

/// The result of a simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// Machine.
    pub machine: String,
    /// Core name.
    pub core: String,
    /// Per input.
    pub inputs: Vec<InputResult>,
    /// MACs per inference.
    pub macs: u64,
    /// Firmware flash bytes (text + data of the ELF).
    pub flash: u64,
    /// Firmware static RAM bytes (data + bss, includes the model arena).
    pub ram: u64,
    /// The ELF that ran.
    pub elf: PathBuf,
}

impl SimResult {
    /// True if every input matched byte for byte.
    pub fn bit_exact(&self) -> bool {
        self.inputs.iter().all(|r| r.matches.is_ok())
    }
    /// Median instructions per inference.
    pub fn instructions(&self) -> Option<u64> {
        let mut v: Vec<u64> = self.inputs.iter().filter_map(|r| r.instructions).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    }
}

/// The QEMU firmware template's directory in checkout `root`.
pub fn example_app_dir(root: &Path) -> PathBuf {
    root.join("boards").join("example-app")
}

/// Builds the QEMU firmware template of checkout `root` for `machine` with `artifact` and `inputs` (raw
/// file), returning the ELF.
pub fn build_example(root: &Path, machine: &str, artifact: &Path, inputs: &Path) -> Result<PathBuf, Error> {
    let board = board_for_machine(machine).ok_or_else(|| {
        Error::Build(format!("unknown QEMU machine `{machine}` (use mps2-an386, lm3s6965evb, mps2-an505 or microbit)"))
    })?;
    let dir = example_app_dir(root);
    let abs = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())));
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["build", "--release", "--target", board.target, "--no-default-features", "--features", machine])
        .env("BSQ_MODEL", abs(artifact)?)
        .env("BSQ_INPUTS", abs(inputs)?)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| Error::Build(format!("running cargo in {}: {e}", dir.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Build(format!(
            "building boards/example-app for {machine} with {} failed:\n{}",
            artifact.display(),
            tail.join("\n")
        )));
    }
    Ok(dir.join("target").join(board.target).join("release").join("example-app"))
}

/// One example-app build at a time in this process: builds for the same target triple share an ELF path.
static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds, runs and compares (see the module documentation).
pub fn simulate(opts: &SimOptions) -> Result<SimResult, Error> {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let board = board_for_machine(&opts.machine)
        .ok_or_else(|| Error::Build(format!("unknown QEMU machine `{}`", opts.machine)))?;
    qemu::check_installed()?;
    let artifact = Artifact::load(&opts.artifact).map_err(|e| Error::Io(e.to_string()))?;
    let mut ex = Executor::new(&artifact).map_err(|e| Error::Io(format!("{}: {e}", opts.artifact.display())))?;
    let len = ex.model().input_len();
    let inputs = if opts.inputs.is_empty() {
        fixtures::inputs(&artifact.name, len, opts.count.max(1))
    } else {
        opts.inputs.clone()
    };
    if let Some(bad) = inputs.iter().position(|x| x.len() != len) {
        return Err(Error::Io(format!("input {bad} has {} bytes, the model takes {len}", inputs[bad].len())));
    }
    let root = bsq_root(opts.root.as_deref())?;
    let work = opts.work_dir.clone().unwrap_or_else(|| example_app_dir(&root).join("target"));
    std::fs::create_dir_all(&work).map_err(|e| Error::Io(format!("{}: {e}", work.display())))?;
    let inputs_file = work.join(format!("inputs-{}.bin", opts.machine));
    bsq_codegen::write_atomic(&inputs_file, &inputs.concat())
        .map_err(|e| Error::Io(format!("{}: {e}", inputs_file.display())))?;
    let elf_path = build_example(&root, &opts.machine, &opts.artifact, &inputs_file)?;
    let run = qemu::run(&opts.machine, &elf_path, &[], opts.timeout)?;
    let report = protocol::parse(&run.stdout);
    if !run.success() || !report.done {
        return Err(Error::Io(format!(
            "the firmware did not complete on {} ({:?}){}{}\n{}",
            opts.machine,
            run.exit,
            report.panic.as_deref().map(|p| format!(": panic {p}")).unwrap_or_default(),
            report.hardfault.as_deref().map(|h| format!(": {h}")).unwrap_or_default(),
            run.stdout.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        )));
    }
    let mut results = Vec::new();
    for (i, x) in inputs.iter().enumerate() {
        let mut layers = Vec::new();
        let host = ex
            .run_observed(x, &mut |_, name, bytes| {
                layers.push(LayerOutput { name: name.to_string(), bytes: bytes.to_vec() })
            })
            .map_err(|e| Error::Io(e.to_string()))?
            .to_vec();
        let tag = format!("input{i}");
        let dev = report.models.get(&tag);
        let matches = match dev {
            None => Err(format!("{tag}: no results from the device")),
            Some(d) => compare::compare(&tag, &layers, Some(&host), d),
        };
        results.push(InputResult {
            host,
            device: dev.and_then(|d| d.out.clone()),
            instructions: dev.and_then(|d| d.ticks).map(|t| (t as f64 * board.insns_per_tick).round() as u64),
            matches,
        });
    }
    let sizes = elf::sizes(&elf_path)?;
    Ok(SimResult {
        machine: opts.machine.clone(),
        core: board.core.to_string(),
        inputs: results,
        macs: ex.model().lowered.macs(),
        flash: sizes.flash(),
        ram: sizes.ram(),
        elf: elf_path,
    })
}
