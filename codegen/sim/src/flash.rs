//! `bsq flash`: build a real board's firmware (`boards/<board>` of a bsq checkout) with a model artifact
//! and run it through `probe-rs run` (the firmware crate's cargo runner), which flashes it and forwards its
//! output and exit code. Needs a probe, the board, and `probe-rs` (`cargo install probe-rs-tools`).

use std::path::Path;

use crate::{Error, REAL_BOARDS, bsq_root};

/// Builds and runs `boards/<board>` with `artifact` (see the module documentation). `root`: the bsq
/// checkout ([`bsq_root`]).
pub fn flash(artifact: &Path, board: &str, root: Option<&Path>) -> Result<(), Error> {
    let Some(b) = REAL_BOARDS.iter().find(|b| b.krate == board) else {
        let names: Vec<&str> = REAL_BOARDS.iter().map(|b| b.krate).collect();
        return Err(Error::Build(format!("unknown board `{board}`; known boards: {}", names.join(", "))));
    };
    let chip = b.probe_chip.unwrap_or("?");
    let dir = bsq_root(root)?.join("boards").join(b.krate);
    if !dir.is_dir() {
        return Err(Error::Build(format!("{} does not exist in this checkout", dir.display())));
    }
    let model = std::fs::canonicalize(artifact).map_err(|e| Error::Io(format!("{}: {e}", artifact.display())))?;
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["run", "--release"])
        .env("BSQ_MODEL", &model)
        .status()
        .map_err(|e| Error::Build(format!("running cargo in {}: {e}", dir.display())))?;
    if !status.success() {
        return Err(Error::Build(format!(
            "`cargo run --release` in {} failed ({status}); it needs `probe-rs` on PATH (cargo install \
             probe-rs-tools) and a {board} connected (chip {chip})",
            dir.display()
        )));
    }
    Ok(())
}
