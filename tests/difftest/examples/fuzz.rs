//! A fuzzing command for the artifact loader and the code generator: feeds mutated `*.bsq.json` documents
//! to everything in bsq-codegen that reads an artifact or a compiled model, and reports panics (the goal is
//! 0) and broken contracts.
//!
//! ```text
//! cargo run --release -p bsq-difftest --example fuzz -- --iterations 1000000 [--seed S] [--threads 2]
//! cargo run --release -p bsq-difftest --example fuzz -- --replay target/fuzz-panics/N.bsq.json
//! ```
//!
//! # Why a stable driver
//!
//! `cargo fuzz` (libFuzzer) needs a nightly toolchain for its sanitizer and coverage instrumentation; this
//! workspace pins stable Rust 1.95.0 and no nightly is installed, so this is a plain, deterministic driver.
//! It is not coverage guided; instead its mutations know the artifact format (docs/artifact.md), so most
//! mutated documents still parse and reach validation, lowering, emission and execution.
//!
//! # What one iteration does
//!
//! Iteration `i` is a pure function of `--seed` and `i` (a ChaCha8 stream per iteration), whatever the
//! thread count:
//!
//! 1. a seed document: for even `i` a random valid artifact ([`bsq_difftest::generate::artifact`]), for
//!    odd `i` one of the fixtures `codegen/fixtures/*.bsq.json`, in turn;
//! 2. 1 to 4 mutations, 85 % of them structure-aware on the JSON value (extreme numbers: 0, −1, 2^31,
//!    2^63, 1e39, 1e-45, −0.0, and tokens no `f64` holds such as `1e400`; kernel, stride, padding,
//!    channel, feature, shape and bit fields; scales; array lengths that no longer match; layers swapped,
//!    deleted, duplicated or spliced from another document; inputs rewired to dangling names, `"input"`,
//!    later layers or themselves; duplicate and odd names; ops changed; fields dropped or added; values
//!    of the wrong type; the output pointed at the input's `flatten`; labels, format and version), the
//!    rest byte-level on the text (bit flips, inserted, deleted or duplicated bytes and slices,
//!    truncation, splicing with another document);
//! 3. the result goes through `Artifact::from_json`; if it loads: `to_json` → `from_json` must succeed and
//!    give an equal artifact (the scheme table filled in) and `to_json` again the same text; then
//!    `compile`, `report` (and its `Display` and budget check), `emit`, and `Executor::run` on 1–2
//!    inputs of the right length (the first one twice: same bytes) and once on a wrong length (must be
//!    refused).
//!
//! Guards keep a mutated size from taking minutes or all memory: execution is skipped (loading and
//! compiling are not) when a model has more than 2·10^6 MACs or needs more than 16 MiB of arena and
//! scratch; emission is skipped when its constants exceed 16 MiB. An artifact's weights are written out
//! in its text, so round-tripping is bounded by the input size.
//!
//! # What counts as a failure
//!
//! - a panic anywhere in the above: saved as `target/fuzz-panics/<i>.bsq.json`, with `<i>.txt` beside it
//!   (stage, message, location, mutations);
//! - a broken contract: the round trip fails or changes the artifact, `compile` fails with an error other
//!   than a lowering refusal, a compiled model's run fails or is not deterministic, or a wrong input length
//!   is accepted: saved likewise under `target/fuzz-failures/`.
//!
//! Refusals (JSON errors, validation errors, lowering refusals) are the expected outcome for most mutated
//! documents and are only counted. Files are saved for the first 20 cases of each distinct failure
//! (same stage and panic location, or same message up to numbers). An iteration slower than 1 s is saved
//! under `target/fuzz-slow/`, and so is one still running after 10 s (reported while it runs, so a hang
//! can be reproduced). When the process's resident memory exceeds `--max-rss-mib` (8192), the inputs of
//! the running iterations are saved under `target/fuzz-oom/` and the command stops with status 3, rather
//! than be killed by the system without a trace. The exit status is 1 when there was a panic or a broken
//! contract. Saved files are named by iteration only: a run with another `--seed` overwrites them.
//!
//! # Reproducing a case
//!
//! `--replay FILE` runs the same stages on one file without `catch_unwind`, so a panic prints its message
//! and, with `RUST_BACKTRACE=1`, its backtrace. Outside this command, loading the file with
//! `bsq_codegen::Artifact::load` (then `bsq_codegen::compile`, `Executor::run`) does the same, and so does
//! bsq-codegen's command line (`bsq-codegen run FILE`; it may sit behind a `cli` feature). `--dump N`
//! prints the document of iteration `N` (for a hard crash, an abort or a stack overflow, that leaves no
//! file; `--trace` prints each iteration's index before it runs to find it).
//!
//! # Overflow checks
//!
//! Release builds do not check integer overflow, debug and test builds do. To fuzz with the checks on
//! (an overflow then panics and is reported like any other panic), build with them in a separate target
//! directory, which leaves the shared release build alone:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!     cargo run --release -p bsq-difftest --example fuzz --target-dir target/fuzz-build -- --iterations 1000000
//! ```
//!
//! A case found that way is replayed the same way. The summary says whether the checks were on.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bsq_codegen::lower::Op;
use bsq_codegen::{Artifact, ArtifactError, CodegenError, Executor};
use bsq_difftest::generate::{self, GenOptions};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

/// The origin name given to the loader.
const ORIGIN: &str = "fuzz.bsq.json";
/// Most multiply-accumulates of a model that is executed.
const MAX_RUN_MACS: u64 = 2_000_000;
/// Most bytes of arena, scratch and inputs of a model that is executed.
const MAX_RUN_BYTES: usize = 16 << 20;
/// Most bytes of constants (weights, biases, requantizations, fills) of a model that is emitted.
const MAX_EMIT_BYTES: usize = 16 << 20;
/// Most operations of a model that is emitted.
const MAX_EMIT_OPS: usize = 10_000;
/// An iteration slower than this is recorded.
const SLOW: Duration = Duration::from_secs(1);
/// An iteration still running after this is reported (and saved) while it runs.
const HANG: Duration = Duration::from_secs(10);
/// Inputs saved per distinct failure.
const MAX_SAVED: usize = 20;
/// Iterations between progress lines.
const PROGRESS_EVERY: u64 = 100_000;

/// The environment that turns overflow checks on in a release build (as in the test profile).
const OVERFLOW_ENV: &str = "CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true ";

/// Command-line options.
#[derive(Debug, Clone)]
struct Options {
    iterations: u64,
    start: u64,
    seed: u64,
    threads: u64,
    trace: bool,
    max_rss_mib: u64,
    replay: Option<PathBuf>,
    dump: Option<u64>,
}

