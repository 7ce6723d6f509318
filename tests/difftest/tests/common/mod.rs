//! The comparison of one random model between the independent model ([`bsq_difftest::spec`]) and bsq
//! (`bsq_codegen`: the loader, the lowering and the host executor `bsq-codegen run` uses, whose bytes the
//! QEMU suite proves equal to the device's). Shared by the `differential` test and the `difftest` example
//! (the 100,000-model command).

#![allow(dead_code)] // each user calls a different subset

use std::collections::BTreeMap;
use std::path::PathBuf;

use bsq_codegen::{ArtifactError, CodegenError, Executor};
use bsq_difftest::generate::{GenOptions, artifact, input_bytes};
use bsq_difftest::spec::{self, RefusalKind, Rejection};

/// How both sides treated one model, when they agree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Agreement {
    /// Both ran it on every input, byte for byte equal (per layer and output).
    Ran,
    /// Both refused it at load (validation or JSON shape).
    Invalid,
    /// Both refused it in lowering for this documented reason, naming the same layer.
    Refused(String),
}

/// Counts of agreements by kind.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Models per [`Agreement`].
    pub by_kind: BTreeMap<Agreement, usize>,
    /// Inputs run (both sides) over all models that ran.
    pub inputs: usize,
}

impl Tally {
    /// Adds one outcome.
    pub fn add(&mut self, a: Agreement, inputs: usize) {
        *self.by_kind.entry(a).or_default() += 1;
        self.inputs += inputs;
    }
    /// Total models.
    pub fn models(&self) -> usize {
        self.by_kind.values().sum()
    }
    /// Models that ran.
    pub fn ran(&self) -> usize {
        self.by_kind.get(&Agreement::Ran).copied().unwrap_or(0)
    }
    /// One line per kind.
    pub fn summary(&self) -> String {
        let mut s = format!("{} models, {} inputs compared byte for byte\n", self.models(), self.inputs);
        for (k, n) in &self.by_kind {
            let pct = 100.0 * *n as f64 / self.models().max(1) as f64;
            s.push_str(&format!("  {:<40} {n:>8} ({pct:.2} %)\n", format!("{k:?}")));
        }
        s
    }
}

/// bsq's refusal reason in the spec's vocabulary, from the error's variant and message (the messages are
/// bsq's documented wording, artifact.md § Refusals).
fn bsq_refusal(e: &CodegenError) -> Option<(String, RefusalKind)> {
    match e {
        CodegenError::AccumulatorOverflow { layer, .. } => Some((layer.clone(), RefusalKind::AccumulatorOverflow)),
        CodegenError::Lowering { layer, message } => {
            let kind = if message.contains("zero multiplier") {
                RefusalKind::ZeroMultiplier
            } else if message.contains("too large") || message.contains("not finite") {
                RefusalKind::MultiplierTooLarge
            } else if message.contains("outside i32") {
                RefusalKind::BiasOutOfRange
            } else if message.contains("cannot be held in i32") {
                RefusalKind::AddScale
            } else if message.contains("computes nothing") {
                RefusalKind::OutputIsInput
            } else {
                return None;
            };
            Some((layer.clone(), kind))
        }
        _ => None,
    }
}

