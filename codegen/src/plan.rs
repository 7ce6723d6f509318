//! Static memory plan: every intermediate tensor gets a fixed offset in one arena, from tensor liveness.
//!
//! A tensor is live from the op that writes it to the last op that reads it (the network output: to the
//! end); the padded copy of a zero-pointed input that a padded convolution reads ([`crate::lower::InputPad`])
//! is live during that op only, beside its input and output. Tensors whose live ranges overlap get disjoint byte ranges; placement is greedy, largest tensor
//! first, at the lowest offset that fits. The network input is not in the arena (the caller's slice is
//! read in place, e.g. from flash). The liveness lower bound (the most bytes live at any one op) is
//! reported beside the arena size so the overhead of the placement is visible.

use crate::lower::{Lowered, TensorId};

/// Where every tensor lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Byte range `(start, end)` of each tensor in the arena; `None` for the network input (tensor 0).
    pub ranges: Vec<Option<(usize, usize)>>,
    /// Arena size in bytes.
    pub arena_bytes: usize,
    /// The liveness lower bound on any arena: max over ops of the bytes live at that op.
    pub lower_bound: usize,
    /// `i16` scratch elements.
    pub scratch_len: usize,
}

impl Plan {
    /// The arena range of a tensor, or `None` for the network input.
    pub fn range(&self, t: TensorId) -> Option<(usize, usize)> {
        self.ranges.get(t).copied().flatten()
    }
}

/// Plans the arena of a lowered model.
pub fn plan(m: &Lowered) -> Plan {
    let n = m.tensors.len();
    let last_op = m.ops.len().saturating_sub(1);
    // [first, last] op index during which each tensor is live.
    let mut live: Vec<Option<(usize, usize)>> = vec![None; n];
    for (i, op) in m.ops.iter().enumerate() {
        live[op.output] = Some((i, i));
        // A padded copy of the input (zero-pointed input): written and read within this op.
        if let Some(p) = op.input_pad() {
            live[p.buffer] = Some((i, i));
        }
        for &t in &op.inputs {
            if let Some((_, end)) = live[t].as_mut() {
                *end = (*end).max(i);
            }
        }
    }
    if let Some((_, end)) = live[m.output].as_mut() {
        *end = last_op;
    }
    live[0] = None;
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 <= b.1 && b.0 <= a.1;
    let mut order: Vec<TensorId> = (1..n).filter(|&t| live[t].is_some()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(m.tensors[t].len), t));
    let mut ranges: Vec<Option<(usize, usize)>> = vec![None; n];
    let mut placed: Vec<TensorId> = Vec::new();
    for t in order {
        let lt = live[t].unwrap_or((0, 0));
        let len = m.tensors[t].len;
        let mut busy: Vec<(usize, usize)> =
            placed.iter().filter(|&&p| overlaps(live[p].unwrap_or((0, 0)), lt)).filter_map(|&p| ranges[p]).collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (s, e) in busy {
            if offset + len <= s {
                break;
            }
            offset = offset.max(e);
        }
        ranges[t] = Some((offset, offset + len));
        placed.push(t);
    }
    let arena_bytes = ranges.iter().flatten().map(|r| r.1).max().unwrap_or(0);
    let lower_bound = (0..m.ops.len())
        .map(|i| (1..n).filter(|&t| live[t].is_some_and(|l| l.0 <= i && i <= l.1)).map(|t| m.tensors[t].len).sum())
        .max()
        .unwrap_or(0);
    Plan { ranges, arena_bytes, lower_bound, scratch_len: m.scratch_len() }
}