const USAGE: &str = "usage: fuzz [--iterations N (10000)] [--start I (0)] [--seed S (0)] [--threads T (2)]
                 [--max-rss-mib M (8192)] [--trace]
       fuzz --replay FILE        run one file without catching panics
       fuzz --dump I [--seed S]  print the document of iteration I";

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        iterations: 10_000,
        start: 0,
        seed: 0,
        threads: 2,
        trace: false,
        max_rss_mib: 8192,
        replay: None,
        dump: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let mut number = || -> Result<u64, String> { value()?.parse().map_err(|e| format!("{a}: {e}")) };
        match a.as_str() {
            "--iterations" => o.iterations = number()?,
            "--start" => o.start = number()?,
            "--seed" => o.seed = number()?,
            "--threads" => o.threads = number()?.max(1),
            "--max-rss-mib" => o.max_rss_mib = number()?,
            "--dump" => o.dump = Some(number()?),
            "--replay" => o.replay = Some(PathBuf::from(value()?)),
            "--trace" => o.trace = true,
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &opts.replay {
        return replay(path);
    }
    let corpus = match Corpus::load(&workspace().join("codegen/fixtures")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(i) = opts.dump {
        let case = Case::new(opts.seed, i, &corpus);
        eprintln!("iteration {i} (seed {}): {}", opts.seed, case.log.join("; "));
        println!("{}", case.text);
        return ExitCode::SUCCESS;
    }
    fuzz(&opts, &corpus)
}

/// The workspace root (this crate is `tests/difftest`).
fn workspace() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

// ---------------------------------------------------------------------------------------------------------
// The seed documents and the mutations.
// ---------------------------------------------------------------------------------------------------------

/// The seed documents: the fixtures, and random valid artifacts made on demand.
struct Corpus {
    fixtures: Vec<(String, Value)>,
    gen_opts: GenOptions,
}

impl Corpus {
    /// Reads every `*.bsq.json` of `dir`, in name order.
    fn load(dir: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".bsq.json"))
            .collect();
        paths.sort();
        let fixtures = paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
                let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if fixtures.is_empty() {
            return Err(format!("no *.bsq.json fixtures in {}", dir.display()));
        }
        Ok(Corpus { fixtures, gen_opts: GenOptions::default() })
    }

    /// Seed document `k`: a generated artifact for even `k`, a fixture for odd `k`; its description; and
    /// how many generator seeds panicked before it.
    ///
    /// The generator's own arithmetic can overflow (then panic) in builds with overflow checks; such a
    /// seed is skipped for the next one and counted, as a bug of the generator and not of bsq.
    fn doc(&self, seed: u64, k: u64) -> (Value, String, u32) {
        if k.is_multiple_of(2) {
            let mut g = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k / 2);
            let mut skipped = 0;
            loop {
                match panic::catch_unwind(|| generate::artifact(g, &self.gen_opts)) {
                    Ok(doc) => return (doc, format!("generated artifact {g}"), skipped),
                    Err(_) => {
                        PANIC_AT.with(|p| p.borrow_mut().take());
                        skipped += 1;
                        g = g.wrapping_add(1 << 32);
                    }
                }
            }
        } else {
            let (name, value) = &self.fixtures[(k / 2 % self.fixtures.len() as u64) as usize];
            (value.clone(), format!("fixture {name}"), 0)
        }
    }
}

/// The mutated document of one iteration.
struct Case {
    text: String,
    /// The seed document, then one line per mutation.
    log: Vec<String>,
    /// Mutations applied, and how many were structure-aware.
    mutations: u32,
    structural: u32,
    /// Generator seeds skipped because the generator panicked (see [`Corpus::doc`]).
    generator_panics: u32,
}

impl Case {
    /// The document of iteration `i` (a pure function of `seed` and `i`).
    fn new(seed: u64, i: u64, corpus: &Corpus) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(i);
        let (mut doc, origin, generator_panics) = corpus.doc(seed, i);
        let mut m = Mutator { rng, corpus, seed, raw: Vec::new(), generator_panics };
        // 1 to 4 mutations, fewer more often (45, 30, 15, 10 %), so that more documents stay loadable.
        let mutations = match m.rng.random_range(0..100u32) {
            0..45 => 1,
            45..75 => 2,
            75..90 => 3,
            _ => 4,
        };
        let structural = (0..mutations).filter(|_| m.rng.random_bool(0.85)).count() as u32;
        let mut log = vec![origin];
        for _ in 0..structural {
            log.push(m.structural(&mut doc));
        }
        let mut text = if m.rng.random_bool(0.3) { format!("{doc:#}") } else { doc.to_string() };
        for (k, token) in m.raw.iter().enumerate() {
            text = text.replace(&Value::String(placeholder(k)).to_string(), token);
        }
        let mut bytes = text.into_bytes();
        for _ in structural..mutations {
            log.push(m.bytes(&mut bytes));
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Case { text, log, mutations, structural, generator_panics: m.generator_panics }
    }
}

/// A string that stands for raw token `k` in the JSON value; replaced by the token in the text.
fn placeholder(k: usize) -> String {
    format!("\u{1}raw{k}\u{1}")
}

/// Sizes for shape, channel, kernel, stride, padding and bit fields.
const SIZES: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    9,
    15,
    16,
    17,
    31,
    32,
    33,
    64,
    127,
    128,
    255,
    256,
    1000,
    4096,
    65_535,
    65_536,
    1 << 20,
    1 << 23,
    (1 << 23) + 1,
    1 << 24,
    (1 << 31) - 1,
    1 << 31,
    1 << 32,
    (1 << 32) + 1,
    1 << 40,
    1 << 62,
    1 << 63,
    u64::MAX,
];

/// Negative integers.
const NEGATIVE: &[i64] = &[-1, -2, -255, -256, -(1 << 31), -(1 << 31) - 1, i64::MIN];

/// Floats for scales, BatchNorm parameters, biases and channel scales.
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e39,
    -1e39,
    3.402_823_5e38,
    3.402_823_6e38,
    1e38,
    1e30,
    1e-30,
    1.175_494_4e-38,
    1e-38,
    1e-45,
    -1e-45,
    1e-46,
    1.4e-45,
    2_147_483_648.0,
    9.223_372_036_854_776e18,
    1e300,
    f64::MAX,
    f64::MIN_POSITIVE,
];

/// Number tokens no `f64`/`u64`/`i64` of serde_json holds exactly, or of unusual syntax.
const RAW_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "1.0",
    "-0",
    "1E2",
    "0.000000000000000000000000000000000000000000000001",
    "123456789012345678901234567890",
];

/// Odd layer names (identifiers of generated code, escaping, collisions).
const NAMES: &[&str] = &[
    "input", "", " ", "fn", "self", "Self", "r#type", "0start", "a-b", "a_b", "A B", "ÄÖÜ", "名前", "a\"b", "a\\b",
    "\u{0}", "\n", "__", "_", "mod", "static", "INPUT", "x::y", "/*", "*/", "{}", "#[x]", "conv0", "fc0",
];

/// The ops of the format, and some that are not.
const OPS: &[&str] =
    &["conv2d", "dense", "max_pool", "avg_pool", "global_avg_pool", "flatten", "add", "relu", "", "Conv2d", "conv2d "];

/// A structure-aware mutation: `None` if it does not apply to the document.
type Mutation<'a> = fn(&mut Mutator<'a>, &mut Value) -> Option<String>;

/// Applies mutations; owns the iteration's random stream.
struct Mutator<'a> {
    rng: ChaCha8Rng,
    corpus: &'a Corpus,
    seed: u64,
    /// Raw tokens, see [`placeholder`].
    raw: Vec<String>,
    /// See [`Case::generator_panics`].
    generator_panics: u32,
}

