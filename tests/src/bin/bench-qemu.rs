//! `cargo run -p bsq-tests --release --bin bench-qemu [-- --machine <m>]... [--no-models] [--no-layers] [--hist DIR]`
//!
//! Deterministic cost of every inference on the QEMU machines, in executed instructions counted exactly
//! by the repository's QEMU TCG plugin `tests/qemu-plugin/bsqcount.c` (built here with `gcc` at run time)
//! between the firmware's `bsq_mark_start` / `bsq_mark_stop` markers, divided by the model's
//! multiply-accumulates; beside it an ESTIMATED Cortex-M4 cycle count from the plugin (the instruction
//! timing table of Arm's Cortex-M4 Technical Reference Manual applied to every executed instruction;
//! `docs/benchmarks.md`).
//!
//! * Models: the suite firmware of every machine (kernel self-test cases and codegen fixtures).
//! * Layers: the single-layer shapes of `BENCH_SHAPES` at every weight width 1..=8 on `mps2-an386`, beside
//!   CMSIS-NN's instruction counts on the same machine (int8 and int4 weights).
//! * `--hist DIR`: one per-PC histogram CSV per firmware run (`DIR/<machine>-suite.csv`,
//!   `DIR/<machine>-bench.csv`): pc, executions inside the regions, timing class, estimated cycles.
//!
//! The SysTick count under `-icount shift=0` (ticks × instructions per tick) is printed beside the exact
//! count as a cross-check. Instructions are not cycles and the cycle figures are estimates: QEMU models no
//! pipeline, the table is applied per executed instruction.

use bsq_board_build::catalog::{BENCH_SHAPES, bench_name};
use bsq_tests::check::describe;
use bsq_tests::protocol::{self, Report};
use bsq_tests::{Board, QEMU_BOARDS, elf, firmware, insn, qemu};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One measured item: name, MACs, exact instructions, estimated Cortex-M4 cycles, SysTick estimate.
struct Measured {
    name: String,
    macs: u64,
    insns: u64,
    cycles: u64,
    systick_insns: f64,
}

/// Runs `elf_path` with the counting plugin; with `hist`, the plugin writes its per-PC histogram there.
fn measure(
    board: &Board,
    elf_path: &Path,
    plugin: &Path,
    hist: Option<&Path>,
) -> Res<(Vec<Measured>, Report, Duration)> {
    let start = elf::symbol_address(elf_path, "bsq_mark_start")?;
    let stop = elf::symbol_address(elf_path, "bsq_mark_stop")?;
    eprintln!("bench-qemu: {} bsq_mark_start={start:#x} bsq_mark_stop={stop:#x}", elf_path.display());
    let extra = insn::plugin_args(plugin, start, stop, hist);
    let run = qemu::run(board.machine, elf_path, &extra, firmware::default_timeout())?;
    if !run.success() {
        return Err(format!("{}: {}", board.machine, describe(&run)).into());
    }
    let report = protocol::parse(&run.stdout);
    let regions = insn::parse_regions(&format!("{}\n{}", run.stderr, run.stdout));
    let mut out = Vec::new();
    for name in &report.order {
        let m = &report.models[name];
        let (Some(region), Some(ticks), Some(macs)) = (m.region, m.ticks, m.macs) else { continue };
        let r = regions.get(&region).ok_or_else(|| format!("{name}: no INSNREGION idx={region} from the plugin"))?;
        let cycles = r.cycles.ok_or_else(|| format!("{name}: INSNREGION idx={region} without cycles="))?;
        out.push(Measured {
            name: name.clone(),
            macs,
            insns: r.insns,
            cycles,
            systick_insns: ticks as f64 * board.insns_per_tick,
        });
    }
    if let Some(h) = hist {
        if !h.exists() {
            return Err(format!("the plugin wrote no histogram {} ({})", h.display(), run.stderr.trim()).into());
        }
        eprintln!("bench-qemu: histogram {}", h.display());
    }
    Ok((out, report, run.wall))
}

fn per_mac(insns: u64, macs: u64) -> String {
    if macs == 0 { "-".into() } else { format!("{:.2}", insns as f64 / macs as f64) }
}

/// The cycle estimate is the Cortex-M4 table: shown for Cortex-M4 cores only.
fn m4(board: &Board) -> bool {
    board.core.starts_with("Cortex-M4")
}

