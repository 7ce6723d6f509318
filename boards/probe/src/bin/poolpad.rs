//! Probe firmware of the `poolpad` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_poolpad.rs"));
}

bsq_probe::probe!(model);
