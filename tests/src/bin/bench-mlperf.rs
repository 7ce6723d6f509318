//! `cargo run -p bsq-tests --release --bin bench-mlperf [-- --out DIR] [--model NAME]... [--machine M]...
//! [--artifact NAME=PATH]... [--count N]`
//!
//! The four MLPerf Tiny reference models (`bsq-train/models/`: ds-cnn, mobilenet-v1-0.25, resnet8,
//! fc-autoencoder) on the QEMU machines, each at two weight schemes:
//!
//! * `w8`: every layer 8-bit (the int8 reference models' precision);
//! * `mixed`: a representative BSQ-like scheme ([`mixed_bits`]): first and last layer 8-bit, depthwise 5,
//!   the other layers 4, 3, 2, 4, 3, 2, …;
//! * plus any trained artifact given with `--artifact NAME=PATH`, NAME the model it is an instance of
//!   (e.g. `resnet8=bsq-out/model.bsq.json`).
//!
//! Random weights ([`bsq_codegen::random`]; the datasets of three of the models are not available here) with
//! calibrated activation scales. For every model and scheme: parameters, MACs, weight flash and model RAM
//! from codegen, whether it fits each board's budget, then on each QEMU machine where it fits: a build of
//! `boards/example-app`, a run compared with the host byte for byte (every layer of every input), and the
//! exact instructions per inference counted by the repository's QEMU plugin (`tests/qemu-plugin`), per MAC,
//! with the estimated Cortex-M4 cycles per MAC on the M4. Prints markdown tables and writes them
//! (`mlperf.md`) and the artifacts to `--out` (default `target/bench-mlperf`).
//!
//! Exits non-zero if any run is not byte-exact.

use bsq_codegen::artifact::Input;
use bsq_codegen::desc::{Description, Node, Op, Resolved};
use bsq_codegen::random::{RandomSpec, artifact, weighted};
use bsq_codegen::{Artifact, compile, report::report};
use bsq_sim::simulate::{SimOptions, simulate};
use bsq_tests::{QEMU_BOARDS, REAL_BOARDS, board_for_machine, elf, insn, qemu, repo_root};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One reference model: description file, outputs, input quantization.
struct Model {
    name: &'static str,
    outputs: usize,
    /// Real input value of one byte step, and the byte of real 0.
    input: (f32, u8),
    /// MLPerf Tiny v1.3 closed division, STMicroelectronics X-CUBE-AI on a Cortex-M4 at 120 MHz: latency in ms.
    xcube_ms: f64,
}

const MODELS: [Model; 4] = [
    // MFCC features: signed floats quantized with a zero point.
    Model { name: "ds-cnn", outputs: 12, input: (1.0 / 8.0, 128), xcube_ms: 43.42 },
    Model { name: "mobilenet-v1-0.25", outputs: 2, input: (1.0 / 255.0, 0), xcube_ms: 89.44 },
    Model { name: "resnet8", outputs: 10, input: (1.0 / 255.0, 0), xcube_ms: 165.67 },
    // Log-mel frames: signed floats quantized with a zero point.
    Model { name: "fc-autoencoder", outputs: 640, input: (1.0 / 16.0, 128), xcube_ms: 4.79 },
];

/// The QEMU machines run by default (the lm3s6965evb's 256 KiB / 64 KiB where a model fits).
const MACHINES: [&str; 3] = ["mps2-an386", "mps2-an505", "lm3s6965evb"];

/// The representative mixed scheme: weighted layer `i` of `count`.
fn mixed_bits(i: usize, count: usize, n: &Node) -> u8 {
    if i == 0 || i + 1 == count {
        return 8;
    }
    if let Op::Conv { groups, in_channels, .. } = n.op
        && groups > 1
        && groups == in_channels
    {
        return 5;
    }
    [4, 3, 2][(i - 1) % 3]
}

struct Args {
    out: PathBuf,
    models: Vec<String>,
    machines: Vec<String>,
    artifacts: Vec<(String, PathBuf)>,
    count: usize,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        out: repo_root().join("target/bench-mlperf"),
        models: Vec::new(),
        machines: Vec::new(),
        artifacts: Vec::new(),
        count: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--out" => a.out = PathBuf::from(val()?),
            "--model" => a.models.push(val()?),
            "--machine" => a.machines.push(val()?),
            "--count" => a.count = val()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--artifact" => {
                let v = val()?;
                let (n, p) = v.split_once('=').ok_or("--artifact takes NAME=PATH")?;
                a.artifacts.push((n.to_string(), PathBuf::from(p)));
            }
            "-h" | "--help" => {
                println!("{}", include_str!("bench-mlperf.rs").lines().take(3).collect::<Vec<_>>().join("\n"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)").into()),
        }
    }
    let is_model = |name: &str| MODELS.iter().any(|d| d.name == name);
    for m in &a.models {
        if !is_model(m) {
            return Err(format!("unknown model {m}").into());
        }
    }
    for (n, p) in &a.artifacts {
        if !is_model(n) {
            let names: Vec<&str> = MODELS.iter().map(|d| d.name).collect();
            return Err(format!(
                "--artifact {n}={}: NAME must be one of the models ({})",
                p.display(),
                names.join(", ")
            )
            .into());
        }
    }
    for m in &a.machines {
        if board_for_machine(m).is_none() {
            return Err(format!("unknown QEMU machine {m}").into());
        }
    }
    if a.machines.is_empty() {
        a.machines = MACHINES.iter().map(|s| s.to_string()).collect();
    }
    Ok(a)
}