impl<'a> Mutator<'a> {
    /// Structure-aware mutations with their weights.
    const STRUCTURAL: [(u32, Mutation<'a>); 18] = [
        (14, Self::extreme_number),
        (6, Self::nudge_number),
        (16, Self::shape_field),
        (8, Self::scale_field),
        (10, Self::array_length),
        (4, Self::fill_array),
        (8, Self::layer_order),
        (10, Self::rewire),
        (5, Self::rename),
        (6, Self::change_op),
        (6, Self::output),
        (6, Self::drop_field),
        (6, Self::add_field),
        (4, Self::change_type),
        (3, Self::labels),
        (3, Self::header),
        (6, Self::splice_layer),
        (5, Self::weight_range),
    ];

    /// One weighted structure-aware mutation (an extreme number if the chosen one does not apply).
    fn structural(&mut self, doc: &mut Value) -> String {
        let total: u32 = Self::STRUCTURAL.iter().map(|(w, _)| w).sum();
        let mut pick = self.rng.random_range(0..total);
        let mutation = Self::STRUCTURAL
            .iter()
            .find(|(w, _)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or(Self::extreme_number as Mutation<'a>, |(_, m)| *m);
        mutation(self, doc)
            .or_else(|| self.extreme_number(doc))
            .or_else(|| self.change_type(doc))
            .unwrap_or_else(|| "no mutation applies".into())
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("a non-empty list")
    }

    /// A raw token as a value (its placeholder) and its text.
    fn raw_token(&mut self, token: &str) -> (Value, String) {
        self.raw.push(token.to_string());
        (Value::String(placeholder(self.raw.len() - 1)), token.to_string())
    }

    /// An extreme number of any kind.
    fn extreme(&mut self) -> (Value, String) {
        let v = match self.rng.random_range(0..10u32) {
            0..=3 => json!(self.pick(SIZES)),
            4 => json!(self.pick(NEGATIVE)),
            5..=8 => json!(self.pick(FLOATS)),
            _ => {
                let token = self.pick(RAW_NUMBERS);
                return self.raw_token(token);
            }
        };
        let s = v.to_string();
        (v, s)
    }

    /// A size: small, near `current`, or from [`SIZES`].
    fn size(&mut self, current: Option<&Value>) -> Value {
        let cur = current.and_then(Value::as_u64);
        match (self.rng.random_range(0..10u32), cur) {
            (0..=4, _) => json!(self.rng.random_range(0..=9u64)),
            (5..=7, Some(c)) => match self.rng.random_range(0..4u32) {
                0 => json!(c.saturating_add(1)),
                1 => json!(c.saturating_sub(1)),
                2 => json!(c.saturating_mul(2)),
                _ => json!(c / 2),
            },
            (8, _) => json!(self.pick(NEGATIVE)),
            _ => json!(self.pick(SIZES)),
        }
    }

    /// A random JSON Pointer of `doc` whose node satisfies `pred`.
    fn node(&mut self, doc: &Value, pred: fn(&Value) -> bool) -> Option<String> {
        let mut all = Vec::new();
        nodes(doc, String::new(), &mut self.rng, &mut all);
        let cands: Vec<String> = all.into_iter().filter(|p| doc.pointer(p).is_some_and(pred)).collect();
        cands.choose(&mut self.rng).cloned()
    }

    /// A random layer's index, if there are layers.
    fn layer(&mut self, doc: &Value) -> Option<usize> {
        let n = doc.get("layers")?.as_array()?.len();
        (n > 0).then(|| self.rng.random_range(0..n))
    }

    /// Any number → an extreme (0, −1, 2^31, 2^63, 1e39, 1e-45, −0.0, `1e400`, …).
    fn extreme_number(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, Value::is_number)?;
        let (v, s) = self.extreme();
        *doc.pointer_mut(&p)? = v;
        Some(format!("{p} = {s}"))
    }

    /// Any number → a neighbour (±1, ×2, ÷2, negated).
    fn nudge_number(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, Value::is_number)?;
        let node = doc.pointer_mut(&p)?;
        let v = match (node.as_i64(), node.as_u64(), node.as_f64()) {
            (Some(i), _, _) => {
                let i = i128::from(i);
                let n = [i + 1, i - 1, i * 2, i / 2, -i][self.rng.random_range(0..5)];
                i64::try_from(n).map(Value::from).or_else(|_| u64::try_from(n).map(Value::from)).ok()?
            }
            (None, Some(u), _) => json!([u.wrapping_add(1), u - 1, u / 2][self.rng.random_range(0..3)]),
            (_, _, Some(f)) => json!([f * 2.0, f / 2.0, -f, f + 1.0, f * 1e10][self.rng.random_range(0..5)]),
            _ => return None,
        };
        let s = format!("{p}: {node} → {v}");
        *node = v;
        Some(s)
    }

    /// A kernel, stride, padding, channel, feature, shape or bit field of a layer (or the input shape).
    fn shape_field(&mut self, doc: &mut Value) -> Option<String> {
        const KEYS: &[&str] =
            &["kernel", "stride", "padding", "in_channels", "out_channels", "in_features", "out_features"];
        let mut cands = Vec::new();
        if self.rng.random_bool(0.15) {
            if self.rng.random_bool(0.4) {
                // The input zero point: in range, at its ends, past them, of the wrong type, null.
                const ZERO_POINTS: [&str; 9] = ["0", "1", "128", "255", "256", "-1", "null", "1.5", "65536"];
                let v: Value = serde_json::from_str(self.pick(&ZERO_POINTS)).ok()?;
                let s = format!("/input/zero_point → {v}");
                doc.get_mut("input")?.as_object_mut()?.insert("zero_point".into(), v);
                return Some(s);
            }
            cands.extend((0..3).map(|k| format!("/input/shape/{k}")));
        } else {
            let i = self.layer(doc)?;
            let layer = &doc["layers"][i];
            for key in KEYS {
                match layer.get(*key) {
                    Some(Value::Array(a)) => cands.extend((0..a.len()).map(|k| format!("/layers/{i}/{key}/{k}"))),
                    Some(_) => cands.push(format!("/layers/{i}/{key}")),
                    None => {}
                }
            }
            for key in ["weight/bits", "out/bits"] {
                if layer.pointer(&format!("/{key}")).is_some() {
                    cands.push(format!("/layers/{i}/{key}"));
                }
            }
        }
        let p = cands.choose(&mut self.rng)?.clone();
        let v = self.size(doc.pointer(&p));
        let node = doc.pointer_mut(&p)?;
        let s = format!("{p}: {node} → {v}");
        *node = v;
        Some(s)
    }

    /// A scale, ε, γ, β, mean, variance, bias or channel scale → an extreme float.
    fn scale_field(&mut self, doc: &mut Value) -> Option<String> {
        let mut cands = vec!["/input/scale".to_string()];
        if let Some(i) = self.layer(doc) {
            let layer = &doc["layers"][i];
            for key in ["out/scale", "weight/scale", "bn/eps"] {
                if layer.pointer(&format!("/{key}")).is_some() {
                    cands.push(format!("/layers/{i}/{key}"));
                }
            }
            for key in ["bias", "channel_scale", "bn/gamma", "bn/beta", "bn/mean", "bn/var"] {
                if let Some(Value::Array(a)) = layer.pointer(&format!("/{key}"))
                    && !a.is_empty()
                {
                    cands.push(format!("/layers/{i}/{key}/{}", self.rng.random_range(0..a.len())));
                }
            }
        }
        let p = cands.choose(&mut self.rng)?.clone();
        let (v, s) = if self.rng.random_bool(0.1) {
            let token = self.pick(&RAW_NUMBERS[..3]);
            self.raw_token(token)
        } else {
            let f = self.pick(FLOATS);
            (json!(f), format!("{f:?}"))
        };
        *doc.pointer_mut(&p)? = v;
        Some(format!("{p} = {s}"))
    }

    /// An array gets shorter or longer (up to 2^16 more elements, fewer when the elements are large: at most
    /// 2^17 new JSON nodes), or empty.
    fn array_length(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, Value::is_array)?;
        let kind = self.rng.random_range(0..7u32);
        let log2 = self.rng.random_range(0..=16);
        let extra = self.rng.random_range(1..=1usize << log2);
        let at = self.rng.random::<u64>() as usize;
        let a = doc.pointer_mut(&p)?.as_array_mut()?;
        let before = a.len();
        match kind {
            0 => {
                a.pop();
            }
            1 => a.clear(),
            2 => a.truncate(before / 2),
            3 => a.extend_from_within(..),
            4 => {
                let fill = a.first().cloned().unwrap_or(json!(0));
                let extra = extra.min((1 << 17) / node_count(&fill));
                a.extend(std::iter::repeat_n(fill, extra.max(1)));
            }
            5 if !a.is_empty() => {
                let e = a[at % a.len()].clone();
                a.insert(at % (a.len() + 1), e);
            }
            _ => a.push(a.last().cloned().unwrap_or(json!(1))),
        }
        Some(format!("{p}: length {before} → {}", a.len()))
    }

