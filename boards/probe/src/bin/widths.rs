//! Probe firmware of the `widths` model (see the crate documentation).
#![no_std]
#![no_main]

mod model {
    include!(concat!(env!("OUT_DIR"), "/model_widths.rs"));
}

bsq_probe::probe!(model);
