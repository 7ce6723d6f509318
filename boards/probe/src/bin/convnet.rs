//! Probe firmware of the `convnet` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_convnet.rs"));
}

bsq_probe::probe!(model);
