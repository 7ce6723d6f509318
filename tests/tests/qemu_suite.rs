//! Host ≡ device: every QEMU machine runs the suite firmware (kernel self-test cases, then every codegen
//! fixture model that fits the board); every item's output bytes and per-layer checksums must equal the
//! host's (bsq-runtime / the codegen executor on x86-64) and the golden files. Models left out for budget
//! must be listed by the device exactly as the host predicts.
//!
//! Needs `qemu-system-arm`; without it these tests FAIL with the install command (no silent skip).

use bsq_tests::check::{build_and_run, check_run, localize};
use bsq_tests::{Board, board_for_machine};
use bsq_tests::{firmware, protocol, qemu};

fn suite_matches_host(machine: &str) {
    let board: &Board = board_for_machine(machine).expect("machine in the board table");
    let suite = bsq_board_build::suite(board).unwrap_or_else(|e| panic!("{e}"));
    let expected = suite.expected().unwrap_or_else(|e| panic!("{e}"));
    let (run, report) = build_and_run(board, "").unwrap_or_else(|e| panic!("{e}"));
    let mut problems = check_run(&run, &report, &expected, &suite.skipped, machine);
    if !problems.is_empty() && !bsq_tests::golden::blessing() {
        problems.extend(localize(board, "", &expected, &suite.skipped));
    }
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

/// Dump mode (semihosting argument `dump`) prints every layer's whole output: on the Cortex-M0 every byte
/// of every layer of every item equals the host's, not only the checksums.
#[test]
fn dump_mode_on_microbit_prints_every_layer_equal_to_the_host() {
    let board = board_for_machine("microbit").expect("machine in the board table");
    let suite = bsq_board_build::suite(board).unwrap_or_else(|e| panic!("{e}"));
    let expected = suite.expected().unwrap_or_else(|e| panic!("{e}"));
    let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let run = qemu::run_with_args(board.machine, &built.elf(board, ""), &[], &["dump"], firmware::default_timeout())
        .unwrap_or_else(|e| panic!("{e}"));
    let report = protocol::parse(&run.stdout);
    let mut problems = check_run(&run, &report, &expected, &suite.skipped, board.machine);
    for item in &expected {
        let dev = &report.models[&item.name];
        for (i, layer) in item.layers.iter().enumerate() {
            match dev.layer_bytes.get(&i) {
                Some(got) if got == &layer.bytes => {}
                Some(got) => problems.push(bsq_tests::compare::first_difference(
                    &format!("{} layer {i} `{}`", item.name, layer.name),
                    got,
                    &layer.bytes,
                )),
                None => problems.push(format!("{} layer {i}: no bytes in dump mode", item.name)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
