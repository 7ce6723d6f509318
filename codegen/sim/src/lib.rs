//! # bsq-sim
//!
//! Runs a model artifact on a device and compares its bytes with the host: the library behind
//! `bsq simulate` and `bsq flash` (and the QEMU harness of the test suite).
//!
//! * [`simulate`]: builds the QEMU firmware template (`boards/example-app` of a bsq checkout) with the
//!   artifact, runs it under `qemu-system-arm`, and compares every output and per-layer checksum with the
//!   host executor;
//! * [`flash`]: builds a real-board firmware with the artifact and runs it through `probe-rs run`;
//! * [`qemu`]: run an ELF on a machine, stdin null, killed after a timeout;
//! * [`protocol`]: parse the firmware's `BSQ` line protocol;
//! * [`compare`]: host ≡ device, naming the first differing layer and byte;
//! * [`elf`]: text/data/bss of an ELF and symbol addresses.
//!
//! Firmware is built from a bsq checkout (the firmware crates depend on `bsq-runtime` and `bsq-codegen` by
//! path): [`bsq_root`] finds it at run time, so an installed `bsq` works from any directory.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod compare;
pub mod elf;
pub mod flash;
pub mod protocol;
pub mod qemu;
pub mod simulate;

pub use bsq_board_build::{Board, QEMU_BOARDS, REAL_BOARDS};

use std::path::{Path, PathBuf};

/// The environment variable naming the bsq checkout that firmware is built from.
pub const ROOT_ENV: &str = "BSQ_ROOT";

/// The bsq checkout that firmware templates are built from: `explicit` (e.g. `bsq simulate --bsq-root`),
/// else `$BSQ_ROOT`, else the checkout this crate was compiled in, if it still exists. A directory counts
/// as a checkout when it holds `boards/example-app/Cargo.toml`.
pub fn bsq_root(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    let is_root = |p: &Path| p.join("boards").join("example-app").join("Cargo.toml").is_file();
    // A named checkout (flag, then environment) must be one; `what` says where the name came from.
    let named = explicit.map(|p| (p.to_path_buf(), p.display().to_string())).or_else(|| {
        std::env::var_os(ROOT_ENV).map(PathBuf::from).map(|p| {
            let what = format!("{ROOT_ENV}={}", p.display());
            (p, what)
        })
    });
    if let Some((p, what)) = named {
        return if is_root(&p) {
            Ok(p)
        } else {
            Err(Error::Build(format!("{what} is not a bsq checkout (no boards/example-app/Cargo.toml)")))
        };
    }
    let built_in = compiled_root();
    if is_root(&built_in) {
        return Ok(built_in);
    }
    Err(Error::Build(format!(
        "no bsq checkout to build firmware from: pass --bsq-root DIR or set {ROOT_ENV}=DIR (a clone of the bsq \
         repository; this binary was built in {}, which no longer exists)",
        built_in.display()
    )))
}

/// The checkout this crate was compiled in (`codegen/sim/../..`).
pub fn compiled_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    p.canonicalize().unwrap_or(p)
}

/// The board table entry for QEMU machine `machine`.
pub fn board_for_machine(machine: &str) -> Option<&'static Board> {
    QEMU_BOARDS.iter().find(|b| b.machine == machine)
}

/// Flash and RAM budgets of a QEMU machine's model (`(flash, ram)`, code and stack reserves taken off).
pub fn machine_budget(machine: &str) -> Option<(usize, usize)> {
    board_for_machine(machine).map(|b| (b.flash_budget(), b.ram_budget()))
}

/// A simulation or flashing error; its message says what to do where it can.
#[derive(Debug)]
pub enum Error {
    /// `qemu-system-arm` is not installed.
    QemuMissing(String),
    /// Building firmware failed.
    Build(String),
    /// Running or reading something failed.
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::QemuMissing(m) | Error::Build(m) | Error::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Exit code of a firmware after a panic (`bsq_board::EXIT_PANIC`).
pub const EXIT_PANIC: i32 = 101;
/// Exit code of a firmware after a HardFault (`bsq_board::EXIT_HARDFAULT`).
pub const EXIT_HARDFAULT: i32 = 102;
