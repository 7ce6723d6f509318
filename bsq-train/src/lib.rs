//! # bsq-train
//!
//! Trains networks with BSQ (bit-level sparsity quantization, ICLR 2021) on the host with Burn and exports
//! the resulting mixed-precision integer model as a [`bsq_codegen::Artifact`].
//!
//! * [`data`]: MNIST / Fashion-MNIST IDX and CIFAR-10 readers, and a built-in generated dataset (the
//!   Burn-free crate `bsq-data`, re-exported);
//! * [`allocator`]: mimalloc's set-up for the programs that train (keep freed memory);
//! * [`bsq`]: bit-plane weights, the group-Lasso regularizer, re-quantization, fixed-scheme QAT;
//! * [`cpu_ops`]: the trainer's own CPU (Flex) ops with hand-written backward steps: convolution
//!   gradients, BatchNorm, the PACT quantizer and the signed 8-bit points;
//! * [`model`]: quantized layers, activation quantization and the [`model::QModel`] trait;
//! * [`graph`]: a model built from a description file (built-ins: MLP, LeNet, ResNet-20);
//! * [`training`]: the hand-written training loop (float → BSQ → finetune), checkpoints, metrics;
//! * [`export`]: the artifact writer (the model layers' own conversions are in [`model`]);
//! * [`sweep`]: an α sweep (one float model, one BSQ run per α) and its accuracy-vs-bits plot.
//!
//! ```no_run
//! let cfg = bsq_train::training::TrainConfig { out: "bsq-out".into(), ..Default::default() };
//! let summary = bsq_train::training::train(&cfg).unwrap();
//! println!("{:.2}% at {:.2} bits", summary.accuracy.fake_quant, summary.avg_bits);
//! ```
#![deny(missing_docs)]

pub mod adam;
pub mod allocator;
pub mod bsq;
pub mod cpu_ops;
pub use bsq_data as data;
pub mod export;
pub mod graph;
pub mod model;
pub mod onnx;
pub mod sweep;
pub mod training;
pub mod weights;
