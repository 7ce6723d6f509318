//! Generates `model_<name>.rs` for every model of the probe (the codegen fixtures and the demo-shaped
//! LeNet, from `bsq_codegen::fixtures`), and sets up linking (`memory.x`, `-Tlink.x`).
use std::path::PathBuf;

/// The models, one binary each (`src/bin/<name>.rs`).
const MODELS: [&str; 10] =
    ["mlp", "convnet", "resblock", "zerobit", "widths", "dsconv", "zeropoint", "poolpad", "concat", "lenet"];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Large enough for every model; the probe is linked, never run.
    std::fs::write(
        out.join("memory.x"),
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 1M\n  RAM : ORIGIN = 0x20000000, LENGTH = 256K\n}\n",
    )?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=build.rs");
    for name in MODELS {
        let a = bsq_codegen::fixtures::fixture(name).ok_or_else(|| format!("no fixture named {name}"))?;
        let path = out.join(format!("{name}.bsq.json"));
        let json = a.to_json()?;
        if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
            std::fs::write(&path, json)?;
        }
        bsq_codegen::Builder::new(&path)
            .module_name(format!("model_{name}"))
            .out_dir(&out)
            .generate()
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}
