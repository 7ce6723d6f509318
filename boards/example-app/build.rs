//! Compiles the model artifact into `$OUT_DIR/model.rs` with bsq-codegen (refusing a model that does not fit
//! the board), embeds the test inputs, and sets up linking (`memory.x`, `-Tlink.x`).
//!
//! * `BSQ_MODEL`: the artifact (absolute, or relative to this directory); default: a codegen fixture.
//! * `BSQ_INPUTS`: raw `u8` inputs, concatenated (a whole number of `INPUT_LEN`-byte images, HWC);
//!   default: 4 deterministic inputs.
use std::path::PathBuf;

/// `(machine, flash origin, flash bytes, RAM origin, RAM bytes)`.
const MACHINES: [(&str, u32, u32, u32, u32); 4] = [
    ("mps2-an386", 0x0000_0000, 4 << 20, 0x2000_0000, 4 << 20),
    ("lm3s6965evb", 0x0000_0000, 256 << 10, 0x2000_0000, 64 << 10),
    ("mps2-an505", 0x1000_0000, 4 << 20, 0x3800_0000, 2 << 20),
    ("microbit", 0x0000_0000, 256 << 10, 0x2000_0000, 16 << 10),
];
/// Flash kept for code and RAM kept for the stack and statics, outside the model's budget.
const CODE_RESERVE: u32 = 48 << 10;
const STACK_RESERVE: u32 = 6 << 10;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let selected: Vec<_> = MACHINES
        .iter()
        .filter(|m| std::env::var_os(format!("CARGO_FEATURE_{}", m.0.to_uppercase().replace('-', "_"))).is_some())
        .collect();
    let &&(machine, fo, fl, ro, rl) = match selected.as_slice() {
        [one] => one,
        _ => return Err("enable exactly one machine feature (mps2-an386, lm3s6965evb, mps2-an505, microbit)".into()),
    };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("memory.x"),
        format!("MEMORY\n{{\n  FLASH : ORIGIN = {fo:#x}, LENGTH = {fl}\n  RAM : ORIGIN = {ro:#x}, LENGTH = {rl}\n}}\n"),
    )?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-env-changed=BSQ_MODEL");
    println!("cargo:rerun-if-env-changed=BSQ_INPUTS");
    std::fs::write(out.join("machine.rs"), format!("pub const MACHINE: &str = {machine:?};\n"))?;

    let model = std::env::var("BSQ_MODEL").unwrap_or_else(|_| "../../codegen/fixtures/convnet.bsq.json".into());
    let generated = bsq_codegen::Builder::new(&model)
        .module_name("model")
        .flash_budget((fl - CODE_RESERVE) as usize)
        .ram_budget((rl - STACK_RESERVE) as usize)
        .generate()
        .map_err(|e| {
            let e = e.to_string();
            if e.contains(model.as_str()) { e } else { format!("BSQ_MODEL={model}: {e}") }
        })?;
    let input_len = generated.model.input_len();
    let inputs = match std::env::var_os("BSQ_INPUTS") {
        Some(p) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&p).display());
            let bytes = std::fs::read(&p).map_err(|e| format!("BSQ_INPUTS={}: {e}", PathBuf::from(&p).display()))?;
            if bytes.is_empty() || bytes.len() % input_len != 0 {
                return Err(format!(
                    "BSQ_INPUTS={}: {} bytes is not a whole number of {input_len}-byte inputs",
                    PathBuf::from(&p).display(),
                    bytes.len()
                )
                .into());
            }
            bytes
        }
        None => bsq_codegen::fixtures::inputs(&generated.model.lowered.name, input_len, 4).concat(),
    };
    std::fs::write(out.join("inputs.bin"), inputs)?;
    Ok(())
}
