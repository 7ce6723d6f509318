//! Probe firmware of the `resblock` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_resblock.rs"));
}

bsq_probe::probe!(model);
