//! The training options shared by `bsq train` and `bsq sweep` (one definition, flattened into both).

use std::path::PathBuf;

use bsq_train::data::DataSource;
use bsq_train::training::{FinetuneWeight, LrSchedule, OptimKind, TrainConfig};
use clap::Args;

/// Every default of the command line is the library's (`TrainConfig::default()`).
pub static DEFAULTS: std::sync::LazyLock<TrainConfig> = std::sync::LazyLock::new(TrainConfig::default);

fn parse_dataset(s: &str) -> Result<String, String> {
    DataSource::parse(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

fn parse_task(s: &str) -> Result<String, String> {
    s.parse::<bsq_train::data::Task>().map(|t| t.to_string()).map_err(|e| e.to_string())
}

fn parse_optim(s: &str) -> Result<OptimKind, String> {
    match s {
        "adam" => Ok(OptimKind::Adam),
        "sgd" => Ok(OptimKind::Sgd),
        _ => Err(format!("unknown optimizer {s:?} (expected adam or sgd)")),
    }
}

/// `250` or `150,250` (epochs of the phase, 0-based), or `none`.
fn parse_steps(s: &str) -> Result<Vec<usize>, String> {
    if s == "none" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|e| e.trim().parse::<usize>().map_err(|_| format!("{e:?} is not an epoch number (e.g. 150,250 or none)")))
        .collect()
}

fn optim_name(o: OptimKind) -> &'static str {
    match o {
        OptimKind::Adam => "adam",
        OptimKind::Sgd => "sgd",
    }
}

