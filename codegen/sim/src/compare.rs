//! Host ≡ device comparison, and the canonical text of a model's results (what golden files hold).

use crate::protocol::{LayerSum, ModelReport};
use bsq_board_build::LayerOutput;
use std::fmt::Write as _;

/// The layer checksums of host outputs.
pub fn host_sums(layers: &[LayerOutput]) -> Vec<LayerSum> {
    layers
        .iter()
        .enumerate()
        .map(|(index, l)| LayerSum {
            index,
            name: l.name.clone(),
            len: l.bytes.len(),
            sum: bsq_runtime::checksum(&l.bytes),
        })
        .collect()
}

/// Canonical text of a model's results: the `out=` line (if any) then one line per layer, as the device
/// prints them. Golden files hold exactly this.
pub fn render(model: &str, out: Option<&[u8]>, layers: &[LayerSum]) -> String {
    let mut s = String::new();
    if let Some(out) = out {
        let _ = write!(s, "BSQ model={model} out=");
        for b in out {
            let _ = write!(s, "{b:02x}");
        }
        s.push('\n');
    }
    for l in layers {
        let _ = writeln!(s, "BSQ model={model} layer={} name={} len={} sum={:08x}", l.index, l.name, l.len, l.sum);
    }
    s
}

/// Canonical text of host results: `out` is the network output when the device prints it (`None`: only
/// checksums).
pub fn render_host(model: &str, layers: &[LayerOutput], out: Option<&[u8]>) -> String {
    render(model, out, &host_sums(layers))
}

/// Canonical text of a device report.
pub fn render_device(model: &str, m: &ModelReport) -> String {
    render(model, m.out.as_deref(), &m.layers)
}

/// `"<what> byte <i> differs: device <x>, host <y> (lengths …)"` for the first differing byte.
pub fn first_difference(what: &str, got: &[u8], expected: &[u8]) -> String {
    match got.iter().zip(expected).position(|(a, b)| a != b) {
        Some(i) => format!(
            "{what} byte {i} differs: device {:#04x}, host {:#04x} (lengths {} / {})",
            got[i],
            expected[i],
            got.len(),
            expected.len()
        ),
        None => format!("{what} length differs: device {}, host {}", got.len(), expected.len()),
    }
}

/// Compares a device report with the host's layer outputs and, when the device prints it, the host's network
/// output `out` (the artifact's `output` tensor, which need not be the last layer). The error names the
/// first differing layer (index, name, both lengths and checksums) and, for the output (and for that layer
/// when the device ran in dump mode), the first differing byte index and both values.
pub fn compare(model: &str, host: &[LayerOutput], out: Option<&[u8]>, dev: &ModelReport) -> Result<(), String> {
    let sums = host_sums(host);
    let mut problems = Vec::new();
    for (i, h) in sums.iter().enumerate() {
        match dev.layers.get(i) {
            None => {
                problems.push(format!(
                    "layer {i} `{}`: missing on the device (device printed {} layers)",
                    h.name,
                    dev.layers.len()
                ));
                break;
            }
            Some(d) if d != h => {
                problems.push(format!(
                    "first differing layer: {i} `{}` — device len={} sum={:08x} (name `{}`), host len={} sum={:08x}",
                    h.name, d.len, d.sum, d.name, h.len, h.sum
                ));
                if let Some(got) = dev.layer_bytes.get(&i) {
                    problems.push(first_difference(&format!("layer {i} `{}`", h.name), got, &host[i].bytes));
                }
                break;
            }
            Some(_) => {}
        }
    }
    if dev.layers.len() > sums.len() {
        problems.push(format!("device printed {} layers, host has {}", dev.layers.len(), sums.len()));
    }
    if let Some(expected) = out {
        match dev.out.as_deref() {
            None => problems.push("no `out=` line from the device".into()),
            Some(got) if got != expected => problems.push(first_difference("output", got, expected)),
            Some(_) => {}
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("model {model}: {}", problems.join("; "))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<LayerOutput> {
        vec![
            LayerOutput { name: "a".into(), bytes: vec![1, 2, 3] },
            LayerOutput { name: "b".into(), bytes: vec![4, 5, 6, 7] },
        ]
    }

    fn device(layers: &[LayerOutput]) -> ModelReport {
        ModelReport { out: layers.last().map(|l| l.bytes.clone()), layers: host_sums(layers), ..Default::default() }
    }

    #[test]
    fn identical_results_pass_and_render_identically() {
        let host = layers();
        let dev = device(&host);
        let out = host[1].bytes.clone();
        assert_eq!(compare("m", &host, Some(&out), &dev), Ok(()));
        assert_eq!(render_host("m", &host, Some(&out)), render_device("m", &dev));
    }

    #[test]
    fn a_mismatch_names_the_first_differing_layer_and_byte() {
        let host = layers();
        let mut wrong = layers();
        wrong[1].bytes[2] = 9;
        let err = compare("m", &host, Some(&host[1].bytes), &device(&wrong)).expect_err("differs");
        assert!(err.contains("first differing layer: 1 `b`"), "{err}");
        assert!(err.contains("output byte 2 differs: device 0x09, host 0x06"), "{err}");
    }

    #[test]
    fn dump_mode_names_the_first_differing_byte_of_an_inner_layer() {
        let host = layers();
        let mut wrong = layers();
        wrong[0].bytes[1] = 0;
        let mut dev = device(&wrong);
        dev.layer_bytes.insert(0, wrong[0].bytes.clone());
        let err = compare("m", &host, None, &dev).expect_err("differs");
        assert!(err.contains("layer 0 `a` byte 1 differs: device 0x00, host 0x02"), "{err}");
    }

    /// Regression (issue 15, bug 3): the network output is the artifact's `output` tensor, here the first
    /// layer's, not the last layer's bytes. A device that prints it must pass, one that prints the last
    /// layer's bytes instead must not.
    #[test]
    fn the_output_is_compared_with_the_output_tensor_not_the_last_layer() {
        let host = layers();
        let mut dev = device(&host);
        dev.out = Some(host[0].bytes.clone());
        assert_eq!(compare("m", &host, Some(&host[0].bytes), &dev), Ok(()));
        assert_eq!(render_host("m", &host, Some(&host[0].bytes)), render_device("m", &dev));
        dev.out = Some(host[1].bytes.clone());
        let err = compare("m", &host, Some(&host[0].bytes), &dev).expect_err("differs");
        assert!(err.contains("output byte 0 differs: device 0x04, host 0x01 (lengths 4 / 3)"), "{err}");
    }
}
