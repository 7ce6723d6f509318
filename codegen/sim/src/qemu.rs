//! Running an ELF under `qemu-system-arm`.

use crate::Error;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// The command that installs QEMU on Debian/Ubuntu.
pub const INSTALL: &str = "apt-get install -y --no-install-recommends qemu-system-arm";

/// The QEMU binary: `BSQ_QEMU` or `qemu-system-arm`.
pub fn qemu_binary() -> String {
    std::env::var("BSQ_QEMU").unwrap_or_else(|_| "qemu-system-arm".into())
}

/// The arguments of every run (before `-kernel ELF`): no display, no serial, no monitor, semihosting to
/// QEMU's stdout, and `-icount shift=0,align=off,sleep=off` (one instruction = 1 ns of virtual time, so
/// SysTick counts are deterministic).
pub fn base_args(machine: &str) -> Vec<String> {
    base_args_with(machine, "enable=on,target=native")
}

fn base_args_with(machine: &str, semihosting: &str) -> Vec<String> {
    [
        "-machine",
        machine,
        "-display",
        "none",
        "-serial",
        "null",
        "-monitor",
        "none",
        "-semihosting-config",
        semihosting,
        "-icount",
        "shift=0,align=off,sleep=off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// QEMU exited with this code (the firmware's semihosting exit code).
    Code(i32),
    /// QEMU was killed by a signal.
    Signal,
    /// The run was killed after the timeout.
    TimedOut,
}

/// The result of one QEMU run.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub exit: Exit,
    /// QEMU's stdout (semihosting output).
    pub stdout: String,
    /// QEMU's stderr (plugin output, warnings).
    pub stderr: String,
    /// Wall-clock time.
    pub wall: Duration,
    /// The command line, for messages.
    pub command: String,
}

impl Run {
    /// True if the firmware exited with code 0.
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// Checks that the QEMU binary runs; otherwise an error naming the install command.
pub fn check_installed() -> Result<(), Error> {
    check_installed_at(&qemu_binary())
}

/// Checks that QEMU binary `qemu` runs; otherwise an error naming the install command.
pub fn check_installed_at(qemu: &str) -> Result<(), Error> {
    match Command::new(qemu).arg("--version").stdin(Stdio::null()).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(Error::QemuMissing(format!("`{qemu} --version` failed ({}); install QEMU: {INSTALL}", o.status))),
        Err(e) => Err(Error::QemuMissing(format!(
            "`{qemu}` not found ({e}): the device suite needs QEMU; install it with: {INSTALL}"
        ))),
    }
}

/// Runs `elf` on QEMU machine `machine` with stdin null, `extra` arguments before `-kernel`, and kills it
/// after `timeout`. Both output streams are read to the end (never closed early).
pub fn run(machine: &str, elf: &Path, extra: &[String], timeout: Duration) -> Result<Run, Error> {
    run_with_args(machine, elf, extra, &[], timeout)
}

/// Like [`run`], passing `guest_args` to the firmware as semihosting arguments (after the ELF path as
/// argument 0); `bsq-board` reads `dump` (dump mode: every layer's bytes).
pub fn run_with_args(
    machine: &str,
    elf: &Path,
    extra: &[String],
    guest_args: &[&str],
    timeout: Duration,
) -> Result<Run, Error> {
    check_installed()?;
    let qemu = qemu_binary();
    let mut semihosting = String::from("enable=on,target=native");
    if !guest_args.is_empty() {
        semihosting.push_str(&format!(",arg={}", elf.display()));
        for a in guest_args {
            semihosting.push_str(&format!(",arg={a}"));
        }
    }
    let mut args = base_args_with(machine, &semihosting);
    args.extend(extra.iter().cloned());
    args.push("-kernel".into());
    args.push(elf.display().to_string());
    let command = format!("{qemu} {}", args.join(" "));
    let start = Instant::now();
    let mut child = Command::new(&qemu)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::QemuMissing(format!("starting `{command}`: {e}; install QEMU: {INSTALL}")))?;
    let mut out_pipe = child.stdout.take().ok_or_else(|| Error::Io("no stdout pipe".into()))?;
    let mut err_pipe = child.stderr.take().ok_or_else(|| Error::Io("no stderr pipe".into()))?;
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let exit = match child.wait_timeout(timeout).map_err(|e| Error::Io(format!("waiting for `{command}`: {e}")))? {
        Some(status) => status.code().map_or(Exit::Signal, Exit::Code),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Exit::TimedOut
        }
    };
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    Ok(Run { exit, stdout, stderr, wall, command })
}