/// `DIR/<machine>-<what>.csv` when `--hist DIR` was given.
fn hist_path(dir: Option<&Path>, board: &Board, what: &str) -> Option<PathBuf> {
    dir.map(|d| d.join(format!("{}-{what}.csv", board.machine)))
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut machines = Vec::new();
    let (mut models, mut layers) = (true, true);
    let mut hist_dir: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--machine" => machines.push(it.next().ok_or("--machine needs a value")?.clone()),
            "--no-models" => models = false,
            "--no-layers" => layers = false,
            "--hist" => hist_dir = Some(PathBuf::from(it.next().ok_or("--hist needs a directory")?)),
            "-h" | "--help" => {
                println!("bench-qemu [--machine <m>]... [--no-models] [--no-layers] [--hist DIR]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    qemu::check_installed()?;
    let plugin = insn::build_plugin()?;
    if let Some(d) = &hist_dir {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let hist_dir = hist_dir.as_deref();
    let boards: Vec<&Board> =
        QEMU_BOARDS.iter().filter(|b| machines.is_empty() || machines.iter().any(|m| m == b.machine)).collect();
    let total = Instant::now();

    if models {
        println!("## Models: exact instructions per inference (QEMU bsqcount plugin, marker to marker)\n");
        println!(
            "| machine | core | model | MACs | instructions | instr/MAC | est. cycles/MAC (M4 TRM table) | SysTick estimate |"
        );
        println!("|---|---|---|---:|---:|---:|---:|---:|");
        for board in &boards {
            let built = firmware::build(board)?;
            let hist = hist_path(hist_dir, board, "suite");
            let (rows, report, _) = measure(board, &built.elf(board, ""), &plugin, hist.as_deref())?;
            for r in rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                    board.machine,
                    board.core,
                    r.name,
                    r.macs,
                    r.insns,
                    per_mac(r.insns, r.macs),
                    if m4(board) { per_mac(r.cycles, r.macs) } else { "-".into() },
                    r.systick_insns
                );
            }
            for (name, reason) in &report.skipped {
                println!("| {} | {} | {name} | skipped: {reason} | | | | |", board.machine, board.core);
            }
        }
        println!(
            "\nest. cycles: an estimate for Cortex-M4 cores only, the Cortex-M4 TRM instruction timing table applied \
             to each executed instruction (QEMU models no pipeline; docs/benchmarks.md).\n"
        );
    }

    if layers {
        let Some(board) = QEMU_BOARDS.iter().find(|b| b.bench) else { return Ok(()) };
        let built = firmware::build(board)?;
        let hist = hist_path(hist_dir, board, "bench");
        let (rows, report, _) = measure(board, &built.elf(board, "-bench"), &plugin, hist.as_deref())?;
        if !report.skipped.is_empty() {
            println!("skipped: {:?}\n", report.skipped);
        }
        let by_name: BTreeMap<&str, &Measured> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
        let get = |shape: &str, bits: u8| by_name.get(bench_name(shape, bits).as_str()).copied();
        println!(
            "## Single layers on {} ({}): exact instructions per MAC, weight widths 1..=8\n",
            board.machine, board.core
        );
        print!("| layer | MACs |");
        for bits in 1..=8 {
            print!(" w{bits} |");
        }
        println!(
            " w8 est. cycles/MAC (M4 TRM table) | CMSIS-NN int8 | CMSIS-NN int4 | w8 / CMSIS int8 | w4 / CMSIS int4 | \
             worst w1-7 / w8 |"
        );
        print!("|---|---:|");
        for _ in 1..=8 {
            print!("---:|");
        }
        println!("---:|---:|---:|---:|---:|---:|");
        for s in BENCH_SHAPES.iter() {
            let get = |bits: u8| get(s.name, bits);
            let macs = get(8).map_or(0, |m| m.macs);
            print!("| {} | {macs} |", s.what);
            for bits in 1..=8 {
                match get(bits) {
                    Some(m) => print!(" {} |", per_mac(m.insns, m.macs)),
                    None => print!(" - |"),
                }
            }
            let w8_cycles = get(8).map_or("-".into(), |m| per_mac(m.cycles, m.macs));
            let w8 = get(8).map(|m| m.insns as f64);
            let worst = (1..=7).filter_map(|b| get(b).map(|m| m.insns as f64)).fold(0.0, f64::max);
            let ratio = w8.map_or("-".into(), |w8| format!("{:.2}", worst / w8));
            let vs = |bits: u8, cmsis: f64| {
                get(bits)
                    .filter(|_| cmsis.is_finite())
                    .map_or("-".into(), |m| format!("{:.2}", m.insns as f64 / m.macs.max(1) as f64 / cmsis))
            };
            // NaN: no CMSIS-NN figure for this shape.
            let cmsis = |v: f64| if v.is_finite() { format!("{v:.2}") } else { "-".into() };
            println!(
                " {w8_cycles} | {} | {} | {} | {} | {ratio} |",
                cmsis(s.cmsis_int8),
                cmsis(s.cmsis_int4),
                vs(8, s.cmsis_int8),
                vs(4, s.cmsis_int4)
            );
        }
        println!();
        if m4(board) {
            println!(
                "## Single layers on {} ({}): ESTIMATED Cortex-M4 cycles per MAC (M4 TRM table), weight widths 1..=8\n",
                board.machine, board.core
            );
            print!("| layer |");
            for bits in 1..=8 {
                print!(" w{bits} |");
            }
            println!(" est. cycles / instruction at w8 |");
            print!("|---|");
            for _ in 1..=8 {
                print!("---:|");
            }
            println!("---:|");
            for s in BENCH_SHAPES.iter() {
                print!("| {} |", s.what);
                for bits in 1..=8 {
                    match get(s.name, bits) {
                        Some(m) => print!(" {} |", per_mac(m.cycles, m.macs)),
                        None => print!(" - |"),
                    }
                }
                let cpi = get(s.name, 8).map_or("-".into(), |m| per_mac(m.cycles, m.insns));
                println!(" {cpi} |");
            }
            println!(
                "\nAn estimate, not a measurement: QEMU models no pipeline, wait states or bus; the table is applied \
                 per executed instruction (taken branches P = 2, SDIV/UDIV 12; docs/benchmarks.md). CMSIS-NN's \
                 figures above are instructions.\n"
            );
        }
    }
    eprintln!("bench-qemu: {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}
