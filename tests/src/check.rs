//! The whole check of one device run against the host: every case's bytes and checksums, the golden
//! files, the skip list, and a clean end.

use crate::compare::{compare, render_device, render_host};
use crate::protocol::Report;
use crate::qemu::{Exit, Run};
use crate::{Board, Error, firmware, golden, protocol, qemu};
use bsq_board_build::Expected;

/// A one-paragraph description of how a run ended, with the tail of its output.
pub fn describe(run: &Run) -> String {
    let how = match run.exit {
        Exit::Code(c) => format!("exited with code {c}"),
        Exit::Signal => "was killed by a signal".to_string(),
        Exit::TimedOut => format!("hung: killed after the timeout ({:.1} s)", run.wall.as_secs_f64()),
    };
    let tail: Vec<&str> = run.stdout.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    let tail: Vec<String> = tail.iter().map(|l| l.chars().take(160).collect()).collect();
    format!("`{}` {how}; last output lines:\n  {}\nstderr: {}", run.command, tail.join("\n  "), run.stderr.trim())
}

/// Builds `board`'s firmware and runs binary `bin` (`""`, `"-bench"`, …) under QEMU with the default
/// timeout and no extra arguments.
pub fn build_and_run(board: &Board, bin: &str) -> Result<(Run, Report), Error> {
    let built = firmware::build(board)?;
    let run = qemu::run(board.machine, &built.elf(board, bin), &[], firmware::default_timeout())?;
    let report = protocol::parse(&run.stdout);
    Ok((run, report))
}

/// After a mismatch: runs binary `bin` again in dump mode (every layer's bytes) and returns the problems
/// found then, which name the first differing byte inside the first differing layer.
pub fn localize(board: &Board, bin: &str, expected: &[Expected], skipped: &[(String, String)]) -> Vec<String> {
    let run = firmware::build(board).and_then(|b| {
        qemu::run_with_args(board.machine, &b.elf(board, bin), &[], &["dump"], firmware::default_timeout())
    });
    match run {
        Ok(run) => {
            let report = protocol::parse(&run.stdout);
            check_run(&run, &report, expected, skipped, board.machine)
                .into_iter()
                .map(|p| format!("(dump-mode rerun) {p}"))
                .collect()
        }
        Err(e) => vec![format!("dump-mode rerun failed: {e}")],
    }
}

/// Checks a finished run against `expected` (the host results) and `skipped` (what the board must list as
/// left out). Golden files: `<golden_dir>/<item>.out`. Returns every problem found (empty = pass).
pub fn check_run(
    run: &Run,
    report: &Report,
    expected: &[Expected],
    skipped: &[(String, String)],
    golden_dir: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !run.success() || !report.done {
        problems.push(format!("the firmware did not finish cleanly: {}", describe(run)));
    }
    if let Some(p) = &report.panic {
        problems.push(format!("device panicked: {p}"));
    }
    if let Some(h) = &report.hardfault {
        problems.push(format!("device HardFault: {h}"));
    }
    for (m, e) in &report.errors {
        problems.push(format!("device error in {m}: {e}"));
    }
    for l in &report.malformed {
        problems.push(format!("malformed line: {}", l.chars().take(200).collect::<String>()));
    }
    for case in expected {
        let host = &case.layers;
        let out = case.print_out.then_some(&case.output[..]);
        let expected = render_host(&case.name, host, out);
        if let Err(e) = golden::check(&format!("{golden_dir}/{}.out", case.name), &expected) {
            problems.push(format!("host result vs golden: {e}"));
        }
        let Some(dev) = report.models.get(&case.name) else {
            problems.push(format!("model {}: no output from the device", case.name));
            continue;
        };
        if let Err(e) = compare(&case.name, host, out, dev) {
            problems.push(e);
        } else if !golden::blessing()
            && let Err(e) = golden::check(&format!("{golden_dir}/{}.out", case.name), &render_device(&case.name, dev))
        {
            problems.push(format!("device result vs golden: {e}"));
        }
    }
    for name in &report.order {
        if !expected.iter().any(|c| &c.name == name) {
            problems.push(format!("device reported model {name}, which the host does not expect"));
        }
    }
    let dev_skips: Vec<&String> = report.skipped.iter().map(|(n, _)| n).collect();
    let host_skips: Vec<&String> = skipped.iter().map(|(n, _)| n).collect();
    if dev_skips != host_skips {
        problems.push(format!("skipped models differ: device {dev_skips:?}, host {host_skips:?}"));
    }
    problems
}
