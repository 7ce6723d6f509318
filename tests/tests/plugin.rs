//! The counting plugin `tests/qemu-plugin/bsqcount.c`: it builds without warnings, its instruction
//! classifier puts known encodings in the right Cortex-M4 timing class, and on a real firmware it counts
//! exactly what the shared `insncount` plugin counts, with estimated cycles ≥ instructions.

use bsq_tests::check::describe;
use bsq_tests::insn::{self, HistRow, Region};
use bsq_tests::{elf, firmware, protocol, qemu, repo_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-test");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir.join(name)
}

fn gcc_werror(src: &Path, out: &Path, shared: bool) {
    let mut cmd = Command::new("gcc");
    if shared {
        cmd.args(["-shared", "-fPIC"]);
    }
    let o = cmd
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(src)
        .output()
        .unwrap_or_else(|e| panic!("running gcc: {e}"));
    assert!(o.status.success(), "gcc {}:\n{}", src.display(), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn plugin_and_classifier_driver_build_without_warnings() {
    gcc_werror(&insn::plugin_source(), &tmp("libbsqcount-werror.so"), true);
    gcc_werror(&repo_root().join("tests/qemu-plugin/classify_test.c"), &tmp("classify_test-werror"), false);
}

/// `(encoding as hex halfwords, class, base cycles, flags)`; flags: `ls` = 1 cycle after another single
/// load/store, `br` = + P when taken.
const KNOWN: &[(&str, &str, &str, u32, &str)] = &[
    ("smlad r0, r1, r2, r3", "fb213002", "mul", 1, "-"),
    ("smlabb r0, r1, r2, r3", "fb113002", "mul", 1, "-"),
    ("smull r0, r1, r2, r3", "fb820103", "mul", 1, "-"),
    ("smlal r0, r1, r2, r3", "fbc20103", "mul", 1, "-"),
    ("umlal r0, r1, r2, r3", "fbe20103", "mul", 1, "-"),
    ("mla r0, r1, r2, r3", "fb013002", "mul", 1, "-"),
    ("mls r0, r1, r2, r3", "fb013012", "mul", 1, "-"),
    ("muls r0, r1, r0", "4348", "mul", 1, "-"),
    ("sdiv r0, r1, r2", "fb91f0f2", "div", 12, "-"),
    ("udiv r3, r4, r5", "fbb4f3f5", "div", 12, "-"),
    ("ldr r0, [r1]", "6808", "ls", 2, "ls"),
    ("ldr r0, [pc, #8]", "4802", "ls", 2, "ls"),
    ("ldr r0, [sp, #284]", "9847", "ls", 2, "ls"),
    ("ldr.w r6, [r9], #4", "f8596b04", "ls", 2, "ls"),
    ("ldrsh r0, [r1, #-2]", "f9310c02", "ls", 2, "ls"),
    ("strb r0, [r1], #1", "f8010b01", "ls", 2, "ls"),
    ("strh.w r0, [r1, r2, lsl #1]", "f8210012", "ls", 2, "ls"),
    ("ldrex r0, [r1]", "e8510f00", "ls", 2, "ls"),
    ("ldrd r0, r1, [r2, #8]", "e9d20102", "lsd", 3, "-"),
    ("strd r0, r1, [r2], #8", "e8e20102", "lsd", 3, "-"),
    ("ldm r0!, {r2-r5}", "c83c", "lsm", 5, "-"),
    ("ldm.w lr!, {r2-r5}", "e8be003c", "lsm", 5, "-"),
    ("push {r4-r7, lr}", "b5f0", "lsm", 6, "-"),
    ("push.w {r4-r11, lr}", "e92d4ff0", "lsm", 10, "-"),
    ("pop {r4-r7, pc}", "bdf0", "lsm_pc", 6, "br"),
    ("pop {r7, pc}", "bd80", "lsm_pc", 3, "br"),
    ("pop.w {r4-r11, pc}", "e8bd8ff0", "lsm_pc", 10, "br"),
    ("ldr pc, [sp], #4", "f85dfb04", "ldr_pc", 2, "br"),
    ("bne", "d1dd", "bcond", 1, "br"),
    ("beq.w", "f43faffe", "bcond", 1, "br"),
    ("b", "e201", "b", 1, "br"),
    ("b.w", "f7ffbffe", "b", 1, "br"),
    ("bl", "f7fffffe", "b", 1, "br"),
    ("bx lr", "4770", "bx", 1, "br"),
    ("blx r3", "4798", "bx", 1, "br"),
    ("cbz r0", "b100", "cbz", 1, "br"),
    ("cbnz r0", "b908", "cbz", 1, "br"),
    ("mov pc, lr", "46f7", "pcwrite", 1, "br"),
    ("add pc, r0", "4487", "pcwrite", 1, "br"),
    ("mov r0, lr", "4670", "dp", 1, "-"),
    ("tbb [r0, r1]", "e8d0f001", "tb", 2, "br"),
    ("tbh [r0, r1, lsl #1]", "e8d0f011", "tb", 2, "br"),
    ("it eq", "bf08", "it", 1, "-"),
    ("itte ne", "bf1a", "it", 1, "-"),
    ("nop", "bf00", "sys", 1, "-"),
    ("dmb sy", "f3bf8f5f", "sys", 1, "-"),
    ("sxtb16 r0, r1", "fa2ff081", "dp", 1, "-"),
    ("uxtab16 r0, r1, r2", "fa31f082", "dp", 1, "-"),
    ("pkhbt r0, r1, r2, lsl #16", "eac14002", "dp", 1, "-"),
    ("ssat r0, #8, r1", "f3010007", "dp", 1, "-"),
    ("rev r0, r1", "ba08", "dp", 1, "-"),
    ("movw r0, #1234", "f24040d2", "dp", 1, "-"),
    ("sub sp, #8", "b082", "dp", 1, "-"),
    ("lsls r0, r1, #3", "00c8", "dp", 1, "-"),
    ("vadd.f32 s0, s1, s2", "ee300a81", "fp", 1, "-"),
    ("vmla.f32 s0, s1, s2", "ee000a81", "fp_mac", 3, "-"),
    ("vdiv.f32 s0, s1, s2", "ee800a81", "fp_div", 14, "-"),
    ("vsqrt.f32 s0, s1", "eeb10ae0", "fp_div", 14, "-"),
    ("vldr s0, [r0, #4]", "ed900a01", "fp_ls", 2, "-"),
    ("vpush {s16-s31}", "ed2d8a10", "fp_lsm", 17, "-"),
    ("vmov r0, r1, d0", "ec510b10", "fp_mov2", 2, "-"),
    ("udf #254", "defe", "undef", 1, "-"),
];

#[test]
fn classifier_puts_known_encodings_in_their_timing_class() {
    let driver = tmp("classify_test");
    gcc_werror(&repo_root().join("tests/qemu-plugin/classify_test.c"), &driver, false);
    let out = Command::new(&driver)
        .args(KNOWN.iter().map(|k| k.1))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", driver.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), KNOWN.len(), "{stdout}");
    let mut wrong = Vec::new();
    for ((asm, enc, class, base, flags), line) in KNOWN.iter().zip(&lines) {
        let size = if enc.len() == 8 { 4 } else { 2 };
        let want = format!("{enc} {class} {base} {flags} {size}");
        if *line != want {
            wrong.push(format!("{asm}: got `{line}`, want `{want}`"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

struct Counted {
    regions: BTreeMap<u32, Region>,
    totals: insn::Totals,
    report: protocol::Report,
}

fn count(machine: &str, elf_path: &Path, plugin: &Path, hist: Option<&Path>) -> Counted {
    let start = elf::symbol_address(elf_path, "bsq_mark_start").unwrap_or_else(|e| panic!("{e}"));
    let stop = elf::symbol_address(elf_path, "bsq_mark_stop").unwrap_or_else(|e| panic!("{e}"));
    let extra = insn::plugin_args(plugin, start, stop, hist);
    let run = qemu::run(machine, elf_path, &extra, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    assert!(run.success(), "{} with {}: {}", elf_path.display(), plugin.display(), describe(&run));
    let text = format!("{}\n{}", run.stderr, run.stdout);
    let totals = insn::parse_totals(&text).unwrap_or_else(|| panic!("no INSNCOUNT line:\n{}", run.stderr));
    Counted { regions: insn::parse_regions(&text), totals, report: protocol::parse(&run.stdout) }
}

/// Class-wise bounds of the estimated cycles of one histogram row.
fn check_row(r: &HistRow) -> Result<(), String> {
    let (lo, hi) = match r.class.as_str() {
        "dp" | "mul" | "it" | "sys" | "fp" => (1, 1),
        "div" => (12, 12),
        "ls" => (1, 2),
        "lsd" => (3, 3),
        "bcond" | "cbz" | "b" | "bx" | "pcwrite" => (1, 3),
        "tb" | "ldr_pc" => (2, 4),
        "lsm" | "lsm_pc" => (2, 1 + 16 + 2),
        "fp_lsm" => (2, 1 + 32),
        _ => (1, 20),
    };
    if r.count == 0 || r.cycles < lo * r.count || r.cycles > hi * r.count {
        return Err(format!("{r:?}: cycles outside {lo}..={hi} per execution"));
    }
    Ok(())
}

#[test]
fn counts_equal_the_shared_plugin_and_cycles_are_at_least_instructions() {
    let board = bsq_tests::board_for_machine("mps2-an386").expect("board");
    let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let plugin = tmp("libbsqcount.so");
    gcc_werror(&insn::plugin_source(), &plugin, true);
    let shared_src = repo_root().join("../shared/tools/qemu-insncount/insncount.c");
    let shared = if shared_src.exists() {
        let lib = tmp("libinsncount.so");
        insn::gcc(&shared_src, &lib, true).unwrap_or_else(|e| panic!("{e}"));
        Some(lib)
    } else {
        eprintln!(
            "plugin test: {} not found, skipping the comparison with the shared insncount plugin",
            shared_src.display()
        );
        None
    };
    for bin in ["", "-bench"] {
        // A private copy: other tests or builds may rewrite boards/target while both plugins run.
        let elf_path = tmp(&format!("{}{bin}.elf", board.krate));
        std::fs::copy(built.elf(board, bin), &elf_path).unwrap_or_else(|e| panic!("{e}"));
        let hist = tmp(&format!("hist{bin}.csv"));
        let _ = std::fs::remove_file(&hist);
        let ours = count(board.machine, &elf_path, &plugin, Some(&hist));

        // Every measured model has its region, with cycles ≥ instructions > 0.
        let measured: Vec<u32> = ours.report.order.iter().filter_map(|m| ours.report.models[m].region).collect();
        assert!(!measured.is_empty(), "{bin}: no measured models");
        assert_eq!(ours.regions.len(), measured.len(), "{bin}: regions {:?}", ours.regions.keys());
        assert_eq!(ours.totals.regions as usize, measured.len());
        for idx in &measured {
            let r = ours.regions.get(idx).unwrap_or_else(|| panic!("{bin}: no region {idx}"));
            let cycles = r.cycles.unwrap_or_else(|| panic!("{bin}: region {idx} without cycles"));
            assert!(r.insns > 0 && cycles >= r.insns, "{bin}: {r:?}");
            assert!(cycles <= 4 * r.insns, "{bin}: implausible estimate {r:?}");
        }
        let sum_insns: u64 = ours.regions.values().map(|r| r.insns).sum();
        let sum_cycles: u64 = ours.regions.values().filter_map(|r| r.cycles).sum();
        assert_eq!(ours.totals.region, sum_insns);
        assert_eq!(ours.totals.cycles, Some(sum_cycles));
        assert!(ours.totals.total > sum_insns);

        // The histogram adds up to the same totals, and each row's cycles fit its class.
        let text = std::fs::read_to_string(&hist).unwrap_or_else(|e| panic!("{}: {e}", hist.display()));
        let rows = insn::parse_hist(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), sum_insns, "{bin}: histogram counts");
        assert_eq!(rows.iter().map(|r| r.cycles).sum::<u64>(), sum_cycles, "{bin}: histogram cycles");
        assert!(rows.windows(2).all(|w| w[0].pc < w[1].pc), "{bin}: histogram not sorted by pc");
        let bad: Vec<String> = rows.iter().filter_map(|r| check_row(r).err()).collect();
        assert!(bad.is_empty(), "{bin}:\n{}", bad.join("\n"));
        assert!(!rows.iter().any(|r| r.class == "undef"), "{bin}: undefined instruction executed");

        if let Some(shared) = &shared {
            let theirs = count(board.machine, &elf_path, shared, None);
            let strip = |m: &BTreeMap<u32, Region>| m.iter().map(|(k, r)| (*k, r.insns)).collect::<Vec<_>>();
            assert_eq!(strip(&ours.regions), strip(&theirs.regions), "{bin}: per-region instructions differ");
            assert_eq!(ours.totals.total, theirs.totals.total, "{bin}: total instructions differ");
            assert_eq!(ours.totals.region, theirs.totals.region);
        }
    }
}

#[test]
fn unknown_plugin_argument_is_refused() {
    let board = bsq_tests::board_for_machine("mps2-an386").expect("board");
    let built = firmware::build(board).unwrap_or_else(|e| panic!("{e}"));
    let plugin = tmp("libbsqcount-args.so");
    gcc_werror(&insn::plugin_source(), &plugin, true);
    let extra = vec!["-plugin".into(), format!("{},bogus=1", plugin.display()), "-d".into(), "plugin".into()];
    let run = qemu::run(board.machine, &built.elf(board, ""), &extra, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!run.success(), "QEMU accepted an unknown plugin argument: {}", describe(&run));
    assert!(run.stderr.contains("bogus"), "{}", run.stderr);
}
