//! The training loop: float pretraining (or a loaded float model) → BSQ with re-quantization every `K`
//! epochs and at the end → finetuning with the scheme fixed → calibration, evaluation and export.
//!
//! Hand-written (not Burn's `Learner`): the model and the optimizer change at every re-quantization.
//! Seeded and reproducible; per-epoch metrics in `metrics.jsonl`.
//!
//! Checkpoints: after every epoch the model and the optimizer state are written to new files named after
//! the phase and epoch (`ckpt/model-bsq-3.bpk`, `ckpt/optim-bsq-3.bpk`), each through a temporary file and
//! a rename; then `ckpt/state.json` (format [`CKPT_FORMAT`] version [`CKPT_VERSION`]: the phase, the scheme
//! that gives the parameter shapes, the file names, the calibrated scales, the number of metric lines) is
//! replaced atomically — that rename is the commit point — and only then are the previous epoch's files
//! removed. A run killed at any point therefore resumes (`resume`) from a consistent last epoch.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bsq::{MAX_BITS, QWeight, WMode, to_vec};
use crate::data::{self, DataSource, Dataset, Rng};
use crate::graph::{Build, Graph};
use crate::model::{Ctx, QModel, apply_scheme, map_q};
use bsq_codegen::desc::{DataShape, DescError, Description};

/// Errors of training and export.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Dataset problem.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// File I/O.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint could not be saved or loaded.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The artifact was rejected.
    #[error("artifact: {0}")]
    Artifact(#[from] bsq_codegen::ArtifactError),
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model description was refused.
    #[error("model description: {0}")]
    Model(#[from] DescError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// Optimizer choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// SGD, momentum 0.9, weight decay 1e-4 (the official recipe).
    Sgd,
    /// Adam.
    Adam,
}

/// How finetuning (and a layer kept at a fixed width during BSQ) holds its quantized weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinetuneWeight {
    /// The official code: a latent weight `u` kept in `[−1, 1]`, forward `s·Q(u)`, the gradient to `s` is
    /// `Q(u)` ([`crate::bsq::WMode::Latent`]).
    Latent,
    /// bsq-train's default (measured better on MNIST): a real-valued shadow weight `w`, forward
    /// `s·Q(w/s)`, an LSQ-like gradient to `s` ([`crate::bsq::WMode::Fixed`]).
    Shadow,
}

impl FinetuneWeight {
    /// The weight form of a fixed-scheme layer.
    pub fn form(self) -> crate::bsq::Form {
        match self {
            FinetuneWeight::Latent => crate::bsq::Form::Latent,
            FinetuneWeight::Shadow => crate::bsq::Form::Shadow,
        }
    }
}

impl std::fmt::Display for FinetuneWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FinetuneWeight::Latent => "latent",
            FinetuneWeight::Shadow => "shadow",
        })
    }
}

impl std::str::FromStr for FinetuneWeight {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latent" => Ok(FinetuneWeight::Latent),
            "shadow" => Ok(FinetuneWeight::Shadow),
            other => Err(format!("unknown finetune weight `{other}` (latent or shadow)")),
        }
    }
}

/// Learning-rate schedule of the BSQ and finetuning phases (float pretraining always decays by a cosine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The official step schedule: the rate is multiplied by [`TrainConfig::lr_gamma`] at each milestone
    /// epoch ([`TrainConfig::lr_steps_bsq`], [`TrainConfig::lr_steps_finetune`]).
    Step,
    /// The schedule of earlier bsq-train versions: a constant BSQ rate and a cosine decay over
    /// finetuning (to 5% of the base rate).
    Cosine,
}

impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LrSchedule::Step => "step",
            LrSchedule::Cosine => "cosine",
        })
    }
}

impl std::str::FromStr for LrSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "step" => Ok(LrSchedule::Step),
            "cosine" => Ok(LrSchedule::Cosine),
            _ => Err(format!("unknown learning-rate schedule {s:?} (expected step or cosine)")),
        }
    }
}

/// The official BSQ phase: 350 epochs, learning rate ×0.1 at epoch 250 (`cifar_prune_STE.py
/// --epochs 350 --schedule 250 --gamma 0.1`).
pub const OFFICIAL_BSQ_SCHEDULE: (usize, &[usize]) = (350, &[250]);
/// The official finetuning: 300 epochs, learning rate ×0.1 at epochs 150 and 250.
pub const OFFICIAL_FINETUNE_SCHEDULE: (usize, &[usize]) = (300, &[150, 250]);

/// Everything a training run needs.
///
/// Fields added after the first checkpoint format default, when an older `state.json` lacks them, to
/// what that run was trained with (cosine schedule, no validation split), so that it resumes unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model: a built-in name (`mlp`, `lenet`, `resnet20`) or a description file (docs/models.md).
    pub model: String,
    /// Data augmentation of the training images: `none` or `crop-flip` (random crop with 4-pixel zero
    /// padding and horizontal flip). Default: `crop-flip` for `cifar10`, `none` otherwise — chosen by the
    /// dataset's name, never by the shape of its images.
    #[serde(default)]
    pub augment: Option<Augment>,
    /// Dataset: a built-in name (`builtin`, `mnist`, `fashion`, `cifar10`) or a path to the user's data
    /// (an image folder, a `.npz` file or folder of `.npy` files, a `.csv` file; docs/datasets.md).
    pub dataset: String,
    /// What the samples carry: `classification`, `regression` or `reconstruction` (targets = the input;
    /// autoencoders). Default: inferred from the data (docs/datasets.md).
    #[serde(default)]
    pub task: Option<String>,
    /// Fraction held out as the test split when the data has no test split of its own.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Image folders: 1 (grayscale) or 3 (RGB) channels; default: the first image's.
    #[serde(default)]
    pub channels: Option<usize>,
    /// CSV: the label (or target) columns; default `label`, else the last column.
    #[serde(default)]
    pub label_columns: Vec<String>,
    /// Data directory (else `BSQ_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// Generated training images for `builtin`.
    pub builtin_size: usize,
    /// Use at most this many training images (0 = all).
    pub train_limit: usize,
    /// Use at most this many test images (0 = all).
    pub test_limit: usize,
    /// Regularization strength α.
    pub alpha: f64,
    /// Float pretraining epochs.
    pub epochs_float: usize,
    /// BSQ epochs.
    pub epochs_bsq: usize,
    /// Finetuning epochs.
    pub epochs_finetune: usize,
    /// Re-quantize every this many BSQ epochs (and always after the last one).
    pub requant_every: usize,
    /// Activation bits.
    pub act_bits: u8,
    /// Batch size.
    pub batch_size: usize,
    /// Optimizer.
    pub optim: OptimKind,
    /// Learning rate of float pretraining.
    pub lr: f64,
    /// Learning rate of the BSQ phase.
    pub lr_bsq: f64,
    /// Learning rate of finetuning.
    pub lr_finetune: f64,
    /// Schedule of the BSQ and finetuning learning rates.
    #[serde(default = "legacy_schedule")]
    pub lr_schedule: LrSchedule,
    /// Step schedule: the BSQ epochs (0-based, counted in the phase) from which the rate is multiplied by
    /// another `lr_gamma`. `None`: the official 250 of 350 scaled to `epochs_bsq` ([`scale_milestones`]).
    #[serde(default)]
    pub lr_steps_bsq: Option<Vec<usize>>,
    /// Step schedule: the finetuning epochs of the steps. `None`: the official 150 and 250 of 300 scaled to
    /// `epochs_finetune`.
    #[serde(default)]
    pub lr_steps_finetune: Option<Vec<usize>>,
    /// Step schedule: the factor of each step (official 0.1).
    #[serde(default = "default_gamma")]
    pub lr_gamma: f64,
    /// Fraction of the training images held back as a validation split ([`split_validation`], seeded by
    /// `seed`): the best finetuning epoch is selected on it, never on the test split. 0: no split, the
    /// last epoch is exported.
    #[serde(default)]
    pub val_fraction: f64,
    /// The per-layer scale parameter stores `scale_store·s`: 1 is the official code's (`s` itself), 16 the
    /// default (measured better on MNIST; an optimizer step then moves `s` 16× less with Adam, 256× less
    /// with SGD).
    /// Checkpoints from before the field resume with 16.
    #[serde(default = "legacy_scale_store")]
    pub scale_store: f32,
    /// How finetuning holds the quantized weights. Checkpoints from before the field resume with
    /// `shadow`.
    #[serde(default = "legacy_finetune_weight")]
    pub finetune_weight: FinetuneWeight,
    /// Seed.
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Continue from `out/ckpt`.
    pub resume: bool,
    /// Start from this float checkpoint (`.bpk` of the same architecture) instead of pretraining.
    pub pretrained: Option<PathBuf>,
    /// Write the summary JSON here too.
    pub summary_json: Option<PathBuf>,
    /// Print progress.
    pub verbose: bool,
    /// Backend to train on: `auto` (Burn's default: a GPU backend compiled in, else the Flex CPU backend),
    /// `flex`, `cuda` (cargo feature `cuda`) or `wgpu` (cargo feature `wgpu`). See [`device_for`].
    #[serde(default = "default_device")]
    pub device: String,
}

