//! `bsq` re-runs itself with mimalloc's purge delay set (`bsq_train::allocator`), keeping a value the user
//! set, and the re-run process is the one started (same process id, arguments and exit).
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bsq_train::allocator::PURGE_DELAY_VAR;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bsq-allocator-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A long `bsq train` on the built-in data, with `MIMALLOC_PURGE_DELAY` unset or set to `value`.
fn start(out: &Path, value: Option<&str>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bsq"));
    c.env_remove(PURGE_DELAY_VAR);
    if let Some(v) = value {
        c.env(PURGE_DELAY_VAR, v);
    }
    c.args(["train", "--quiet", "--builtin-size", "1000", "--epochs-float", "50", "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().expect("start bsq train")
}

/// The `MIMALLOC_PURGE_DELAY` entry of the process's environment once training has started (its output
/// directory exists, so `main` is past the allocator set-up).
fn purge_delay_once_training(child: &mut Child, out: &Path) -> Option<String> {
    let t = Instant::now();
    while !out.join("ckpt").is_dir() {
        assert!(child.try_wait().unwrap().is_none(), "bsq train exited early");
        assert!(t.elapsed() < Duration::from_secs(120), "bsq train did not start training");
        std::thread::sleep(Duration::from_millis(20));
    }
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).expect("read the process environment");
    let prefix = format!("{PURGE_DELAY_VAR}=");
    environ
        .split(|&b| b == 0)
        .filter_map(|e| std::str::from_utf8(e).ok())
        .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
}

#[test]
fn bsq_runs_with_mimalloc_purging_off_unless_the_user_chose() {
    for (value, want) in [(None, "-1"), (Some("1000"), "1000")] {
        let out = tmp(want);
        let mut child = start(&out, value);
        let got = purge_delay_once_training(&mut child, &out);
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::fs::remove_dir_all(&out);
        assert_eq!(got.as_deref(), Some(want), "started with {value:?}");
    }
}

#[test]
fn the_re_run_process_keeps_the_arguments_and_the_exit_status() {
    let out = tmp("bad");
    let output = Command::new(env!("CARGO_BIN_EXE_bsq"))
        .env_remove(PURGE_DELAY_VAR)
        .args(["train", "--alpha=-1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--alpha -1 must be a number ≥ 0"), "the error names the bad option: {err}");
    assert!(!out.exists(), "nothing written for a refused configuration");
}
