//! The `bsq` subcommands besides `train`: demo, sweep, export (with the `train` feature), codegen, eval,
//! report, simulate, flash.

use std::path::PathBuf;

use anyhow::Context;
#[cfg(feature = "train")]
use bsq_cli::demo::{self, DemoConfig};
use bsq_cli::deploy;
#[cfg(feature = "train")]
use bsq_train::sweep::{self, SweepConfig};
use clap::{Args, Subcommand};

#[cfg(feature = "train")]
use crate::recipe_args::RecipeArgs;

/// Subcommands of the rest of the pipeline (flattened into `bsq`'s command list).
#[derive(Subcommand, Debug)]
// Parsed once per process: the size of the largest variant (the training recipe) does not matter.
#[allow(clippy::large_enum_variant)]
pub enum PipelineCommand {
    /// The whole path in one command: BSQ training → artifact → codegen → firmware on QEMU (Cortex-M4 and
    /// the lm3s6965 budget, Cortex-M3 with 64 KiB RAM) → byte-exact check against the host → summary.
    #[cfg(feature = "train")]
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// α sweep: one float model, then one BSQ run per α from it; writes the accuracy-vs-bits curve
    /// (sweep.svg) and its points (sweep.json, sweep.csv). Re-run the same command to continue an
    /// interrupted sweep (finished runs are reused, interrupted ones resumed).
    #[cfg(feature = "train")]
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep(SweepArgs),
    /// Re-export the artifact of a finished training run from its checkpoint (re-calibrated scales,
    /// re-measured accuracies).
    #[cfg(feature = "train")]
    #[command(after_help = "Examples:\n  bsq export bsq-out\n  bsq export runs/lenet --to models/lenet.bsq.json")]
    Export(ExportArgs),
    /// Compile an artifact into no_std Rust source (same as the build.rs API) and print the memory report.
    #[command(
        after_help = "Examples:\n  bsq codegen bsq-out/model.bsq.json -o model.rs\n  bsq codegen model.bsq.json -o src/model.rs --board lm3s6965evb   # refuse models over the board's budget"
    )]
    Codegen(CodegenArgs),
    /// Integer accuracy of an artifact on a dataset's held-out split (host executor, the device's bytes).
    #[command(
        after_help = "Examples:\n  bsq eval bsq-out/model.bsq.json                     # built-in dataset\n  bsq eval runs/lenet/model.bsq.json --dataset mnist --data-dir ../shared/data"
    )]
    Eval(EvalArgs),
    /// Scheme table, memory report and an SVG plot of bits per layer.
    #[command(after_help = "Example:\n  bsq report bsq-out/model.bsq.json --svg scheme.svg")]
    Report(ReportArgs),
    /// Build the example firmware with an artifact for a QEMU machine, run it, compare with the host byte for
    /// byte, print instructions per inference and flash/RAM use.
    #[command(
        after_help = "Examples:\n  bsq simulate bsq-out/model.bsq.json --machine mps2-an386\n  bsq simulate model.bsq.json --machine lm3s6965evb --dataset mnist --data-dir ../shared/data --count 32\n\nNeeds qemu-system-arm (Debian/Ubuntu: apt-get install -y --no-install-recommends qemu-system-arm)."
    )]
    Simulate(SimulateArgs),
    /// Build the firmware of a real board with an artifact and run it through probe-rs (needs a probe and
    /// `cargo install probe-rs-tools`).
    #[command(
        after_help = "Example:\n  bsq flash bsq-out/model.bsq.json --board nrf52840-dk\n\nBoards: nrf52840-dk, rpi-pico, nucleo-f411re (see boards/<board>/README.md)."
    )]
    Flash(FlashArgs),
}

#[cfg(feature = "train")]
const DEMO_EXAMPLES: &str = "\
Examples:
  bsq demo                                  # built-in generated data: no files, no downloads
  bsq demo --data-dir ../shared/data        # MNIST from <dir>/mnist/*.gz: the real thing
  bsq demo --machines mps2-an386,microbit --device-inputs 32

Writes into --out (default bsq-out/): the artifact model.bsq.json, scheme.txt, scheme.svg, summary.json,
metrics.jsonl, checkpoints, model.rs (generated Rust) and memory-report.txt.";

/// `bsq demo`.
#[cfg(feature = "train")]
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Data directory with mnist/ (default: the built-in generated dataset).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "bsq-out")]
    out: PathBuf,
    /// QEMU machines to run on.
    #[arg(long, value_delimiter = ',', default_value = "mps2-an386,lm3s6965evb")]
    machines: Vec<String>,
    /// Held-out images run on each machine.
    #[arg(long, default_value_t = 16)]
    device_inputs: usize,
    /// Epochs of float pretraining, BSQ and finetuning.
    #[arg(long, value_delimiter = ',', default_value = "1,6,2")]
    epochs: Vec<usize>,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,
    /// Regularization strength α (default 2e-2).
    #[arg(long)]
    alpha: Option<f64>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