fn default_device() -> String {
    "auto".into()
}

fn legacy_scale_store() -> f32 {
    crate::bsq::SCALE_STORE_X16
}

fn legacy_finetune_weight() -> FinetuneWeight {
    FinetuneWeight::Shadow
}

fn legacy_schedule() -> LrSchedule {
    LrSchedule::Cosine
}

fn default_test_fraction() -> f64 {
    0.2
}

fn default_gamma() -> f64 {
    0.1
}

/// Backends compiled into this build (`flex` always; `cuda`, `wgpu` by cargo feature).
pub fn backends() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut v = vec!["flex"];
    #[cfg(feature = "cuda")]
    v.push("cuda");
    #[cfg(feature = "wgpu")]
    v.push("wgpu");
    v
}

/// The autodiff training device named by `--device` (see [`TrainConfig::device`]). `auto` honours Burn's
/// `BURN_DEVICE` environment variable when it names a compiled backend.
pub fn device_for(name: &str) -> Result<Device, TrainError> {
    let unavailable = |what: &str| {
        TrainError::Config(format!(
            "{what}: not compiled into this build (available: {}); GPU backends need \
             `cargo build --release -p bsq-cli --features cuda` (NVIDIA) or `--features wgpu` (Vulkan/Metal)",
            backends().join(", ")
        ))
    };
    let device = match name {
        "auto" => {
            if let Ok(v) = std::env::var("BURN_DEVICE")
                && !backends().contains(&v.to_lowercase().as_str())
            {
                return Err(unavailable(&format!("BURN_DEVICE={v}")));
            }
            Device::default()
        }
        "flex" => Device::flex(),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        other => return Err(unavailable(&format!("--device {other}"))),
    };
    Ok(device.autodiff())
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "lenet".into(),
            augment: None,
            dataset: "builtin".into(),
            task: None,
            test_fraction: default_test_fraction(),
            channels: None,
            label_columns: Vec::new(),
            data_dir: None,
            builtin_size: 4000,
            train_limit: 0,
            test_limit: 0,
            // The measured MNIST LeNet recipe (bsq-train/README.md): `bsq train --dataset mnist` runs it.
            alpha: 5e-3,
            epochs_float: 5,
            epochs_bsq: 5,
            epochs_finetune: 5,
            requant_every: 1,
            act_bits: 4,
            batch_size: 64,
            optim: OptimKind::Adam,
            lr: 1e-3,
            lr_bsq: 3e-3,
            lr_finetune: 1e-3,
            lr_schedule: LrSchedule::Step,
            lr_steps_bsq: None,
            lr_steps_finetune: None,
            lr_gamma: default_gamma(),
            val_fraction: 0.1,
            // Issue 14 items 2 and 5, measured on MNIST (bsq-train/README.md, "Differences from the official
            // code"): the 16·s store reached fewer bits at nearly the same accuracy, the shadow finetuning a
            // higher accuracy at low bits; the official forms are `--scale-store 1 --finetune-weight latent`.
            scale_store: crate::bsq::SCALE_STORE_X16,
            finetune_weight: FinetuneWeight::Shadow,
            seed: 1,
            out: "bsq-out".into(),
            resume: false,
            pretrained: None,
            summary_json: None,
            verbose: true,
            device: default_device(),
        }
    }
}

/// Data augmentation of training images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// None.
    None,
    /// Random crop with 4-pixel zero padding (at the real value 0) and horizontal flip (the CIFAR recipe).
    CropFlip,
}

impl std::str::FromStr for Augment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Augment::None),
            "crop-flip" => Ok(Augment::CropFlip),
            _ => Err(format!("unknown augmentation {s:?} (expected none or crop-flip)")),
        }
    }
}

impl TrainConfig {
    /// The augmentation in effect ([`TrainConfig::augment`], else the dataset's default).
    pub fn augmentation(&self) -> Augment {
        self.augment.unwrap_or(if matches!(self.dataset.as_str(), "cifar10" | "cifar-10") {
            Augment::CropFlip
        } else {
            Augment::None
        })
    }
}

/// Training phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Float pretraining.
    Float,
    /// BSQ.
    Bsq,
    /// Fixed-scheme finetuning.
    Finetune,
    /// Finished.
    Done,
}

/// `format` of `ckpt/state.json`.
pub const CKPT_FORMAT: &str = "bsq-train-checkpoint";

/// Version of the checkpoint format, raised whenever a saved parameter changes meaning or a file changes
/// name. 2: the per-layer scale is stored as `16·s` (now [`TrainConfig::scale_store`]), model and optimizer
/// files are named per epoch, the signed points are trained. 3: models are built from descriptions (the
/// description is saved in the state; parameters are named `convs.N` / `denses.N` / `acts.N`). Older
/// checkpoints are refused.
pub const CKPT_VERSION: u32 = 3;

/// Checkpoint state (`ckpt/state.json`), the commit point of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CkptState {
    /// Always [`CKPT_FORMAT`].
    pub format: String,
    /// [`CKPT_VERSION`] of the writer.
    pub version: u32,
    /// Model parameters of this state (a file in `ckpt/`).
    pub model_file: String,
    /// Optimizer state of this state (a file in `ckpt/`), once an epoch was trained.
    pub optim_file: Option<String>,
    /// Lines of `metrics.jsonl` written up to this state (later lines are dropped on resume).
    pub metrics_lines: usize,
    /// Phase of the next epoch.
    pub phase: Phase,
    /// Epochs done in that phase.
    pub epoch: usize,
    /// Per quantized weight: name and mode (the shapes to rebuild before loading).
    pub scheme: Vec<(String, WMode)>,
    /// Float test accuracy (once measured).
    pub float_acc: Option<f64>,
    /// Signed quantization scales.
    pub signed_scales: Vec<f32>,
    /// The best finetuning epoch so far on the validation split (its model file is kept in `ckpt/`).
    #[serde(default)]
    pub best: Option<BestEpoch>,
    /// The configuration of the run.
    pub config: TrainConfig,
    /// The model description the run trains (a copy: the run resumes even if the file changes); `None`
    /// for a user's own module ([`train_model`]).
    pub description: Option<Description>,
}

/// The finetuning epoch selected on the validation split ([`improves`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Finetuning epoch (1-based).
    pub epoch: usize,
    /// Its validation accuracy (percent, fake-quant), the selection criterion.
    pub val_acc: f64,
    /// Its model file in `ckpt/`.
    pub model_file: String,
}

/// Whether an epoch with validation accuracy `val_acc` replaces the best so far: strictly better (the
/// earlier epoch wins a tie, like the official `acc > best_acc`). Only validation accuracy enters the
/// selection; the official code selects on the test set, which makes its reported accuracy optimistic.
pub fn improves(best: Option<&BestEpoch>, val_acc: f64) -> bool {
    best.is_none_or(|b| val_acc > b.val_acc)
}

/// [`improves`] for a score where lower is better (the mean squared error of regression) when
/// `!higher_better`.
pub fn improves_by(best: Option<&BestEpoch>, score: f64, higher_better: bool) -> bool {
    if higher_better { improves(best, score) } else { best.is_none_or(|b| score < b.val_acc) }
}

/// A score as the logs write it: accuracy in percent, or a mean squared error.
fn fmt_score(v: f64, regression: bool) -> String {
    if regression { format!("mse {v:.5}") } else { format!("{v:.2}%") }
}

/// The epoch (1-based) that [`improves`] selects from per-epoch validation accuracies.
pub fn select_epoch(val_accs: &[f64]) -> Option<usize> {
    let mut best: Option<BestEpoch> = None;
    for (i, &v) in val_accs.iter().enumerate() {
        if improves(best.as_ref(), v) {
            best = Some(BestEpoch { epoch: i + 1, val_acc: v, model_file: String::new() });
        }
    }
    best.map(|b| b.epoch)
}

