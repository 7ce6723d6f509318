//! The generated inference code, linked alone (`boards/probe`: a firmware per model whose only code path is
//! `predict`), for every thumb target and every fixture plus the demo-shaped LeNet:
//!
//! * **no panic path**: the ELF must not contain any of the Rust panic machinery
//!   ([`bsq_tests::elf::panic_symbols`]); the linker keeps it only when some code can reach it;
//! * **inference code size**: `.text` (predict, the kernels it reaches, cortex-m-rt's start-up; the model's
//!   constants are in `.rodata`) against the snapshot `tests/golden/sizes/inference-path.txt`, within 10 %
//!   or 256 bytes; re-blessed with `BSQ_BLESS=1`. The table is printed (`--nocapture`).

use bsq_tests::firmware::{PROBE_CONFIGS, PROBE_MODELS, build_probe};
use bsq_tests::{elf, golden};
use std::collections::BTreeMap;

const SNAPSHOT: &str = "sizes/inference-path.txt";

fn within(golden: u64, actual: u64) -> bool {
    golden.abs_diff(actual) <= (golden / 10).max(256)
}

#[test]
fn inference_code_links_no_panic_path_and_matches_its_size_snapshot() {
    let mut problems = Vec::new();
    let mut table = String::new();
    let mut sizes = BTreeMap::new();
    for cfg in &PROBE_CONFIGS {
        let dir = build_probe(cfg).unwrap_or_else(|e| panic!("{e}"));
        for model in PROBE_MODELS {
            let path = dir.join(format!("probe-{model}"));
            let names = elf::symbol_names(&path).unwrap_or_else(|e| panic!("{e}"));
            let panics = elf::panic_symbols(&names);
            if !panics.is_empty() {
                problems.push(format!("{} {model}: a panic path is linked: {}", cfg.name, panics.join(", ")));
            }
            let text = elf::section_size(&path, ".text").unwrap_or_else(|e| panic!("{e}"));
            sizes.insert(format!("{} {model}", cfg.name), text);
            table.push_str(&format!("{} {model} text={text}\n", cfg.name));
        }
    }
    println!("inference code (.text bytes):\n{table}");
    if golden::blessing() {
        golden::check(SNAPSHOT, &table).unwrap_or_else(|e| panic!("{e}"));
    } else {
        let path = golden::dir().join(SNAPSHOT);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (create it with BSQ_BLESS=1)", path.display()));
        let snap: BTreeMap<String, u64> = text
            .lines()
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(" text=")?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        for (k, &v) in &sizes {
            match snap.get(k) {
                Some(&g) if within(g, v) => {}
                Some(&g) => problems.push(format!(
                    "{k}: .text {v} bytes vs snapshot {g} (more than 10 % or 256 B apart; re-bless with BSQ_BLESS=1 if intended)"
                )),
                None => problems.push(format!("{k}: not in {} (re-bless with BSQ_BLESS=1)", path.display())),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself can fail: the panic machinery is recognised in a firmware that links it (the suite
/// firmware of `mps2-an386`, whose panic handler and `panic` binary exist on purpose).
#[test]
fn the_panic_check_sees_a_linked_panic_path() {
    let board = bsq_tests::QEMU_BOARDS.iter().find(|b| b.machine == "mps2-an386").expect("mps2-an386 board");
    let built = bsq_tests::firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let names = elf::symbol_names(&built.elf(board, "-panic")).unwrap_or_else(|e| panic!("{e}"));
    let found = elf::panic_symbols(&names);
    assert!(found.iter().any(|n| n.contains("rust_begin_unwind") || n.contains("panic")), "{found:?}");
}