/// Compares spec and bsq on the artifact `text` and `inputs`: `Ok(agreement)` or `Err(what differs)`.
pub fn compare_text(text: &str, inputs: &[Vec<u8>]) -> Result<Agreement, String> {
    let spec = spec::load(text);
    let bsq = bsq_codegen::Artifact::from_json(text, "generated.bsq.json");
    let artifact = match (&spec, bsq) {
        (Err(Rejection::Parse(_)), Err(ArtifactError::Json { .. })) => return Ok(Agreement::Invalid),
        (Err(Rejection::Invalid { layer, .. }), Err(ArtifactError::Field { layer: bl, .. })) if *layer == bl => {
            return Ok(Agreement::Invalid);
        }
        (Err(Rejection::Invalid { .. }), Err(ArtifactError::Format { .. } | ArtifactError::Version { .. })) => {
            return Ok(Agreement::Invalid);
        }
        (_, Err(e)) => return Err(format!("bsq refused at load: {e}; spec: {:?}", spec.as_ref().err())),
        (Err(r @ (Rejection::Parse(_) | Rejection::Invalid { .. })), Ok(_)) => {
            return Err(format!("spec refused at load ({r}) but bsq loaded it"));
        }
        (_, Ok(a)) => a,
    };
    let ex = Executor::new(&artifact);
    let (model, mut ex) = match (spec, ex) {
        (Ok(m), Ok(ex)) => (m, ex),
        (Err(Rejection::Refused { layer, reason, message }), Err(e)) => {
            return match bsq_refusal(&e) {
                // The output-is-input refusal names the output in bsq and the model in the spec.
                Some((_, RefusalKind::OutputIsInput)) if reason == RefusalKind::OutputIsInput => {
                    Ok(Agreement::Refused(format!("{reason:?}")))
                }
                Some((bl, bk)) if bl == layer && bk == reason => Ok(Agreement::Refused(format!("{reason:?}"))),
                _ => Err(format!("refused differently: spec `{layer}` {reason:?} ({message}); bsq: {e}")),
            };
        }
        (Ok(_), Err(e)) => return Err(format!("bsq refused a model the spec accepts: {e}")),
        (Err(r), Ok(_)) => return Err(format!("spec refused ({r}) but bsq accepts the model")),
        (Err(r), Err(e)) => {
            return Err(format!("spec refused at load ({r}) but bsq loaded the model and refused: {e}"));
        }
    };
    for (i, x) in inputs.iter().enumerate() {
        let (spec_layers, spec_out) = model.run(x).map_err(|e| format!("spec run, input {i}: {e}"))?;
        let mut bsq_layers: Vec<(String, Vec<u8>)> = Vec::new();
        let bsq_out = ex
            .run_observed(x, &mut |_, name, bytes| bsq_layers.push((name.to_string(), bytes.to_vec())))
            .map_err(|e| format!("bsq run, input {i}: {e}"))?
            .to_vec();
        if spec_layers.len() != bsq_layers.len() {
            return Err(format!("input {i}: spec has {} layer outputs, bsq {}", spec_layers.len(), bsq_layers.len()));
        }
        for ((sn, sb), (bn, bb)) in spec_layers.iter().zip(&bsq_layers) {
            if sn != bn {
                return Err(format!("input {i}: layer order differs: spec `{sn}`, bsq `{bn}`"));
            }
            if let Some(j) = first_difference(sb, bb) {
                return Err(format!(
                    "input {i}, layer `{sn}`: byte {j} differs: spec {}, bsq {} (lengths {} / {})",
                    show(sb, j),
                    show(bb, j),
                    sb.len(),
                    bb.len()
                ));
            }
        }
        if let Some(j) = first_difference(&spec_out, &bsq_out) {
            return Err(format!(
                "input {i}, network output: byte {j} differs: spec {}, bsq {}",
                show(&spec_out, j),
                show(&bsq_out, j)
            ));
        }
    }
    Ok(Agreement::Ran)
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or_else(|| (a.len() != b.len()).then_some(a.len().min(b.len())))
}

fn show(v: &[u8], i: usize) -> String {
    v.get(i).map_or_else(|| "(none)".to_string(), |b| format!("{b:#04x}"))
}

/// Generates model `seed` and `inputs_per_model` inputs and compares. On disagreement the error carries the
/// seed; the artifact is written to `failures_dir` (if given) as `seed-<seed>.bsq.json` for reproduction.
pub fn check_seed(
    seed: u64,
    opts: &GenOptions,
    inputs_per_model: usize,
    failures_dir: Option<&PathBuf>,
) -> Result<(Agreement, usize), String> {
    let doc = artifact(seed, opts);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| format!("seed {seed}: serializing: {e}"))?;
    let len = doc["input"]["shape"]
        .as_array()
        .map(|s| s.iter().filter_map(|d| d.as_u64()).product::<u64>() as usize)
        .unwrap_or(0);
    let inputs = input_bytes(seed, len, inputs_per_model);
    match compare_text(&text, &inputs) {
        Ok(a) => {
            let n = if a == Agreement::Ran { inputs.len() } else { 0 };
            Ok((a, n))
        }
        Err(e) => {
            let saved = failures_dir.and_then(|d| {
                std::fs::create_dir_all(d).ok()?;
                let p = d.join(format!("seed-{seed}.bsq.json"));
                std::fs::write(&p, &text).ok()?;
                Some(p)
            });
            Err(format!(
                "seed {seed}: {e}{}",
                saved.map(|p| format!(" (artifact written to {})", p.display())).unwrap_or_default()
            ))
        }
    }
}

/// Where disagreeing artifacts are written: `<workspace target dir>/difftest-failures`.
pub fn failures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/difftest-failures")
}
