//! `bsq`: the user-facing command line of the BSQ toolchain.

use std::path::PathBuf;

use anyhow::Context;
use bsq_train::model::Arch;
use bsq_train::training::{OptimKind, TrainConfig, scheme_table, train};
use clap::{Args, Parser, Subcommand, ValueEnum};

mod pipeline_cli;

/// BSQ (bit-level sparsity quantization) toolchain: train a mixed-precision network on the host and
/// export the integer model for Cortex-M microcontrollers.
#[derive(Parser, Debug)]
#[command(name = "bsq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Train with BSQ (float pretrain → BSQ with re-quantization → finetune) and export the artifact.
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(TrainArgs),
    /// Codegen, evaluation, reports, simulation, flashing and the demo.
    #[command(flatten)]
    Pipeline(pipeline_cli::PipelineCommand),
}

const TRAIN_EXAMPLES: &str = "\
Examples:
  # Built-in generated dataset, tiny recipe (no files needed, < 2 minutes on 2 cores):
  bsq train

  # MNIST LeNet, alpha sweep point (data in /data/mnist/*.gz):
  bsq train --model lenet --dataset mnist --data-dir /data --alpha 2e-2 \\
      --epochs-float 5 --epochs-bsq 5 --epochs-finetune 3 --out runs/lenet-a2e-2

  # CIFAR-10 ResNet-20 (data_batch_5 is the held-out split):
  bsq train --model resnet20 --dataset cifar10 --data-dir /data --lr 2e-3 --lr-bsq 1e-2 \\
      --lr-finetune 5e-4 --alpha 5e-3 --epochs-float 30 --epochs-bsq 20 --epochs-finetune 10 \\
      --requant-every 5 --out runs/resnet20

  # Continue an interrupted run:
  bsq train --out runs/resnet20 --resume

Writes into --out: ckpt/ (model.bpk + state.json, float.bpk), metrics.jsonl, model.bsq.json (the artifact),
scheme.txt and summary.json.";

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    Lenet,
    Mlp,
    Resnet20,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DatasetArg {
    Builtin,
    Mnist,
    Fashion,
    Cifar10,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimArg {
    Adam,
    Sgd,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Architecture.
    #[arg(long, value_enum, default_value = "lenet")]
    model: ModelArg,
    /// Dataset.
    #[arg(long, value_enum, default_value = "builtin")]
    dataset: DatasetArg,
    /// Data directory (holds mnist/, fashion/, cifar10/); default: $BSQ_DATA_DIR.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Regularization strength α of the bit-level group Lasso.
    #[arg(long, default_value_t = 1e-2)]
    alpha: f64,
    /// Float pretraining epochs.
    #[arg(long, default_value_t = 1)]
    epochs_float: usize,
    /// BSQ epochs.
    #[arg(long, default_value_t = 2)]
    epochs_bsq: usize,
    /// Finetuning epochs (scheme fixed).
    #[arg(long, default_value_t = 1)]
    epochs_finetune: usize,
    /// Re-quantize every K BSQ epochs (and after the last).
    #[arg(long, default_value_t = 1)]
    requant_every: usize,
    /// Activation bits (4 default, up to 8).
    #[arg(long, default_value_t = 4)]
    act_bits: u8,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optim: OptimArg,
    /// Learning rate of float pretraining.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Learning rate of the BSQ phase.
    #[arg(long, default_value_t = 1e-2)]
    lr_bsq: f64,
    /// Learning rate of finetuning.
    #[arg(long, default_value_t = 5e-4)]
    lr_finetune: f64,
    /// Generated training images for --dataset builtin.
    #[arg(long, default_value_t = 4000)]
    builtin_size: usize,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,
    /// Use only the first N held-out images (0 = all).
    #[arg(long, default_value_t = 0)]
    test_limit: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "bsq-out")]
    out: PathBuf,
    /// Continue from OUT/ckpt.
    #[arg(long)]
    resume: bool,
    /// Start from a float checkpoint (e.g. OUT/ckpt/float.bpk of an earlier run) instead of pretraining.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    /// Also write the summary JSON here.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

impl TrainArgs {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            model: match self.model {
                ModelArg::Lenet => Arch::Lenet,
                ModelArg::Mlp => Arch::Mlp,
                ModelArg::Resnet20 => Arch::Resnet20,
            },
            dataset: match self.dataset {
                DatasetArg::Builtin => "builtin",
                DatasetArg::Mnist => "mnist",
                DatasetArg::Fashion => "fashion",
                DatasetArg::Cifar10 => "cifar10",
            }
            .into(),
            data_dir: self.data_dir.clone(),
            builtin_size: self.builtin_size,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            alpha: self.alpha,
            epochs_float: self.epochs_float,
            epochs_bsq: self.epochs_bsq,
            epochs_finetune: self.epochs_finetune,
            requant_every: self.requant_every,
            act_bits: self.act_bits,
            batch_size: self.batch_size.max(1),
            optim: match self.optim {
                OptimArg::Adam => OptimKind::Adam,
                OptimArg::Sgd => OptimKind::Sgd,
            },
            lr: self.lr,
            lr_bsq: self.lr_bsq,
            lr_finetune: self.lr_finetune,
            seed: self.seed,
            out: self.out.clone(),
            resume: self.resume,
            pretrained: self.pretrained.clone(),
            summary_json: self.summary_json.clone(),
            verbose: !self.quiet,
        }
    }
}

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = args.config();
    let s =
        train(&cfg).with_context(|| format!("training {} on {} into {}", cfg.model, cfg.dataset, cfg.out.display()))?;
    print!("{}", scheme_table(&s));
    let fmt = |a: Option<f64>| a.map_or("n/a".to_string(), |v| format!("{v:.2}%"));
    println!(
        "{}: float {}, fake-quant {:.2}%, integer {} | avg {:.3} bits, {:.2}x | {:.0} s | artifact {}",
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
    let cli = Cli::parse();
    match &cli.command {
        Command::Train(a) => run_train(a),
        Command::Pipeline(c) => pipeline_cli::run(c),
    }
}
