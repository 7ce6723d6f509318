//! Chooses the DSP-instruction kernels (`cfg(bsq_dsp)`) for targets with the Arm DSP extension.
//!
//! `cfg(target_feature = "dsp")` is not stable on Arm (nor is `-C target-feature=+dsp`), so the choice is
//! made here: every `thumbv7em` core (Cortex-M4/M7) has the extension; an Armv8-M Mainline core
//! (Cortex-M33/M35P/M55) may or may not, so there the firmware opts in with this crate's `dsp` feature and
//! builds for a CPU that has it (`-C target-cpu=cortex-m33`, which lets the assembler accept the
//! instructions).
//! Everything else (thumbv6m, thumbv7m, thumbv8m.base, the host) uses the portable kernels; the DSP kernels
//! still compile there, with a portable model of each instruction, so the host tests check them.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(bsq_dsp)");
    let target = std::env::var("TARGET").unwrap_or_default();
    let opt_in = std::env::var_os("CARGO_FEATURE_DSP").is_some();
    let arm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "arm");
    if arm && (target.starts_with("thumbv7em") || opt_in) {
        println!("cargo::rustc-cfg=bsq_dsp");
    }
}
