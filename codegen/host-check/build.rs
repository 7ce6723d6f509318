//! Generates every fixture model into `$OUT_DIR` exactly as a firmware's build script would.
fn main() {
    for name in ["mlp", "convnet", "resblock", "zerobit", "widths", "dsconv", "zeropoint", "poolpad", "concat"] {
        // Relative paths resolve against CARGO_MANIFEST_DIR, not the current directory.
        if let Err(e) = bsq_codegen::Builder::new(format!("../fixtures/{name}.bsq.json")).module_name(name).generate() {
            panic!("generating model `{name}`: {e}");
        }
    }
}
