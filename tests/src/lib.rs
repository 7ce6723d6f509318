//! # bsq-tests
//!
//! The host side of the device suite (`docs/boards.md`): build a firmware from `boards/`, run it under
//! `qemu-system-arm` with a timeout, parse its `BSQ` lines, and compare them with the host's results and
//! the golden files.
//!
//! * [`firmware`]: build a firmware crate (`cargo build --release` inside `boards/<crate>`), once per process;
//! * [`qemu`]: run an ELF on a machine, stdin null, killed after a timeout;
//! * [`protocol`]: parse the line protocol into typed results;
//! * [`compare`]: host ≡ device, naming the first differing layer and byte;
//! * [`golden`]: golden files under `tests/golden/`, re-blessed from host results with `BSQ_BLESS=1`;
//! * [`elf`]: text/data/bss of an ELF and symbol addresses (for the marker functions);
//! * [`simulate`]: a user's artifact through `boards/example-app` on a QEMU machine, compared with the host.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod check;
pub mod compare;
pub mod elf;
pub mod firmware;
pub mod golden;
pub mod protocol;
pub mod qemu;
pub mod simulate;

pub use bsq_board_build::{Board, QEMU_BOARDS, REAL_BOARDS};

use std::path::PathBuf;

/// Repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".."))
}

/// The board table entry for QEMU machine `machine`.
pub fn board_for_machine(machine: &str) -> Option<&'static Board> {
    QEMU_BOARDS.iter().find(|b| b.machine == machine)
}

/// A harness error; its message says what to do where it can.
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
