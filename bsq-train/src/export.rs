//! Export of a trained model to the model artifact ([`bsq_codegen::Artifact`]).
//!
//! Conventions (those of the artifact): tensors HWC; conv weights `[out][kh][kw][in]` (permuted from
//! Burn's OIHW); dense weights `[out][in]` with `in` in HWC order (the models flatten NHWC); integer weights
//! `k ∈ [−(2^n−1), 2^n−1]`, real weight `s·k/(2^n−1)`; BatchNorm in the `bn` field (codegen folds it).
//!
//! The per-layer conversions belong to the layer types ([`crate::model::to_artifact`]); this module
//! assembles the document (layers, labels, input, provenance).

use bsq_codegen::artifact as art;

use crate::model::QModel;

/// What the artifact says about where the model came from (besides the data split).
#[derive(Debug, Clone)]
pub struct ExportInfo {
    /// Model name, e.g. `lenet-mnist`.
    pub name: String,
    /// The BSQ regularization strength α.
    pub alpha: f64,
    /// Free text: recipe, seed, ….
    pub notes: String,
    /// Float accuracy (percent), if measured.
    pub float_acc: Option<f64>,
    /// The trainer's quantized (fake-quant) accuracy (percent).
    pub fake_quant_acc: f64,
}

/// Builds the artifact of a trained model: layers, labels, input (the dataset's input scale) and provenance.
pub fn artifact<M: QModel>(
    model: &M,
    signed_scales: &[f32],
    splits: &crate::data::Splits,
    info: ExportInfo,
) -> bsq_codegen::Artifact {
    let layers = model.export_layers(signed_scales, splits.train.shape);
    let output = model.output_layer().or_else(|| layers.last().map(|l| l.name().to_string())).unwrap_or_default();
    bsq_codegen::Artifact {
        format: art::FORMAT.into(),
        version: art::VERSION,
        name: info.name,
        provenance: art::Provenance {
            tool: format!("bsq-train {}", env!("CARGO_PKG_VERSION")),
            created: rfc3339_now(),
            dataset: splits.description.clone(),
            alpha: Some(info.alpha),
            accuracy: art::Accuracy { float: info.float_acc, fake_quant: Some(info.fake_quant_acc), integer: None },
            notes: info.notes,
        },
        // A regression output has no classes: its values are named `target0`, `target1`, ….
        labels: if splits.train.is_regression() {
            (0..splits.train.target_len).map(|i| format!("target{i}")).collect()
        } else {
            splits.train.class_names.clone()
        },
        input: art::Input {
            shape: splits.train.shape,
            scale: splits.train.input.scale,
            zero_point: splits.train.input.zero_point,
        },
        scheme: Vec::new(),
        layers,
        output,
    }
}

/// The current time as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
