//! Issue 12's acceptance run: the four MLPerf Tiny reference models (`bsq-train/models/`), with random
//! weights at 8 bits and at a mixed scheme, compiled by codegen and run on QEMU mps2-an386 (Cortex-M4),
//! mps2-an505 (Cortex-M33, DSP) and, where they fit its 256 KiB / 64 KiB, lm3s6965evb (Cortex-M3): every
//! layer's bytes of every input equal the host executor's. Runs the benchmark command itself
//! (`bench-mlperf`, which exits non-zero on any mismatch) and checks its table.

use std::process::Command;

#[test]
fn mlperf_tiny_models_run_byte_exact_on_qemu() {
    let out = std::env::temp_dir().join(format!("bsq-mlperf-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_bench-mlperf"))
        .args(["--count", "2", "--out"])
        .arg(&out)
        .output()
        .expect("runs bench-mlperf");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench-mlperf failed:\n{stdout}\n{stderr}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| model"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();

    // Size table: the MLPerf Tiny parameter (batch norm folded) and MAC counts, at both schemes.
    let counts = [
        ("ds-cnn", "22604", "2656768"),
        ("mobilenet-v1-0.25", "210850", "7489664"),
        ("resnet8", "77706", "12501632"),
        ("fc-autoencoder", "265864", "264192"),
    ];
    for (model, params, macs) in counts {
        for scheme in ["w8", "mixed"] {
            let r = rows.iter().find(|r| r.len() == 9 && r[0] == model && r[1] == scheme);
            let r = r.unwrap_or_else(|| panic!("no size row for {model} {scheme}:\n{stdout}"));
            assert_eq!((r[2], r[3]), (params, macs), "{model} {scheme}");
        }
    }

    // QEMU table: byte-exact on both big machines for every model and scheme; on the lm3s6965evb exactly
    // where the model fits, and a refusal naming the budget where it does not.
    let runs: Vec<&Vec<&str>> = rows.iter().filter(|r| r.len() == 10).collect();
    for (model, _, _) in counts {
        for scheme in ["w8", "mixed"] {
            for machine in ["mps2-an386", "mps2-an505", "lm3s6965evb"] {
                let r = runs.iter().find(|r| r[0] == model && r[1] == scheme && r[2] == machine);
                let r = r.unwrap_or_else(|| panic!("no run row for {model} {scheme} {machine}:\n{stdout}"));
                let fits_m3 = !matches!((model, scheme), ("mobilenet-v1-0.25", "w8") | ("fc-autoencoder", _));
                if machine != "lm3s6965evb" || fits_m3 {
                    assert_eq!(r[3], "yes", "{model} {scheme} {machine}: {r:?}");
                    let insns: u64 = r[4].parse().expect("instruction count");
                    assert!(insns > 0, "{r:?}");
                } else {
                    assert!(r[3].starts_with("does not fit") && r[3].contains("flash"), "{r:?}");
                }
            }
        }
    }
    assert!(out.join("mlperf.md").is_file());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn an_artifact_named_after_no_model_is_refused() {
    let out = std::env::temp_dir().join(format!("bsq-mlperf-bad-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_bench-mlperf"))
        .args(["--artifact", "resnet-8=some/model.bsq.json", "--out"])
        .arg(&out)
        .output()
        .expect("runs bench-mlperf");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "accepted an unknown artifact name");
    assert!(
        stderr.contains("--artifact resnet-8=some/model.bsq.json: NAME must be one of the models")
            && stderr.contains("resnet8"),
        "{stderr}"
    );
    assert!(!out.exists(), "wrote {} before refusing", out.display());
}
