//! Probe firmware of the `zeropoint` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_zeropoint.rs"));
}

bsq_probe::probe!(model);