    /// Every element of an array → one extreme value.
    fn fill_array(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, |v| v.as_array().is_some_and(|a| a.first().is_some_and(Value::is_number)))?;
        let (v, s) = self.extreme();
        for e in doc.pointer_mut(&p)?.as_array_mut()? {
            *e = v.clone();
        }
        Some(format!("{p}[..] = {s}"))
    }

    /// Layers swapped, deleted, duplicated, moved, reversed or all removed.
    fn layer_order(&mut self, doc: &mut Value) -> Option<String> {
        let kind = self.rng.random_range(0..6u32);
        let (x, y) = (self.rng.random::<u64>() as usize, self.rng.random::<u64>() as usize);
        let layers = doc.get_mut("layers")?.as_array_mut()?;
        let n = layers.len();
        if n == 0 {
            return None;
        }
        let (i, j) = (x % n, y % n);
        Some(match kind {
            0 => {
                layers.swap(i, j);
                format!("layers {i} and {j} swapped")
            }
            1 => {
                layers.remove(i);
                format!("layer {i} deleted")
            }
            2 => {
                let l = layers[i].clone();
                layers.insert(j, l);
                format!("layer {i} duplicated at {j}")
            }
            3 => {
                let l = layers.remove(i);
                layers.insert(j.min(n - 1), l);
                format!("layer {i} moved to {j}")
            }
            4 => {
                layers.reverse();
                "layers reversed".into()
            }
            _ => {
                layers.clear();
                "all layers deleted".into()
            }
        })
    }

    /// A layer input (or one of an `add`'s) → `"input"`, another layer (maybe later), itself, a dangling
    /// name, `""` or the output; or an `add` with 1, 3 or twice the same input.
    fn rewire(&mut self, doc: &mut Value) -> Option<String> {
        let i = self.layer(doc)?;
        let names = layer_names(doc);
        let output = doc.get("output").cloned().unwrap_or(Value::Null);
        let own = doc["layers"][i].get("name").cloned().unwrap_or(Value::Null);
        let target = match self.rng.random_range(0..8u32) {
            0 => json!("input"),
            1 | 2 => json!(names.choose(&mut self.rng).cloned().unwrap_or_default()),
            3 => own,
            4 => json!("ghost"),
            5 => json!(""),
            6 => output,
            _ => json!(null),
        };
        let layer = layer_mut(doc, i)?;
        if let Some(Value::Array(inputs)) = layer.get_mut("inputs") {
            match self.rng.random_range(0..5u32) {
                0 => {
                    inputs.truncate(1);
                    return Some(format!("layers[{i}].inputs: 1 input"));
                }
                1 => {
                    inputs.push(target);
                    return Some(format!("layers[{i}].inputs: 3 inputs"));
                }
                2 if !inputs.is_empty() => {
                    let first = inputs[0].clone();
                    inputs.iter_mut().for_each(|x| *x = first.clone());
                    return Some(format!("layers[{i}].inputs: twice {first}"));
                }
                _ if !inputs.is_empty() => {
                    let k = self.rng.random_range(0..inputs.len());
                    let s = format!("layers[{i}].inputs[{k}]: {} → {target}", inputs[k]);
                    inputs[k] = target;
                    return Some(s);
                }
                _ => {}
            }
        }
        let s = format!("layers[{i}].input: {} → {target}", layer.get("input").unwrap_or(&Value::Null));
        layer.insert("input".into(), target);
        Some(s)
    }

    /// A layer name → `"input"`, a duplicate, or an odd string; half the time its readers and the output
    /// follow (a valid model with an odd name).
    fn rename(&mut self, doc: &mut Value) -> Option<String> {
        let i = self.layer(doc)?;
        let names = layer_names(doc);
        let new = match self.rng.random_range(0..4u32) {
            0 => names.choose(&mut self.rng).cloned().unwrap_or_default(),
            1 => "x".repeat(self.rng.random_range(100..=1000)),
            _ => self.pick(NAMES).to_string(),
        };
        let old = doc["layers"][i].get("name").and_then(Value::as_str).unwrap_or("").to_string();
        layer_mut(doc, i)?.insert("name".into(), json!(new));
        let follow = self.rng.random_bool(0.5);
        if follow {
            for layer in doc.get_mut("layers")?.as_array_mut()?.iter_mut().skip(i + 1).filter_map(Value::as_object_mut)
            {
                if layer.get("input").and_then(Value::as_str) == Some(&old) {
                    layer.insert("input".into(), json!(new));
                }
                if let Some(Value::Array(inputs)) = layer.get_mut("inputs") {
                    inputs.iter_mut().filter(|x| x.as_str() == Some(&old)).for_each(|x| *x = json!(new));
                }
            }
            if let Some(out) = doc.get_mut("output").filter(|o| o.as_str() == Some(&old)) {
                *out = json!(new);
            }
        }
        Some(format!("layers[{i}].name: {old:?} → {new:?}{}", if follow { " (references follow)" } else { "" }))
    }

    /// A layer's `op` → another (fields kept), or the layer → a new layer of another op reading the same
    /// input with plausible fields.
    fn change_op(&mut self, doc: &mut Value) -> Option<String> {
        let i = self.layer(doc)?;
        let op = self.pick(OPS);
        if self.rng.random_bool(0.5) {
            let old = layer_mut(doc, i)?.insert("op".into(), json!(op)).unwrap_or_default();
            return Some(format!("layers[{i}].op: {old} → {op:?}"));
        }
        let layer = &doc["layers"][i];
        let name = layer.get("name").cloned().unwrap_or(json!("new"));
        let input = layer.get("input").or_else(|| layer.pointer("/inputs/0")).cloned().unwrap_or(json!("input"));
        let new = self.template(op, name, input);
        *doc.get_mut("layers")?.get_mut(i)? = new;
        Some(format!("layers[{i}] → a new {op:?} layer"))
    }

    /// A layer of `op` with plausible fields (a `conv2d`/`dense` has weights of the declared count).
    fn template(&mut self, op: &str, name: Value, input: Value) -> Value {
        let k = [self.rng.random_range(1..=3u64), self.rng.random_range(1..=3u64)];
        let out = json!({"bits": self.rng.random_range(1..=8u32), "scale": 0.05, "signed": self.rng.random_bool(0.2)});
        let bits = self.rng.random_range(0..=8u32);
        let max = (1i64 << bits) - 1;
        let (cin, cout, fin) =
            (self.rng.random_range(1..=4u64), self.rng.random_range(1..=4u64), self.rng.random_range(1..=64u64));
        let mut weights = |n: u64| -> Value {
            let values: Vec<i64> = (0..n).map(|_| self.rng.random_range(-max..=max)).collect();
            json!({"bits": bits, "scale": 0.5, "values": values})
        };
        match op {
            "conv2d" => {
                json!({"op": op, "name": name, "input": input, "in_channels": cin, "out_channels": cout,
                       "kernel": k, "stride": [1, 1], "padding": [0, 0, 0, 0],
                       "weight": weights(cout * k[0] * k[1] * cin), "out": out})
            }
            "dense" => {
                json!({"op": op, "name": name, "input": input, "in_features": fin, "out_features": 4,
                       "weight": weights(4 * fin), "out": out})
            }
            "max_pool" | "avg_pool" => json!({"op": op, "name": name, "input": input, "kernel": k, "stride": k}),
            "add" => json!({"op": op, "name": name, "inputs": [input.clone(), input], "out": out}),
            _ => json!({"op": op, "name": name, "input": input}),
        }
    }

    /// The output → `"input"`, a dangling name, another layer, a non-string, or a new `flatten` /
    /// `global_avg_pool` of the input.
    fn output(&mut self, doc: &mut Value) -> Option<String> {
        let names = layer_names(doc);
        let v = match self.rng.random_range(0..7u32) {
            0 => json!("input"),
            1 => json!("ghost"),
            2 | 3 => json!(names.choose(&mut self.rng).cloned().unwrap_or_default()),
            4 => json!(7),
            _ => {
                let op = if self.rng.random_bool(0.7) { "flatten" } else { "global_avg_pool" };
                let layers = doc.get_mut("layers")?.as_array_mut()?;
                let at = self.rng.random_range(0..=layers.len());
                layers.insert(at, json!({"op": op, "name": "fuzz_of_input", "input": "input"}));
                doc.as_object_mut()?.insert("output".into(), json!("fuzz_of_input"));
                return Some(format!("output → a {op} of the input (layer {at})"));
            }
        };
        let s = format!("output → {v}");
        *doc.get_mut("output")? = v;
        Some(s)
    }

    /// A field of any object is removed.
    fn drop_field(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, |v| v.as_object().is_some_and(|m| !m.is_empty()))?;
        let m = doc.pointer_mut(&p)?.as_object_mut()?;
        let key = m.keys().nth(self.rng.random_range(0..m.len()))?.clone();
        m.remove(&key);
        Some(format!("{p}/{key} removed"))
    }

    /// A field is added: an unknown one, or a layer's `bias`, `bn`, `channel_scale` (of the right or a
    /// wrong length), a field of another op, or a `scheme` that does not match.
    fn add_field(&mut self, doc: &mut Value) -> Option<String> {
        if self.rng.random_bool(0.2) {
            let p = self.node(doc, Value::is_object)?;
            doc.pointer_mut(&p)?.as_object_mut()?.insert("extra".into(), json!(1));
            return Some(format!("{p}/extra added"));
        }
        if self.rng.random_bool(0.1) {
            let bits = self.rng.random_range(0..=9u32);
            doc.as_object_mut()?.insert("scheme".into(), json!([{"layer": "conv0", "bits": bits, "params": 1}]));
            return Some("a wrong scheme".into());
        }
        let i = self.layer(doc)?;
        let layer = layer_mut(doc, i)?;
        let outs = layer.get("out_channels").or_else(|| layer.get("out_features")).and_then(Value::as_u64);
        // Mostly the right length, sometimes one more or one less.
        let n = match outs {
            Some(n) if n <= 1 << 16 && self.rng.random_bool(0.7) => n as usize,
            Some(n) if n <= 1 << 16 => (n as usize + 1).saturating_sub(self.rng.random_range(0..=2)),
            _ => self.rng.random_range(0..8),
        };
        let f = |x: f64| json!(vec![x; n]);
        let (key, v) = match self.rng.random_range(0..9u32) {
            0 => ("bias", json!(null)),
            1 => ("bias", f(0.25)),
            2 => ("bn", json!({"gamma": f(1.0), "beta": f(0.0), "mean": f(0.0), "var": f(1.0), "eps": 1e-5})),
            3 => ("channel_scale", f(self.pick(FLOATS))),
            4 => ("kernel", json!([2, 2])),
            5 => ("stride", json!([1, 1])),
            6 => ("signed", json!(true)),
            7 => ("in_channels", json!(3)),
            _ => ("inputs", json!(["input", "input"])),
        };
        layer.insert(key.into(), v);
        Some(format!("layers[{i}].{key} added (length {n})"))
    }

    /// A value → one of another type.
    fn change_type(&mut self, doc: &mut Value) -> Option<String> {
        let p = self.node(doc, |_| true)?;
        let v = [json!(null), json!(true), json!("1"), json!([]), json!({}), json!([1]), json!(1), json!(-1.5)]
            [self.rng.random_range(0..8)]
        .clone();
        let s = format!("{p} → {v}");
        *doc.pointer_mut(&p)? = v;
        Some(s)
    }

    /// Labels added, removed, emptied, duplicated or of the wrong type.
    fn labels(&mut self, doc: &mut Value) -> Option<String> {
        let kind = self.rng.random_range(0..5u32);
        let labels = doc.get_mut("labels")?.as_array_mut()?;
        match kind {
            0 => {
                labels.pop();
            }
            1 => labels.push(json!("extra")),
            2 => labels.clear(),
            3 => labels.iter_mut().for_each(|l| *l = json!("same")),
            _ => labels.push(json!(3)),
        }
        Some(format!("labels: {} after mutation {kind}", labels.len()))
    }

    /// `format`, `version` or `provenance` changed.
    fn header(&mut self, doc: &mut Value) -> Option<String> {
        let (p, v) = match self.rng.random_range(0..8u32) {
            0 => ("/format", json!(["bsq-artifact-v2", "", "BSQ-ARTIFACT"][self.rng.random_range(0..3)])),
            1 => ("/version", json!([0u64, 2, 4_294_967_297, u64::MAX][self.rng.random_range(0..4)])),
            2 => ("/version", [json!("1"), json!(1.0), json!(-1), json!(null)][self.rng.random_range(0..4)].clone()),
            3 => ("/provenance", json!({})),
            4 => ("/provenance/alpha", json!(self.pick(FLOATS))),
            5 => ("/provenance/accuracy", json!({"float": self.pick(FLOATS), "integer": -1})),
            6 => ("/name", json!(self.pick(NAMES))),
            _ => ("/provenance/created", json!("")),
        };
        let node = doc.pointer_mut(p)?;
        *node = v;
        Some(format!("{p} = {node}"))
    }

    /// A layer of another seed document is inserted or replaces one, mostly rewired to the input or the
    /// layer before and renamed so that its name is unique.
    fn splice_layer(&mut self, doc: &mut Value) -> Option<String> {
        let k = self.rng.random::<u64>();
        let (other, origin, skipped) = self.corpus.doc(self.seed, k);
        self.generator_panics += skipped;
        let others = other.get("layers")?.as_array()?;
        let mut layer = others.choose(&mut self.rng)?.clone();
        let names = layer_names(doc);
        let at = self.rng.random_range(0..=names.len());
        if self.rng.random_bool(0.7) {
            let src = if at == 0 || self.rng.random_bool(0.3) { "input".to_string() } else { names[at - 1].clone() };
            if let Some(inputs) = layer.get_mut("inputs") {
                *inputs = json!([src, src]);
            } else {
                layer["input"] = json!(src);
            }
        }
        if self.rng.random_bool(0.7) {
            layer["name"] = json!(format!("spliced{at}"));
        }
        let layers = doc.get_mut("layers")?.as_array_mut()?;
        let at = at.min(layers.len());
        if self.rng.random_bool(0.5) && at < layers.len() {
            layers[at] = layer;
            Some(format!("layers[{at}] replaced by a layer of {origin}"))
        } else {
            layers.insert(at, layer);
            Some(format!("a layer of {origin} inserted at {at}"))
        }
    }

    /// Weights at or just past ±(2^n − 1), bits changed under the values, empty values.
    fn weight_range(&mut self, doc: &mut Value) -> Option<String> {
        let layers = doc.get("layers")?.as_array()?;
        let weighted: Vec<usize> = (0..layers.len()).filter(|&i| layers[i].get("weight").is_some()).collect();
        let i = *weighted.choose(&mut self.rng)?;
        let kind = self.rng.random_range(0..6u32);
        let w = layer_mut(doc, i)?.get_mut("weight")?.as_object_mut()?;
        let bits = w.get("bits").and_then(Value::as_u64).unwrap_or(1).min(62);
        let s = match kind {
            0 | 1 => {
                let values = w.get_mut("values")?.as_array_mut()?;
                if values.is_empty() {
                    return None;
                }
                let k = self.rng.random_range(0..values.len());
                let m = (1i64 << bits) - i64::from(kind == 1);
                let v = if self.rng.random_bool(0.5) { m } else { -m };
                values[k] = json!(v);
                format!("values[{k}] = {v}")
            }
            2 => {
                w.insert("bits".into(), json!(bits.saturating_sub(1)));
                format!("bits {bits} → {}", bits.saturating_sub(1))
            }
            3 => {
                let b = [0u64, 9, 16, 31, 32, 255, 256][self.rng.random_range(0..7)];
                w.insert("bits".into(), json!(b));
                format!("bits {bits} → {b}")
            }
            4 => {
                w.insert("values".into(), json!([]));
                "values emptied".into()
            }
            _ => {
                let values = w.get_mut("values")?.as_array_mut()?;
                let v = self.pick(&[i32::MAX as i64, i32::MIN as i64, 1 << 31, i64::MIN]);
                values.iter_mut().for_each(|x| *x = json!(v));
                format!("all values = {v}")
            }
        };
        Some(format!("layers[{i}].weight: {s}"))
    }

    /// One byte-level mutation of the text.
    fn bytes(&mut self, b: &mut Vec<u8>) -> String {
        const INTERESTING: &[u8] = b"\"{}[],:0-9e.\\ \n\x00\xff";
        if b.is_empty() {
            b.push(b'{');
            return "bytes: `{`".into();
        }
        let n = b.len();
        let at = self.rng.random_range(0..n);
        let len = self.rng.random_range(1..=64.min(n - at));
        match self.rng.random_range(0..9u32) {
            0 => {
                let bit = self.rng.random_range(0..8);
                b[at] ^= 1 << bit;
                format!("bytes: bit {bit} of byte {at} flipped")
            }
            1 => {
                b[at] = self.rng.random();
                format!("bytes: byte {at} = {:#04x}", b[at])
            }
            2 => {
                let c = self.pick(INTERESTING);
                b.insert(at, c);
                format!("bytes: {:?} inserted at {at}", c as char)
            }
            3 => {
                b.remove(at);
                format!("bytes: byte {at} deleted")
            }
            4 => {
                b.drain(at..at + len);
                format!("bytes: {len} bytes deleted at {at}")
            }
            5 => {
                let to = self.rng.random_range(0..=n);
                let slice = b[at..at + len].to_vec();
                b.splice(to..to, slice);
                format!("bytes: {len} bytes at {at} duplicated at {to}")
            }
            6 => {
                b.truncate(at);
                format!("bytes: truncated to {at}")
            }
            7 => {
                let (other, origin, skipped) = self.corpus.doc(self.seed, self.rng.random());
                self.generator_panics += skipped;
                let other = other.to_string().into_bytes();
                let from = self.rng.random_range(0..other.len());
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
                format!("bytes: spliced at {at} with {origin} from {from}")
            }
            _ => {
                let digits = b"99999999999999999999999".to_vec();
                b.splice(at..at, digits);
                format!("bytes: digits inserted at {at}")
            }
        }
    }
}

