//! `bsq`: the user-facing command line of the BSQ toolchain.
//!
//! Built without the default `train` feature it has the deployment commands only (codegen, report, eval,
//! simulate, flash) and compiles no Burn crate.

#[cfg(feature = "train")]
use std::path::PathBuf;

#[cfg(feature = "train")]
use anyhow::Context;
#[cfg(feature = "train")]
use bsq_train::training::{TrainConfig, scheme_table, train};
#[cfg(feature = "train")]
use clap::Args;
#[cfg(feature = "train")]
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Training allocates and frees activation-sized buffers (megabytes) at every step. glibc's `malloc`
/// returns them to the kernel and takes fresh zero-filled pages again, a page fault per 4 KiB: on a
/// ResNet-20 step that was a tenth of the time (bsq-train/bench/README.md). mimalloc reuses them (and
/// `main` tells it to keep them: `bsq_train::allocator`).
#[cfg(feature = "train")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
#[cfg(feature = "train")]
mod import;
#[cfg(feature = "train")]
mod recipe_args;

#[cfg(feature = "train")]
use recipe_args::{DEFAULTS, RecipeArgs};

/// BSQ (bit-level sparsity quantization) toolchain: train a mixed-precision network on the host and
/// export the integer model for Cortex-M microcontrollers.
#[derive(Parser, Debug)]
#[command(name = "bsq", version)]
#[cfg_attr(
    feature = "train",
    command(about = "BSQ mixed-precision toolchain: train on the host, compile to no_std Rust, run on Cortex-M")
)]
#[cfg_attr(
    not(feature = "train"),
    command(about = "BSQ deployment (built without training): compile models to no_std Rust, evaluate, \
                     simulate on QEMU, flash boards")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Train with BSQ (float pretrain → BSQ with re-quantization → finetune) and export the artifact.
    #[cfg(feature = "train")]
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(TrainArgs),
    /// Import a float ONNX model: writes a model description (TOML) and its weights (.npz) beside it, for
    /// `bsq train --model`.
    #[cfg(feature = "train")]
    #[command(after_help = import::IMPORT_EXAMPLES)]
    Import(import::ImportArgs),
    /// Codegen, evaluation, reports, simulation, flashing and the demo.
    #[command(flatten)]
    Pipeline(commands::PipelineCommand),
}

#[cfg(feature = "train")]
const TRAIN_EXAMPLES: &str = "\
Examples:
  # Built-in generated dataset, no files needed (about 1 minute on 2 cores). The defaults are the MNIST
  # recipe; on 3600 generated training images it is too few steps to drop bit planes (8 average bits).
  # A larger alpha and BSQ step show mixed precision on the built-in data (4.5 bits, also about 1 minute;
  # 2.7 bits with a constant BSQ rate and every image trained on: add --lr-schedule cosine --val-fraction 0):
  bsq train
  bsq train --alpha 2e-2 --lr-bsq 1e-2 --epochs-bsq 6 --epochs-finetune 2

  # MNIST LeNet with the defaults, i.e. the measured recipe (99% at under 2 bits; data in /data/mnist/*.gz):
  bsq train --dataset mnist --data-dir /data --out runs/lenet

  # An alpha sweep with an accuracy-vs-bits plot: see `bsq sweep --help`.

  # CIFAR-10 ResNet-20, the reduced recipe measured in bsq-train/README.md (data_batch_5 is the held-out
  # split): a float model, then BSQ from it (about two hours on 2 cores)
  bsq train --model resnet20 --dataset cifar10 --data-dir /data --lr 2e-3 --epochs-float 3 \
      --epochs-bsq 0 --epochs-finetune 0 --out runs/cifar-float
  bsq train --model resnet20 --dataset cifar10 --data-dir /data --pretrained runs/cifar-float/ckpt/float.bpk \
      --alpha 5e-3 --lr-bsq 5e-3 --epochs-bsq 1 --epochs-finetune 1 --lr-finetune 1e-3 --out runs/cifar-bsq

  # Continue an interrupted run with its saved settings (options given here override them, e.g. more epochs,
  # and are saved with its next checkpoint):
  bsq train --out runs/resnet20 --resume
  bsq train --out runs/resnet20 --resume --epochs-finetune 20

  # The official CIFAR-10 schedule (SGD 0.1, x0.1 at BSQ epoch 250 of 350, re-quantization every 100;
  # finetune 0.01, x0.1 at 150 and 250 of 300): the step milestones scale with the epochs by default.
  bsq train --model resnet20 --dataset cifar10 --data-dir /data --pretrained FLOAT.bpk --optim sgd \
      --batch-size 128 --lr-bsq 0.1 --epochs-bsq 350 --requant-every 100 --lr-finetune 0.01 --epochs-finetune 300