/// Splits a validation set off the training images: `round(fraction·len)` images chosen by a shuffle
/// seeded with `seed` (the rest keep their order). Returns the remaining training images and the
/// validation images (`None` for `fraction = 0` or a split that would hold no image). The test split is
/// not an argument: it can take no part in the selection.
pub fn split_validation(train: &Dataset, fraction: f64, seed: u64) -> Result<(Dataset, Option<Dataset>), TrainError> {
    if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
        return Err(TrainError::Config(format!("--val-fraction {fraction} not in [0, 1)")));
    }
    let n_val = (train.len() as f64 * fraction).round() as usize;
    if n_val == 0 {
        return Ok((train.clone(), None));
    }
    if n_val >= train.len() {
        return Err(TrainError::Config(format!(
            "--val-fraction {fraction} leaves no training image of {}",
            train.len()
        )));
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    Rng::new(seed ^ 0x7661_6c69_6461_7465).shuffle(&mut order);
    let mut is_val = vec![false; train.len()];
    for &i in &order[..n_val] {
        is_val[i] = true;
    }
    let subset = |keep: bool| {
        let idx: Vec<usize> = (0..train.len()).filter(|&i| is_val[i] == keep).collect();
        train.subset(&idx)
    };
    Ok((subset(false), Some(subset(true))))
}

impl CkptState {
    /// Whether this checkpoint has done every epoch that `cfg` asks for (a finished run only re-exports).
    pub fn finished(&self, cfg: &TrainConfig) -> bool {
        let (mut phase, mut epoch) = (self.phase, self.epoch);
        loop {
            let (total, next) = match phase {
                Phase::Float => (cfg.epochs_float, Phase::Bsq),
                Phase::Bsq => (cfg.epochs_bsq, Phase::Finetune),
                Phase::Finetune => (cfg.epochs_finetune, Phase::Done),
                Phase::Done => return true,
            };
            if epoch < total {
                return false;
            }
            (phase, epoch) = (next, 0);
        }
    }
}

/// Accuracies in percent on the held-out (test) split, and on the validation split.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Accuracies {
    /// Float model (after pretraining).
    pub float: Option<f64>,
    /// Fake-quant evaluation of the final model.
    pub fake_quant: f64,
    /// Exported integer model on the host executor.
    pub integer: Option<f64>,
    /// Fake-quant accuracy of the final model on the validation split carved from the training images
    /// (the split the finetuning epoch was selected on), if there is one.
    #[serde(default)]
    pub validation: Option<f64>,
}

/// One row of the scheme.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerBits {
    /// Layer name.
    pub layer: String,
    /// Weights.
    pub params: usize,
    /// Magnitude bits.
    pub bits: u8,
    /// Packed bytes `ceil(params·(n+1)/8)` (0 for 0-bit layers).
    pub bytes: usize,
    /// Counted in the BSQ compression (ResNet downsample convs are not).
    pub counted: bool,
}

/// Final report of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Model.
    pub model: String,
    /// Dataset and split.
    pub dataset: String,
    /// α.
    pub alpha: f64,
    /// Accuracies.
    pub accuracy: Accuracies,
    /// Average magnitude bits `Σ params·n / Σ params` (counted layers).
    pub avg_bits: f64,
    /// Average stored bits including the sign (`n+1` for `n > 0`).
    pub avg_stored_bits: f64,
    /// `32·#params / Σ params·n`.
    pub compression: f64,
    /// Quantized parameters (counted).
    pub params: usize,
    /// Per-layer bits.
    pub layers: Vec<LayerBits>,
    /// The finetuning epoch exported (selected on the validation split), if one was selected.
    #[serde(default)]
    pub finetune_epoch: Option<usize>,
    /// Wall time of this invocation in seconds.
    pub wall_s: f64,
    /// The artifact path.
    pub artifact: PathBuf,
}

/// Per-epoch metrics (one JSON line each).
#[derive(Debug, Clone, Serialize)]
pub struct EpochMetrics {
    /// Phase.
    pub phase: Phase,
    /// Epoch within the phase (1-based).
    pub epoch: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Mean regularizer `R` (BSQ phase).
    pub reg: f64,
    /// Training accuracy (percent, on the fly).
    pub train_acc: f64,
    /// Test accuracy (float in the float phase, fake-quant after); monitored, never used for selection.
    pub test_acc: f64,
    /// Validation accuracy (fake-quant; finetuning epochs, when there is a validation split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_acc: Option<f64>,
    /// Average magnitude bits of the counted layers.
    pub avg_bits: f64,
    /// Learning rate.
    pub lr: f64,
    /// Seconds.
    pub seconds: f64,
}

/// The scheme of a model: `(name, numel, bits, counted)`.
pub fn scheme_of<M: QModel>(m: &mut M) -> Vec<(String, usize, u8, bool)> {
    let mut v = Vec::new();
    m.visit_q(&mut |name, q, counted| v.push((name.to_string(), q.numel, q.mode.bits(), counted)));
    v
}

/// `(Σ params, Σ params·n)` over counted layers.
pub fn bit_totals(scheme: &[(String, usize, u8, bool)]) -> (usize, usize) {
    scheme.iter().filter(|s| s.3).fold((0, 0), |(p, b), s| (p + s.1, b + s.1 * s.2 as usize))
}

/// BSQ compression `32·#params / Σ params·n`.
pub fn compression(params_bits: &[(usize, u8)]) -> f64 {
    let p: usize = params_bits.iter().map(|x| x.0).sum();
    let b: usize = params_bits.iter().map(|x| x.0 * x.1 as usize).sum();
    32.0 * p as f64 / b.max(1) as f64
}

/// Sample `i`'s class label as the batch tensors and the train accuracy take it (0 where the data has
/// no label for it).
fn class_label(ds: &Dataset, i: usize) -> i64 {
    ds.labels.get(i).copied().unwrap_or(0) as i64
}

/// Builds an input batch `[B, C, H, W]` (real values `scale·(x − zero_point)` of the dataset's input map)
/// and labels, with optional augmentation (random crop with 4-pixel padding at the real value 0 and a
/// horizontal flip).
pub fn batch(ds: &Dataset, idx: &[usize], augment: Option<&mut Rng>, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let [h, w, c] = ds.shape;
    let n = h * w * c;
    let mut buf = vec![0f32; idx.len() * n];
    let lut: Vec<f32> = (0..=255u8).map(|x| ds.input.real(x)).collect();
    let mut aug = augment;
    for (b, &i) in idx.iter().enumerate() {
        let img = ds.image(i);
        let dst = &mut buf[b * n..(b + 1) * n];
        // The image is stored HWC; `dst` is CHW (the layout the model takes, so no `permute` op on the
        // device: on an autodiff device even an untracked op is registered in Burn's graph, which its
        // clean-up after every backward then walks).
        match aug.as_deref_mut() {
            None => {
                for (i, &s) in img.iter().take(n).enumerate() {
                    dst[(i % c) * h * w + i / c] = lut[s as usize];
                }
            }
            Some(rng) => {
                let dy = rng.below(9) as isize - 4;
                let dx = rng.below(9) as isize - 4;
                let flip = rng.below(2) == 1;
                for y in 0..h {
                    for x in 0..w {
                        let sy = y as isize + dy;
                        let sx0 = if flip { (w - 1 - x) as isize } else { x as isize };
                        let sx = sx0 + dx;
                        if sy < 0 || sy >= h as isize || sx < 0 || sx >= w as isize {
                            continue;
                        }
                        for ch in 0..c {
                            dst[ch * h * w + y * w + x] = lut[img[(sy as usize * w + sx as usize) * c + ch] as usize];
                        }
                    }
                }
            }
        }
    }
    let x = Tensor::<4>::from_data(TensorData::new(buf, [idx.len(), c, h, w]), device);
    let labels: Vec<i64> = idx.iter().map(|&i| class_label(ds, i)).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), device);
    (x, y)
}

/// Reads and checks `ckpt/state.json`: the format and version must be this trainer's.
pub fn read_state(path: &Path) -> Result<CkptState, TrainError> {
    let bad = |message: String| TrainError::Checkpoint { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let format = v.get("format").and_then(|f| f.as_str());
    let version = v.get("version").and_then(|f| f.as_u64());
    match (format, version) {
        (Some(CKPT_FORMAT), Some(n)) if n == u64::from(CKPT_VERSION) => {}
        (Some(CKPT_FORMAT), Some(n)) => {
            return Err(bad(format!(
                "checkpoint format version {n}, this bsq-train reads version {CKPT_VERSION}; train again with this version"
            )));
        }
        _ => {
            return Err(bad(format!(
                "no `{CKPT_FORMAT}` format version: written by an older bsq-train whose saved scales mean something \
                 else, so it cannot be resumed or re-exported; train again (its float.bpk can still seed a run with --pretrained)"
            )));
        }
    }
    serde_json::from_value(v).map_err(|e| bad(e.to_string()))
}

/// The regression targets of the samples `idx`, `[B, K]`.
pub fn batch_targets(ds: &Dataset, idx: &[usize], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = idx.iter().flat_map(|&i| ds.target(i).iter().copied()).collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), ds.target_len]), device)
}

