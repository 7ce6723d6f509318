//! Golden files under `tests/golden/`: device output snapshots (`<machine>/<case>.out`) and firmware size
//! snapshots (`sizes/<crate>.size`). They are written only from host results (or the host's ELF
//! measurement), and only when `BSQ_BLESS=1`; otherwise they are compared.
//!
//! Why not insta (which codegen's source snapshots use): each golden here is checked against two sources —
//! the host's result and the device's — and must only ever be rewritten from the host's, never from what a
//! device printed; insta's accept-what-the-test-saw workflow (`cargo insta accept`, `.snap.new` files) would
//! bless a device's output just as easily. The file format is also the device's own line protocol, so a
//! golden can be diffed against a raw QEMU log by hand.

use std::path::PathBuf;

/// `tests/golden`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// True if `BSQ_BLESS=1`: golden files are rewritten instead of compared.
pub fn blessing() -> bool {
    std::env::var("BSQ_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the golden file `rel` (under [`dir`]), or writes it when blessing.
/// The error shows the first differing line and how to re-bless.
pub fn check(rel: &str, actual: &str) -> Result<(), String> {
    let path = dir().join(rel);
    if blessing() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(actual) {
            std::fs::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(());
    }
    let golden = std::fs::read_to_string(&path).map_err(|e| {
        format!("golden file {} unreadable ({e}); create it from host results with BSQ_BLESS=1", path.display())
    })?;
    if golden == actual {
        return Ok(());
    }
    let (g, a): (Vec<&str>, Vec<&str>) = (golden.lines().collect(), actual.lines().collect());
    let i = g.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(g.len().min(a.len()));
    let short = |s: Option<&&str>| s.map_or("<no line>".to_string(), |s| s.chars().take(200).collect());
    Err(format!(
        "{} differs at line {}:\n  golden: {}\n  actual: {}\n(re-bless from host results with BSQ_BLESS=1 if the change is intended)",
        path.display(),
        i + 1,
        short(g.get(i)),
        short(a.get(i))
    ))
}
