//! Probe firmware of the `concat` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_concat.rs"));
}

bsq_probe::probe!(model);
