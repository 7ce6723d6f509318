//! Case definitions (host side) and their reference execution with the same bsq-runtime kernels the
//! firmware runs.

use bsq_runtime::{Conv2dShape, Error, GroupedConv2dShape, OutputStage, PackedWeights, PoolShape, Requant};

/// Integer data of a convolution or dense layer.
#[derive(Debug, Clone)]
pub struct Params {
    /// Weight bit width `n` (`0..=8`).
    pub bits: u8,
    /// Output channels (rows).
    pub rows: usize,
    /// Weights per row.
    pub row_len: usize,
    /// Integer weights, row-major, each in `[-(2^n-1), 2^n-1]`.
    pub weights: Vec<i32>,
    /// Per-channel bias.
    pub bias: Vec<i32>,
    /// Per-channel requantization.
    pub requant: Vec<Requant>,
    /// Output bits.
    pub out_bits: u8,
    /// Signed output bytes.
    pub signed: bool,
}

impl Params {
    /// The weights packed by [`bsq_runtime::pack::pack`].
    pub fn packed(&self) -> Result<Vec<u8>, Error> {
        let len = bsq_runtime::pack::packed_len(self.bits, self.rows, self.row_len)
            .ok_or(Error::Shape { what: "packed size overflows" })?;
        let mut out = vec![0u8; len];
        bsq_runtime::pack::pack(self.bits, self.row_len, &self.weights, &mut out)?;
        Ok(out)
    }

    /// The output stage.
    pub fn stage(&self) -> OutputStage<'_> {
        OutputStage::for_bits(&self.bias, &self.requant, self.out_bits, self.signed)
    }
}

/// One layer operation.
#[derive(Debug, Clone)]
pub enum OpDef {
    /// 2-D convolution.
    Conv2d(Conv2dShape, Params),
    /// Grouped (depthwise) 2-D convolution.
    GroupedConv2d(GroupedConv2dShape, Params),
    /// Fully connected.
    Dense(Params),
    /// Max pooling.
    MaxPool(PoolShape, bool),
    /// Average pooling.
    AvgPool(PoolShape, bool),
}

/// A named layer.
#[derive(Debug, Clone)]
pub struct LayerDef {
    /// Name (no spaces).
    pub name: String,
    /// Operation.
    pub op: OpDef,
}

impl LayerDef {
    /// Output bytes.
    pub fn out_len(&self) -> Result<usize, Error> {
        Ok(match &self.op {
            OpDef::Conv2d(s, _) => s.lens()?.1,
            OpDef::GroupedConv2d(s, _) => s.lens()?.1,
            OpDef::Dense(p) => p.rows,
            OpDef::MaxPool(s, _) | OpDef::AvgPool(s, _) => s.lens()?.1,
        })
    }

    /// Multiply-accumulates.
    pub fn macs(&self) -> Result<u64, Error> {
        Ok(match &self.op {
            OpDef::Conv2d(s, _) => (s.lens()?.1 * s.row_len()) as u64,
            OpDef::GroupedConv2d(s, _) => (s.lens()?.1 * s.row_len()) as u64,
            OpDef::Dense(p) => (p.rows * p.row_len) as u64,
            _ => 0,
        })
    }

    /// Weights per row (for the kernel scratch), 0 for pooling.
    pub fn row_len(&self) -> usize {
        match &self.op {
            OpDef::Conv2d(_, p) | OpDef::GroupedConv2d(_, p) | OpDef::Dense(p) => p.row_len,
            _ => 0,
        }
    }

    /// Kernel scratch (`i16` elements) of the layer, as generated code sizes it: [`bsq_runtime::conv_scratch_len`]
    /// (the gathered and pointwise paths where they apply), [`bsq_runtime::grouped_scratch_len`],
    /// [`bsq_runtime::scratch_len`] for dense layers, 0 for pooling.
    pub fn scratch(&self) -> usize {
        match &self.op {
            OpDef::Conv2d(s, _) => bsq_runtime::conv_scratch_len(s),
            OpDef::GroupedConv2d(s, _) => bsq_runtime::grouped_scratch_len(s),
            OpDef::Dense(p) => bsq_runtime::scratch_len(p.row_len),
            _ => 0,
        }
    }

