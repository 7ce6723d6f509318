//! Export of a trained model to the model artifact ([`bsq_codegen::Artifact`]).
//!
//! Conventions (those of the artifact): tensors HWC; conv weights `[out][kh][kw][in]` (permuted from
//! Burn's OIHW); dense weights `[out][in]` with `in` in HWC order (the models flatten NHWC); integer weights
//! `k ∈ [−(2^n−1), 2^n−1]`, real weight `s·k/(2^n−1)`; BatchNorm in the `bn` field (codegen folds it).

use bsq_codegen::artifact::{self as art, Layer, Quant};

use crate::bsq::{IntWeight, to_vec};
use crate::model::{Act, QConv, QDense};

/// The unsigned output quantization of an activation.
pub fn unsigned(a: &Act) -> Quant {
    Quant { bits: a.bits, scale: a.scale(), signed: false }
}

/// A signed 8-bit output quantization.
pub fn signed8(scale: f32) -> Quant {
    Quant { bits: 8, scale, signed: true }
}

fn weight(iw: &IntWeight) -> art::Weight {
    art::Weight { bits: iw.bits, scale: if iw.bits == 0 { 1.0 } else { iw.scale }, values: iw.k.clone() }
}

/// A conv layer; weights permuted OIHW → `[out][kh][kw][in]`.
pub fn conv(name: &str, input: &str, c: &QConv, out: Quant) -> Layer {
    let [i, o, k, s, p] = c.cfg;
    let mut iw = c.w.int_weight();
    let oihw = std::mem::take(&mut iw.k);
    let mut ohwi = vec![0i32; oihw.len()];
    for oc in 0..o {
        for ic in 0..i {
            for y in 0..k {
                for x in 0..k {
                    ohwi[((oc * k + y) * k + x) * i + ic] = oihw[((oc * i + ic) * k + y) * k + x];
                }
            }
        }
    }
    iw.k = ohwi;
    let bn = c.bn.as_ref().map(|bn| art::BatchNorm {
        gamma: to_vec(bn.gamma.val()),
        beta: to_vec(bn.beta.val()),
        mean: to_vec(bn.running_mean.value()),
        var: to_vec(bn.running_var.value()),
        eps: bn.epsilon as f32,
    });
    Layer::Conv2d(art::Conv2d {
        name: name.into(),
        input: input.into(),
        in_channels: i,
        out_channels: o,
        kernel: [k, k],
        stride: [s, s],
        padding: [p, p, p, p],
        weight: weight(&iw),
        bias: c.bias.as_ref().map(|b| to_vec(b.val())),
        bn,
        channel_scale: None,
        out,
    })
}

/// A dense layer; the quantized bias is exported as its real values.
pub fn dense(name: &str, input: &str, d: &QDense, out: Quant) -> Layer {
    let [i, o] = d.cfg;
    Layer::Dense(art::Dense {
        name: name.into(),
        input: input.into(),
        in_features: i,
        out_features: o,
        weight: weight(&d.w.int_weight()),
        bias: Some(d.b.int_weight().real()),
        bn: None,
        channel_scale: None,
        out,
    })
}

/// A 2×2 stride-2 max pooling.
pub fn maxpool(name: &str, input: &str) -> Layer {
    Layer::MaxPool(art::Pool { name: name.into(), input: input.into(), kernel: [2, 2], stride: [2, 2] })
}

/// Global average pooling.
pub fn gap(name: &str, input: &str) -> Layer {
    Layer::GlobalAvgPool(art::Unary { name: name.into(), input: input.into() })
}

/// Residual add.
pub fn add(name: &str, inputs: [String; 2], out: Quant) -> Layer {
    Layer::Add(art::Add { name: name.into(), inputs, out })
}

/// Builds the artifact of a trained model: layers, labels, input (`scale = 1/255`) and provenance.
pub fn artifact<M: crate::model::QModel>(
    model: &M,
    signed_scales: &[f32],
    splits: &crate::data::Splits,
    cfg: &crate::training::TrainConfig,
    float_acc: Option<f64>,
    fake_quant_acc: f64,
) -> bsq_codegen::Artifact {
    let layers = model.export_layers(signed_scales, splits.train.shape);
    let output = layers.last().map(|l| l.name().to_string()).unwrap_or_default();
    bsq_codegen::Artifact {
        format: art::FORMAT.into(),
        version: art::VERSION,
        name: format!("{}-{}", cfg.model, cfg.dataset),
        provenance: art::Provenance {
            tool: format!("bsq-train {}", env!("CARGO_PKG_VERSION")),
            created: rfc3339_now(),
            dataset: splits.description.clone(),
            alpha: Some(cfg.alpha),
            accuracy: art::Accuracy { float: float_acc, fake_quant: Some(fake_quant_acc), integer: None },
            notes: format!(
                "seed {}, act bits {}, epochs float/bsq/finetune {}/{}/{}, requant every {}, optim {:?}",
                cfg.seed,
                cfg.act_bits,
                cfg.epochs_float,
                cfg.epochs_bsq,
                cfg.epochs_finetune,
                cfg.requant_every,
                cfg.optim
            ),
        },
        labels: splits.train.class_names.clone(),
        input: art::Input { shape: splits.train.shape, scale: 1.0 / 255.0 },
        scheme: Vec::new(),
        layers,
        output,
    }
}

/// The current time as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), without a date crate.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