/// The score of a model on a dataset, in evaluation mode (BatchNorm running statistics): top-1
/// accuracy in percent, or for a regression dataset the mean squared error over all targets.
pub fn evaluate<M: QModel>(model: &M, ds: &Dataset, quant: bool, scales: &[f32], device: &Device) -> f64 {
    let m = model.valid();
    let dev = device.clone().inner();
    let mut right = 0usize;
    let mut sq = 0f64;
    let idx: Vec<usize> = (0..ds.len()).collect();
    for chunk in idx.chunks(500) {
        let (x, y) = batch(ds, chunk, None, &dev);
        let mut ctx = Ctx::eval(quant, scales);
        let out = m.forward(x, &mut ctx);
        if ds.is_regression() {
            let d = out - batch_targets(ds, chunk, &dev);
            sq += to_vec((d.clone() * d).sum())[0] as f64;
            continue;
        }
        let pred = out.argmax(1).reshape([chunk.len()]);
        let eq = pred.equal(y).int().sum();
        right += eq.into_data().convert::<i64>().try_to_vec::<i64>().unwrap_or_default()[0] as usize;
    }
    if ds.is_regression() {
        return sq / (ds.len() * ds.target_len).max(1) as f64;
    }
    100.0 * right as f64 / ds.len().max(1) as f64
}

/// Calibrates on up to `n` training images: returns the signed points' scales (`max|y|/127`) and the
/// unsigned activations' mean 99.9th percentiles.
pub fn calibrate<M: QModel>(model: &M, ds: &Dataset, quant: bool, n: usize, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let m = model.valid();
    let dev = device.clone().inner();
    let mut ctx = Ctx::calibration(quant);
    let idx: Vec<usize> = (0..ds.len().min(n)).collect();
    for chunk in idx.chunks(256) {
        let (x, _) = batch(ds, chunk, None, &dev);
        let _ = m.forward(x, &mut ctx);
    }
    let scales = ctx.maxes.iter().map(|m| (m / 127.0).max(1e-6)).collect();
    let acts = ctx.act_obs.iter().map(|v| v.iter().sum::<f32>() / v.len().max(1) as f32).collect();
    (scales, acts)
}

fn make_optim(kind: OptimKind) -> ModuleOptimizer {
    match kind {
        OptimKind::Adam => crate::adam::FusedAdam::init(),
        OptimKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
            .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
            .init(),
    }
}

/// Writes bytes atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    bsq_codegen::write_atomic(path, bytes).map_err(io_err(path))
}

/// Finishes a `.bpk` written at `tmp`: flushes it to disk and renames it to `path`.
fn commit_file(tmp: &Path, path: &Path) -> Result<(), TrainError> {
    std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(io_err(tmp))?;
    std::fs::rename(tmp, path).map_err(io_err(path))
}

fn save_model<M: QModel>(model: &M, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("bpk.tmp");
    model.clone().save_file(&tmp).map_err(|e| TrainError::Checkpoint { path: tmp.clone(), message: e.to_string() })?;
    commit_file(&tmp, path)
}

fn ckpt_tag(phase: Phase, epoch: usize) -> String {
    format!("{phase:?}-{epoch}").to_lowercase()
}

/// The model file of the checkpoint after `epoch` epochs of `phase` (`model-bsq-3.bpk`).
fn ckpt_model_file(phase: Phase, epoch: usize) -> String {
    format!("model-{}.bpk", ckpt_tag(phase, epoch))
}

/// Writes a checkpoint of the state after `state.epoch` epochs of `state.phase` (see the module docs for
/// the order that makes it safe to kill the process at any point).
fn save_checkpoint<M: QModel>(
    ckdir: &Path,
    state: &mut CkptState,
    model: &M,
    optim: &ModuleOptimizer,
) -> Result<(), TrainError> {
    let model_file = ckpt_model_file(state.phase, state.epoch);
    save_model(model, &ckdir.join(&model_file))?;
    let optim_file = format!("optim-{}.bpk", ckpt_tag(state.phase, state.epoch));
    let (tmp, path) = (ckdir.join(format!("{optim_file}.tmp")), ckdir.join(&optim_file));
    optim.save(&tmp).map_err(|e| TrainError::Checkpoint { path: tmp.clone(), message: e.to_string() })?;
    commit_file(&tmp, &path)?;
    state.model_file = model_file;
    state.optim_file = Some(optim_file);
    let state_path = ckdir.join("state.json");
    write_atomic(&state_path, serde_json::to_string_pretty(state).unwrap_or_default().as_bytes())?;
    // Committed: the previous epoch's files (and temporaries of a killed run) are no longer referenced;
    // the best finetuning epoch's model is.
    let best = state.best.as_ref().map(|b| b.model_file.as_str());
    if let Ok(entries) = std::fs::read_dir(ckdir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = (name.starts_with("model-") || name.starts_with("optim-")) && name.contains(".bpk");
            if ours
                && name != state.model_file
                && Some(&name) != state.optim_file.as_ref()
                && Some(name.as_str()) != best
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Keeps the first `n` lines of the metrics file (those of the checkpoint a run resumes from).
fn truncate_metrics(path: &Path, n: usize) -> Result<(), TrainError> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    if text.lines().count() > n {
        let kept: String = text.lines().take(n).map(|l| format!("{l}\n")).collect();
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}

fn load_model<M: QModel>(model: M, path: &Path) -> Result<M, TrainError> {
    model.try_load_file(path).map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), message: e.to_string() })
}

fn modes_of<M: QModel>(m: &mut M) -> Vec<(String, WMode)> {
    let mut v = Vec::new();
    m.visit_q(&mut |name, q, _| v.push((name.to_string(), q.mode)));
    v
}

/// Runs a whole training job as configured; writes everything into `cfg.out`.
///
/// The device is [`device_for`]`(cfg.device)`: by default Burn's first enabled backend (GPUs before CPUs);
/// without the `cuda` / `wgpu` cargo features that is the Flex CPU backend.
pub fn train(cfg: &TrainConfig) -> Result<Summary, TrainError> {
    let device = device_for(&cfg.device)?;
    let splits = load_data(cfg)?;
    // A resumed run trains the description saved in its checkpoint.
    let state_path = cfg.out.join("ckpt").join("state.json");
    let (desc, origin) = if cfg.resume && state_path.exists() {
        let d = read_state(&state_path)?.description.ok_or_else(|| {
            TrainError::Config(format!(
                "{}: this run trained a model without a description (train_model); resume it through the API",
                state_path.display()
            ))
        })?;
        (d, None)
    } else {
        crate::graph::load_model_ref(&cfg.model)?
    };
    train_description(cfg, &desc, origin.as_deref(), splits, &device)
}

/// Loads the configured dataset ([`TrainConfig::dataset`] and its options) through [`data::load_source`].
pub fn load_data(cfg: &TrainConfig) -> Result<data::Splits, TrainError> {
    let source = DataSource::parse(&cfg.dataset)?;
    let task = cfg.task.as_deref().map(str::parse::<data::Task>).transpose()?;
    let opts = data::Options {
        seed: cfg.seed,
        test_fraction: cfg.test_fraction,
        channels: cfg.channels,
        label_columns: cfg.label_columns.clone(),
        task,
        data_dir: cfg.data_dir.clone(),
        builtin_size: cfg.builtin_size,
    };
    Ok(data::load_source(&source, &opts)?)
}

/// Trains a model description on the given data (the public API behind `bsq train`): builds the
/// [`Graph`] of `desc` (`origin` is the description's file, named in errors and the base of its `weights`
/// path), then runs [`train_model`].
pub fn train_description(
    cfg: &TrainConfig,
    desc: &Description,
    origin: Option<&Path>,
    mut splits: data::Splits,
    device: &Device,
) -> Result<Summary, TrainError> {
    check_config(cfg)?;
    // The description may say how the input bytes map to real values; it then wins over the data's map.
    for ds in [Some(&mut splits.train), Some(&mut splits.test), splits.val.as_mut()].into_iter().flatten() {
        ds.input.scale = desc.input.scale.unwrap_or(ds.input.scale);
        ds.input.zero_point = desc.input.zero_point.unwrap_or(ds.input.zero_point);
    }
    let outputs = if splits.train.is_regression() { splits.train.target_len } else { splits.train.num_classes };
    let data = DataShape { input: splits.train.shape, outputs };
    // Pretrained float weights named by the description (an imported ONNX model): BSQ starts from them,
    // as the official workflow starts from a pretrained float model (no float pretraining).
    let pretrained = match &desc.weights {
        Some(w) if !cfg.resume || !cfg.out.join("ckpt").join("state.json").exists() => {
            let path = origin.and_then(Path::parent).map(|d| d.join(w)).unwrap_or_else(|| w.clone());
            Some(crate::weights::load_npz(&path).map_err(|e| TrainError::Config(e.to_string()))?)
        }
        _ => None,
    };
    let build = Build {
        data,
        input: splits.train.input,
        act_bits: cfg.act_bits,
        seed: cfg.seed,
        pretrained: pretrained.as_ref(),
    };
    let model = Graph::new(desc, origin, &build, device)?;
    let mut cfg = cfg.clone();
    if pretrained.is_some() {
        cfg.epochs_float = 0;
    }
    run(&cfg, splits, model, Some(desc.clone()), device)
}