#[cfg(feature = "train")]
const SWEEP_EXAMPLES: &str = "\
Examples:
  # Built-in generated dataset (no files needed):
  bsq sweep --alpha 1e-2,2e-2,4e-2 --epochs-bsq 3 --lr-bsq 1e-2

  # MNIST LeNet (data in ../shared/data/mnist/*.gz):
  bsq sweep --model lenet --dataset mnist --data-dir ../shared/data --alpha 5e-3,1e-2,2e-2 \\
      --epochs-float 5 --epochs-bsq 5 --epochs-finetune 5 --lr-bsq 3e-3 --lr-finetune 1e-3 --out runs/sweep

Writes into --out (default bsq-sweep/): float/ (the float pretraining run; its ckpt/float.bpk seeds every
α run, skipped with --pretrained), alpha-<α>/ (one `bsq train` run directory per α, e.g. alpha-5e-3/),
sweep.json and sweep.csv (per α: average magnitude and stored bits, compression, float / fake-quant /
integer accuracy, run directory) and sweep.svg (integer accuracy vs average bits, one labelled point per
α, the float accuracy dashed). Re-running the same command reuses finished runs and resumes interrupted
ones; a run directory trained with other options is refused (use another --out for another recipe).";

/// `bsq sweep`.
#[cfg(feature = "train")]
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The α values, one BSQ run each (comma-separated, e.g. 5e-3,1e-2,2e-2).
    #[arg(long, value_delimiter = ',', required = true)]
    alpha: Vec<f64>,
    /// Sweep directory.
    #[arg(long, default_value = "bsq-sweep")]
    out: PathBuf,
    /// The recipe of every run (float pretraining once for the whole sweep, unless --pretrained).
    #[command(flatten)]
    recipe: RecipeArgs,
}

#[cfg(feature = "train")]
impl SweepArgs {
    fn config(&self) -> SweepConfig {
        SweepConfig { base: self.recipe.config(), alphas: self.alpha.clone(), out: self.out.clone() }
    }
}

/// `bsq export`.
#[cfg(feature = "train")]
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run directory (`bsq train --out`).
    #[arg(default_value = "bsq-out")]
    run: PathBuf,
    /// Also copy the artifact here.
    #[arg(long)]
    to: Option<PathBuf>,
}

/// `bsq codegen`.
#[derive(Args, Debug)]
pub struct CodegenArgs {
    /// The artifact.
    artifact: PathBuf,
    /// Output `.rs` file.
    #[arg(short, long, default_value = "model.rs")]
    output: PathBuf,
    /// Budgets of a QEMU machine (mps2-an386, lm3s6965evb, mps2-an505, microbit).
    #[arg(long)]
    board: Option<String>,
    /// Flash budget for model constants, bytes.
    #[arg(long)]
    flash_budget: Option<usize>,
    /// RAM budget for arena + scratch, bytes.
    #[arg(long)]
    ram_budget: Option<usize>,
}

/// `bsq eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The artifact.
    artifact: PathBuf,
    /// Dataset: builtin, mnist, fashion, cifar10, or your data as `bsq train` read it (an image folder,
    /// .npz / .npy, .csv; docs/datasets.md).
    #[arg(long, default_value = "builtin")]
    dataset: String,
    /// Data directory (default: $BSQ_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// classification, regression or reconstruction (default: inferred from the data).
    #[arg(long)]
    task: Option<String>,
    /// Only the first N held-out images (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
}

/// `bsq report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The artifact.
    artifact: PathBuf,
    /// Write an SVG plot of bits per layer here.
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// `bsq simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The artifact.
    artifact: PathBuf,
    /// QEMU machine.
    #[arg(long, default_value = "mps2-an386")]
    machine: String,
    /// Held-out inputs from this dataset (a built-in name or a path, as for `bsq train`; default:
    /// deterministic generated inputs).
    #[arg(long)]
    dataset: Option<String>,
    /// Data directory (default: $BSQ_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of inputs.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// The bsq checkout whose firmware template is built (default: $BSQ_ROOT, else the checkout this
    /// `bsq` was built in).
    #[arg(long)]
    bsq_root: Option<PathBuf>,
}

/// `bsq flash`.
#[derive(Args, Debug)]
pub struct FlashArgs {
    /// The artifact.
    artifact: PathBuf,
    /// Board: nrf52840-dk, rpi-pico, nucleo-f411re.
    #[arg(long)]
    board: String,
    /// The bsq checkout whose board firmware is built (default: $BSQ_ROOT, else the checkout this `bsq` was
    /// built in).
    #[arg(long)]
    bsq_root: Option<PathBuf>,
}

