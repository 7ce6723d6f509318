//! Parser of the `BSQ` line protocol (firmware side: `bsq_board::protocol`; spec: `docs/boards.md`).

use std::collections::BTreeMap;

/// One layer checksum line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSum {
    /// Layer index.
    pub index: usize,
    /// Layer name.
    pub name: String,
    /// Output bytes.
    pub len: usize,
    /// FNV-1a 32 of the output bytes.
    pub sum: u32,
}

/// What the device reported about one model or case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelReport {
    /// Measured-region index (order of the marker calls).
    pub region: Option<u32>,
    /// Clock of `ticks` (`systick` or `dwt`).
    pub clock: String,
    /// Cost of one inference in clock ticks.
    pub ticks: Option<u64>,
    /// Multiply-accumulates per inference.
    pub macs: Option<u64>,
    /// Output bytes, if printed.
    pub out: Option<Vec<u8>>,
    /// Layer checksums in order.
    pub layers: Vec<LayerSum>,
    /// Whole layer outputs by layer index (dump mode only).
    pub layer_bytes: BTreeMap<usize, Vec<u8>>,
}

/// Everything a run printed, typed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `begin` line: machine.
    pub machine: Option<String>,
    /// `begin` line: firmware kind (`suite`, `bench`, `panic`, …).
    pub firmware: Option<String>,
    /// Models in the order they first appeared.
    pub order: Vec<String>,
    /// Per model.
    pub models: BTreeMap<String, ModelReport>,
    /// `skip` lines: (model, reason).
    pub skipped: Vec<(String, String)>,
    /// `error` lines: (model, message).
    pub errors: Vec<(String, String)>,
    /// `done` line seen.
    pub done: bool,
    /// The `BSQ panic` message (with its continuation lines).
    pub panic: Option<String>,
    /// The `BSQ hardfault` line.
    pub hardfault: Option<String>,
    /// Lines that start with `BSQ ` but could not be parsed.
    pub malformed: Vec<String>,
}

fn fields(rest: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = rest;
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim();
        if k == "reason" || k == "err" {
            out.push((k, v));
            break;
        }
        let (v, tail) = v.split_once(' ').unwrap_or((v, ""));
        out.push((k, v));
        rest = tail;
    }
    out
}

/// Decodes lowercase or uppercase hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Parses a run's stdout.
pub fn parse(stdout: &str) -> Report {
    let mut r = Report::default();
    let mut in_panic = false;
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("BSQ ") else {
            if in_panic && let Some(p) = r.panic.as_mut() {
                p.push('\n');
                p.push_str(line);
            }
            continue;
        };
        in_panic = false;
        if let Some(msg) = rest.strip_prefix("panic ") {
            r.panic = Some(msg.to_string());
            in_panic = true;
            continue;
        }
        if rest.starts_with("hardfault") {
            r.hardfault = Some(rest.to_string());
            continue;
        }
        let (kind, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let f = fields(if kind.contains('=') { rest } else { tail });
        let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let ok = match kind {
            "begin" => {
                r.machine = get("machine").map(String::from);
                r.firmware = get("firmware").map(String::from);
                true
            }
            "done" => {
                r.done = true;
                true
            }
            "skip" => match (get("model"), get("reason")) {
                (Some(m), Some(reason)) => {
                    r.skipped.push((m.into(), reason.into()));
                    true
                }
                _ => false,
            },
            "error" => match (get("model"), get("err")) {
                (Some(m), Some(e)) => {
                    r.errors.push((m.into(), e.into()));
                    true
                }
                _ => false,
            },
            _ => parse_model_line(&mut r, &f),
        };
        if !ok {
            r.malformed.push(line.to_string());
        }
    }
    r
}

fn parse_model_line(r: &mut Report, f: &[(&str, &str)]) -> bool {
    let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let Some(model) = get("model") else { return false };
    if !r.models.contains_key(model) {
        r.order.push(model.to_string());
    }
    let m = r.models.entry(model.to_string()).or_default();
    if let Some(hex) = get("out") {
        match from_hex(hex) {
            Some(b) => m.out = Some(b),
            None => return false,
        }
    } else if let (Some(layer), Some(hex)) = (get("layer"), get("bytes")) {
        match (layer.parse(), from_hex(hex)) {
            (Ok(i), Some(b)) => {
                m.layer_bytes.insert(i, b);
            }
            _ => return false,
        }
    } else if let Some(layer) = get("layer") {
        let parsed = (|| {
            Some(LayerSum {
                index: layer.parse().ok()?,
                name: get("name")?.to_string(),
                len: get("len")?.parse().ok()?,
                sum: u32::from_str_radix(get("sum")?, 16).ok()?,
            })
        })();
        match parsed {
            Some(l) => m.layers.push(l),
            None => return false,
        }
    } else if let Some(region) = get("region") {
        m.region = region.parse().ok();
        m.clock = get("clock").unwrap_or("systick").to_string();
        m.ticks = get("ticks").and_then(|t| t.parse().ok());
        m.macs = get("macs").and_then(|t| t.parse().ok());
        if m.region.is_none() || m.ticks.is_none() {
            return false;
        }
    } else {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_line_kind() {
        let out = "noise\nBSQ begin machine=mps2-an386 firmware=suite format=1 models=2\n\
            BSQ model=a out=00ff10\nBSQ model=a region=0 clock=systick ticks=123 macs=45\n\
            BSQ model=a layer=0 name=conv1 len=3 sum=deadbeef\n\
            BSQ model=a layer=0 bytes=0102ff\n\
            BSQ skip model=big reason=needs 300000 bytes of flash\n\
            BSQ error model=b err=conv input: expected length 4, got 3\n\
            BSQ done models=2 skipped=1 errors=1\n";
        let r = parse(out);
        assert_eq!(r.machine.as_deref(), Some("mps2-an386"));
        assert_eq!(r.firmware.as_deref(), Some("suite"));
        let a = &r.models["a"];
        assert_eq!(a.out.as_deref(), Some(&[0, 255, 16][..]));
        assert_eq!((a.region, a.ticks, a.macs), (Some(0), Some(123), Some(45)));
        assert_eq!(a.layers, vec![LayerSum { index: 0, name: "conv1".into(), len: 3, sum: 0xdead_beef }]);
        assert_eq!(a.layer_bytes.get(&0), Some(&vec![1, 2, 255]));
        assert_eq!(r.skipped, vec![("big".into(), "needs 300000 bytes of flash".into())]);
        assert_eq!(r.errors, vec![("b".into(), "conv input: expected length 4, got 3".into())]);
        assert!(r.done && r.malformed.is_empty());
    }

    #[test]
    fn keeps_panic_message_lines_and_flags_malformed_lines() {
        let r = parse("BSQ panic panicked at src/x.rs:1:2:\nboom\nBSQ model=a out=0\nBSQ done\n");
        assert_eq!(r.panic.as_deref(), Some("panicked at src/x.rs:1:2:\nboom"));
        assert_eq!(r.malformed, vec!["BSQ model=a out=0".to_string()]);
    }
}