/// A model at one scheme, compiled.
struct Case {
    model: &'static Model,
    scheme: String,
    path: PathBuf,
    params: usize,
    macs: u64,
    avg_bits: f64,
    weight_flash: usize,
    model_flash: usize,
    model_ram: usize,
    runs: Vec<Run>,
    fits: Vec<(&'static str, Result<(), String>)>,
}

/// One machine's run.
struct Run {
    machine: String,
    result: Result<Measured, String>,
}

struct Measured {
    exact: bool,
    insns: u64,
    cycles: Option<u64>,
    elf_flash: u64,
    elf_ram: u64,
}

fn load_desc(name: &str) -> Res<(Description, PathBuf)> {
    let path = repo_root().join("bsq-train/models").join(format!("{name}.toml"));
    Ok((Description::load(&path)?, path))
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bench-mlperf: error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Res<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.out)?;
    let plugin = insn::build_plugin()?;
    let mut cases = Vec::new();
    for m in MODELS.iter().filter(|m| args.models.is_empty() || args.models.iter().any(|n| n == m.name)) {
        let (desc, path) = load_desc(m.name)?;
        let input = Input {
            shape: desc.input.shape.ok_or_else(|| format!("{}: no input shape", path.display()))?,
            scale: m.input.0,
            zero_point: m.input.1,
        };
        let spec = RandomSpec { input: input.clone(), outputs: m.outputs, seed: 12 };
        let resolved: Resolved = desc
            .resolve(bsq_codegen::desc::DataShape { input: input.shape, outputs: m.outputs }, Some(path.as_path()))?;
        let (params, macs) = resolved.counts();
        let count = weighted(&resolved).count();
        let index: Vec<String> = weighted(&resolved).map(|n| n.name.clone()).collect();
        // (scheme, artifact, its file): the random ones are written to `--out`, trained ones run from their path.
        let mut schemes: Vec<(String, Artifact, PathBuf)> = Vec::new();
        for (scheme, mixed) in [("w8", false), ("mixed", true)] {
            let a = artifact(&desc, Some(&path), &spec, |n| {
                if mixed { mixed_bits(index.iter().position(|x| *x == n.name).unwrap_or(0), count, n) } else { 8 }
            })?;
            let file = args.out.join(format!("{}-{scheme}.bsq.json", m.name));
            a.save(&file)?;
            schemes.push((scheme.into(), a, file));
        }
        for (name, p) in args.artifacts.iter().filter(|(n, _)| n == m.name) {
            let a = Artifact::load(p).map_err(|e| format!("{name}: {e}"))?;
            schemes.push((format!("trained ({})", p.display()), a, p.clone()));
        }
        for (scheme, a, path) in schemes {
            let c = compile(&a)?;
            let r = report(&c);
            if r.macs != macs as u64 {
                return Err(format!("{}: codegen counts {} MACs, the description {macs}", m.name, r.macs).into());
            }
            let weight_flash = r.layers.iter().map(|l| l.weight_bytes).sum();
            let fits = QEMU_BOARDS
                .iter()
                .chain(REAL_BOARDS.iter())
                .filter(|b| b.machine != "microbit")
                .map(|b| {
                    let fit = r.check_budget(Some(b.flash_budget()), Some(b.ram_budget())).map_err(|e| e.to_string());
                    (b.krate, fit)
                })
                .collect();
            eprintln!(
                "bench-mlperf: {} {scheme}: {params} params, {} MACs, {:.2} bits, flash {} B, RAM {} B",
                m.name,
                r.macs,
                r.average_bits,
                r.flash_bytes,
                r.ram_bytes()
            );
            let mut case = Case {
                model: m,
                scheme,
                path,
                params,
                macs: r.macs,
                avg_bits: r.average_bits,
                weight_flash,
                model_flash: r.flash_bytes,
                model_ram: r.ram_bytes(),
                runs: Vec::new(),
                fits,
            };
            for machine in &args.machines {
                let Some(board) = board_for_machine(machine) else { continue };
                if let Err(e) = r.check_budget(Some(board.flash_budget()), Some(board.ram_budget())) {
                    case.runs.push(Run { machine: machine.clone(), result: Err(format!("does not fit: {e}")) });
                    continue;
                }
                eprintln!("bench-mlperf: {} {} on {machine}", m.name, case.scheme);
                let result = run_one(&case.path, machine, args.count, &plugin).map_err(|e| e.to_string());
                case.runs.push(Run { machine: machine.clone(), result });
            }
            cases.push(case);
        }
    }
    let text = tables(&cases, &args.machines);
    println!("{text}");
    bsq_codegen::write_atomic(&args.out.join("mlperf.md"), text.as_bytes())?;
    let bad: Vec<String> = cases
        .iter()
        .flat_map(|c| {
            c.runs.iter().filter_map(move |r| match &r.result {
                Ok(m) if !m.exact => Some(format!("{} {} on {}: not byte-exact", c.model.name, c.scheme, r.machine)),
                Err(e) if !e.starts_with("does not fit") => {
                    Some(format!("{} {} on {}: {e}", c.model.name, c.scheme, r.machine))
                }
                _ => None,
            })
        })
        .collect();
    if !bad.is_empty() {
        return Err(bad.join("\n").into());
    }
    Ok(())
}

