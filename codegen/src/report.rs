//! The memory report: per layer op, shapes, bits, weights, flash and activation bytes, totals, and the
//! ideal lower bounds (`Σ params·(n+1)/8` for weights, the liveness bound for RAM) so overhead is visible.

use std::fmt;

use crate::CodegenError;
use crate::exec::Compiled;
use crate::lower::Kind;

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// Layer name.
    pub name: String,
    /// Op name.
    pub op: &'static str,
    /// Input shape `[H, W, C]`.
    pub input: [usize; 3],
    /// Output shape.
    pub output: [usize; 3],
    /// Weight bits (layers with weights).
    pub bits: Option<u8>,
    /// Weights.
    pub params: usize,
    /// Packed weight bytes.
    pub weight_bytes: usize,
    /// Other constant bytes (biases, multipliers, fills).
    pub other_bytes: usize,
    /// Ideal weight bytes `params·(n+1)/8` (0-bit: 0).
    pub ideal_weight_bytes: f64,
    /// Output activation bytes.
    pub activation_bytes: usize,
    /// Bytes of the arena buffer that holds the input padded with its zero point (a padded convolution on a
    /// zero-pointed input; 0 otherwise), live during this layer only.
    pub pad_bytes: usize,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Model name.
    pub model: String,
    /// The input's zero point (real input `scale · (x − zero_point)`).
    pub input_zero_point: u8,
    /// Rows, in execution order.
    pub layers: Vec<LayerReport>,
    /// Flash bytes of constants (= `FLASH_BYTES` of the generated code).
    pub flash_bytes: usize,
    /// Ideal weight bytes `Σ params·(n+1)/8`.
    pub ideal_weight_bytes: f64,
    /// Arena bytes (= `ARENA_BYTES`).
    pub arena_bytes: usize,
    /// Liveness lower bound on the arena.
    pub arena_lower_bound: usize,
    /// Scratch bytes (`2 · SCRATCH_LEN`).
    pub scratch_bytes: usize,
    /// MACs per inference.
    pub macs: u64,
    /// Average weight bits (magnitude bits, BSQ convention), weighted by params.
    pub average_bits: f64,
}

impl Report {
    /// RAM the model needs: arena + scratch.
    pub fn ram_bytes(&self) -> usize {
        self.arena_bytes + self.scratch_bytes
    }

    /// Checks flash and RAM budgets; the error lists the largest layers and the byte counts.
    pub fn check_budget(&self, flash: Option<usize>, ram: Option<usize>) -> Result<(), CodegenError> {
        let largest = |key: &dyn Fn(&LayerReport) -> usize| {
            let mut v: Vec<&LayerReport> = self.layers.iter().collect();
            v.sort_by_key(|l| std::cmp::Reverse(key(l)));
            v.iter().take(3).map(|l| format!("{} ({} B)", l.name, key(l))).collect::<Vec<_>>().join(", ")
        };
        if let Some(budget) = flash.filter(|&b| self.flash_bytes > b) {
            return Err(CodegenError::Budget {
                model: self.model.clone(),
                memory: "flash",
                need: self.flash_bytes,
                budget,
                over: self.flash_bytes - budget,
                largest: largest(&|l| l.weight_bytes + l.other_bytes),
            });
        }
        if let Some(budget) = ram.filter(|&b| self.ram_bytes() > b) {
            return Err(CodegenError::Budget {
                model: self.model.clone(),
                memory: "RAM",
                need: self.ram_bytes(),
                budget,
                over: self.ram_bytes() - budget,
                largest: largest(&|l| l.activation_bytes + l.pad_bytes),
            });
        }
        Ok(())
    }
}

/// Builds the report of a compiled model.
pub fn report(m: &Compiled) -> Report {
    let l = &m.lowered;
    let layers: Vec<LayerReport> = l
        .ops
        .iter()
        .map(|op| {
            let weight_bytes = match &op.kind {
                Kind::Conv { packed, .. } | Kind::GroupedConv { packed, .. } | Kind::Dense { packed, .. } => {
                    packed.len()
                }
                _ => 0,
            };
            LayerReport {
                name: op.name.clone(),
                op: op.op,
                input: l.tensors[op.inputs[0]].shape,
                output: l.tensors[op.output].shape,
                bits: op.weight_bits,
                params: op.params,
                weight_bytes,
                other_bytes: op.flash_bytes() - weight_bytes,
                ideal_weight_bytes: match op.weight_bits {
                    Some(n) if n > 0 => op.params as f64 * (n as f64 + 1.0) / 8.0,
                    _ => 0.0,
                },
                activation_bytes: l.tensors[op.output].len,
                pad_bytes: op.input_pad().map_or(0, |p| l.tensors[p.buffer].len),
                macs: op.macs,
            }
        })
        .collect();
    let params: usize = layers.iter().filter(|r| r.bits.is_some()).map(|r| r.params).sum();
    let bit_sum: f64 = layers.iter().map(|r| r.params as f64 * r.bits.unwrap_or(0) as f64).sum();
    Report {
        model: l.name.clone(),
        input_zero_point: l.tensors[0].zero_point,
        flash_bytes: layers.iter().map(|r| r.weight_bytes + r.other_bytes).sum(),
        ideal_weight_bytes: layers.iter().map(|r| r.ideal_weight_bytes).sum(),
        arena_bytes: m.plan.arena_bytes,
        arena_lower_bound: m.plan.lower_bound,
        scratch_bytes: m.plan.scratch_len * 2,
        macs: l.macs(),
        average_bits: if params == 0 { 0.0 } else { bit_sum / params as f64 },
        layers,
    }
}

fn shape(s: [usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model `{}`: {} MACs per inference, average weight bits {:.3}",
            self.model, self.macs, self.average_bits
        )?;
        if self.input_zero_point != 0 {
            writeln!(
                f,
                "input zero point {z}: real input = scale·(x − {z}); folded into the biases of the layers reading it",
                z = self.input_zero_point
            )?;
        }
        writeln!(
            f,
            "{:<16} {:<15} {:>10} {:>10} {:>4} {:>8} {:>9} {:>11} {:>8} {:>9}",
            "layer", "op", "in", "out", "bits", "params", "weight B", "ideal W B", "other B", "act B"
        )?;
        for r in &self.layers {
            writeln!(
                f,
                "{:<16} {:<15} {:>10} {:>10} {:>4} {:>8} {:>9} {:>11.1} {:>8} {:>9}",
                r.name,
                r.op,
                shape(r.input),
                shape(r.output),
                r.bits.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                r.params,
                r.weight_bytes,
                r.ideal_weight_bytes,
                r.other_bytes,
                r.activation_bytes
            )?;
        }
        for r in self.layers.iter().filter(|r| r.pad_bytes > 0) {
            writeln!(
                f,
                "{}: input padded with the zero point {} into {} B of the arena (live during this layer)",
                r.name, self.input_zero_point, r.pad_bytes
            )?;
        }
        let weights: usize = self.layers.iter().map(|r| r.weight_bytes).sum();
        writeln!(
            f,
            "flash: {} B of constants ({} B packed weights vs ideal {:.1} B = Σ params·(n+1)/8; {} B biases/multipliers)",
            self.flash_bytes,
            weights,
            self.ideal_weight_bytes,
            self.flash_bytes - weights
        )?;
        write!(
            f,
            "RAM:   {} B arena (liveness lower bound {} B) + {} B scratch = {} B",
            self.arena_bytes,
            self.arena_lower_bound,
            self.scratch_bytes,
            self.ram_bytes()
        )
    }
}
