//! The `BSQ` line protocol (host parser: `bsq-tests`, `tests/src/protocol.rs`; spec: `docs/boards.md`).
//!
//! Every machine-read line starts with `BSQ ` and is a list of `key=value` fields; `reason=` and `err=`
//! take the rest of the line. Other lines are ignored by the host.
//!
//! ```text
//! BSQ begin machine=mps2-an386 firmware=suite format=1 models=3
//! BSQ model=selftest-convnet region=0 clock=systick ticks=5311 macs=23184
//! BSQ model=selftest-convnet out=0a1b…
//! BSQ model=selftest-convnet layer=0 name=conv1 len=1152 sum=8c2f01aa
//! BSQ model=selftest-convnet layer=0 bytes=00ff…                     (dump mode only)
//! BSQ skip model=big reason=needs 300000 bytes of flash, budget 262144
//! BSQ error model=x err=conv input: expected length 4, got 3
//! BSQ done models=3 skipped=1 errors=0
//! ```

use crate::log::Line;
use core::fmt::Write as _;

/// Version of this protocol (the `format=` field of the `begin` line).
pub const FORMAT: u32 = 1;

/// `BSQ begin machine=<m> firmware=<f> format=1 models=<n>`.
pub fn begin(machine: &str, firmware: &str, models: usize) {
    crate::line!("BSQ begin machine={} firmware={} format={} models={}", machine, firmware, FORMAT, models);
}

/// `BSQ model=<m> region=<k> clock=<systick|dwt> ticks=<t> macs=<n>`: cost of one measured inference.
pub fn cost(model: &str, region: u32, ticks: u64, macs: u64) {
    crate::line!("BSQ model={} region={} clock={} ticks={} macs={}", model, region, crate::cost::CLOCK, ticks, macs);
}

/// `BSQ model=<m> out=<hex>`: the output bytes.
pub fn out(model: &str, bytes: &[u8]) {
    let mut l = Line::new();
    let _ = write!(l, "BSQ model={} out=", model);
    l.push_hex(bytes);
    l.end();
}

/// `BSQ model=<m> layer=<i> name=<n> len=<l> sum=<fnv1a-32 hex>`: one layer's output checksum.
pub fn layer(model: &str, index: usize, name: &str, bytes: &[u8]) {
    crate::line!(
        "BSQ model={} layer={} name={} len={} sum={:08x}",
        model,
        index,
        name,
        bytes.len(),
        bsq_runtime::checksum(bytes)
    );
}

/// `BSQ model=<m> layer=<i> bytes=<hex>`: one layer's whole output (dump mode only, see [`dump_requested`]).
pub fn layer_bytes(model: &str, index: usize, bytes: &[u8]) {
    let mut l = Line::new();
    let _ = write!(l, "BSQ model={} layer={} bytes=", model, index);
    l.push_hex(bytes);
    l.end();
}

/// Whether the host asked for **dump mode**: every layer's whole output, not only its checksum (used to
/// find the first differing byte of a layer after a checksum mismatch). Requested with the semihosting
/// argument `dump` (QEMU: `-semihosting-config enable=on,target=native,arg=<elf>,arg=dump`).
pub fn dump_requested() -> bool {
    #[cfg(feature = "semihosting")]
    {
        if let Ok(args) = semihosting::experimental::env::args::<128>() {
            return (&args).into_iter().any(|a| a == Ok("dump"));
        }
    }
    false
}

/// `BSQ skip model=<m> reason=<text>`: a model left out of this firmware.
pub fn skip(model: &str, reason: &str) {
    crate::line!("BSQ skip model={} reason={}", model, reason);
}

/// `BSQ error model=<m> err=<text>`.
pub fn error(model: &str, err: &dyn core::fmt::Display) {
    crate::line!("BSQ error model={} err={}", model, err);
}

/// `BSQ done models=<n> skipped=<n> errors=<n>`: the run completed.
pub fn done(models: usize, skipped: usize, errors: usize) {
    crate::line!("BSQ done models={} skipped={} errors={}", models, skipped, errors);
}
