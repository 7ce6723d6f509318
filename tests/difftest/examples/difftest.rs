//! The differential tester as a command: generates `--count` random models (seeds `--start`..), compares
//! the independent model of docs/artifact.md + docs/runtime.md with bsq byte for byte, prints a tally, and
//! exits 1 if any model disagrees (each written to `target/difftest-failures/seed-N.bsq.json`).
//!
//! ```text
//! cargo run --release -p bsq-difftest --example difftest -- --count 100000 [--start 0] [--inputs 4] [--threads 2]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use bsq_difftest::generate::GenOptions;
use common::{Tally, check_seed, failures_dir};

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            args.get(i + 1).ok_or_else(|| format!("{name} needs a value"))?.parse().map_err(|e| format!("{name}: {e}"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: difftest [--count N (1000)] [--start SEED (0)] [--inputs PER_MODEL (4)] [--threads T (2)]");
        return ExitCode::SUCCESS;
    }
    let parsed = (|| {
        Ok::<_, String>((
            arg(&args, "--count", 1000)?,
            arg(&args, "--start", 0)?,
            arg(&args, "--inputs", 4)? as usize,
            arg(&args, "--threads", 2)?.max(1),
        ))
    })();
    let (count, start, inputs, threads) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = GenOptions::default();
    let dir = failures_dir();
    let t0 = Instant::now();
    let state = Mutex::new((Tally::default(), Vec::<String>::new()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (opts, dir, state) = (&opts, &dir, &state);
            s.spawn(move || {
                let mut local = Tally::default();
                let mut fails = Vec::new();
                let mut seed = start + t;
                while seed < start + count {
                    match check_seed(seed, opts, inputs, Some(dir)) {
                        Ok((a, n)) => local.add(a, n),
                        Err(e) => fails.push(e),
                    }
                    if t == 0 && (seed - start) % 10_000 < threads {
                        eprintln!("… {} of {count} models ({:.0} s)", seed - start, t0.elapsed().as_secs_f64());
                    }
                    seed += threads;
                }
                let mut g = state.lock().unwrap_or_else(|p| p.into_inner());
                for (k, n) in local.by_kind {
                    *g.0.by_kind.entry(k).or_default() += n;
                }
                g.0.inputs += local.inputs;
                g.1.extend(fails);
            });
        }
    });
    let (tally, fails) = state.into_inner().unwrap_or_else(|p| p.into_inner());
    println!("seeds {start}..{}: {}", start + count, tally.summary());
    println!("{} disagreements, {:.1} s", fails.len(), t0.elapsed().as_secs_f64());
    for f in fails.iter().take(20) {
        println!("  {f}");
    }
    if fails.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