    /// Flash bytes of the layer's constants: packed weights, bias, requantization.
    pub fn flash_bytes(&self) -> Result<usize, Error> {
        Ok(match &self.op {
            OpDef::Conv2d(_, p) | OpDef::GroupedConv2d(_, p) | OpDef::Dense(p) => {
                p.packed()?.len() + 4 * p.bias.len() + 8 * p.requant.len()
            }
            _ => 0,
        })
    }
}

/// A chain of layers on one input: a firmware test or benchmark case.
#[derive(Debug, Clone)]
pub struct CaseDef {
    /// Name (one name everywhere: firmware case, golden file).
    pub name: String,
    /// Input bytes.
    pub input: Vec<u8>,
    /// Layers in order.
    pub layers: Vec<LayerDef>,
    /// Print the whole output on the device (else only checksums).
    pub print_out: bool,
}

/// One layer's output on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOutput {
    /// Layer name.
    pub name: String,
    /// Output bytes.
    pub bytes: Vec<u8>,
}

impl CaseDef {
    /// Multiply-accumulates per inference.
    pub fn macs(&self) -> Result<u64, Error> {
        self.layers.iter().map(LayerDef::macs).sum()
    }

    /// Largest layer output (bytes).
    pub fn max_out(&self) -> Result<usize, Error> {
        self.layers.iter().map(LayerDef::out_len).try_fold(0, |m, l| Ok(m.max(l?)))
    }

    /// Arena bytes the firmware interpreter needs (two halves of [`CaseDef::max_out`]).
    pub fn arena_bytes(&self) -> Result<usize, Error> {
        Ok(2 * self.max_out()?)
    }

    /// Kernel scratch elements (`i16`).
    pub fn scratch_len(&self) -> usize {
        self.layers.iter().map(LayerDef::scratch).max().unwrap_or(0)
    }

    /// Flash bytes of the case's data (input + layer constants).
    pub fn flash_bytes(&self) -> Result<usize, Error> {
        self.layers.iter().map(LayerDef::flash_bytes).try_fold(self.input.len(), |s, l| Ok(s + l?))
    }

    /// RAM bytes: arena + scratch.
    pub fn ram_bytes(&self) -> Result<usize, Error> {
        Ok(self.arena_bytes()? + 2 * self.scratch_len())
    }

    /// Runs the case on the host with the bsq-runtime kernels the firmware uses; every layer's output.
    pub fn run_host(&self) -> Result<Vec<LayerOutput>, Error> {
        let mut scratch = vec![0i16; self.scratch_len()];
        let mut outs: Vec<LayerOutput> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let input = outs.last().map_or(&self.input[..], |o| &o.bytes[..]);
            let mut out = vec![0u8; layer.out_len()?];
            match &layer.op {
                OpDef::Conv2d(shape, p) => {
                    let packed = p.packed()?;
                    let w = PackedWeights::new(p.bits, p.rows, p.row_len, &packed)?;
                    bsq_runtime::conv2d(shape, input, &w, &p.stage(), &mut scratch, &mut out)?;
                }
                OpDef::GroupedConv2d(shape, p) => {
                    let packed = p.packed()?;
                    let w = PackedWeights::new(p.bits, p.rows, p.row_len, &packed)?;
                    bsq_runtime::grouped_conv2d(shape, input, &w, &p.stage(), &mut scratch, &mut out)?;
                }
                OpDef::Dense(p) => {
                    let packed = p.packed()?;
                    let w = PackedWeights::new(p.bits, p.rows, p.row_len, &packed)?;
                    bsq_runtime::dense(input, &w, &p.stage(), &mut scratch, &mut out)?;
                }
                OpDef::MaxPool(shape, signed) => bsq_runtime::max_pool(shape, *signed, input, &mut out)?,
                OpDef::AvgPool(shape, signed) => bsq_runtime::avg_pool(shape, *signed, input, &mut out)?,
            }
            outs.push(LayerOutput { name: layer.name.clone(), bytes: out });
        }
        Ok(outs)
    }
}