/// The JSON Pointers of `v`'s nodes (`path` is `v`'s), children before their parent. Of an array longer
/// than 8 only the first, the last and two random elements are visited, so that weight values do not
/// drown the other fields.
fn nodes(v: &Value, path: String, rng: &mut ChaCha8Rng, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                nodes(c, format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")), rng, out);
            }
        }
        Value::Array(a) => {
            let n = a.len();
            let picks: Vec<usize> =
                if n <= 8 { (0..n).collect() } else { vec![0, n - 1, rng.random_range(0..n), rng.random_range(0..n)] };
            for i in picks {
                nodes(&a[i], format!("{path}/{i}"), rng, out);
            }
        }
        _ => {}
    }
    out.push(path);
}

/// The number of JSON nodes of `v` (1 for a scalar).
fn node_count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(node_count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

/// Layer `i` of `doc`, if it is an object.
fn layer_mut(doc: &mut Value, i: usize) -> Option<&mut Map<String, Value>> {
    doc.get_mut("layers")?.get_mut(i)?.as_object_mut()
}

/// The names of the layers (those that are strings).
fn layer_names(doc: &Value) -> Vec<String> {
    let layers = doc.get("layers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    layers.iter().filter_map(|l| l.get("name")?.as_str().map(str::to_string)).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Feeding one document to bsq-codegen.
// ---------------------------------------------------------------------------------------------------------

/// Why a document was refused (the expected outcome for most mutations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refusal {
    /// Not JSON.
    JsonSyntax,
    /// JSON, but not of the artifact's schema (wrong type, missing or unknown field).
    JsonSchema,
    /// `format` or `version`.
    FormatVersion,
    /// A validation rule (docs/artifact.md § Validation).
    Validation,
    /// Other load errors.
    OtherLoad,
    /// The lowering refused the model (artifact.md § Refusals).
    Lowering,
    /// The accumulator bound exceeds `i32`.
    AccumulatorOverflow,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::JsonSyntax => "JSON syntax error",
            Refusal::JsonSchema => "JSON schema error (type, missing/unknown field)",
            Refusal::FormatVersion => "format or version",
            Refusal::Validation => "validation",
            Refusal::OtherLoad => "other load error",
            Refusal::Lowering => "lowering refusal",
            Refusal::AccumulatorOverflow => "lowering refusal: accumulator bound",
        }
    }
}

