//! Link setup (`memory.x`, `-Tlink.x`) and the generated suite: see `bsq_board_build::build_firmware`.
fn main() {
    if let Err(e) = bsq_board_build::build_firmware("qemu-mps2-an505") {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
