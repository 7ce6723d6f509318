//! Fast channel concat: contract of [`crate::reference::concat`].

use super::Finish;
use crate::reference::{ConcatInput, check_concat};
use crate::requant::load;
use crate::{Error, OutputStage, Requant};

/// Fast channel concat; contract of [`crate::reference::concat`] (same checks, same bytes). Input by input,
/// the rescaling's constants are loaded once; an input with the [`Requant::IDENTITY`] requantization is only
/// clamped (`load(x) = value`, exactly as the double rounding computes it for `|value| < 2^30`), and only
/// copied when it also has the output's signedness and the clamp is the whole byte range.
pub fn concat(
    inputs: &[ConcatInput<'_>],
    pixels: usize,
    stage: &OutputStage<'_>,
    output: &mut [u8],
) -> Result<(), Error> {
    let total = check_concat(inputs, pixels, stage, output.len())?;
    let full = if stage.signed { (-128, 127) } else { (0, 255) };
    let mut off: usize = 0;
    for (i, x) in inputs.iter().enumerate() {
        let c = x.channels;
        let end = off.saturating_add(c); // ≤ total: checked above
        // `max(1)`: both are ≥ 1 (checked above), said so that no zero-chunk panic path is linked.
        let rows = output.chunks_exact_mut(total.max(1)).zip(x.data.chunks_exact(c.max(1)));
        let rq = stage.requant_for(i);
        if rq == Requant::IDENTITY && x.signed == stage.signed && (stage.min, stage.max) == full {
            for (o, src) in rows {
                if let Some(dst) = o.get_mut(off..end) {
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = s;
                    }
                }
            }
        } else if rq == Requant::IDENTITY {
            let (min, max, signed) = (stage.min, stage.max, x.signed);
            for (o, src) in rows {
                if let Some(dst) = o.get_mut(off..end) {
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = crate::requant::store(load(s, signed).max(min).min(max));
                    }
                }
            }
        } else {
            let f = Finish::new(stage, i);
            let signed = x.signed;
            for (o, src) in rows {
                if let Some(dst) = o.get_mut(off..end) {
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = f.apply(load(s, signed));
                    }
                }
            }
        }
        off = end;
    }
    Ok(())
}
