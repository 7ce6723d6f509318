//! `bsq-codegen`: compile a BSQ model artifact into Rust source (the same as the `build.rs` API), print the
//! memory report, run an artifact on the host, or write the fixture artifacts.

use std::path::PathBuf;
use std::process::ExitCode;

use bsq_codegen::{Artifact, Builder, Executor, compile, fixtures, report::report};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bsq-codegen", version, about = "Compile BSQ model artifacts into no_std Rust source")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the model's Rust source to a file and print the memory report.
    ///
    /// Example: bsq-codegen generate bsq-out/model.bsq.json -o model.rs --ram-budget 65536
    Generate {
        /// The artifact (`*.bsq.json`).
        artifact: PathBuf,
        /// Output file (default: `<module>.rs` in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Module (file stem) name; default: the model name.
        #[arg(long)]
        module: Option<String>,
        /// Fail if model constants exceed this many bytes of flash.
        #[arg(long)]
        flash_budget: Option<usize>,
        /// Fail if arena + scratch exceed this many bytes of RAM.
        #[arg(long)]
        ram_budget: Option<usize>,
    },
    /// Print the memory report of an artifact.
    ///
    /// Example: bsq-codegen report codegen/fixtures/resblock.bsq.json
    Report {
        /// The artifact.
        artifact: PathBuf,
    },
    /// Run an artifact on the host executor; print output bytes and per-layer checksums.
    ///
    /// Example: bsq-codegen run codegen/fixtures/mlp.bsq.json --input image.u8
    Run {
        /// The artifact.
        artifact: PathBuf,
        /// Raw input bytes (HWC u8); default: the first deterministic fixture input for the model.
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Write the deterministic fixture artifacts into a directory.
    ///
    /// Example: bsq-codegen fixtures --out codegen/fixtures
    Fixtures {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Generate { artifact, output, module, flash_budget, ram_budget } => {
            let mut b = Builder::new(&artifact).cargo_metadata(false);
            let (dir, stem) = match &output {
                Some(o) => (
                    o.parent().map(PathBuf::from).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| ".".into()),
                    o.file_stem().map(|s| s.to_string_lossy().into_owned()),
                ),
                None => (PathBuf::from("."), module.clone()),
            };
            b = b.out_dir(dir);
            if let Some(s) = stem.or(module) {
                b = b.module_name(s);
            }
            if let Some(f) = flash_budget {
                b = b.flash_budget(f);
            }
            if let Some(r) = ram_budget {
                b = b.ram_budget(r);
            }
            let g = b.generate()?;
            println!("{}", g.report);
            println!("wrote {} ({} bytes of source)", g.path.display(), g.source.len());
        }
        Command::Report { artifact } => {
            let a = Artifact::load(&artifact)?;
            println!("{}", report(&compile(&a)?));
        }
        Command::Run { artifact, input } => {
            let a = Artifact::load(&artifact)?;
            let mut ex = Executor::new(&a)?;
            let len = ex.model().input_len();
            let x = match input {
                Some(p) => std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?,
                None => fixtures::inputs(&a.name, len, 1).remove(0),
            };
            let out = ex
                .run_observed(&x, &mut |i, name, bytes| {
                    println!("layer {i:>3} {name:<16} sum={:08x}", bsq_runtime::checksum(bytes));
                })?
                .to_vec();
            let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
            println!("output {hex}");
            println!("class {}", ex.predict(&x)?);
        }
        Command::Fixtures { out } => {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            for a in fixtures::all() {
                let p = out.join(format!("{}.bsq.json", a.name));
                a.save(&p)?;
                println!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}
