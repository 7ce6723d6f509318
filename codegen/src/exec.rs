//! The host executor: runs a lowered model with bsq-runtime's kernels and the same memory plan as the
//! generated code, without generating code. Its bytes are the reference that every device must match
//! (golden outputs, the trainer's integer evaluation, `bsq eval`).

use bsq_runtime::arena::{fill_channels, split_in_out, split_in2_out};
use bsq_runtime::{AddInput, ConcatInput, PackedWeights};

use crate::CodegenError;
use crate::artifact::Artifact;
use crate::lower::{Kind, Lowered, Op, lower};
use crate::plan::{Plan, plan};
use crate::validate::validate;

/// A validated, lowered and planned model: what both the executor and the emitter work from.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The integer operations.
    pub lowered: Lowered,
    /// The memory plan.
    pub plan: Plan,
}

/// Validates, lowers and plans an artifact.
pub fn compile(artifact: &Artifact) -> Result<Compiled, CodegenError> {
    let tensors = validate(artifact)?;
    let lowered = lower(artifact, &tensors)?;
    let plan = plan(&lowered);
    Ok(Compiled { lowered, plan })
}

impl Compiled {
    /// Bytes of the network input.
    pub fn input_len(&self) -> usize {
        self.lowered.tensors[0].len
    }
    /// Bytes of the network output.
    pub fn output_len(&self) -> usize {
        self.lowered.tensors[self.lowered.output].len
    }
    /// Whether output bytes are signed.
    pub fn output_signed(&self) -> bool {
        self.lowered.tensors[self.lowered.output].quant.signed
    }
}

/// Runs a compiled model on the host.
#[derive(Debug, Clone)]
pub struct Executor {
    model: Compiled,
    arena: Vec<u8>,
    scratch: Vec<i16>,
}

impl Executor {
    /// Compiles an artifact and allocates its arena.
    pub fn new(artifact: &Artifact) -> Result<Self, CodegenError> {
        Ok(Self::from_compiled(compile(artifact)?))
    }

    /// An executor for an already compiled model.
    pub fn from_compiled(model: Compiled) -> Self {
        let arena = vec![0; model.plan.arena_bytes];
        let scratch = vec![0; model.plan.scratch_len];
        Self { model, arena, scratch }
    }

    /// The compiled model.
    pub fn model(&self) -> &Compiled {
        &self.model
    }

    /// Runs one inference; returns the output bytes.
    pub fn run(&mut self, input: &[u8]) -> Result<&[u8], CodegenError> {
        self.run_observed(input, &mut |_, _, _| {})
    }

    /// Index of the largest output (first on ties), as the device's argmax.
    pub fn predict(&mut self, input: &[u8]) -> Result<usize, CodegenError> {
        let signed = self.model.output_signed();
        let out = self.run(input)?;
        bsq_runtime::argmax(out, signed).map_err(|source| CodegenError::Kernel { layer: "argmax".into(), source })
    }

    /// Top-1 accuracy (percent) over `(input, label)` pairs.
    pub fn accuracy<'a>(&mut self, samples: impl IntoIterator<Item = (&'a [u8], usize)>) -> Result<f64, CodegenError> {
        let (mut right, mut total) = (0usize, 0usize);
        for (x, y) in samples {
            right += usize::from(self.predict(x)? == y);
            total += 1;
        }
        Ok(if total == 0 { 0.0 } else { 100.0 * right as f64 / total as f64 })
    }

    /// Runs one inference, calling `observe(op_index, layer_name, output_bytes)` after every operation
    /// (per-layer checksums are computed from these bytes).
    pub fn run_observed(
        &mut self,
        input: &[u8],
        observe: &mut dyn FnMut(usize, &str, &[u8]),
    ) -> Result<&[u8], CodegenError> {
        let expected = self.model.input_len();
        if input.len() != expected {
            return Err(CodegenError::InputLength { expected, got: input.len() });
        }
        for (i, op) in self.model.lowered.ops.iter().enumerate() {
            run_op(op, &self.model.plan, input, &mut self.arena, &mut self.scratch)
                .map_err(|source| CodegenError::Kernel { layer: op.name.clone(), source })?;
            let (s, e) = self.model.plan.range(op.output).unwrap_or((0, 0));
            observe(i, &op.name, &self.arena[s..e]);
        }
        let (s, e) = self.model.plan.range(self.model.lowered.output).unwrap_or((0, 0));
        Ok(&self.arena[s..e])
    }
}

/// A kernel call on one input and the output.
type KernelFn<'k> = dyn FnMut(&[u8], &mut [u8]) -> Result<(), bsq_runtime::Error> + 'k;