/// How far one document got.
#[derive(Debug, Default, Clone, Copy)]
struct Reached {
    /// The stage running (where a panic happened).
    stage: &'static str,
    loaded: bool,
    round_tripped: bool,
    compiled: bool,
    emitted: bool,
    emit_skipped: bool,
    ran: bool,
    run_skipped: bool,
    inputs: u32,
    refusal: Option<Refusal>,
}

/// Runs every stage on `text`, recording progress in `r`. `Err`: a broken contract.
fn exercise(text: &str, r: &mut Reached) -> Result<(), String> {
    r.stage = "Artifact::from_json";
    let artifact = match Artifact::from_json(text, ORIGIN) {
        Ok(a) => a,
        Err(e) => {
            r.refusal = Some(match e {
                ArtifactError::Json { .. } if serde_json::from_str::<Value>(text).is_err() => Refusal::JsonSyntax,
                ArtifactError::Json { .. } => Refusal::JsonSchema,
                ArtifactError::Format { .. } | ArtifactError::Version { .. } => Refusal::FormatVersion,
                ArtifactError::Field { .. } => Refusal::Validation,
                _ => Refusal::OtherLoad,
            });
            return Ok(());
        }
    };
    r.loaded = true;

    r.stage = "round trip (to_json, from_json)";
    round_trip(&artifact)?;
    r.round_tripped = true;

    r.stage = "compile";
    let compiled = match bsq_codegen::compile(&artifact) {
        Ok(c) => c,
        Err(CodegenError::Lowering { .. }) => {
            r.refusal = Some(Refusal::Lowering);
            return Ok(());
        }
        Err(CodegenError::AccumulatorOverflow { .. }) => {
            r.refusal = Some(Refusal::AccumulatorOverflow);
            return Ok(());
        }
        Err(e) => return Err(format!("compile failed on a loaded artifact, and not with a lowering refusal: {e}")),
    };
    r.compiled = true;

    r.stage = "report";
    let report = bsq_codegen::report::report(&compiled);
    let _ = report.to_string();
    let _ = report.ram_bytes();
    let _ = report.check_budget(Some(1024), Some(1024));

    let flash = compiled.lowered.ops.iter().map(Op::flash_bytes).fold(0usize, usize::saturating_add);
    if flash <= MAX_EMIT_BYTES && compiled.lowered.ops.len() <= MAX_EMIT_OPS {
        r.stage = "emit";
        let source = bsq_codegen::emit::emit(&compiled, ORIGIN);
        if source.is_empty() {
            return Err("emit produced no source".into());
        }
        r.emitted = true;
    } else {
        r.emit_skipped = true;
    }

    let (in_len, out_len) = (compiled.input_len(), compiled.output_len());
    let memory = compiled
        .plan
        .arena_bytes
        .saturating_add(compiled.plan.scratch_len.saturating_mul(2))
        .saturating_add(in_len.saturating_mul(3));
    if compiled.lowered.macs() > MAX_RUN_MACS || memory > MAX_RUN_BYTES {
        r.run_skipped = true;
        return Ok(());
    }
    r.stage = "Executor::run";
    let mut executor = Executor::from_compiled(compiled);
    // The inputs follow from the text (`DefaultHasher::new` has fixed keys), so a replay runs the same ones.
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let h = hasher.finish();
    let inputs = generate::input_bytes(h, in_len, 1 + (h & 1) as usize);
    let mut first = None;
    for x in &inputs {
        let out = executor.run(x).map_err(|e| format!("a compiled model refused an input of the right length: {e}"))?;
        if out.len() != out_len {
            return Err(format!("run returned {} bytes, the output tensor has {out_len}", out.len()));
        }
        first.get_or_insert_with(|| out.to_vec());
        r.inputs += 1;
    }
    if inputs.len() > 1 {
        let again = executor.run(&inputs[0]).map_err(|e| format!("a second run failed: {e}"))?;
        if Some(again) != first.as_deref() {
            return Err("the same input gave different outputs on a second run".into());
        }
    }
    let wrong = if h & 2 == 0 || in_len == 0 { in_len + 1 } else { in_len - 1 };
    match executor.run(&vec![0; wrong]) {
        Err(CodegenError::InputLength { .. }) => {}
        Ok(_) => return Err(format!("an input of {wrong} bytes was accepted, the model reads {in_len}")),
        Err(e) => return Err(format!("an input of the wrong length failed with an unexpected error: {e}")),
    }
    r.ran = true;
    Ok(())
}

/// `to_json` → `from_json` gives the same artifact (with the scheme table filled in), and `to_json` of that
/// the same text.
fn round_trip(a: &Artifact) -> Result<(), String> {
    let text = a.to_json().map_err(|e| format!("to_json refused a loaded artifact: {e}"))?;
    let back =
        Artifact::from_json(&text, "round-trip").map_err(|e| format!("from_json refused to_json's text: {e}"))?;
    let mut expected = a.clone();
    expected.scheme = expected.derived_scheme();
    if back != expected {
        let (x, y) = (serde_json::to_value(&expected).ok(), serde_json::to_value(&back).ok());
        let at = match (&x, &y) {
            (Some(x), Some(y)) => first_difference(x, y, String::new()).unwrap_or_default(),
            _ => String::new(),
        };
        return Err(format!("from_json(to_json(a)) != a, first at {at:?}"));
    }
    let again = back.to_json().map_err(|e| format!("to_json refused a reloaded artifact: {e}"))?;
    if again != text {
        return Err("to_json is not stable across a round trip".into());
    }
    Ok(())
}

