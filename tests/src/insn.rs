//! The instruction-counting QEMU plugin `tests/qemu-plugin/bsqcount.c`: building it, and reading what it
//! prints and writes (`docs/benchmarks.md`).
//!
//! The plugin counts executed instructions exactly between the firmware's `bsq_mark_start` and
//! `bsq_mark_stop` and adds an *estimated* Cortex-M4 cycle count from the Technical Reference Manual's
//! instruction timing table. Per region it prints
//!
//! ```text
//! INSNREGION idx=3 insns=71843 cycles=85380
//! ```
//!
//! (the older shared `insncount` plugin prints the same line without `cycles=`, which parses too), at
//! exit `INSNCOUNT total=.. region=.. regions=.. [cycles=..]`, and with `hist=PATH` a per-PC CSV
//! histogram `pc,count,class,est_cycles,size,encoding`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One marker-to-marker region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Region number, in execution order from 0 (the firmware's `region=` field).
    pub idx: u32,
    /// Executed instructions, exact.
    pub insns: u64,
    /// Estimated Cortex-M4 cycles (`None` from a plugin that does not print them).
    pub cycles: Option<u64>,
}

/// The plugin's exit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Every executed instruction of the run.
    pub total: u64,
    /// Instructions inside the regions.
    pub region: u64,
    /// Number of regions closed.
    pub regions: u64,
    /// Estimated cycles inside the regions (`None` from a plugin that does not print them).
    pub cycles: Option<u64>,
}

/// One row of the per-PC histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistRow {
    /// Instruction address.
    pub pc: u64,
    /// Executions inside the regions.
    pub count: u64,
    /// Timing class (`dp`, `mul`, `ls`, `lsm`, `bcond`, ...; see the plugin's source).
    pub class: String,
    /// Estimated cycles spent on it inside the regions.
    pub cycles: u64,
    /// 2 or 4 bytes.
    pub size: u8,
    /// The encoding as hex halfwords in execution order.
    pub encoding: String,
}

/// `key=value` fields of a line after `prefix`, or `None` when the line does not start with it.
fn fields<'a>(line: &'a str, prefix: &str) -> Option<BTreeMap<&'a str, u64>> {
    let rest = line.trim().strip_prefix(prefix)?;
    let mut out = BTreeMap::new();
    for f in rest.split_whitespace() {
        let (k, v) = f.split_once('=')?;
        out.insert(k, v.parse().ok()?);
    }
    Some(out)
}

/// The regions in `text` (the plugin's output, any other lines ignored), by index. A malformed
/// `INSNREGION` line is ignored; a later line with the same index replaces an earlier one.
pub fn parse_regions(text: &str) -> BTreeMap<u32, Region> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(f) = fields(line, "INSNREGION ") else { continue };
        let (Some(&idx), Some(&insns)) = (f.get("idx"), f.get("insns")) else { continue };
        let Ok(idx) = u32::try_from(idx) else { continue };
        out.insert(idx, Region { idx, insns, cycles: f.get("cycles").copied() });
    }
    out
}

/// The last `INSNCOUNT` line of `text`.
pub fn parse_totals(text: &str) -> Option<Totals> {
    text.lines().filter_map(|l| fields(l, "INSNCOUNT ")).next_back().and_then(|f| {
        Some(Totals {
            total: *f.get("total")?,
            region: *f.get("region")?,
            regions: *f.get("regions")?,
            cycles: f.get("cycles").copied(),
        })
    })
}

/// Parses the histogram CSV written with `hist=PATH` (header line first).
pub fn parse_hist(text: &str) -> Result<Vec<HistRow>, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header != "pc,count,class,est_cycles,size,encoding" {
        return Err(format!("unexpected histogram header {header:?}"));
    }
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let bad = || format!("malformed histogram line {l:?}");
            let c: Vec<&str> = l.split(',').collect();
            let [pc, count, class, cycles, size, encoding] = c[..] else { return Err(bad()) };
            Ok(HistRow {
                pc: u64::from_str_radix(pc.trim_start_matches("0x"), 16).map_err(|_| bad())?,
                count: count.parse().map_err(|_| bad())?,
                class: class.to_string(),
                cycles: cycles.parse().map_err(|_| bad())?,
                size: size.parse().map_err(|_| bad())?,
                encoding: encoding.to_string(),
            })
        })
        .collect()
}

/// `tests/qemu-plugin/bsqcount.c`.
pub fn plugin_source() -> PathBuf {
    crate::repo_root().join("tests/qemu-plugin/bsqcount.c")
}

