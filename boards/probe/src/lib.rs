//! # bsq-probe
//!
//! Firmware whose only code path is one generated model's `predict` (on a constant input in flash), built
//! for every thumb target by the test `tests/tests/inference_path.rs`, which then reads the linked ELF:
//!
//! * **no panic path**: the firmware's panic handler is linked only when some code can panic. The test
//!   fails if any panic machinery (`core::panicking::*`, bounds-check and slice-index failures,
//!   `unwrap`/`expect` failures, the handler `rust_begin_unwind`) is in the ELF;
//! * **inference code size**: `.text` of the firmware (`predict`, the kernels it reaches and the
//!   cortex-m-rt start-up code; the model's constants are in `.rodata`), against a snapshot.
#![no_std]

/// The firmware of the generated model module `$model`: `main` runs `$model::predict` once on a zeroed
/// input, keeps the result alive, and idles; the panic handler idles.
#[macro_export]
macro_rules! probe {
    ($model:ident) => {
        #[cortex_m_rt::entry]
        fn main() -> ! {
            static mut ARENA: $model::Arena = $model::Arena::new();
            static INPUT: [u8; $model::INPUT_LEN] = [0; $model::INPUT_LEN];
            // `black_box`: the input is not known to be zero, the result is used.
            let input: &[u8] = core::hint::black_box(&INPUT);
            let result = $model::predict(ARENA, input);
            core::hint::black_box(&result);
            loop {
                core::hint::black_box(());
            }
        }

        /// Linked only if some code can panic (which the test refuses).
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
            loop {
                core::hint::black_box(());
            }
        }
    };
}
