//! Test cases as static data, and the suite runner.
//!
//! A build script (`bsq-board-build`) turns case definitions into `static` [`Case`]s whose packed weights
//! live in flash; [`Case::infer`] interprets them layer by layer with the bsq-runtime kernels, ping-ponging
//! between the two halves of an arena. Generated models (bsq-codegen) implement [`Inference`] too.

use crate::{marker, protocol};
use bsq_runtime::{Conv2dShape, Error, GroupedConv2dShape, OutputStage, PackedWeights, PoolShape};

/// Working memory of one inference: the activation arena and the `i16` scratch of the kernels.
pub struct Workspace<'w> {
    /// Activation bytes.
    pub arena: &'w mut [u8],
    /// Kernel scratch (`bsq_runtime::scratch_len`).
    pub scratch: &'w mut [i16],
}

/// Called after each layer with `(layer index, layer name, output bytes)`.
pub type Observer<'o> = &'o mut dyn FnMut(usize, &str, &[u8]);

/// Brackets the measured part of an inference: an implementation of [`Inference`] calls `start` just
/// before its first layer and `stop` just after its last, so that set-up and copies stay outside.
pub trait Timer {
    /// Entering the measured region.
    fn start(&mut self);
    /// Leaving the measured region.
    fn stop(&mut self);
}

/// A [`Timer`] that measures nothing.
pub struct NoTimer;

impl Timer for NoTimer {
    fn start(&mut self) {}
    fn stop(&mut self) {}
}

/// The runner's timer: the marker functions around the region, cost-counter readings at both ends.
struct RegionTimer {
    region: u32,
    t0: u64,
    t1: u64,
}

impl Timer for RegionTimer {
    #[inline(always)]
    fn start(&mut self) {
        self.t0 = crate::cost::now();
        marker::bsq_mark_start(self.region);
    }
    #[inline(always)]
    fn stop(&mut self) {
        marker::bsq_mark_stop(self.region);
        self.t1 = crate::cost::now();
    }
}

/// Something the suite runner can run, time and observe: a kernel [`Case`] or a generated model.
pub trait Inference {
    /// Name (one name everywhere: fixture, firmware case, golden file).
    fn name(&self) -> &'static str;
    /// Multiply-accumulates per inference.
    fn macs(&self) -> u64;
    /// Whether to print the whole output (`out=`) or only its checksum.
    fn print_out(&self) -> bool;
    /// Runs one inference between `timer.start()` and `timer.stop()`; calls `observe` after every layer
    /// if given. Returns the output bytes.
    fn infer<'w>(
        &self,
        ws: &'w mut Workspace<'_>,
        observe: Option<Observer<'_>>,
        timer: &mut dyn Timer,
    ) -> Result<&'w [u8], Error>;
}

/// One layer operation with its constant data.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// [`bsq_runtime::conv2d`].
    Conv2d {
        /// Shape.
        shape: Conv2dShape,
        /// Packed weights.
        weights: PackedWeights<'static>,
        /// Bias, requantization, clamp.
        stage: OutputStage<'static>,
    },
    /// [`bsq_runtime::grouped_conv2d`].
    GroupedConv2d {
        /// Shape.
        shape: GroupedConv2dShape,
        /// Packed weights.
        weights: PackedWeights<'static>,
        /// Bias, requantization, clamp.
        stage: OutputStage<'static>,
    },
    /// [`bsq_runtime::dense`].
    Dense {
        /// Packed weights (rows = outputs).
        weights: PackedWeights<'static>,
        /// Bias, requantization, clamp.
        stage: OutputStage<'static>,
    },
    /// [`bsq_runtime::max_pool`].
    MaxPool {
        /// Window.
        shape: PoolShape,
        /// Signed input bytes.
        signed: bool,
    },
    /// [`bsq_runtime::avg_pool`].
    AvgPool {
        /// Window.
        shape: PoolShape,
        /// Signed input bytes.
        signed: bool,
    },
}

/// One layer of a [`Case`].
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    /// Layer name.
    pub name: &'static str,
    /// Operation.
    pub op: Op,
    /// Output bytes.
    pub out_len: usize,
}

/// A chain of kernel layers on one embedded input.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Case name.
    pub name: &'static str,
    /// Input bytes (in flash).
    pub input: &'static [u8],
    /// Layers, in order.
    pub layers: &'static [Layer],
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Print the whole output.
    pub print_out: bool,
}