/// Compiles the C file `src` into `out` with `gcc -O2 -Wall -Wextra` (`shared`: as a `-shared -fPIC`
/// plugin library, otherwise as an executable), warnings included in the error.
pub fn gcc(src: &Path, out: &Path, shared: bool) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut cmd = Command::new("gcc");
    if shared {
        cmd.args(["-shared", "-fPIC"]);
    }
    let o = cmd
        .args(["-O2", "-Wall", "-Wextra", "-o"])
        .arg(out)
        .arg(src)
        .output()
        .map_err(|e| format!("running gcc: {e} (install gcc to build the counting plugin)"))?;
    if !o.status.success() {
        return Err(format!("gcc {}: {}", src.display(), String::from_utf8_lossy(&o.stderr)));
    }
    Ok(())
}

/// Builds the counting plugin into `boards/target/bsqcount/libbsqcount.so` and returns its path.
pub fn build_plugin() -> Result<PathBuf, String> {
    let lib = crate::firmware::boards_dir().join("target/bsqcount/libbsqcount.so");
    gcc(&plugin_source(), &lib, true)?;
    Ok(lib)
}

/// The QEMU arguments that load `plugin` counting from `start` to `stop`, writing the histogram to
/// `hist` when given.
pub fn plugin_args(plugin: &Path, start: u64, stop: u64, hist: Option<&Path>) -> Vec<String> {
    let mut spec = format!("{},start={start:#x},stop={stop:#x}", plugin.display());
    if let Some(h) = hist {
        spec.push_str(&format!(",hist={}", h.display()));
    }
    vec!["-plugin".into(), spec, "-d".into(), "plugin".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_with_and_without_cycles() {
        let text = "BSQ model=a region=0\nINSNREGION idx=0 insns=2340704 cycles=3552197\n\
                    INSNREGION idx=1 insns=71843\n  INSNREGION idx=2 insns=5 cycles=9  \n";
        let r = parse_regions(text);
        assert_eq!(r.len(), 3);
        assert_eq!(r[&0], Region { idx: 0, insns: 2340704, cycles: Some(3552197) });
        assert_eq!(r[&1], Region { idx: 1, insns: 71843, cycles: None });
        assert_eq!(r[&2].cycles, Some(9));
    }

    #[test]
    fn malformed_region_lines_are_ignored() {
        let text = "INSNREGION idx=x insns=1\nINSNREGION idx=1\nINSNREGION idx=2 insns=3 cycles=\n\
                    INSNREGIONidx=3 insns=1\nINSNREGION idx=4294967296 insns=1\nxINSNREGION idx=5 insns=1\n";
        assert!(parse_regions(text).is_empty(), "{:?}", parse_regions(text));
    }

    #[test]
    fn later_region_line_wins() {
        let r = parse_regions("INSNREGION idx=0 insns=1 cycles=2\nINSNREGION idx=0 insns=3 cycles=4\n");
        assert_eq!(r[&0], Region { idx: 0, insns: 3, cycles: Some(4) });
    }

    #[test]
    fn totals() {
        let t = parse_totals("INSNREGION idx=0 insns=1\nINSNCOUNT total=10 region=4 regions=2 cycles=7\n");
        assert_eq!(t, Some(Totals { total: 10, region: 4, regions: 2, cycles: Some(7) }));
        let old = parse_totals("INSNCOUNT total=10 region=4 regions=2\n").expect("totals");
        assert_eq!(old.cycles, None);
        assert_eq!(parse_totals("nothing\n"), None);
    }

    #[test]
    fn histogram() {
        let text = "pc,count,class,est_cycles,size,encoding\n0x00004736,494592,ls,906752,4,f8596b04\n\
                    0x00004778,494592,bcond,1318912,2,d1dd\n";
        let h = parse_hist(text).expect("parses");
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[0],
            HistRow {
                pc: 0x4736,
                count: 494592,
                class: "ls".into(),
                cycles: 906752,
                size: 4,
                encoding: "f8596b04".into()
            }
        );
        assert_eq!(h[1].class, "bcond");
        assert!(parse_hist("pc,count\n").is_err());
        assert!(parse_hist("pc,count,class,est_cycles,size,encoding\n0x1,2,dp\n").is_err());
    }

    #[test]
    fn plugin_arguments() {
        let a = plugin_args(Path::new("/p/lib.so"), 0x30c6, 0x30ac, Some(Path::new("/h.csv")));
        assert_eq!(a, ["-plugin", "/p/lib.so,start=0x30c6,stop=0x30ac,hist=/h.csv", "-d", "plugin"]);
        assert_eq!(plugin_args(Path::new("l"), 1, 2, None)[1], "l,start=0x1,stop=0x2");
    }
}