/// Runs one of the pipeline subcommands.
pub fn run(cmd: &PipelineCommand) -> anyhow::Result<()> {
    match cmd {
        #[cfg(feature = "train")]
        PipelineCommand::Demo(a) => {
            let epochs = match a.epochs.as_slice() {
                [f, b, t] => [*f, *b, *t],
                _ => anyhow::bail!("--epochs takes three numbers: float,bsq,finetune (e.g. 1,6,2)"),
            };
            let cfg = DemoConfig {
                out: a.out.clone(),
                data_dir: a.data_dir.clone(),
                machines: a.machines.clone(),
                device_inputs: a.device_inputs,
                epochs,
                train_limit: a.train_limit,
                alpha: a.alpha.unwrap_or(DemoConfig::default().alpha),
                verbose: !a.quiet,
            };
            let r = demo::demo(&cfg).context("bsq demo")?;
            print!("{}", r.text);
        }
        #[cfg(feature = "train")]
        PipelineCommand::Sweep(a) => {
            let cfg = a.config();
            let r = sweep::sweep(&cfg).with_context(|| format!("bsq sweep into {}", cfg.out.display()))?;
            print!("{}", sweep::sweep_table(&r.points));
            if let Some(f) = r.float_acc {
                println!("float model {}: {f:.2}%", r.float_model.display());
            }
            let reused = r.reused.iter().filter(|&&x| x).count();
            if reused > 0 {
                println!("{reused} of {} runs reused from an earlier invocation", r.points.len());
            }
            println!("files:");
            for (what, p) in &r.files {
                println!("  {what:<18} {}", p.display());
            }
        }
        #[cfg(feature = "train")]
        PipelineCommand::Export(a) => {
            let s = bsq_train::training::export_run(&a.run, a.to.as_deref())
                .with_context(|| format!("exporting {}", a.run.display()))?;
            print!("{}", bsq_train::training::scheme_table(&s));
            let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}%"));
            println!(
                "fake-quant {:.2}%, integer {} | artifact {}",
                s.accuracy.fake_quant,
                fmt(s.accuracy.integer),
                s.artifact.display()
            );
            if let Some(to) = &a.to {
                println!("copied to {}", to.display());
            }
        }
        PipelineCommand::Codegen(a) => {
            let (mut flash, mut ram) = (a.flash_budget, a.ram_budget);
            if let Some(b) = &a.board {
                let (f, r) = bsq_sim::machine_budget(b)
                    .with_context(|| format!("unknown --board {b} (mps2-an386, lm3s6965evb, mps2-an505, microbit)"))?;
                flash = flash.or(Some(f));
                ram = ram.or(Some(r));
            }
            let g = deploy::codegen(&a.artifact, &a.output, flash, ram)
                .with_context(|| format!("generating code for {}", a.artifact.display()))?;
            println!("{}", g.report);
            println!("wrote {} ({} bytes of Rust)", g.path.display(), g.source.len());
        }
        PipelineCommand::Eval(a) => {
            let spec = deploy::DataSpec::parse(&a.dataset, a.data_dir.as_deref(), a.task.as_deref())
                .with_context(|| format!("--dataset {}", a.dataset))?;
            let (score, n, regression) = deploy::eval(&a.artifact, &spec, a.limit)
                .with_context(|| format!("evaluating {}", a.artifact.display()))?;
            if regression {
                println!(
                    "integer mean squared error {score:.6} on {n} held-out samples of {} (host executor)",
                    a.dataset
                );
            } else {
                println!("integer accuracy {score:.2}% on {n} held-out images of {} (host executor)", a.dataset);
            }
        }
        PipelineCommand::Report(a) => {
            print!(
                "{}",
                deploy::report_text(&a.artifact, a.svg.as_deref())
                    .with_context(|| format!("{}", a.artifact.display()))?
            );
        }
        PipelineCommand::Simulate(a) => {
            let ds = match &a.dataset {
                Some(d) => Some(
                    deploy::DataSpec::parse(d, a.data_dir.as_deref(), None)
                        .with_context(|| format!("--dataset {d}"))?,
                ),
                None => None,
            };
            let (r, acc) = deploy::simulate(&a.artifact, &a.machine, ds.as_ref(), a.count, a.bsq_root.as_deref())
                .with_context(|| format!("simulating {} on {}", a.artifact.display(), a.machine))?;
            println!("{}", deploy::describe_sim(&r, acc));
            if !r.bit_exact() {
                anyhow::bail!("the device output differs from the host");
            }
        }
        PipelineCommand::Flash(a) => deploy::flash(&a.artifact, &a.board, a.bsq_root.as_deref())?,
    }
    Ok(())
}