/// Builds and runs `artifact` on `machine` (byte-exact check against the host), then re-runs the same ELF
/// under the counting plugin for exact instructions per inference (the median over the inputs).
fn run_one(artifact: &Path, machine: &str, count: usize, plugin: &Path) -> Res<Measured> {
    let sim = simulate(&SimOptions {
        machine: machine.to_string(),
        artifact: artifact.to_path_buf(),
        inputs: Vec::new(),
        count,
        work_dir: None,
        root: Some(repo_root()),
        timeout: Duration::from_secs(600),
    })?;
    for (i, r) in sim.inputs.iter().enumerate() {
        if let Err(e) = &r.matches {
            eprintln!("bench-mlperf: {machine} input {i}: {e}");
        }
    }
    let start = elf::symbol_address(&sim.elf, "bsq_mark_start")?;
    let stop = elf::symbol_address(&sim.elf, "bsq_mark_stop")?;
    let run = qemu::run(machine, &sim.elf, &insn::plugin_args(plugin, start, stop, None), Duration::from_secs(600))?;
    if !run.success() {
        return Err(format!("{machine}: the counting run failed: {:?}", run.exit).into());
    }
    let regions = insn::parse_regions(&format!("{}\n{}", run.stderr, run.stdout));
    let mut v: Vec<(u64, Option<u64>)> = regions.values().map(|r| (r.insns, r.cycles)).collect();
    if v.is_empty() {
        return Err(format!("{machine}: the plugin reported no region").into());
    }
    v.sort_unstable();
    let (insns, cycles) = v[v.len() / 2];
    Ok(Measured { exact: sim.bit_exact(), insns, cycles, elf_flash: sim.flash, elf_ram: sim.ram })
}

fn kib(b: impl Into<u64>) -> String {
    format!("{:.1} KiB", b.into() as f64 / 1024.0)
}

fn tables(cases: &[Case], machines: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Size (codegen) and budget fit\n");
    let _ = writeln!(
        s,
        "| model | scheme | params (BN folded) | MACs | avg bits | weight flash | model flash | model RAM | fits (flash and RAM budgets of the board) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for c in cases {
        let fits: Vec<&str> = c.fits.iter().filter(|(_, f)| f.is_ok()).map(|(b, _)| *b).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
            c.model.name,
            c.scheme,
            c.params,
            c.macs,
            c.avg_bits,
            kib(c.weight_flash as u64),
            kib(c.model_flash as u64),
            kib(c.model_ram as u64),
            if fits.is_empty() { "none".to_string() } else { fits.join(", ") }
        );
    }
    let _ = writeln!(
        s,
        "\n## QEMU: byte-exact check and exact instructions per inference (bsqcount plugin)\n\n\
         Instructions are counted under QEMU; X-CUBE-AI's figures are cycles on silicon (MLPerf Tiny v1.3 closed, \
         Cortex-M4 at 120 MHz: latency × 120 MHz / MACs). Est. M4 cycles: the plugin's Cortex-M4 timing table.\n"
    );
    let _ = writeln!(
        s,
        "| model | scheme | machine | byte-exact | instructions | instr/MAC | est. M4 cycles/MAC | X-CUBE-AI cycles/MAC | firmware flash | firmware RAM |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for c in cases {
        let xcube = c.model.xcube_ms * 1e-3 * 120e6 / c.macs.max(1) as f64;
        for m in machines {
            let Some(r) = c.runs.iter().find(|r| &r.machine == m) else { continue };
            match &r.result {
                Ok(x) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {} |",
                        c.model.name,
                        c.scheme,
                        m,
                        if x.exact { "yes" } else { "**NO**" },
                        x.insns,
                        x.insns as f64 / c.macs.max(1) as f64,
                        match (m.as_str(), x.cycles) {
                            ("mps2-an386", Some(cy)) => format!("{:.2}", cy as f64 / c.macs.max(1) as f64),
                            _ => "-".into(),
                        },
                        xcube,
                        kib(x.elf_flash),
                        kib(x.elf_ram)
                    );
                }
                Err(e) => {
                    let e = e.lines().next().unwrap_or("");
                    let _ = writeln!(s, "| {} | {} | {} | {} | | | | {:.2} | | |", c.model.name, c.scheme, m, e, xcube);
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "\nArtifacts: {}",
        cases.first().map(|c| c.path.parent().unwrap_or(Path::new(".")).display().to_string()).unwrap_or_default()
    );
    s
}
