//! The harness itself: failures on the device are seen, hangs are killed and reported, a missing QEMU
//! fails with the install command.

use bsq_tests::check::describe;
use bsq_tests::qemu::{self, Exit};
use bsq_tests::{QEMU_BOARDS, firmware, protocol};
use std::time::Duration;

#[test]
fn panicking_firmware_exits_with_failure_on_every_machine() {
    for board in &QEMU_BOARDS {
        let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
        let run = qemu::run(board.machine, &built.elf(board, "-panic"), &[], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.exit, Exit::Code(bsq_tests::EXIT_PANIC), "{}: {}", board.machine, describe(&run));
        let report = protocol::parse(&run.stdout);
        let msg = report.panic.unwrap_or_default();
        assert!(msg.contains("deliberate panic (index 7)"), "{}: panic message {msg:?}", board.machine);
    }
}

#[test]
fn hardfault_exits_with_failure_on_every_machine() {
    for board in &QEMU_BOARDS {
        let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
        let run = qemu::run(board.machine, &built.elf(board, "-fault"), &[], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.exit, Exit::Code(bsq_tests::EXIT_HARDFAULT), "{}: {}", board.machine, describe(&run));
        assert!(protocol::parse(&run.stdout).hardfault.is_some(), "{}: no hardfault line", board.machine);
    }
}

#[test]
fn hung_firmware_is_killed_after_the_timeout_and_reported() {
    let board = bsq_tests::board_for_machine("lm3s6965evb").expect("board");
    let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let timeout = Duration::from_secs(3);
    let run = qemu::run(board.machine, &built.elf(board, "-hang"), &[], timeout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.exit, Exit::TimedOut, "{}", describe(&run));
    assert!(run.wall >= timeout && run.wall < timeout + Duration::from_secs(5), "killed after {:?}", run.wall);
    assert!(describe(&run).contains("hung: killed after the timeout"));
    assert_eq!(protocol::parse(&run.stdout).firmware.as_deref(), Some("hang"), "output before the hang is kept");
}

#[test]
fn missing_qemu_fails_with_the_install_command() {
    let err = qemu::check_installed_at("/nonexistent/qemu-system-arm").expect_err("no such binary");
    assert!(err.to_string().contains(qemu::INSTALL), "{err}");
    // And the real one is installed: the suite never skips silently.
    qemu::check_installed().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn marker_functions_are_distinct_in_every_firmware() {
    for board in &QEMU_BOARDS {
        let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
        let elf_path = built.elf(board, "");
        let start = bsq_tests::elf::symbol_address(&elf_path, "bsq_mark_start").unwrap_or_else(|e| panic!("{e}"));
        let stop = bsq_tests::elf::symbol_address(&elf_path, "bsq_mark_stop").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(start, stop, "{}: the linker merged the marker functions", board.krate);
    }
}

#[test]
fn systick_counts_are_identical_on_every_run_under_icount() {
    let board = bsq_tests::board_for_machine("mps2-an386").expect("board");
    let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let ticks = || {
        let run = qemu::run(board.machine, &built.elf(board, ""), &[], Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(run.success(), "{}", describe(&run));
        let r = protocol::parse(&run.stdout);
        r.order.iter().map(|m| (m.clone(), r.models[m].ticks)).collect::<Vec<_>>()
    };
    let first = ticks();
    assert!(first.iter().all(|(_, t)| t.is_some_and(|t| t > 0)), "{first:?}");
    assert_eq!(first, ticks());
}
