//! Corrupted and random artifacts never panic the loader or the code generator; errors name a place.

use bsq_codegen::{Artifact, compile, emit::emit, fixtures};
use proptest::prelude::*;
use serde_json::Value;

fn fixture_texts() -> Vec<String> {
    fixtures::all().iter().map(|a| a.to_json().unwrap()).collect()
}

/// Loads, and if valid compiles, emits and runs once: none of it may panic.
fn exercise(text: &str) {
    if let Ok(a) = Artifact::from_json(text, "fuzz")
        && let Ok(m) = compile(&a)
    {
        let _ = emit(&m, "fuzz");
        let mut ex = bsq_codegen::Executor::from_compiled(m);
        let len = ex.model().input_len();
        if len <= 1 << 16 {
            let _ = ex.run(&vec![200u8; len]);
        }
    }
}

/// How many numbers a JSON value holds.
fn count_numbers(v: &Value) -> usize {
    match v {
        Value::Number(_) => 1,
        Value::Array(a) => a.iter().map(count_numbers).sum(),
        Value::Object(o) => o.values().map(count_numbers).sum(),
        _ => 0,
    }
}

fn replacement(kind: u8, seed: u64) -> Value {
    match kind % 9 {
        0 => Value::from(0),
        1 => Value::from(-1),
        2 => Value::from(u64::MAX),
        3 => Value::from(i64::MIN),
        4 => serde_json::json!(1e38),
        5 => serde_json::json!(-3.5),
        6 => Value::from(seed % 300),
        7 => serde_json::json!(1e-30),
        _ => Value::from(usize::MAX / 3),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Truncation at any byte, or one byte overwritten.
    #[test]
    fn corrupted_bytes_never_panic(which in 0usize..5, cut in 0.0f64..1.0, pos in 0.0f64..1.0, byte in any::<u8>()) {
        let text = &fixture_texts()[which];
        let n = (text.len() as f64 * cut) as usize;
        exercise(&String::from_utf8_lossy(&text.as_bytes()[..n]));
        let mut bytes = text.clone().into_bytes();
        let p = (bytes.len() as f64 * pos) as usize % bytes.len();
        bytes[p] = byte;
        exercise(&String::from_utf8_lossy(&bytes));
    }

    /// Any numeric field replaced by an extreme or random value (shapes, bits, strides, weights, scales).
    #[test]
    fn random_numbers_never_panic(which in 0usize..5, picks in proptest::collection::vec((any::<u32>(), any::<u8>(), any::<u64>()), 1..4)) {
        let mut v: Value = serde_json::from_str(&fixture_texts()[which]).unwrap();
        for (at, kind, seed) in picks {
            let idx = at as usize % count_numbers(&v);
            let mut count = 0;
            replace_nth(&mut v, idx, &mut count, &replacement(kind, seed));
        }
        exercise(&v.to_string());
    }
}

fn replace_nth(v: &mut Value, n: usize, count: &mut usize, with: &Value) -> bool {
    match v {
        Value::Number(_) => {
            if *count == n {
                *v = with.clone();
                return true;
            }
            *count += 1;
            false
        }
        Value::Array(a) => a.iter_mut().any(|x| replace_nth(x, n, count, with)),
        Value::Object(o) => o.values_mut().any(|x| replace_nth(x, n, count, with)),
        _ => false,
    }
}

#[test]
fn every_error_names_a_place() {
    // Spot-check a few corruptions: the message names the file, a layer or the model.
    for text in fixture_texts() {
        for cut in [10, text.len() / 3, text.len() - 3] {
            let e = Artifact::from_json(&text[..cut], "m.bsq.json").unwrap_err().to_string();
            assert!(e.starts_with("m.bsq.json: line "), "{e}");
        }
    }
}