/// The recipe: model, data, schedule, optimizer, backend (everything but α and where results go).
#[derive(Args, Debug)]
pub struct RecipeArgs {
    /// Model: a built-in (mlp, lenet, resnet20, resnet8, ds-cnn, mobilenet-v1-0.25, fc-autoencoder: `bsq-train/models/`) or a model description file (.toml / .json, docs/models.md).
    #[arg(long, default_value_t = DEFAULTS.model.clone())]
    pub model: String,
    /// Data augmentation: none or crop-flip (default: crop-flip for cifar10, none otherwise).
    #[arg(long)]
    pub augment: Option<bsq_train::training::Augment>,
    /// Dataset: builtin, mnist, fashion, cifar10, or a path to your data: an image folder
    /// (root/<class>/*.png|jpg|bmp, optionally split into train/ test/ val/), a .npz file or folder of .npy
    /// files (x_train, y_train, x_test, y_test), a .csv file (docs/datasets.md).
    #[arg(long, default_value_t = DEFAULTS.dataset.clone(), value_parser = parse_dataset)]
    pub dataset: String,
    /// What the samples carry: classification, regression or reconstruction (autoencoder: the targets
    /// are the inputs). Default: inferred from the data.
    #[arg(long, value_parser = parse_task)]
    pub task: Option<String>,
    /// Fraction held out as the test split when the data has none of its own.
    #[arg(long, default_value_t = DEFAULTS.test_fraction)]
    pub test_fraction: f64,
    /// Image folders: 1 (grayscale) or 3 (RGB) channels (default: the first image's).
    #[arg(long)]
    pub channels: Option<usize>,
    /// CSV: the label column (repeat for several regression targets; default `label`, else the last).
    #[arg(long = "label-column")]
    pub label_columns: Vec<String>,
    /// Data directory (holds mnist/, fashion/, cifar10/); default: $BSQ_DATA_DIR.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Float pretraining epochs.
    #[arg(long, default_value_t = DEFAULTS.epochs_float)]
    pub epochs_float: usize,
    /// BSQ epochs.
    #[arg(long, default_value_t = DEFAULTS.epochs_bsq)]
    pub epochs_bsq: usize,
    /// Finetuning epochs (scheme fixed).
    #[arg(long, default_value_t = DEFAULTS.epochs_finetune)]
    pub epochs_finetune: usize,
    /// Re-quantize every K BSQ epochs (and after the last).
    #[arg(long, default_value_t = DEFAULTS.requant_every)]
    pub requant_every: usize,
    /// Activation bits (up to 8).
    #[arg(long, default_value_t = DEFAULTS.act_bits)]
    pub act_bits: u8,
    /// Batch size.
    #[arg(long, default_value_t = DEFAULTS.batch_size)]
    pub batch_size: usize,
    /// Optimizer (adam, sgd).
    #[arg(long, default_value = optim_name(DEFAULTS.optim), value_parser = parse_optim)]
    pub optim: OptimKind,
    /// Learning rate of float pretraining (cosine decay).
    #[arg(long, default_value_t = DEFAULTS.lr)]
    pub lr: f64,
    /// Base learning rate of the BSQ phase.
    #[arg(long, default_value_t = DEFAULTS.lr_bsq)]
    pub lr_bsq: f64,
    /// Base learning rate of finetuning.
    #[arg(long, default_value_t = DEFAULTS.lr_finetune)]
    pub lr_finetune: f64,
    /// Schedule of the BSQ and finetuning rates: step (official: ×--lr-gamma at the --lr-steps-* epochs)
    /// or cosine (earlier bsq-train: constant BSQ rate, cosine-decayed finetuning).
    #[arg(long, default_value_t = DEFAULTS.lr_schedule)]
    pub lr_schedule: LrSchedule,
    /// BSQ epochs (0-based, comma-separated, or `none`) from which the rate is multiplied by --lr-gamma
    /// [default: the official 250 of 350, scaled to --epochs-bsq: 4 of 5]
    #[arg(long, value_name = "EPOCHS", value_parser = parse_steps)]
    pub lr_steps_bsq: Option<Steps>,
    /// Finetuning epochs of the steps [default: the official 150,250 of 300, scaled to --epochs-finetune:
    /// 3,4 of 5]
    #[arg(long, value_name = "EPOCHS", value_parser = parse_steps)]
    pub lr_steps_finetune: Option<Steps>,
    /// Factor of each learning-rate step.
    #[arg(long, default_value_t = DEFAULTS.lr_gamma)]
    pub lr_gamma: f64,
    /// Fraction of the training images held out as a validation split (seeded by --seed); the finetuning
    /// epoch exported is the best on it (never selected on the test split). 0: no split, last epoch.
    #[arg(long, default_value_t = DEFAULTS.val_fraction)]
    pub val_fraction: f64,
    /// The per-layer scale parameter stores this × s: 1 is the official code's, 16 bsq-train's (measured better on MNIST)
    /// (16× smaller scale steps with Adam, 256× with SGD).
    #[arg(long, default_value_t = DEFAULTS.scale_store)]
    pub scale_store: f32,
    /// Finetuning weights: latent (official: u in [−1, 1], forward s·Q(u)) or shadow (bsq-train's, measured better: a
    /// real-valued shadow weight, forward s·Q(w/s)).
    #[arg(long, default_value_t = DEFAULTS.finetune_weight)]
    pub finetune_weight: FinetuneWeight,
    /// Generated training images for --dataset builtin.
    #[arg(long, default_value_t = DEFAULTS.builtin_size)]
    pub builtin_size: usize,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = DEFAULTS.train_limit)]
    pub train_limit: usize,
    /// Use only the first N held-out images (0 = all).
    #[arg(long, default_value_t = DEFAULTS.test_limit)]
    pub test_limit: usize,
    /// Seed.
    #[arg(long, default_value_t = DEFAULTS.seed)]
    pub seed: u64,
    /// Start from a float checkpoint (e.g. RUN/ckpt/float.bpk of an earlier run) instead of pretraining.
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Backend: auto (a GPU backend if compiled in with `--features cuda` or `wgpu`, else the Flex CPU
    /// backend; BURN_DEVICE may name one), flex, cuda, wgpu.
    #[arg(long, default_value_t = DEFAULTS.device.clone())]
    pub device: String,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Milestone epochs (a plain `Vec` would make clap take several values).
pub type Steps = Vec<usize>;

impl RecipeArgs {
    /// The configuration of these options (α, output and resume from the library's defaults).
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            model: self.model.clone(),
            augment: self.augment,
            dataset: self.dataset.clone(),
            task: self.task.clone(),
            test_fraction: self.test_fraction,
            channels: self.channels,
            label_columns: self.label_columns.clone(),
            data_dir: self.data_dir.clone(),
            builtin_size: self.builtin_size,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            epochs_float: self.epochs_float,
            epochs_bsq: self.epochs_bsq,
            epochs_finetune: self.epochs_finetune,
            requant_every: self.requant_every,
            act_bits: self.act_bits,
            batch_size: self.batch_size.max(1),
            optim: self.optim,
            lr: self.lr,
            lr_bsq: self.lr_bsq,
            lr_finetune: self.lr_finetune,
            lr_schedule: self.lr_schedule,
            lr_steps_bsq: self.lr_steps_bsq.clone(),
            lr_steps_finetune: self.lr_steps_finetune.clone(),
            lr_gamma: self.lr_gamma,
            val_fraction: self.val_fraction,
            scale_store: self.scale_store,
            finetune_weight: self.finetune_weight,
            seed: self.seed,
            pretrained: self.pretrained.clone(),
            device: self.device.clone(),
            verbose: !self.quiet,
            ..TrainConfig::default()
        }
    }
}
