//! `bsq import MODEL.onnx [-o net.toml] [--name NAME]`: a float ONNX model becomes a model description
//! and its pretrained float weights (`net.npz` beside the description, named by its `weights` field), so
//! that `bsq train --model net.toml` starts BSQ from the imported network (docs/import.md).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bsq_codegen::desc::{Activation, DataShape, Description, Op};
use clap::Args;

/// `bsq import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model (float, NCHW, one input and one output).
    model: PathBuf,
    /// The description to write: TOML, or JSON for a `.json` name. The weights go beside it, with the
    /// same name ending in `.npz`. Default: the model's name with `.toml`, in the current directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The model's name in the description (default: the ONNX file's name without extension).
    #[arg(long)]
    name: Option<String>,
}

/// The examples `bsq import --help` prints.
pub const IMPORT_EXAMPLES: &str = "\
Examples:
  bsq import lenet.onnx                          # writes lenet.toml and lenet.npz here
  bsq import resnet.onnx -o models/net.toml --name resnet8
  bsq train --model models/net.toml --dataset cifar10 --data-dir ../shared/data

Supported ONNX ops: Conv, Gemm, MatMul (+ Add), BatchNormalization (fused into the conv or dense before
it), Relu and Clip(0, 6) (the activation of the layer before), MaxPool, AveragePool, GlobalAveragePool,
Add, Concat (channels), Flatten / Reshape to [N, -1], Dropout, Identity. See docs/import.md.";

/// What `bsq import` wrote.
#[derive(Debug)]
pub struct Imported {
    /// The description file.
    pub description: PathBuf,
    /// The weights file.
    pub weights: PathBuf,
    /// The layer table printed for the user.
    pub table: String,
}

/// Imports `args.model` and writes the description and the weights (each atomically; the weights first,
/// so a description never names a weights file that is not there).
pub fn import(args: &ImportArgs) -> anyhow::Result<Imported> {
    let m = bsq_train::onnx::import_model(&args.model, args.name.as_deref())?;
    let (mut desc, weights, outputs) = (m.description, m.weights, m.outputs);
    let description = match &args.output {
        Some(p) => p.clone(),
        None => PathBuf::from(format!("{}.toml", desc.name)),
    };
    if description.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz")) {
        anyhow::bail!(
            "-o {}: name the description (.toml or .json); its weights are written beside it as .npz",
            description.display()
        );
    }
    let npz = description.with_extension("npz");
    let npz_name = npz.file_name().map(PathBuf::from).context("the output has no file name")?;
    desc.weights = Some(npz_name);
    if let Some(dir) = description.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    bsq_train::weights::save_npz(&npz, &weights, &desc)?;
    desc.save(&description)?;
    let table = layer_table(&desc, outputs, &args.model, &description)?;
    Ok(Imported { description, weights: npz, table })
}

/// One line per layer (name, op, output shape, activation, parameters), then the totals.
fn layer_table(desc: &Description, outputs: usize, onnx: &Path, origin: &Path) -> anyhow::Result<String> {
    let input = desc.input.shape.context("the imported description has no input shape")?;
    let r = desc.resolve(DataShape { input, outputs }, Some(origin))?;
    let mut t = format!(
        "{} → {} (input {}×{}×{} HWC, {outputs} outputs)\n{:<28} {:<16} {:>12}  {:<10} {:>9}\n",
        onnx.display(),
        desc.name,
        input[0],
        input[1],
        input[2],
        "layer",
        "op",
        "output",
        "activation",
        "params"
    );
    for n in &r.nodes {
        let (act, params, bn) = match n.op {
            Op::Conv { in_channels, out_channels, kernel, groups, bias, batch_norm, activation, .. } => {
                let w = out_channels * kernel[0] * kernel[1] * (in_channels / groups.max(1));
                (Some(activation), w + if bias || batch_norm { out_channels } else { 0 }, batch_norm)
            }
            Op::Dense { in_features, out_features, bias, batch_norm, activation, .. } => (
                Some(activation),
                in_features * out_features + if bias || batch_norm { out_features } else { 0 },
                batch_norm,
            ),
            Op::Add { activation } => (Some(activation), 0, false),
            _ => (None, 0, false),
        };
        let act = match act {
            Some(Activation::Pact) => "pact",
            Some(Activation::Relu) => "relu",
            Some(Activation::Relu6) => "relu6",
            Some(Activation::None) => "none",
            None => "",
        };
        let op = if bn { format!("{}+bn", n.op.name()) } else { n.op.name().to_string() };
        let shape = format!("{}×{}×{}", n.shape[0], n.shape[1], n.shape[2]);
        let params = if params > 0 { params.to_string() } else { String::new() };
        t += &format!("{:<28} {:<16} {:>12}  {:<10} {:>9}\n", n.name, op, shape, act, params);
    }
    let (params, macs) = r.counts();
    t += &format!("{params} parameters (batch norm folded, as deployed), {macs} multiply-accumulates per inference\n");
    Ok(t)
}

/// Runs `bsq import` and prints the table and what was written.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let r = import(args).with_context(|| format!("bsq import {}", args.model.display()))?;
    print!("{}", r.table);
    println!("wrote {} (description) and {} (float weights)", r.description.display(), r.weights.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_writes_the_description_and_the_weights_it_names() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx");
        let dir = std::env::temp_dir().join(format!("bsq-cli-import-{}", std::process::id()));
        let out = dir.join("sub/net.toml");
        let args =
            ImportArgs { model: fixtures.join("lenet.onnx"), output: Some(out.clone()), name: Some("le".into()) };
        let r = import(&args).unwrap();
        assert_eq!((r.description.as_path(), r.weights.as_path()), (out.as_path(), dir.join("sub/net.npz").as_path()));
        let d = Description::load(&out).unwrap();
        assert_eq!((d.name.as_str(), d.weights.as_deref()), ("le", Some(Path::new("net.npz"))));
        let w = bsq_train::weights::load_npz(&dir.join("sub").join(d.weights.as_ref().unwrap())).unwrap();
        assert_eq!(w, bsq_train::onnx::import(&args.model, Some("le")).unwrap().1);
        assert!(r.table.contains("conv2") && r.table.contains("conv2d+bn") && r.table.contains("pact"), "{}", r.table);
        // conv1 156, conv2 2400 + 16 (batch norm folded into a bias), fc1 8224, fc2 330.
        assert!(r.table.contains("11126 parameters"), "{}", r.table);
        // Nothing but the two files (no temporary left behind).
        let mut names: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["net.npz", "net.toml"]);
        let bad = ImportArgs { model: args.model.clone(), output: Some(dir.join("x.npz")), name: None };
        assert!(import(&bad).unwrap_err().to_string().contains("name the description"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
