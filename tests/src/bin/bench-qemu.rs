//! `cargo run -p bsq-tests --release --bin bench-qemu [-- --machine <m>]... [--no-models] [--no-layers]`
//!
//! Deterministic cost of every inference on the QEMU machines, in executed instructions counted exactly
//! by the QEMU TCG plugin `../shared/tools/qemu-insncount/insncount.c` (built here with `gcc` at run time,
//! never copied into the repository; `BSQ_INSNCOUNT_SRC` overrides its path) between the firmware's
//! `bsq_mark_start` / `bsq_mark_stop` markers, divided by the model's multiply-accumulates.
//!
//! * Models: the suite firmware of every machine (kernel self-test cases and codegen fixtures).
//! * Layers: the single-layer shapes of DESIGN §7 at every weight width 1..=8 on `mps2-an386`, beside
//!   CMSIS-NN's figures on the same machine (int8 and int4 weights).
//!
//! The SysTick count under `-icount shift=0` (ticks × instructions per tick) is printed beside the exact
//! count as a cross-check. Instructions are not cycles: QEMU models no pipeline.

use bsq_board_build::catalog::{BENCH_SHAPES, bench_name};
use bsq_tests::check::describe;
use bsq_tests::protocol::{self, Report};
use bsq_tests::{Board, QEMU_BOARDS, elf, firmware, qemu, repo_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn build_plugin() -> Res<PathBuf> {
    let src = std::env::var_os("BSQ_INSNCOUNT_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/tools/qemu-insncount/insncount.c"));
    if !src.exists() {
        return Err(format!("plugin source {} not found (set BSQ_INSNCOUNT_SRC)", src.display()).into());
    }
    let dir = firmware::boards_dir().join("target/insncount");
    std::fs::create_dir_all(&dir)?;
    let lib = dir.join("libinsncount.so");
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .map_err(|e| format!("running gcc: {e} (install gcc to build the counting plugin)"))?;
    if !out.status.success() {
        return Err(format!("gcc {}: {}", src.display(), String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(lib)
}

/// One measured item: name, MACs, exact instructions, SysTick estimate.
struct Measured {
    name: String,
    macs: u64,
    insns: u64,
    systick_insns: f64,
}

fn measure(board: &Board, elf_path: &Path, plugin: &Path) -> Res<(Vec<Measured>, Report, Duration)> {
    let start = elf::symbol_address(elf_path, "bsq_mark_start")?;
    let stop = elf::symbol_address(elf_path, "bsq_mark_stop")?;
    eprintln!("bench-qemu: {} bsq_mark_start={start:#x} bsq_mark_stop={stop:#x}", elf_path.display());
    let extra = vec![
        "-plugin".into(),
        format!("{},start={start:#x},stop={stop:#x}", plugin.display()),
        "-d".into(),
        "plugin".into(),
    ];
    let run = qemu::run(board.machine, elf_path, &extra, firmware::default_timeout())?;
    if !run.success() {
        return Err(format!("{}: {}", board.machine, describe(&run)).into());
    }
    let report = protocol::parse(&run.stdout);
    let mut regions = BTreeMap::new();
    for line in run.stderr.lines().chain(run.stdout.lines()) {
        if let Some(rest) = line.strip_prefix("INSNREGION idx=")
            && let Some((idx, insns)) = rest.split_once(" insns=")
            && let (Ok(idx), Ok(insns)) = (idx.trim().parse::<u32>(), insns.trim().parse::<u64>())
        {
            regions.insert(idx, insns);
        }
    }
    let mut out = Vec::new();
    for name in &report.order {
        let m = &report.models[name];
        let (Some(region), Some(ticks), Some(macs)) = (m.region, m.ticks, m.macs) else { continue };
        let insns =
            *regions.get(&region).ok_or_else(|| format!("{name}: no INSNREGION idx={region} from the plugin"))?;
        out.push(Measured { name: name.clone(), macs, insns, systick_insns: ticks as f64 * board.insns_per_tick });
    }
    Ok((out, report, run.wall))
}

fn per_mac(insns: u64, macs: u64) -> String {
    if macs == 0 { "-".into() } else { format!("{:.2}", insns as f64 / macs as f64) }
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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--machine" => machines.push(it.next().ok_or("--machine needs a value")?.clone()),
            "--no-models" => models = false,
            "--no-layers" => layers = false,
            "-h" | "--help" => {
                println!("bench-qemu [--machine <m>]... [--no-models] [--no-layers]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    qemu::check_installed()?;
    let plugin = build_plugin()?;
    let boards: Vec<&Board> =
        QEMU_BOARDS.iter().filter(|b| machines.is_empty() || machines.iter().any(|m| m == b.machine)).collect();
    let total = Instant::now();

    if models {
        println!("## Models: exact instructions per inference (QEMU insncount plugin, marker to marker)\n");
        println!("| machine | core | model | MACs | instructions | instr/MAC | SysTick estimate |");
        println!("|---|---|---|---:|---:|---:|---:|");
        for board in &boards {
            let built = firmware::build(board)?;
            let (rows, report, _) = measure(board, &built.elf(board, ""), &plugin)?;
            for r in rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {:.0} |",
                    board.machine,
                    board.core,
                    r.name,
                    r.macs,
                    r.insns,
                    per_mac(r.insns, r.macs),
                    r.systick_insns
                );
            }
            for (name, reason) in &report.skipped {
                println!("| {} | {} | {name} | skipped: {reason} | | | |", board.machine, board.core);
            }
        }
        println!();
    }

    if layers {
        let Some(board) = QEMU_BOARDS.iter().find(|b| b.bench) else { return Ok(()) };
        let built = firmware::build(board)?;
        let (rows, report, _) = measure(board, &built.elf(board, "-bench"), &plugin)?;
        if !report.skipped.is_empty() {
            println!("skipped: {:?}\n", report.skipped);
        }
        let by_name: BTreeMap<&str, &Measured> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
        println!(
            "## Single layers on {} ({}): exact instructions per MAC, weight widths 1..=8\n",
            board.machine, board.core
        );
        print!("| layer | MACs |");
        for bits in 1..=8 {
            print!(" w{bits} |");
        }
        println!(" CMSIS-NN int8 | CMSIS-NN int4 | w8 / CMSIS int8 | w4 / CMSIS int4 | worst w1-7 / w8 |");
        print!("|---|---:|");
        for _ in 1..=8 {
            print!("---:|");
        }
        println!("---:|---:|---:|---:|---:|");
        for s in BENCH_SHAPES {
            let get = |bits: u8| by_name.get(bench_name(s.name, bits).as_str()).copied();
            let macs = get(8).map_or(0, |m| m.macs);
            print!("| {} | {macs} |", s.what);
            for bits in 1..=8 {
                match get(bits) {
                    Some(m) => print!(" {} |", per_mac(m.insns, m.macs)),
                    None => print!(" - |"),
                }
            }
            let w8 = get(8).map(|m| m.insns as f64);
            let worst = (1..=7).filter_map(|b| get(b).map(|m| m.insns as f64)).fold(0.0, f64::max);
            let ratio = w8.map_or("-".into(), |w8| format!("{:.2}", worst / w8));
            let vs = |bits: u8, cmsis: f64| {
                get(bits).map_or("-".into(), |m| format!("{:.2}", m.insns as f64 / m.macs.max(1) as f64 / cmsis))
            };
            println!(
                " {:.2} | {:.2} | {} | {} | {ratio} |",
                s.cmsis_int8,
                s.cmsis_int4,
                vs(8, s.cmsis_int8),
                vs(4, s.cmsis_int4)
            );
        }
        println!();
    }
    eprintln!("bench-qemu: {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}
