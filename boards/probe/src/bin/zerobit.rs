//! Probe firmware of the `zerobit` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_zerobit.rs"));
}

bsq_probe::probe!(model);
