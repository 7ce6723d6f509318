//! Probe firmware of the `dsconv` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_dsconv.rs"));
}

bsq_probe::probe!(model);
