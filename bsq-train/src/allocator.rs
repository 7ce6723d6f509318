//! Allocator set-up for the programs that train (`bsq`, `examples/step_bench`, `examples/op_bench`).
//!
//! They use mimalloc as their global allocator. mimalloc gives memory that has stayed free for a second back
//! to the kernel ("purging"); a training step frees and re-allocates its activation-sized buffers, and the
//! pages it gave back come again as fresh zero-filled pages, one page fault each. mimalloc reads its
//! options from the environment when the process starts, before `main`, and the `mimalloc` crate offers no
//! safe way to set them later, so [`keep_freed_memory`] sets `MIMALLOC_PURGE_DELAY=-1` (never purge) and
//! replaces the process with the same command (`exec`, same process id, arguments and streams).
//!
//! Measured (bsq-train/bench/README.md): a 50-step ResNet-20 BSQ epoch (`bsq train --model resnet20 --dataset
//! cifar10 --train-limit 3200 --epochs-float 0 --epochs-bsq 1 --epochs-finetune 0`) 25.5–25.8 s → 21.1–22.8 s,
//! its system time 4.9–6.4 → 1.6–1.8 s, the same losses and accuracies; `step_bench resnet20 10`: 24,993 →
//! 423 page faults, 8.35 → 6.40 s of CPU time. The process keeps its peak memory instead of returning it.

/// The mimalloc option [`keep_freed_memory`] sets.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Re-runs this program (Unix: `exec`) with `MIMALLOC_PURGE_DELAY=-1` unless that variable is already set
/// (to any value: set it yourself to keep mimalloc's own behaviour or to choose another delay). Returns,
/// doing nothing, where the variable is set, on other systems, and when the program cannot be re-run (its
/// path unknown, or `exec` failing): it then runs on with mimalloc's defaults. Call it first in `main`,
/// before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        // `exec` returns only when it failed; the program then runs on unchanged.
        let _failed = cmd.args(args).env(PURGE_DELAY_VAR, "-1").exec();
    }
}
