//! Compiles the model artifact into `$OUT_DIR/model.rs` with bsq-codegen, refusing a model that does not fit
//! the chip in `memory.x` (minus what the firmware itself needs), embeds one input, and sets up linking.
//!
//! * `BSQ_MODEL`: the artifact (absolute, or relative to this directory); default: a codegen fixture.
//! * `BSQ_INPUT`: a raw input of exactly `model::INPUT_LEN` bytes (HWC `u8`); default: a deterministic pattern.
use std::path::PathBuf;

/// Flash kept for the firmware's own code (runtime kernels, defmt, panic-probe, your application), outside
/// the model's budget.
const CODE_RESERVE: usize = 64 << 10;
/// RAM kept for the stack, the defmt-rtt buffer and your application's statics, outside the model's budget.
const RAM_RESERVE: usize = 16 << 10;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);

    // Linking: cortex-m-rt's link.x includes memory.x from the linker search path; defmt.x places the log
    // strings. --nmagic: no page alignment of sections (needed when memory.x's origins are not 64 KiB-aligned).
    let memory_x = std::fs::read_to_string(dir.join("memory.x")).map_err(|e| format!("memory.x: {e}"))?;
    std::fs::write(out.join("memory.x"), &memory_x)?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=BSQ_MODEL");
    println!("cargo:rerun-if-env-changed=BSQ_INPUT");

    // The model, with budgets from memory.x: a model that does not fit fails the build, naming its largest layers.
    let flash = region_length(&memory_x, "FLASH")?;
    let ram = region_length(&memory_x, "RAM")?;
    let model = std::env::var("BSQ_MODEL").unwrap_or_else(|_| "../../codegen/fixtures/convnet.bsq.json".into());
    let generated = bsq_codegen::Builder::new(&model)
        .module_name("model")
        .flash_budget(flash.saturating_sub(CODE_RESERVE))
        .ram_budget(ram.saturating_sub(RAM_RESERVE))
        .generate()
        .map_err(|e| {
            let e = e.to_string();
            if e.contains(model.as_str()) { e } else { format!("BSQ_MODEL={model}: {e}") }
        })?;

    // The input the firmware classifies.
    let len = generated.model.input_len();
    let input = match std::env::var_os("BSQ_INPUT") {
        Some(p) => {
            let p = PathBuf::from(p);
            println!("cargo:rerun-if-changed={}", p.display());
            let bytes = std::fs::read(&p).map_err(|e| format!("BSQ_INPUT={}: {e}", p.display()))?;
            if bytes.len() != len {
                return Err(format!("BSQ_INPUT={}: {} bytes, the model takes {len}", p.display(), bytes.len()).into());
            }
            bytes
        }
        None => pattern(len),
    };
    std::fs::write(out.join("input.bin"), input)?;
    Ok(())
}

/// `LENGTH` of the `region` line of a linker `MEMORY` block (`512K`, `1M`, `0x20000`, `131072`).
fn region_length(memory_x: &str, region: &str) -> Result<usize, String> {
    let text = strip_comments(memory_x);
    let line = text
        .lines()
        .find(|l| {
            l.trim_start()
                .strip_prefix(region)
                .is_some_and(|r| r.starts_with(|c: char| c == ':' || c == '(' || c.is_whitespace()))
        })
        .ok_or_else(|| format!("memory.x: no `{region}` region"))?;
    let value = line
        .split_once("LENGTH")
        .and_then(|(_, v)| v.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_end_matches([',', ';']).trim())
        .ok_or_else(|| format!("memory.x: no LENGTH in `{}`", line.trim()))?;
    let (digits, scale) = match value.as_bytes().last() {
        Some(b'K' | b'k') => (&value[..value.len() - 1], 1 << 10),
        Some(b'M' | b'm') => (&value[..value.len() - 1], 1 << 20),
        _ => (value, 1),
    };
    let n = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => digits.parse(),
    }
    .map_err(|_| format!("memory.x: cannot read LENGTH `{value}` of {region}"))?;
    Ok(n * scale)
}

/// The text without `/* … */` and `//` comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i + 2..].split_once("*/").map_or("", |(_, r)| r);
    }
    out.push_str(rest);
    out.lines().map(|l| l.split_once("//").map_or(l, |(a, _)| a)).collect::<Vec<_>>().join("\n")
}

/// A deterministic stand-in input: a smooth diagonal gradient plus a little noise (so convolutions see
/// structure). Replace it with a real sample through `BSQ_INPUT`.
fn pattern(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let base = (i * 5 + i / 17 * 3) % 200;
            (base + (state % 56) as usize) as u8
        })
        .collect()
}