/// The JSON Pointer of the first place where `x` and `y` differ.
fn first_difference(x: &Value, y: &Value, path: String) -> Option<String> {
    match (x, y) {
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .find_map(|(k, v)| match b.get(k) {
                Some(w) => first_difference(v, w, format!("{path}/{k}")),
                None => Some(format!("{path}/{k}")),
            })
            .or_else(|| b.keys().find(|k| !a.contains_key(*k)).map(|k| format!("{path}/{k}"))),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().find_map(|(i, (v, w))| first_difference(v, w, format!("{path}/{i}")))
        }
        _ => (x != y).then_some(path),
    }
}

/// Runs one file like an iteration, without catching panics.
fn replay(path: &Path) -> ExitCode {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut r = Reached::default();
    let t = Instant::now();
    let result = exercise(&text, &mut r);
    println!("{}: {r:?} ({:.3} s)", path.display(), t.elapsed().as_secs_f64());
    if let Err(e) = Artifact::from_json(&text, &path.display().to_string()) {
        println!("load: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("broken contract in {}: {e}", r.stage);
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The driver: threads, panics, failures, progress and the summary.
// ---------------------------------------------------------------------------------------------------------

thread_local! {
    /// Where the last panic on this thread happened (set by the quiet panic hook).
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".into())
}

/// Counts over iterations.
#[derive(Debug, Default)]
struct Stats {
    iterations: u64,
    generated: u64,
    mutations: u64,
    structural: u64,
    loaded: u64,
    round_tripped: u64,
    compiled: u64,
    emitted: u64,
    emit_skipped: u64,
    ran: u64,
    run_skipped: u64,
    inputs: u64,
    refused: BTreeMap<Refusal, u64>,
    panics: u64,
    contract: u64,
    slow: u64,
    slowest: (Duration, u64),
    /// Iterations whose mutation panicked (a bug of this driver).
    fuzzer_bugs: u64,
    /// Generator seeds skipped because the generator panicked.
    generator_panics: u64,
}

impl Stats {
    fn add(&mut self, r: &Reached) {
        self.loaded += u64::from(r.loaded);
        self.round_tripped += u64::from(r.round_tripped);
        self.compiled += u64::from(r.compiled);
        self.emitted += u64::from(r.emitted);
        self.emit_skipped += u64::from(r.emit_skipped);
        self.ran += u64::from(r.ran);
        self.run_skipped += u64::from(r.run_skipped);
        self.inputs += u64::from(r.inputs);
        if let Some(k) = r.refusal {
            *self.refused.entry(k).or_default() += 1;
        }
    }

    fn merge(&mut self, o: Stats) {
        self.iterations += o.iterations;
        self.generated += o.generated;
        self.mutations += o.mutations;
        self.structural += o.structural;
        self.loaded += o.loaded;
        self.round_tripped += o.round_tripped;
        self.compiled += o.compiled;
        self.emitted += o.emitted;
        self.emit_skipped += o.emit_skipped;
        self.ran += o.ran;
        self.run_skipped += o.run_skipped;
        self.inputs += o.inputs;
        for (k, n) in o.refused {
            *self.refused.entry(k).or_default() += n;
        }
        self.panics += o.panics;
        self.contract += o.contract;
        self.slow += o.slow;
        self.slowest = self.slowest.max(o.slowest);
        self.fuzzer_bugs += o.fuzzer_bugs;
        self.generator_panics += o.generator_panics;
    }
}

/// A panic or a broken contract.
struct Failure<'a> {
    iteration: u64,
    panic: bool,
    stage: &'static str,
    message: String,
    location: Option<String>,
    case: &'a Case,
}

/// Distinct failures: the same stage and panic location (or message, numbers aside).
#[derive(Default)]
struct Group {
    count: u64,
    /// The first case: iteration, message, location.
    first: (u64, String, Option<String>),
    saved: Vec<PathBuf>,
}

/// Shared by the workers.
struct Shared<'a> {
    opts: &'a Options,
    corpus: &'a Corpus,
    groups: Mutex<BTreeMap<String, Group>>,
    slow: Mutex<Vec<(u64, f64, PathBuf)>>,
    /// The next iteration to take.
    next: AtomicU64,
    done: AtomicU64,
    panics: AtomicU64,
    /// Per worker: the iteration running and when it started (ms since `t0`; `u64::MAX`: none).
    running: Vec<(AtomicU64, AtomicU64)>,
    finished: AtomicBool,
    t0: Instant,
    /// Whether integer overflow panics in this build (then a replay needs the same build).
    overflow_checks: bool,
}

impl Shared<'_> {
    fn record(&self, f: Failure) {
        let what = match &f.location {
            Some(at) => at.clone(),
            None => without_numbers(&f.message),
        };
        let key = format!("{} in {}: {what}", if f.panic { "panic" } else { "broken contract" }, f.stage);
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let g = groups.entry(key).or_insert_with(|| Group {
            first: (f.iteration, f.message.clone(), f.location.clone()),
            ..Group::default()
        });
        g.count += 1;
        if g.saved.len() < MAX_SAVED {
            let dir = workspace().join(if f.panic { "target/fuzz-panics" } else { "target/fuzz-failures" });
            let path = dir.join(format!("{}.bsq.json", f.iteration));
            let head: String = f.case.text.chars().take(200).collect();
            let notes = format!(
                "iteration {} (--seed {})\n{}: {}\nstage: {}\nlocation: {}\nmutations:\n  {}\nfirst 200 characters: {}\nreplay: {}cargo run --release -p bsq-difftest --example fuzz {}-- --replay {}\n",
                f.iteration,
                self.opts.seed,
                if f.panic { "panic" } else { "broken contract" },
                f.message,
                f.stage,
                f.location.as_deref().unwrap_or("-"),
                f.case.log.join("\n  "),
                head.escape_debug(),
                if self.overflow_checks { OVERFLOW_ENV } else { "" },
                if self.overflow_checks { "--target-dir target/fuzz-build " } else { "" },
                path.display(),
            );
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&path, &f.case.text))
                .and_then(|()| std::fs::write(path.with_extension("").with_extension("txt"), notes));
            match written {
                Ok(()) => g.saved.push(path),
                Err(e) => eprintln!("cannot save {}: {e}", path.display()),
            }
        }
    }

    fn record_slow(&self, i: u64, secs: f64, case: &Case) {
        let path = workspace().join("target/fuzz-slow").join(format!("{i}.bsq.json"));
        if let Err(e) = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
            .and_then(|()| std::fs::write(&path, &case.text))
        {
            eprintln!("cannot save {}: {e}", path.display());
        }
        self.slow.lock().unwrap_or_else(|p| p.into_inner()).push((i, secs, path));
    }

    /// Worker `t`: takes the next iteration until all are taken (which thread runs an iteration does not
    /// change what it does).
    fn worker(&self, t: usize) -> Stats {
        let o = self.opts;
        let mut stats = Stats::default();
        let end = o.start.saturating_add(o.iterations);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= end {
                break;
            }
            let t_iter = Instant::now();
            self.running[t].0.store(i, Ordering::Relaxed);
            self.running[t].1.store(self.t0.elapsed().as_millis() as u64, Ordering::Relaxed);
            if o.trace {
                eprintln!("iteration {i}");
            }
            let case = match panic::catch_unwind(|| Case::new(o.seed, i, self.corpus)) {
                Ok(case) => case,
                Err(payload) => {
                    // A bug of this driver, not of bsq: reported, and the iteration skipped.
                    let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
                    eprintln!(
                        "fuzzer bug: mutating iteration {i} panicked at {at}: {}",
                        panic_message(payload.as_ref())
                    );
                    stats.fuzzer_bugs += 1;
                    self.running[t].1.store(u64::MAX, Ordering::Relaxed);
                    continue;
                }
            };
            stats.iterations += 1;
            stats.generated += u64::from(i.is_multiple_of(2));
            stats.mutations += u64::from(case.mutations);
            stats.structural += u64::from(case.structural);
            stats.generator_panics += u64::from(case.generator_panics);
            let mut r = Reached::default();
            let result = panic::catch_unwind(AssertUnwindSafe(|| exercise(&case.text, &mut r)));
            stats.add(&r);
            let failure = |panic, message, location| Failure {
                iteration: i,
                panic,
                stage: r.stage,
                message,
                location,
                case: &case,
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    stats.contract += 1;
                    self.record(failure(false, message, None));
                }
                Err(payload) => {
                    stats.panics += 1;
                    self.panics.fetch_add(1, Ordering::Relaxed);
                    let location = PANIC_AT.with(|p| p.borrow_mut().take());
                    self.record(failure(true, panic_message(payload.as_ref()), location));
                }
            }
            self.running[t].1.store(u64::MAX, Ordering::Relaxed);
            let took = t_iter.elapsed();
            stats.slowest = stats.slowest.max((took, i));
            if took > SLOW {
                stats.slow += 1;
                self.record_slow(i, took.as_secs_f64(), &case);
            }
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(PROGRESS_EVERY) {
                let s = self.t0.elapsed().as_secs_f64();
                eprintln!(
                    "… {done} of {} iterations ({s:.0} s, {:.0}/s), {} panics",
                    o.iterations,
                    done as f64 / s,
                    self.panics.load(Ordering::Relaxed)
                );
            }
        }
        stats
    }

    /// Until all workers end: reports (and saves) an iteration still running after [`HANG`], once each;
    /// and stops the process (exit status 3) when its resident memory exceeds `--max-rss-mib`, after
    /// saving the running iterations' inputs under `target/fuzz-oom/` (rather than be killed by the
    /// system without a trace).
    fn watchdog(&self) {
        let mut reported = vec![u64::MAX; self.running.len()];
        while !self.finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if let Some(rss) = resident_mib()
                && rss > self.opts.max_rss_mib
            {
                eprintln!("resident memory {rss} MiB > {} MiB (--max-rss-mib): stopping", self.opts.max_rss_mib);
                for (iteration, started) in &self.running {
                    let i = iteration.load(Ordering::Relaxed);
                    if started.load(Ordering::Relaxed) != u64::MAX {
                        let path = workspace().join("target/fuzz-oom").join(format!("{i}.bsq.json"));
                        let case = Case::new(self.opts.seed, i, self.corpus);
                        let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
                        let _ = std::fs::write(&path, &case.text);
                        eprintln!("  iteration {i} was running: {} ({})", path.display(), case.log.join("; "));
                    }
                }
                std::process::exit(3);
            }
            let now = self.t0.elapsed().as_millis() as u64;
            for (t, (iteration, started)) in self.running.iter().enumerate() {
                let (i, s) = (iteration.load(Ordering::Relaxed), started.load(Ordering::Relaxed));
                if s != u64::MAX && now.saturating_sub(s) > HANG.as_millis() as u64 && reported[t] != i {
                    reported[t] = i;
                    let case = Case::new(self.opts.seed, i, self.corpus);
                    let path = workspace().join("target/fuzz-slow").join(format!("{i}.bsq.json"));
                    let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
                    let _ = std::fs::write(&path, &case.text);
                    eprintln!("iteration {i} still running after {} s (input: {})", HANG.as_secs(), path.display());
                }
            }
        }
    }
}