/// Unwraps a `Result` in a `const` initializer (a build-time error if it fails).
pub const fn packed(r: Result<PackedWeights<'static>, Error>) -> PackedWeights<'static> {
    match r {
        Ok(w) => w,
        Err(_) => panic!("invalid packed weights"),
    }
}

fn run_op(op: &Op, input: &[u8], scratch: &mut [i16], output: &mut [u8]) -> Result<(), Error> {
    match op {
        Op::Conv2d { shape, weights, stage } => bsq_runtime::conv2d(shape, input, weights, stage, scratch, output),
        Op::GroupedConv2d { shape, weights, stage } => {
            bsq_runtime::grouped_conv2d(shape, input, weights, stage, scratch, output)
        }
        Op::Dense { weights, stage } => bsq_runtime::dense(input, weights, stage, scratch, output),
        Op::MaxPool { shape, signed } => bsq_runtime::max_pool(shape, *signed, input, output),
        Op::AvgPool { shape, signed } => bsq_runtime::avg_pool(shape, *signed, input, output),
    }
}

impl Inference for Case {
    fn name(&self) -> &'static str {
        self.name
    }
    fn macs(&self) -> u64 {
        self.macs
    }
    fn print_out(&self) -> bool {
        self.print_out
    }
    fn infer<'w>(
        &self,
        ws: &'w mut Workspace<'_>,
        mut observe: Option<Observer<'_>>,
        timer: &mut dyn Timer,
    ) -> Result<&'w [u8], Error> {
        timer.start();
        let result = self.layers_into(ws, &mut observe);
        timer.stop();
        result
    }
}

impl Case {
    fn layers_into<'w>(
        &self,
        ws: &'w mut Workspace<'_>,
        observe: &mut Option<Observer<'_>>,
    ) -> Result<&'w [u8], Error> {
        let half = ws.arena.len() / 2;
        let (a, b) = ws.arena.split_at_mut(half);
        let too_small = |len: usize| Error::Length { what: "arena half", expected: len, got: half };
        let mut prev = 0usize;
        for (i, layer) in self.layers.iter().enumerate() {
            let n = layer.out_len;
            let (src, dst): (&[u8], &mut [u8]) = match (i, i % 2 == 0) {
                (0, _) => (self.input, a.get_mut(..n).ok_or(too_small(n))?),
                (_, true) => (&b[..prev], a.get_mut(..n).ok_or(too_small(n))?),
                (_, false) => (&a[..prev], b.get_mut(..n).ok_or(too_small(n))?),
            };
            run_op(&layer.op, src, ws.scratch, dst)?;
            if let Some(f) = observe.as_mut() {
                f(i, layer.name, dst);
            }
            prev = n;
        }
        let last: &'w [u8] = if self.layers.len() % 2 == 1 { a } else { b };
        Ok(&last[..prev])
    }
}

/// Runs every item and reports it, lists the skipped ones, prints `BSQ done` and exits (0 if no item
/// failed, [`crate::EXIT_FAILURE`] otherwise). See [`run_items`].
pub fn run(
    machine: &crate::Machine,
    firmware: &str,
    items: &[&(dyn Inference + Sync)],
    skipped: &[(&str, &str)],
    ws: &mut Workspace<'_>,
) -> ! {
    let errors = run_items(machine, firmware, items, skipped, ws);
    crate::exit(if errors == 0 { 0 } else { crate::EXIT_FAILURE })
}

/// Runs every item and reports it, lists the skipped ones and prints `BSQ done`; returns the number of
/// items that failed (a real board shows it on an LED before exiting).
///
/// For each item: one **measured** inference between the marker functions ([`marker`]), timed by
/// [`crate::cost`], then its output (`out=` or nothing), then a second, **observed** inference that prints
/// every layer's checksum; the two final outputs must agree.
pub fn run_items(
    machine: &crate::Machine,
    firmware: &str,
    items: &[&(dyn Inference + Sync)],
    skipped: &[(&str, &str)],
    ws: &mut Workspace<'_>,
) -> usize {
    crate::cost::init();
    let dump = protocol::dump_requested();
    protocol::begin(machine.name, firmware, items.len());
    let mut errors = 0;
    for (region, item) in items.iter().enumerate() {
        let name = item.name();
        let region = region as u32;
        let mut timer = RegionTimer { region, t0: 0, t1: 0 };
        let result = item.infer(ws, None, &mut timer);
        let ticks = timer.t1.wrapping_sub(timer.t0);
        let timed = match result {
            Ok(out) => {
                if item.print_out() {
                    protocol::out(name, out);
                }
                (out.len(), bsq_runtime::checksum(out))
            }
            Err(e) => {
                protocol::error(name, &e);
                errors += 1;
                continue;
            }
        };
        protocol::cost(name, region, ticks, item.macs());
        let mut observe = |i: usize, layer: &str, bytes: &[u8]| {
            protocol::layer(name, i, layer, bytes);
            if dump {
                protocol::layer_bytes(name, i, bytes);
            }
        };
        match item.infer(ws, Some(&mut observe), &mut NoTimer) {
            Ok(out) if (out.len(), bsq_runtime::checksum(out)) == timed => {}
            Ok(_) => {
                protocol::error(name, &"observed run differs from measured run");
                errors += 1;
            }
            Err(e) => {
                protocol::error(name, &e);
                errors += 1;
            }
        }
    }
    for (name, reason) in skipped {
        protocol::skip(name, reason);
    }
    protocol::done(items.len(), skipped.len(), errors);
    errors
}
