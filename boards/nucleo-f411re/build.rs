//! Link setup (`memory.x`, `-Tlink.x`, `-Tdefmt.x`) and the generated suite: see
//! `bsq_board_build::build_firmware`.
fn main() {
    if let Err(e) = bsq_board_build::build_firmware("nucleo-f411re") {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