/// Trains any model that implements [`QModel`] (a user's own Burn module, or a [`Graph`]) with BSQ on the
/// given data, as configured (`cfg.model` and `cfg.dataset` only name the run), and writes the artifact
/// and the run's files into `cfg.out`. A run of a model without a description cannot be resumed by
/// `bsq train --resume`; call this function again with `cfg.resume` and the same model instead.
pub fn train_model<M: QModel>(
    cfg: &TrainConfig,
    splits: data::Splits,
    model: M,
    device: &Device,
) -> Result<Summary, TrainError> {
    check_config(cfg)?;
    run(cfg, splits, model, None, device)
}

fn check_config(cfg: &TrainConfig) -> Result<(), TrainError> {
    if cfg.act_bits == 0 || cfg.act_bits > 8 {
        return Err(TrainError::Config(format!("--act-bits {} not in 1..=8", cfg.act_bits)));
    }
    if !(cfg.scale_store.is_finite() && cfg.scale_store > 0.0) {
        return Err(TrainError::Config(format!("--scale-store {} must be a positive number", cfg.scale_store)));
    }
    if !(cfg.lr_gamma.is_finite() && cfg.lr_gamma > 0.0) {
        return Err(TrainError::Config(format!("--lr-gamma {} must be a positive number", cfg.lr_gamma)));
    }
    if cfg.batch_size == 0 {
        return Err(TrainError::Config("--batch-size 0".into()));
    }
    // A negative α would reward bits instead of removing them; a negative rate climbs the loss.
    if !(cfg.alpha.is_finite() && cfg.alpha >= 0.0) {
        return Err(TrainError::Config(format!("--alpha {} must be a number ≥ 0", cfg.alpha)));
    }
    for (name, lr) in [("--lr", cfg.lr), ("--lr-bsq", cfg.lr_bsq), ("--lr-finetune", cfg.lr_finetune)] {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(TrainError::Config(format!("{name} {lr} must be a number ≥ 0")));
        }
    }
    Ok(())
}

/// Applies the train/test limits and carves the validation split.
fn prepare_splits(cfg: &TrainConfig, mut splits: data::Splits) -> Result<(data::Splits, Option<Dataset>), TrainError> {
    if cfg.train_limit > 0 {
        splits.train = splits.train.take(cfg.train_limit);
        splits.description += &format!(", first {} train", splits.train.len());
    }
    if cfg.test_limit > 0 {
        splits.test = splits.test.take(cfg.test_limit);
        splits.description += &format!(", first {} test", splits.test.len());
    }
    if let Some(v) = splits.val.take() {
        // The data's own validation split.
        splits.description += &format!(", validation split of {}", v.len());
        return Ok((splits, Some(v)));
    }
    let (train, val) = split_validation(&splits.train, cfg.val_fraction, cfg.seed)?;
    if let Some(v) = &val {
        splits.train = train;
        splits.description += &format!(", {} of the train images held out for validation (seed {})", v.len(), cfg.seed);
    }
    Ok((splits, val))
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(verbose: bool, len: usize, msg: String) -> Self {
        let bar = (verbose && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(len as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} batches, ETA {eta} ({per_sec})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(msg);
            b
        });
        Progress { bar }
    }
    fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Scales official milestones (`official` of `official_total` epochs) to a phase of `total` epochs:
/// `round(m·total/official_total)` (halves up), at least 1 (a step at epoch 0 would only lower the base
/// rate), without duplicates. `total = official_total` gives the official milestones.
pub fn scale_milestones(official: &[usize], official_total: usize, total: usize) -> Vec<usize> {
    let mut v: Vec<usize> =
        official.iter().map(|&m| ((m * total + official_total / 2) / official_total.max(1)).max(1)).collect();
    v.dedup();
    v
}

/// Step schedule: `base·gamma^k` at 0-based `epoch`, `k` the number of milestones `≤ epoch` (the
/// official `adjust_learning_rate`, applied at the start of each epoch).
pub fn step_lr(base: f64, gamma: f64, milestones: &[usize], epoch: usize) -> f64 {
    milestones.iter().filter(|&&m| m <= epoch).fold(base, |lr, _| lr * gamma)
}

/// The step milestones of a phase under `cfg` (given, else the official ones scaled to the phase).
pub fn milestones(cfg: &TrainConfig, phase: Phase) -> Vec<usize> {
    let (given, (official_total, official), total) = match phase {
        Phase::Bsq => (&cfg.lr_steps_bsq, OFFICIAL_BSQ_SCHEDULE, cfg.epochs_bsq),
        Phase::Finetune => (&cfg.lr_steps_finetune, OFFICIAL_FINETUNE_SCHEDULE, cfg.epochs_finetune),
        Phase::Float | Phase::Done => return Vec::new(),
    };
    given.clone().unwrap_or_else(|| scale_milestones(official, official_total, total))
}

/// The learning rate of 0-based `epoch` of `phase`: float pretraining decays by a cosine to 5%; BSQ and
/// finetuning follow [`TrainConfig::lr_schedule`].
pub fn lr_at(cfg: &TrainConfig, phase: Phase, epoch: usize) -> f64 {
    let cosine = |base: f64, total: usize| {
        if total > 1 {
            base * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / total as f64).cos()))
        } else {
            base
        }
    };
    match (phase, cfg.lr_schedule) {
        (Phase::Float, _) => cosine(cfg.lr, cfg.epochs_float),
        (Phase::Bsq, LrSchedule::Cosine) => cfg.lr_bsq,
        (Phase::Finetune, LrSchedule::Cosine) => cosine(cfg.lr_finetune, cfg.epochs_finetune),
        (Phase::Bsq, LrSchedule::Step) => step_lr(cfg.lr_bsq, cfg.lr_gamma, &milestones(cfg, phase), epoch),
        (Phase::Finetune, LrSchedule::Step) => step_lr(cfg.lr_finetune, cfg.lr_gamma, &milestones(cfg, phase), epoch),
        (Phase::Done, _) => 0.0,
    }
}

