//! Probe firmware of the `lenet` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_lenet.rs"));
}

bsq_probe::probe!(model);
