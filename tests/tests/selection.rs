//! Which items a board runs: a model that does not fit the budget is left out with a reason that names
//! the memory and the byte counts (the device prints it as a `BSQ skip` line; `qemu_suite` checks that).

use bsq_tests::{Board, QEMU_BOARDS};

fn tiny(flash_budget: usize, ram_budget: usize) -> Board {
    let mut b = QEMU_BOARDS[0];
    b.code_reserve = 0;
    b.stack_reserve = 0;
    b.flash = flash_budget;
    b.ram = ram_budget;
    b
}

#[test]
fn every_fixture_fits_every_qemu_machine() {
    for board in &QEMU_BOARDS {
        let suite = bsq_board_build::suite(board).unwrap_or_else(|e| panic!("{e}"));
        assert!(suite.skipped.is_empty(), "{}: {:?}", board.machine, suite.skipped);
        assert!(suite.models.len() >= 5, "{}: {} models", board.machine, suite.models.len());
    }
}

#[test]
fn models_over_the_flash_budget_are_skipped_with_the_byte_counts() {
    let all = bsq_board_build::suite(&QEMU_BOARDS[1]).unwrap_or_else(|e| panic!("{e}"));
    let cases_flash: usize = all.cases.iter().map(|c| c.flash_bytes().expect("case")).sum();
    let suite = bsq_board_build::suite(&tiny(cases_flash + 100, 1 << 20)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(suite.cases.len(), all.cases.len(), "the kernel cases still fit");
    assert!(suite.models.is_empty(), "{:?}", suite.models.iter().map(|m| &m.name).collect::<Vec<_>>());
    assert_eq!(suite.skipped.len(), all.models.len());
    for (name, reason) in &suite.skipped {
        assert!(reason.contains("bytes of flash but the budget is"), "{name}: {reason}");
        assert!(!reason.contains('\n'), "{name}: one line");
    }
}

#[test]
fn models_over_the_ram_budget_are_skipped() {
    let suite = bsq_board_build::suite(&tiny(1 << 22, 3000)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!suite.skipped.is_empty());
    assert!(suite.skipped.iter().all(|(_, r)| r.contains("RAM")), "{:?}", suite.skipped);
}
