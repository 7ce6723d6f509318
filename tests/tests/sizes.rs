//! Firmware size snapshots (`tests/golden/sizes/<binary>.size`, text/data/bss read from the ELF), compared
//! within a tolerance; re-blessed with `BSQ_BLESS=1`. Every firmware must also fit its board. This is also
//! where the real-board firmware (nRF52840-DK, Raspberry Pi Pico, NUCLEO-F411RE) is built: CI builds it,
//! only hardware can run it.

use bsq_tests::{QEMU_BOARDS, REAL_BOARDS, elf, firmware, golden};

/// Allowed drift before a snapshot must be re-blessed: 10 % or 512 bytes, whichever is larger.
fn within(golden: u64, actual: u64) -> bool {
    golden.abs_diff(actual) <= (golden / 10).max(512)
}

fn parse(s: &str) -> Option<(u64, u64, u64)> {
    let get = |k: &str| s.split_whitespace().find_map(|f| f.strip_prefix(k)?.strip_prefix('=')?.parse().ok());
    Some((get("text")?, get("data")?, get("bss")?))
}

#[test]
fn every_firmware_builds_fits_its_board_and_matches_its_size_snapshot() {
    let mut problems = Vec::new();
    for board in QEMU_BOARDS.iter().chain(&REAL_BOARDS) {
        let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
        let bins: &[&str] = if board.bench { &["", "-bench"] } else { &[""] };
        for bin in bins {
            let name = format!("{}{bin}", board.krate);
            let s = elf::sizes(&built.elf(board, bin)).unwrap_or_else(|e| panic!("{e}"));
            if s.flash() > board.flash as u64 || s.ram() > board.ram as u64 {
                problems.push(format!(
                    "{name}: flash {} / {} bytes, RAM {} / {} bytes",
                    s.flash(),
                    board.flash,
                    s.ram(),
                    board.ram
                ));
            }
            let text = format!("text={} data={} bss={}\n", s.text, s.data, s.bss);
            let rel = format!("sizes/{name}.size");
            if golden::blessing() {
                golden::check(&rel, &text).unwrap_or_else(|e| panic!("{e}"));
                continue;
            }
            let path = golden::dir().join(&rel);
            let Some((gt, gd, gb)) = std::fs::read_to_string(&path).ok().as_deref().and_then(parse) else {
                problems.push(format!("{}: missing or unreadable; create it with BSQ_BLESS=1", path.display()));
                continue;
            };
            if !(within(gt, s.text) && within(gd, s.data) && within(gb, s.bss)) {
                problems.push(format!(
                    "{name}: text/data/bss {}/{}/{} vs snapshot {gt}/{gd}/{gb} (more than 10 % or 512 B apart; re-bless with BSQ_BLESS=1 if intended)",
                    s.text, s.data, s.bss
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