Writes into --out: ckpt/ (model.bpk + state.json, float.bpk), metrics.jsonl, model.bsq.json (the artifact),
scheme.txt and summary.json. Accuracies are on the test (held-out) split; the finetuning epoch exported is
selected on a validation split carved from the training images (--val-fraction).";

#[cfg(feature = "train")]
#[derive(Args, Debug)]
struct TrainArgs {
    /// Regularization strength α of the bit-level group Lasso.
    #[arg(long, default_value_t = DEFAULTS.alpha)]
    alpha: f64,
    /// Output directory.
    #[arg(long, default_value = "bsq-out")]
    out: PathBuf,
    /// Continue from OUT/ckpt with the run's saved settings (options given on the command line override them).
    #[arg(long)]
    resume: bool,
    /// Also write the summary JSON here.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    #[command(flatten)]
    recipe: RecipeArgs,
}

#[cfg(feature = "train")]
impl TrainArgs {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            alpha: self.alpha,
            out: self.out.clone(),
            resume: self.resume,
            summary_json: self.summary_json.clone(),
            ..self.recipe.config()
        }
    }
}

#[cfg(feature = "train")]
/// With `--resume` and a checkpoint in `--out`: the run's saved configuration, overridden only by the
/// options given on this command line (so `bsq train --out DIR --resume` continues the same run).
fn resume_config(cfg: TrainConfig, matches: Option<&ArgMatches>) -> anyhow::Result<TrainConfig> {
    let state_path = cfg.out.join("ckpt").join("state.json");
    let Some(m) = matches.filter(|_| cfg.resume && state_path.exists()) else {
        return Ok(cfg);
    };
    let saved = bsq_train::training::read_state(&state_path)?.config;
    let mut merged = serde_json::to_value(&saved)?;
    let given = serde_json::to_value(&cfg)?;
    let mut overridden = Vec::new();
    for id in m.ids() {
        let key = if id.as_str() == "quiet" { "verbose" } else { id.as_str() };
        let explicit = m.value_source(id.as_str()) == Some(ValueSource::CommandLine);
        let always = matches!(key, "out" | "resume" | "summary_json" | "verbose");
        if let (true, Some(v)) = (explicit || always, given.get(key)) {
            if explicit && !always && merged.get(key) != Some(v) {
                overridden.push(format!("--{} {v}", key.replace('_', "-")));
            }
            merged[key] = v.clone();
        }
    }
    if cfg.verbose && !overridden.is_empty() {
        eprintln!("resuming with the checkpoint's settings, except {}", overridden.join(", "));
    }
    Ok(serde_json::from_value(merged)?)
}

#[cfg(feature = "train")]
fn run_train(args: &TrainArgs, matches: Option<&ArgMatches>) -> anyhow::Result<()> {
    let cfg = resume_config(args.config(), matches)?;
    let s =
        train(&cfg).with_context(|| format!("training {} on {} into {}", cfg.model, cfg.dataset, cfg.out.display()))?;
    print!("{}", scheme_table(&s));
    let fmt = |a: Option<f64>| a.map_or("n/a".to_string(), |v| format!("{v:.2}%"));
    let val = match (s.accuracy.validation, s.finetune_epoch) {
        (Some(v), Some(e)) => format!(" | validation {v:.2}% (finetune epoch {e} selected on it)"),
        (Some(v), None) => format!(" | validation {v:.2}%"),
        _ => String::new(),
    };
    println!(
        "{}: test: float {}, fake-quant {:.2}%, integer {}{val} | avg {:.3} bits, {:.2}x | {:.0} s | artifact {}",
        s.dataset,
        fmt(s.accuracy.float),
        s.accuracy.fake_quant,
        fmt(s.accuracy.integer),
        s.avg_bits,
        s.compression,
        s.wall_s,
        s.artifact.display()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    #[cfg(feature = "train")]
    bsq_train::allocator::keep_freed_memory();
    let matches: ArgMatches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match &cli.command {
        #[cfg(feature = "train")]
        Command::Train(a) => run_train(a, matches.subcommand_matches("train")),
        #[cfg(feature = "train")]
        Command::Import(a) => import::run(a),
        Command::Pipeline(c) => commands::run(c),
    }
}
