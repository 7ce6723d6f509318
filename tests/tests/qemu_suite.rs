//! Host ≡ device: every QEMU machine runs the suite firmware (kernel self-test cases, then every codegen
//! fixture model that fits the board); every item's output bytes and per-layer checksums must equal the
//! host's (bsq-runtime / the codegen executor on x86-64) and the golden files. Models left out for budget
//! must be listed by the device exactly as the host predicts.
//!
//! Needs `qemu-system-arm`; without it these tests FAIL with the install command (no silent skip).

use bsq_tests::check::{build_and_run, check_run};
use bsq_tests::{Board, board_for_machine};

fn suite_matches_host(machine: &str) {
    let board: &Board = board_for_machine(machine).expect("machine in the board table");
    let suite = bsq_board_build::suite(board).unwrap_or_else(|e| panic!("{e}"));
    let expected = suite.expected().unwrap_or_else(|e| panic!("{e}"));
    let (run, report) = build_and_run(board, "").unwrap_or_else(|e| panic!("{e}"));
    let problems = check_run(&run, &report, &expected, &suite.skipped, machine);
    assert!(problems.is_empty(), "{machine}: {} problem(s):\n{}", problems.len(), problems.join("\n"));
    assert_eq!(report.machine.as_deref(), Some(machine));
}

#[test]
fn lm3s6965evb_cortex_m3_matches_host() {
    suite_matches_host("lm3s6965evb");
}

#[test]
fn mps2_an386_cortex_m4f_matches_host() {
    suite_matches_host("mps2-an386");
}

#[test]
fn mps2_an505_cortex_m33_matches_host() {
    suite_matches_host("mps2-an505");
}

#[test]
fn microbit_cortex_m0_matches_host() {
    suite_matches_host("microbit");
}

/// The single-layer benchmark cases (DESIGN §7 shapes at every weight width 1..=8) are bit-exact too.
#[test]
fn bench_layers_on_mps2_an386_match_host() {
    let board = board_for_machine("mps2-an386").expect("machine in the board table");
    let (cases, skipped) = bsq_board_build::bench_cases(board).expect("bench cases");
    let expected = bsq_board_build::expected_cases(&cases).unwrap_or_else(|e| panic!("{e}"));
    let (run, report) = build_and_run(board, "-bench").unwrap_or_else(|e| panic!("{e}"));
    let problems = check_run(&run, &report, &expected, &skipped, "mps2-an386");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
