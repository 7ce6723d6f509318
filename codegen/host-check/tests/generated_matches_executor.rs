//! Generated code, compiled and run on the host, gives the host executor's bytes exactly: the output and
//! every layer's output, on several deterministic inputs per fixture.

use bsq_codegen::{Artifact, Executor, fixtures};
use bsq_codegen_host_check as models;

type RunFn = fn(&[u8], &mut dyn FnMut(usize, &str, &[u8])) -> Vec<u8>;

macro_rules! runner {
    ($m:ident) => {
        |input: &[u8], obs: &mut dyn FnMut(usize, &str, &[u8])| {
            let mut arena = models::$m::Arena::new();
            models::$m::run_observed(&mut arena, input, obs).expect("generated model runs").to_vec()
        }
    };
}

fn check(name: &str, run: RunFn, input_len: usize, arena_bytes: usize) {
    let path = format!("{}/../fixtures/{name}.bsq.json", env!("CARGO_MANIFEST_DIR"));
    let artifact = Artifact::load(std::path::Path::new(&path)).expect("fixture loads");
    let mut ex = Executor::new(&artifact).expect("fixture compiles");
    assert_eq!(ex.model().input_len(), input_len, "{name}: INPUT_LEN");
    assert_eq!(ex.model().plan.arena_bytes, arena_bytes, "{name}: ARENA_BYTES");
    for (k, x) in fixtures::inputs(name, input_len, 8).iter().enumerate() {
        let mut host_layers = Vec::new();
        let host =
            ex.run_observed(x, &mut |i, n, b| host_layers.push((i, n.to_string(), b.to_vec()))).unwrap().to_vec();
        let mut gen_layers = Vec::new();
        let generated = run(x, &mut |i, n, b| gen_layers.push((i, n.to_string(), b.to_vec())));
        assert_eq!(host_layers.len(), gen_layers.len(), "{name}: layer count");
        for (h, g) in host_layers.iter().zip(&gen_layers) {
            if let Some(idx) = h.2.iter().zip(&g.2).position(|(a, b)| a != b) {
                panic!(
                    "{name} input {k}: layer {} `{}` differs at byte {idx}: executor {} vs generated {}",
                    h.0, h.1, h.2[idx], g.2[idx]
                );
            }
            assert_eq!(h, g, "{name} input {k}: layer {} `{}`", h.0, h.1);
        }
        assert_eq!(host, generated, "{name} input {k}: output");
    }
}

#[test]
fn mlp_matches() {
    check("mlp", runner!(mlp), models::mlp::INPUT_LEN, models::mlp::ARENA_BYTES);
}
#[test]
fn convnet_matches() {
    check("convnet", runner!(convnet), models::convnet::INPUT_LEN, models::convnet::ARENA_BYTES);
}
#[test]
fn resblock_matches() {
    check("resblock", runner!(resblock), models::resblock::INPUT_LEN, models::resblock::ARENA_BYTES);
}
#[test]
fn zerobit_matches() {
    check("zerobit", runner!(zerobit), models::zerobit::INPUT_LEN, models::zerobit::ARENA_BYTES);
}
#[test]
fn widths_matches() {
    check("widths", runner!(widths), models::widths::INPUT_LEN, models::widths::ARENA_BYTES);
}

#[test]
fn dsconv_matches() {
    check("dsconv", runner!(dsconv), models::dsconv::INPUT_LEN, models::dsconv::ARENA_BYTES);
}

#[test]
fn zeropoint_matches() {
    check("zeropoint", runner!(zeropoint), models::zeropoint::INPUT_LEN, models::zeropoint::ARENA_BYTES);
}

#[test]
fn poolpad_matches() {
    check("poolpad", runner!(poolpad), models::poolpad::INPUT_LEN, models::poolpad::ARENA_BYTES);
}

#[test]
fn concat_matches() {
    check("concat", runner!(concat), models::concat::INPUT_LEN, models::concat::ARENA_BYTES);
}

#[test]
fn generated_constants_describe_the_model() {
    use models::resblock as m;
    assert_eq!(m::INPUT_SHAPE, [8, 8, 3]);
    assert_eq!(m::OUTPUT_LEN, 10);
    const { assert!(m::OUTPUT_SIGNED) };
    assert_eq!(m::LABELS.len(), 10);
    assert_eq!(m::SCHEME.iter().map(|s| s.1).collect::<Vec<_>>(), [8, 2, 3, 7, 1, 6, 4]);
    assert_eq!(m::LAYER_NAMES.len(), m::NUM_LAYERS);
    const { assert!(m::MACS > 0 && m::FLASH_BYTES > 0) };
    const { assert!(m::INPUT_ZERO_POINT == 0 && models::zeropoint::INPUT_ZERO_POINT == 128) };
}

#[test]
fn wrong_input_length_is_an_error_not_a_panic() {
    let mut arena = models::mlp::Arena::new();
    let err = models::mlp::run(&mut arena, &[0u8; 3]).unwrap_err();
    assert_eq!(err, bsq_runtime::Error::Length { what: "model input", expected: models::mlp::INPUT_LEN, got: 3 });
}

#[test]
fn predict_is_argmax_of_the_output() {
    let x = &fixtures::inputs("convnet", models::convnet::INPUT_LEN, 1)[0];
    let mut arena = models::convnet::Arena::new();
    let out = models::convnet::run(&mut arena, x).unwrap().to_vec();
    let class = models::convnet::predict(&mut arena, x).unwrap();
    let best = out.iter().map(|&b| b as i8).max().unwrap();
    assert_eq!(out[class] as i8, best);
    assert!(out[..class].iter().all(|&b| (b as i8) < best));
}