fn run_op(op: &Op, plan: &Plan, input: &[u8], arena: &mut [u8], scratch: &mut [i16]) -> Result<(), bsq_runtime::Error> {
    let out = plan.range(op.output).unwrap_or((0, 0));
    // Borrow the first input and the output: the network input comes from the caller's slice.
    let with_io = |arena: &mut [u8], f: &mut KernelFn<'_>| match plan.range(op.inputs[0]) {
        None => f(input, &mut arena[out.0..out.1]),
        Some(r) => {
            let (x, y) = split_in_out(arena, r, out)?;
            f(x, y)
        }
    };
    // A padded convolution on a zero-pointed input: the input padded with its zero point into the buffer,
    // which the convolution then reads (without padding).
    let padded = match op.input_pad() {
        None => None,
        Some(p) => {
            let buf = plan.range(p.buffer).unwrap_or((0, 0));
            match plan.range(op.inputs[0]) {
                None => bsq_runtime::pad(&p.shape, p.value, input, &mut arena[buf.0..buf.1])?,
                Some(r) => {
                    let (x, y) = split_in_out(arena, r, buf)?;
                    bsq_runtime::pad(&p.shape, p.value, x, y)?;
                }
            }
            Some(buf)
        }
    };
    let with_conv_io = |arena: &mut [u8], f: &mut KernelFn<'_>| match padded {
        None => with_io(arena, f),
        Some(buf) => {
            let (x, y) = split_in_out(arena, buf, out)?;
            f(x, y)
        }
    };
    match &op.kind {
        Kind::Conv { shape, bits, packed, stage, .. } => {
            let w = PackedWeights::new(*bits, shape.out_c, shape.row_len(), packed)?;
            let st = stage.as_runtime();
            with_conv_io(arena, &mut |x, y| bsq_runtime::conv2d(shape, x, &w, &st, scratch, y))
        }
        Kind::GroupedConv { shape, bits, packed, stage, .. } => {
            let w = PackedWeights::new(*bits, shape.out_c, shape.row_len(), packed)?;
            let st = stage.as_runtime();
            with_conv_io(arena, &mut |x, y| bsq_runtime::grouped_conv2d(shape, x, &w, &st, scratch, y))
        }
        Kind::Dense { in_len, out_len, bits, packed, stage } => {
            let w = PackedWeights::new(*bits, *out_len, *in_len, packed)?;
            let st = stage.as_runtime();
            with_io(arena, &mut |x, y| bsq_runtime::dense(x, &w, &st, scratch, y))
        }
        Kind::Fill { values } => fill_channels(values, &mut arena[out.0..out.1]),
        Kind::MaxPool { shape, signed } => {
            let signed = *signed;
            with_io(arena, &mut |x, y| bsq_runtime::max_pool(shape, signed, x, y))
        }
        Kind::AvgPool { shape, signed } => {
            let signed = *signed;
            with_io(arena, &mut |x, y| bsq_runtime::avg_pool(shape, signed, x, y))
        }
        Kind::Add { ra, rb, a_signed, b_signed, stage } => {
            let ra_range = plan.range(op.inputs[0]);
            let rb_range = plan.range(op.inputs[1]);
            let st = stage.as_runtime();
            let (sa, sb) = (*a_signed, *b_signed);
            match (ra_range, rb_range) {
                (Some(a), Some(b)) => {
                    let (xa, xb, y) = split_in2_out(arena, a, b, out)?;
                    bsq_runtime::add(
                        AddInput { data: xa, signed: sa, requant: *ra },
                        AddInput { data: xb, signed: sb, requant: *rb },
                        &st,
                        y,
                    )
                }
                (None, Some(b)) => {
                    let (xb, y) = split_in_out(arena, b, out)?;
                    bsq_runtime::add(
                        AddInput { data: input, signed: sa, requant: *ra },
                        AddInput { data: xb, signed: sb, requant: *rb },
                        &st,
                        y,
                    )
                }
                (Some(a), None) => {
                    let (xa, y) = split_in_out(arena, a, out)?;
                    bsq_runtime::add(
                        AddInput { data: xa, signed: sa, requant: *ra },
                        AddInput { data: input, signed: sb, requant: *rb },
                        &st,
                        y,
                    )
                }
                (None, None) => bsq_runtime::add(
                    AddInput { data: input, signed: sa, requant: *ra },
                    AddInput { data: input, signed: sb, requant: *rb },
                    &st,
                    &mut arena[out.0..out.1],
                ),
            }
        }
        Kind::Concat { pixels, parts, stage } => {
            // Split the arena around the output: every input in the arena lies before or after it.
            let (before, rest) = arena.split_at_mut(out.0);
            let (y, after) = rest.split_at_mut(out.1 - out.0);
            let (before, after): (&[u8], &[u8]) = (before, after);
            let mut inputs = Vec::with_capacity(parts.len());
            for (&t, &(channels, signed)) in op.inputs.iter().zip(parts) {
                let data = match plan.range(t) {
                    None => input,
                    Some(r) if r.1 <= out.0 => &before[r.0..r.1],
                    Some(r) if r.0 >= out.1 => &after[r.0 - out.1..r.1 - out.1],
                    Some(_) => return Err(bsq_runtime::Error::Shape { what: "arena ranges overlap" }),
                };
                inputs.push(ConcatInput { data, channels, signed });
            }
            bsq_runtime::concat(&inputs, *pixels, &stage.as_runtime(), y)
        }
    }
}
