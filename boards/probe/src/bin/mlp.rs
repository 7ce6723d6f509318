//! Probe firmware of the `mlp` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_mlp.rs"));
}

bsq_probe::probe!(model);