/// `message` with every run of digits replaced by `#`, at most 120 characters: failures that differ only in
/// numbers (line, column, index) are one.
fn without_numbers(message: &str) -> String {
    let mut out = String::new();
    for c in message.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out.chars().take(120).collect()
}

/// This process's resident memory in MiB (Linux: `/proc/self/status`), if known.
fn resident_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Whether this build panics on integer overflow.
fn overflow_checks() -> bool {
    panic::catch_unwind(|| std::hint::black_box(u8::MAX) + std::hint::black_box(1u8)).is_err()
}

fn fuzz(opts: &Options, corpus: &Corpus) -> ExitCode {
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        PANIC_AT.with(|p| *p.borrow_mut() = Some(at));
    }));
    let overflow = overflow_checks();
    PANIC_AT.with(|p| p.borrow_mut().take());
    let threads = opts.threads.min(opts.iterations.max(1)) as usize;
    let shared = Shared {
        opts,
        corpus,
        groups: Mutex::new(BTreeMap::new()),
        slow: Mutex::new(Vec::new()),
        next: AtomicU64::new(opts.start),
        done: AtomicU64::new(0),
        panics: AtomicU64::new(0),
        running: (0..threads).map(|_| (AtomicU64::new(0), AtomicU64::new(u64::MAX))).collect(),
        finished: AtomicBool::new(false),
        t0: Instant::now(),
        overflow_checks: overflow,
    };
    eprintln!(
        "fuzz: iterations {}..{} (seed {}), {threads} threads, overflow checks {}",
        opts.start,
        opts.start.saturating_add(opts.iterations),
        opts.seed,
        if overflow { "on" } else { "off" }
    );
    let mut stats = Stats::default();
    std::thread::scope(|s| {
        let shared = &shared;
        s.spawn(|| shared.watchdog());
        let workers: Vec<_> = (0..threads).map(|t| s.spawn(move || shared.worker(t))).collect();
        for w in workers {
            match w.join() {
                Ok(st) => stats.merge(st),
                Err(_) => eprintln!("a worker thread died"),
            }
        }
        shared.finished.store(true, Ordering::Relaxed);
    });
    panic::set_hook(previous_hook);
    let secs = shared.t0.elapsed().as_secs_f64();
    let groups = shared.groups.into_inner().unwrap_or_else(|p| p.into_inner());
    let slow = shared.slow.into_inner().unwrap_or_else(|p| p.into_inner());
    print_summary(opts, &stats, secs, overflow);
    for (key, g) in &groups {
        println!("\n{} × {key}", g.count);
        println!("  first: iteration {}: {}", g.first.0, g.first.1);
        if let Some(at) = &g.first.2 {
            println!("  at {at}");
        }
        for p in g.saved.iter().take(3) {
            println!("  saved: {}", p.display());
        }
        if g.saved.len() > 3 {
            println!("  … {} more saved", g.saved.len() - 3);
        }
    }
    for (i, secs, path) in slow.iter().take(20) {
        println!("slow: iteration {i}: {secs:.2} s ({})", path.display());
    }
    if stats.panics + stats.contract + stats.fuzzer_bugs > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn print_summary(opts: &Options, s: &Stats, secs: f64, overflow: bool) {
    let pct = |n: u64| 100.0 * n as f64 / s.iterations.max(1) as f64;
    let row = |label: &str, n: u64| println!("  {label:<50} {n:>9} ({:>5.1} %)", pct(n));
    println!(
        "fuzz: {} iterations ({}..{}, seed {}, {} threads, overflow checks {}) in {secs:.1} s: {:.0} iterations/s",
        s.iterations,
        opts.start,
        opts.start.saturating_add(opts.iterations),
        opts.seed,
        opts.threads,
        if overflow { "on" } else { "off" },
        s.iterations as f64 / secs.max(1e-9),
    );
    println!(
        "  seeds: {} generated, {} fixtures; {:.2} mutations per input, {:.0} % structure-aware",
        s.generated,
        s.iterations - s.generated,
        s.mutations as f64 / s.iterations.max(1) as f64,
        100.0 * s.structural as f64 / s.mutations.max(1) as f64,
    );
    row("loaded (from_json accepted)", s.loaded);
    row("round-tripped (to_json → from_json, equal)", s.round_tripped);
    row("compiled", s.compiled);
    row("emitted", s.emitted);
    row("emit skipped (constants > 16 MiB)", s.emit_skipped);
    row("ran (right, repeated and wrong-length inputs)", s.ran);
    row("run skipped (> 2e6 MACs or > 16 MiB)", s.run_skipped);
    println!("  {:<50} {:>9}", "inputs run", s.inputs);
    println!("  refused:");
    for (k, n) in &s.refused {
        row(&format!("  {}", k.label()), *n);
    }
    row("PANICS", s.panics);
    row("BROKEN CONTRACTS (round trip, compile, run)", s.contract);
    println!("  {:<50} {:>9}", format!("slow (> {} s)", SLOW.as_secs()), s.slow);
    if s.generator_panics > 0 {
        println!("  generator seeds skipped (bsq_difftest::generate panicked, not bsq): {}", s.generator_panics);
    }
    if s.fuzzer_bugs > 0 {
        println!("  iterations skipped by a bug of this driver: {}", s.fuzzer_bugs);
    }
    println!("  slowest iteration: {} ({:.3} s)", s.slowest.1, s.slowest.0.as_secs_f64());
}