fn run<M: QModel>(
    cfg: &TrainConfig,
    splits: data::Splits,
    mut model: M,
    description: Option<Description>,
    device: &Device,
) -> Result<Summary, TrainError> {
    let (splits, val) = prepare_splits(cfg, splits)?;
    let (splits, val) = (&splits, val.as_ref());
    let model_name = description.as_ref().map(|d| d.name.clone()).unwrap_or_else(|| cfg.model.clone());
    let t0 = Instant::now();
    let out = cfg.out.clone();
    let ckdir = out.join("ckpt");
    std::fs::create_dir_all(&ckdir).map_err(io_err(&ckdir))?;
    let state_path = ckdir.join("state.json");
    let metrics_path = out.join("metrics.jsonl");
    device.seed(cfg.seed);

    let mut state = CkptState {
        format: CKPT_FORMAT.into(),
        version: CKPT_VERSION,
        model_file: String::new(),
        optim_file: None,
        metrics_lines: 0,
        phase: Phase::Float,
        epoch: 0,
        scheme: modes_of(&mut model),
        float_acc: None,
        signed_scales: Vec::new(),
        best: None,
        config: cfg.clone(),
        description: description.clone(),
    };
    let mut optim = make_optim(cfg.optim);
    if cfg.resume && state_path.exists() {
        state = read_state(&state_path)?;
        // The checkpoints record the configuration in effect: a setting changed on resuming (more
        // epochs, say) holds for the next resume too.
        state.config = cfg.clone();
        model = load_model(apply_scheme(model, &state.scheme, cfg.scale_store), &ckdir.join(&state.model_file))?;
        if let Some(f) = &state.optim_file {
            // Momentum / Adam moments of the last epoch (keyed by parameter id).
            let p = ckdir.join(f);
            optim = make_optim(cfg.optim)
                .load(&p)
                .map_err(|e| TrainError::Checkpoint { path: p.clone(), message: e.to_string() })?;
        }
        truncate_metrics(&metrics_path, state.metrics_lines)?;
        log(cfg, &format!("resumed from {} ({:?} epoch {})", ckdir.display(), state.phase, state.epoch));
    } else {
        if cfg.resume {
            log(cfg, &format!("no checkpoint in {}: starting a new run", ckdir.display()));
        }
        if metrics_path.exists() {
            std::fs::remove_file(&metrics_path).map_err(io_err(&metrics_path))?;
        }
        if let Some(p) = &cfg.pretrained {
            model = load_model(model, p)?;
            state.phase = Phase::Bsq;
            log(cfg, &format!("loaded float model {}", p.display()));
        }
    }

    let (mut p_total, _) = bit_totals(&scheme_of(&mut model));
    p_total = p_total.max(1);
    let augment = cfg.augmentation() == Augment::CropFlip;
    let ce = CrossEntropyLossConfig::new().init(device);
    let regression = splits.train.is_regression();

    while state.phase != Phase::Done {
        let total = match state.phase {
            Phase::Float => cfg.epochs_float,
            Phase::Bsq => cfg.epochs_bsq,
            Phase::Finetune => cfg.epochs_finetune,
            Phase::Done => unreachable!(),
        };
        if state.epoch == 0 {
            model = enter_phase(cfg, &mut state, model, &splits.train, splits, device)?;
            optim = make_optim(cfg.optim);
        }
        if state.epoch >= total {
            state.phase = next_phase(state.phase);
            state.epoch = 0;
            continue;
        }
        // Deterministic shuffling per (phase, epoch), so a resumed run sees the same order.
        let mut rng = Rng::new(cfg.seed ^ ((state.phase as u64) << 32) ^ state.epoch as u64);
        let te = Instant::now();
        let quant = state.phase != Phase::Float;
        let bsq = state.phase == Phase::Bsq;
        let lr = lr_at(cfg, state.phase, state.epoch);
        let mut order: Vec<usize> = (0..splits.train.len()).collect();
        rng.shuffle(&mut order);
        let nb = order.len().div_ceil(cfg.batch_size);
        let prog = Progress::new(cfg.verbose, nb, format!("{:?} {}/{}", state.phase, state.epoch + 1, total));
        let (mut sum_loss, mut sum_reg, mut right, mut seen) = (0f64, 0f64, 0usize, 0usize);
        let mut aug_rng = Rng::new(rng.next_u64());
        for chunk in order.chunks(cfg.batch_size) {
            let (x, y) = batch(&splits.train, chunk, augment.then_some(&mut aug_rng), device);
            let mut ctx = if quant { Ctx::train_quantized(&state.signed_scales) } else { Ctx::train(false) };
            let logits = model.forward(x, &mut ctx);
            seen += chunk.len();
            let mut loss = if regression {
                MseLoss::new().forward(logits, batch_targets(&splits.train, chunk, device), Reduction::Mean)
            } else {
                // The argmax off the autodiff device: `detach` of a tensor that requires a gradient registers
                // a new root in Burn's autodiff graph at every step.
                let pred = logits.clone().inner().argmax(1).reshape([chunk.len()]);
                let pred = pred.into_data().convert::<i64>().try_to_vec::<i64>().unwrap_or_default();
                right += pred.iter().zip(chunk).filter(|&(&p, &i)| class_label(&splits.train, i) == p).count();
                ce.forward(logits, y)
            };
            sum_loss += to_vec(loss.clone().inner())[0] as f64;
            if bsq && cfg.alpha > 0.0 {
                let r = regularizer(&mut model, p_total);
                if let Some(r) = r {
                    sum_reg += to_vec(r.clone().inner())[0] as f64;
                    loss = loss + r * cfg.alpha as f32;
                }
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            model = model.clamp_params();
            prog.inc();
        }
        prog.finish();
        state.epoch += 1;
        // Re-quantize every K BSQ epochs and after the last one.
        if bsq && (state.epoch.is_multiple_of(cfg.requant_every.max(1)) || state.epoch == total) {
            model = map_q(model, &mut |_, q: QWeight, _| q.requantized());
            optim = make_optim(cfg.optim);
        }
        let scales = if quant { calibrate(&model, &splits.train, true, 1024, device).0 } else { Vec::new() };
        let test_acc = evaluate(&model, &splits.test, quant, &scales, device);
        // Checkpoint selection during finetuning: on the validation split only.
        let val_acc =
            val.filter(|_| state.phase == Phase::Finetune).map(|v| evaluate(&model, v, true, &scales, device));
        if let Some(v) = val_acc
            && improves_by(state.best.as_ref(), v, !regression)
        {
            let model_file = ckpt_model_file(state.phase, state.epoch);
            state.best = Some(BestEpoch { epoch: state.epoch, val_acc: v, model_file });
        }
        state.signed_scales = scales;
        let (p, b) = bit_totals(&scheme_of(&mut model));
        let m = EpochMetrics {
            phase: state.phase,
            epoch: state.epoch,
            loss: sum_loss / nb as f64,
            reg: sum_reg / nb as f64,
            train_acc: if regression { sum_loss / nb as f64 } else { 100.0 * right as f64 / seen.max(1) as f64 },
            test_acc,
            val_acc,
            avg_bits: b as f64 / p.max(1) as f64,
            lr,
            seconds: te.elapsed().as_secs_f64(),
        };
        log(
            cfg,
            &format!(
                "{:?} epoch {}/{}: lr {:.3e} loss {:.4} reg {:.3} train {}{} test {} avg bits {:.3} ({:.1}s, total {:.0}s)",
                m.phase,
                m.epoch,
                total,
                m.lr,
                m.loss,
                m.reg,
                fmt_score(m.train_acc, regression),
                m.val_acc.map(|v| format!(" val {}", fmt_score(v, regression))).unwrap_or_default(),
                fmt_score(m.test_acc, regression),
                m.avg_bits,
                m.seconds,
                t0.elapsed().as_secs_f64()
            ),
        );
        append_line(&metrics_path, &serde_json::to_string(&m).unwrap_or_default())?;
        state.metrics_lines += 1;
        if state.phase == Phase::Float && state.epoch == total {
            state.float_acc = Some(test_acc);
            save_model(&model, &ckdir.join("float.bpk"))?;
        }
        state.scheme = modes_of(&mut model);
        save_checkpoint(&ckdir, &mut state, &model, &optim)?;
    }

    // The finetuning epoch selected on the validation split (the last one without a split).
    if let Some(b) = &state.best {
        model = load_model(model, &ckdir.join(&b.model_file))?;
        log(
            cfg,
            &format!(
                "selected finetune epoch {}/{} on validation ({})",
                b.epoch,
                cfg.epochs_finetune,
                fmt_score(b.val_acc, regression)
            ),
        );
    }
    // Final calibration, evaluation and export.
    let (scales, _) = calibrate(&model, &splits.train, true, 2048, device);
    let fq = evaluate(&model, &splits.test, true, &scales, device);
    let val_acc = val.map(|v| evaluate(&model, v, true, &scales, device));
    let info = crate::export::ExportInfo {
        name: format!("{model_name}-{}", cfg.dataset),
        alpha: cfg.alpha,
        notes: format!(
            "seed {}, act bits {}, epochs float/bsq/finetune {}/{}/{}, requant every {}, optim {:?}, lr schedule {}, \
             scale store {}, finetune weight {}{}",
            cfg.seed,
            cfg.act_bits,
            cfg.epochs_float,
            cfg.epochs_bsq,
            cfg.epochs_finetune,
            cfg.requant_every,
            cfg.optim,
            cfg.lr_schedule,
            cfg.scale_store,
            cfg.finetune_weight,
            state
                .best
                .as_ref()
                .map(|b| {
                    format!(
                        ", finetune epoch {} selected on validation ({})",
                        b.epoch,
                        fmt_score(b.val_acc, regression)
                    )
                })
                .unwrap_or_default()
        ),
        float_acc: state.float_acc,
        fake_quant_acc: fq,
    };
    let mut artifact = crate::export::artifact(&model, &scales, splits, info);
    let integer = integer_accuracy(&artifact, &splits.test);
    artifact.provenance.accuracy.integer = integer;
    let art_path = out.join("model.bsq.json");
    artifact.save(&art_path)?;

    let scheme = scheme_of(&mut model);
    let (p, b) = bit_totals(&scheme);
    let stored: usize = scheme.iter().filter(|s| s.3 && s.2 > 0).map(|s| s.1 * (s.2 as usize + 1)).sum();
    let layers: Vec<LayerBits> = scheme
        .iter()
        .map(|(n, params, bits, counted)| LayerBits {
            layer: n.clone(),
            params: *params,
            bits: *bits,
            bytes: if *bits == 0 { 0 } else { (params * (*bits as usize + 1)).div_ceil(8) },
            counted: *counted,
        })
        .collect();
    let summary = Summary {
        model: model_name.clone(),
        dataset: splits.description.clone(),
        alpha: cfg.alpha,
        accuracy: Accuracies { float: state.float_acc, fake_quant: fq, integer, validation: val_acc },
        avg_bits: b as f64 / p.max(1) as f64,
        avg_stored_bits: stored as f64 / p.max(1) as f64,
        compression: 32.0 * p as f64 / b.max(1) as f64,
        params: p,
        layers,
        finetune_epoch: state.best.as_ref().map(|b| b.epoch),
        wall_s: t0.elapsed().as_secs_f64(),
        artifact: art_path,
    };
    write_atomic(&out.join("scheme.txt"), scheme_table(&summary).as_bytes())?;
    let rows: Vec<(String, u8, usize)> = summary.layers.iter().map(|l| (l.layer.clone(), l.bits, l.params)).collect();
    let title = format!("{} on {}, alpha {}", summary.model, cfg.dataset, cfg.alpha);
    let svg =
        bsq_codegen::plot::scheme_svg(&title, &rows).map_err(|e| TrainError::Config(format!("scheme.svg: {e}")))?;
    write_atomic(&out.join("scheme.svg"), svg.as_bytes())?;
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    if let Some(p) = &cfg.summary_json {
        write_atomic(p, json.as_bytes())?;
    }
    Ok(summary)
}

/// Re-exports the artifact of a finished run from its checkpoint (`RUN/ckpt/state.json` and the files it
/// names): re-calibrates the static activation scales, re-evaluates (fake-quant and integer) and writes
/// `RUN/model.bsq.json`, `scheme.txt` and `summary.json` — and a copy at `to` if given (atomically). The
/// run's own configuration (dataset, model, seed) is read from the checkpoint.
pub fn export_run(run: &Path, to: Option<&Path>) -> Result<Summary, TrainError> {
    let state_path = run.join("ckpt").join("state.json");
    if !state_path.is_file() {
        return Err(TrainError::Config(format!(
            "{}: no checkpoint (is {} the --out directory of a `bsq train` run?)",
            state_path.display(),
            run.display()
        )));
    }
    let state = read_state(&state_path)?;
    if !state.finished(&state.config) {
        return Err(TrainError::Config(format!(
            "{}: training is not finished ({:?} epoch {}); finish it with `bsq train --out {} --resume`",
            run.display(),
            state.phase,
            state.epoch,
            run.display()
        )));
    }
    let mut cfg = state.config;
    cfg.resume = true;
    cfg.out = run.to_path_buf();
    cfg.summary_json = None;
    let summary = train(&cfg)?;
    if let Some(to) = to {
        let bytes = std::fs::read(&summary.artifact).map_err(io_err(&summary.artifact))?;
        write_atomic(to, &bytes)?;
    }
    Ok(summary)
}

/// `R = Σ_l (#params_l·n_l/#params_total)·B_GL(l)` over the counted BSQ layers.
pub fn regularizer<M: QModel>(model: &mut M, p_total: usize) -> Option<Tensor<1>> {
    let mut r: Option<Tensor<1>> = None;
    model.visit_q(&mut |_, q, counted| {
        if !counted {
            return;
        }
        if let (WMode::Bsq(n), Some(g)) = (q.mode, q.group_lasso()) {
            let t = g * (q.numel as f32 * n as f32 / p_total as f32);
            r = Some(match r.take() {
                Some(acc) => acc + t,
                None => t,
            });
        }
    });
    r
}

fn next_phase(p: Phase) -> Phase {
    match p {
        Phase::Float => Phase::Bsq,
        Phase::Bsq => Phase::Finetune,
        Phase::Finetune | Phase::Done => Phase::Done,
    }
}

/// Converts the model at the start of a phase.
fn enter_phase<M: QModel>(
    cfg: &TrainConfig,
    state: &mut CkptState,
    mut model: M,
    train: &Dataset,
    splits: &data::Splits,
    device: &Device,
) -> Result<M, TrainError> {
    match state.phase {
        Phase::Float | Phase::Done => Ok(model),
        Phase::Bsq => {
            if state.float_acc.is_none() {
                state.float_acc = Some(evaluate(&model, &splits.test, false, &[], device));
            }
            // Initial PACT clips from the float model's activations.
            let (_, acts) = calibrate(&model, train, false, 1024, device);
            let mut i = 0;
            model.visit_acts(&mut |a| {
                if let Some(&c) = acts.get(i) {
                    let c = c.max(1e-2);
                    let dev = a.clip.device();
                    a.clip = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vec![c], [1]), &dev));
                }
                i += 1;
            });
            let bsq = cfg.epochs_bsq > 0;
            let model = map_q(model, &mut |_, q, counted| {
                let q = q.with_scale_store(cfg.scale_store);
                if counted && bsq { q.to_bsq(MAX_BITS) } else { q.to_fixed_bits(MAX_BITS, cfg.finetune_weight.form()) }
            });
            // Scales of the signed points for the first quantized epoch (recalibrated after every epoch).
            state.signed_scales = calibrate(&model, train, true, 1024, device).0;
            Ok(model)
        }
        Phase::Finetune => {
            state.best = None;
            Ok(map_q(model, &mut |_, q, _| q.to_fixed(cfg.finetune_weight.form())))
        }
    }
}

fn append_line(path: &Path, line: &str) -> Result<(), TrainError> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    writeln!(f, "{line}").map_err(io_err(path))
}

fn log(cfg: &TrainConfig, msg: &str) {
    if cfg.verbose {
        eprintln!("{msg}");
    }
}

/// The scheme table (`scheme.txt`).
pub fn scheme_table(s: &Summary) -> String {
    let mut t = format!("{:<24} {:>10} {:>5} {:>10}\n", "layer", "params", "bits", "bytes");
    for l in &s.layers {
        t += &format!(
            "{:<24} {:>10} {:>5} {:>10}{}\n",
            l.layer,
            l.params,
            l.bits,
            l.bytes,
            if l.counted { "" } else { "  (not counted)" }
        );
    }
    t += &format!(
        "total {} params, avg {:.3} bits ({:.3} stored incl. sign), compression {:.3}x\n",
        s.params, s.avg_bits, s.avg_stored_bits, s.compression
    );
    t
}

/// The integer model's score on the host executor, if it compiles: accuracy in percent, or for a
/// regression dataset the mean squared error of the dequantized outputs (`scale·q` of the output layer).
pub fn integer_accuracy(artifact: &bsq_codegen::Artifact, test: &Dataset) -> Option<f64> {
    let mut ex = bsq_codegen::Executor::new(artifact).ok()?;
    if !test.is_regression() {
        return ex.accuracy((0..test.len()).map(|i| (test.image(i), test.labels[i] as usize))).ok();
    }
    let q = artifact.output_quant()?;
    let mut sq = 0f64;
    for i in 0..test.len() {
        let bytes = ex.run(test.image(i)).ok()?;
        for (&b, &t) in bytes.iter().zip(test.target(i)) {
            let v = if q.signed { b as i8 as f64 } else { b as f64 } * q.scale as f64;
            sq += (v - t as f64).powi(2);
        }
    }
    Some(sq / (test.len() * test.target_len).max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_or_non_finite_alpha_and_rates_are_refused() {
        let ok = TrainConfig::default();
        assert!(check_config(&ok).is_ok());
        let bad = [
            (TrainConfig { alpha: -1.0, ..ok.clone() }, "--alpha -1 must be a number ≥ 0"),
            (TrainConfig { alpha: f64::NAN, ..ok.clone() }, "--alpha NaN must be a number ≥ 0"),
            (TrainConfig { lr: -1e-3, ..ok.clone() }, "--lr -0.001 must be a number ≥ 0"),
            (TrainConfig { lr_bsq: f64::INFINITY, ..ok.clone() }, "--lr-bsq inf must be a number ≥ 0"),
            (TrainConfig { lr_finetune: -0.5, ..ok.clone() }, "--lr-finetune -0.5 must be a number ≥ 0"),
        ];
        for (cfg, want) in bad {
            let err = check_config(&cfg).unwrap_err().to_string();
            assert!(err.ends_with(want), "{err}");
        }
        // α = 0 is the float model of a sweep; it stays allowed.
        assert!(check_config(&TrainConfig { alpha: 0.0, ..ok }).is_ok());
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn official_milestones_scale_to_short_phases() {
        let (bt, bm) = OFFICIAL_BSQ_SCHEDULE;
        let (ft, fm) = OFFICIAL_FINETUNE_SCHEDULE;
        // The official phases themselves.
        assert_eq!(scale_milestones(bm, bt, 350), [250]);
        assert_eq!(scale_milestones(fm, ft, 300), [150, 250]);
        // 5 epochs: 250·5/350 = 3.57 → 4; 150·5/300 = 2.5 → 3, 250·5/300 = 4.17 → 4.
        assert_eq!(scale_milestones(bm, bt, 5), [4]);
        assert_eq!(scale_milestones(fm, ft, 5), [3, 4]);
        // 10 epochs: 7.14 → 7; 5 and 8.33 → 8.
        assert_eq!(scale_milestones(bm, bt, 10), [7]);
        assert_eq!(scale_milestones(fm, ft, 10), [5, 8]);
        // 2 epochs: 1.43 → 1; 1 and 1.67 → 2. 1 epoch: 0.71 → 1; 0.5 → 1 and 0.83 → 1 (one step, no effect).
        assert_eq!(scale_milestones(bm, bt, 2), [1]);
        assert_eq!(scale_milestones(fm, ft, 2), [1, 2]);
        assert_eq!(scale_milestones(bm, bt, 1), [1]);
        assert_eq!(scale_milestones(fm, ft, 1), [1]);
    }

    #[test]
    fn step_schedule_by_hand() {
        // Official BSQ: lr 0.1, ×0.1 from epoch 250 (0-based) of 350.
        for (e, want) in [(0, 0.1), (249, 0.1), (250, 0.01), (349, 0.01)] {
            assert!(close(step_lr(0.1, 0.1, &[250], e), want), "epoch {e}");
        }
        // Official finetune: lr 0.01, ×0.1 at 150 and 250 of 300.
        for (e, want) in [(0, 0.01), (149, 0.01), (150, 0.001), (249, 0.001), (250, 1e-4), (299, 1e-4)] {
            assert!(close(step_lr(0.01, 0.1, &[150, 250], e), want), "epoch {e}");
        }
        // The whole official recipe through lr_at.
        let official = TrainConfig {
            epochs_bsq: 350,
            epochs_finetune: 300,
            lr_bsq: 0.1,
            lr_finetune: 0.01,
            ..TrainConfig::default()
        };
        assert!(close(lr_at(&official, Phase::Bsq, 249), 0.1) && close(lr_at(&official, Phase::Bsq, 250), 0.01));
        assert!(close(lr_at(&official, Phase::Finetune, 150), 0.001));
        assert!(close(lr_at(&official, Phase::Finetune, 250), 1e-4));
        // The default recipe (5 + 5 epochs, Adam 3e-3 / 1e-3): BSQ 3e-3 ×4 then 3e-4; finetune 1e-3 ×3, 1e-4, 1e-5.
        let d = TrainConfig::default();
        assert_eq!(d.lr_schedule, LrSchedule::Step);
        let bsq: Vec<f64> = (0..5).map(|e| lr_at(&d, Phase::Bsq, e)).collect();
        let ft: Vec<f64> = (0..5).map(|e| lr_at(&d, Phase::Finetune, e)).collect();
        for (got, want) in bsq.iter().zip([3e-3, 3e-3, 3e-3, 3e-3, 3e-4]) {
            assert!(close(*got, want), "bsq {bsq:?}");
        }
        for (got, want) in ft.iter().zip([1e-3, 1e-3, 1e-3, 1e-4, 1e-5]) {
            assert!(close(*got, want), "finetune {ft:?}");
        }
        // Milestones and factor given explicitly.
        let c = TrainConfig { lr_steps_bsq: Some(vec![2, 3]), lr_gamma: 0.5, ..TrainConfig::default() };
        let bsq: Vec<f64> = (0..5).map(|e| lr_at(&c, Phase::Bsq, e)).collect();
        for (got, want) in bsq.iter().zip([3e-3, 3e-3, 1.5e-3, 7.5e-4, 7.5e-4]) {
            assert!(close(*got, want), "bsq {bsq:?}");
        }
        // No steps at all.
        let c = TrainConfig { lr_steps_finetune: Some(Vec::new()), ..TrainConfig::default() };
        assert!((0..5).all(|e| close(lr_at(&c, Phase::Finetune, e), 1e-3)));
        // The earlier schedule: constant BSQ rate, cosine finetuning (to 5%: at epoch 1 of 2, 0.05 + 0.95·0.5).
        let c = TrainConfig { lr_schedule: LrSchedule::Cosine, epochs_finetune: 2, ..TrainConfig::default() };
        assert!((0..5).all(|e| close(lr_at(&c, Phase::Bsq, e), 3e-3)));
        assert!(close(lr_at(&c, Phase::Finetune, 0), 1e-3) && close(lr_at(&c, Phase::Finetune, 1), 0.525e-3));
    }

    #[test]
    fn old_checkpoint_configs_keep_their_schedule_and_have_no_validation_split() {
        let mut v = serde_json::to_value(TrainConfig::default()).unwrap();
        for k in [
            "lr_schedule",
            "lr_steps_bsq",
            "lr_steps_finetune",
            "lr_gamma",
            "val_fraction",
            "scale_store",
            "finetune_weight",
        ] {
            v.as_object_mut().unwrap().remove(k);
        }
        let c: TrainConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.lr_schedule, LrSchedule::Cosine);
        assert_eq!((c.scale_store, c.finetune_weight), (16.0, FinetuneWeight::Shadow));
        assert_eq!((c.lr_steps_bsq, c.lr_steps_finetune, c.lr_gamma, c.val_fraction), (None, None, 0.1, 0.0));
    }

    /// 50 images of one byte each, the byte being the image's index.
    fn numbered(n: usize) -> Dataset {
        Dataset::classification(
            [1, 1, 1],
            (0..n as u8).collect(),
            (0..n).map(|i| (i % 10) as u8).collect(),
            (0..10).map(|i| i.to_string()).collect(),
        )
    }

    #[test]
    fn validation_split_is_carved_from_train_disjoint_and_deterministic() {
        let ds = numbered(50);
        let (train, val) = split_validation(&ds, 0.2, 7).unwrap();
        let val = val.unwrap();
        assert_eq!((train.len(), val.len()), (40, 10));
        // Every image lands in exactly one part, with its own label; both keep the original order.
        let mut all: Vec<u8> = train.images.iter().chain(&val.images).copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<u8>>());
        for part in [&train, &val] {
            assert!(part.images.windows(2).all(|w| w[0] < w[1]));
            assert!(part.images.iter().zip(&part.labels).all(|(&i, &l)| l == i % 10));
        }
        // Deterministic per seed; another seed holds out other images.
        let (train2, val2) = split_validation(&ds, 0.2, 7).unwrap();
        assert_eq!((train2, val2.as_ref()), (train.clone(), Some(&val)));
        let (_, val3) = split_validation(&ds, 0.2, 8).unwrap();
        assert_ne!(val3.unwrap().images, val.images);
        // No split.
        let (t, v) = split_validation(&ds, 0.0, 7).unwrap();
        assert!(v.is_none() && t == ds);
        let (t, v) = split_validation(&ds, 0.005, 7).unwrap();
        assert!(v.is_none() && t == ds, "0.25 images round to none");
        for bad in [1.0, -0.1, f64::NAN, 0.995] {
            assert!(split_validation(&ds, bad, 7).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection_follows_validation_accuracy_and_keeps_the_earlier_epoch_on_a_tie() {
        assert_eq!(select_epoch(&[]), None);
        assert_eq!(select_epoch(&[50.0, 70.0, 60.0, 70.0]), Some(2));
        assert_eq!(select_epoch(&[80.0, 79.0]), Some(1));
        assert!(improves(None, 0.0));
        let b = BestEpoch { epoch: 1, val_acc: 70.0, model_file: String::new() };
        assert!(!improves(Some(&b), 70.0) && improves(Some(&b), 70.5));
    }

    /// A tiny run (MLP, built-in data) with a validation split, twice with different test sets: the test
    /// set changes no trained weight and not the selected epoch, which is the validation argmax.
    #[test]
    fn test_split_takes_no_part_in_training_or_selection() {
        let base = std::env::temp_dir().join(format!("bsq-train-val-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let cfg = |name: &str, test_limit: usize| TrainConfig {
            model: "mlp".into(),
            builtin_size: 600,
            test_limit,
            epochs_float: 1,
            epochs_bsq: 1,
            epochs_finetune: 3,
            lr_finetune: 3e-3,
            val_fraction: 0.2,
            out: base.join(name),
            verbose: false,
            ..TrainConfig::default()
        };
        let a = train(&cfg("a", 0)).expect("run a");
        let b = train(&cfg("b", 40)).expect("run b");
        let layers = |s: &Summary| {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&s.artifact).unwrap()).unwrap();
            v["layers"].clone()
        };
        assert_eq!(layers(&a), layers(&b), "the test set changed the exported model");
        assert_eq!(a.finetune_epoch, b.finetune_epoch);
        assert_eq!(a.accuracy.validation, b.accuracy.validation);
        // The selected epoch is the validation argmax of the finetuning epochs in metrics.jsonl.
        let metrics = std::fs::read_to_string(base.join("a").join("metrics.jsonl")).unwrap();
        let val: Vec<f64> = metrics
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|m| m["phase"] == "finetune")
            .map(|m| m["val_acc"].as_f64().expect("val_acc"))
            .collect();
        assert_eq!(val.len(), 3);
        assert_eq!(a.finetune_epoch, select_epoch(&val));
        assert!(a.dataset.contains("120 of the train images held out for validation"), "{}", a.dataset);
        let state = read_state(&base.join("a").join("ckpt").join("state.json")).unwrap();
        let best = state.best.expect("best epoch");
        assert_eq!(Some(best.epoch), a.finetune_epoch);
        assert!(base.join("a").join("ckpt").join(&best.model_file).is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
