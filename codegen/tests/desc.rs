//! Model descriptions: parsing (TOML and JSON), defaults, shape inference, and one test per refusal,
//! each checking that the message names the file, the layer and the field.

use std::path::Path;

use bsq_codegen::desc::{Activation, DataShape, Description, Op, Src, TensorQuant};

const HEAD: &str = "format = \"bsq-model\"\nversion = 1\nname = \"t\"\n";

fn parse(body: &str) -> Result<Description, String> {
    Description::parse(&format!("{HEAD}{body}"), true, Path::new("net.toml")).map_err(|e| e.to_string())
}

fn resolve(body: &str, input: [usize; 3], outputs: usize) -> Result<bsq_codegen::desc::Resolved, String> {
    parse(body)?.resolve(DataShape { input, outputs }, Some(Path::new("net.toml"))).map_err(|e| e.to_string())
}

fn err(body: &str, input: [usize; 3], outputs: usize) -> String {
    resolve(body, input, outputs).expect_err("must be refused")
}

const DSCNN_HEAD: &str = r#"
[[layers]]
op = "conv2d"
name = "conv1"
out_channels = 64
kernel = [10, 4]
stride = 2
padding = "same"
batch_norm = true
activation = "pact"

[[layers]]
op = "conv2d"
name = "dw"
out_channels = 64
kernel = 3
padding = 1
groups = 64
batch_norm = true
activation = "relu6"
"#;

#[test]
fn shapes_defaults_and_same_padding() {
    let body = format!(
        "{DSCNN_HEAD}
[[layers]]
op = \"avg_pool\"
name = \"pool\"
kernel = [25, 5]

[[layers]]
op = \"dense\"
name = \"fc\"
activation = \"none\"
"
    );
    let r = resolve(&body, [49, 10, 1], 12).unwrap();
    assert_eq!(r.nodes.len(), 4);
    // "same" with stride 2 on 49×10 and a 10×4 kernel: 25×5 outputs, total padding 9 and 2, the odd
    // row at the bottom (TensorFlow's rule).
    match &r.nodes[0].op {
        Op::Conv { padding, bias, .. } => {
            assert_eq!(*padding, [4, 1, 5, 1]);
            assert!(!bias, "no bias by default with batch norm");
        }
        op => panic!("{op:?}"),
    }
    assert_eq!(r.nodes[0].shape, [25, 5, 64]);
    assert_eq!(r.nodes[1].shape, [25, 5, 64]);
    assert!(matches!(r.nodes[1].op, Op::Conv { groups: 64, activation: Activation::Relu6, .. }));
    assert_eq!(r.nodes[2].shape, [1, 1, 64]);
    assert_eq!(r.nodes[2].inputs, vec![Src::Node(1)]);
    assert_eq!(r.nodes[2].quant, TensorQuant::Unsigned(4), "a pool keeps its input's quantization");
    // The output dense takes the data's number of classes.
    assert!(matches!(r.nodes[3].op, Op::Dense { in_features: 64, out_features: 12, bias: true, .. }));
    assert_eq!(r.nodes[3].quant, TensorQuant::Signed);
    assert_eq!(r.output, 3);
}

#[test]
fn toml_and_json_are_the_same_description() {
    let d = parse(DSCNN_HEAD).unwrap();
    let toml = d.to_toml().unwrap();
    assert_eq!(Description::parse(&toml, true, Path::new("a.toml")).unwrap(), d);
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(Description::parse(&json, false, Path::new("a.json")).unwrap(), d);
}

#[test]
fn residual_add_and_explicit_output() {
    let body = r#"
output = "sum"
[[layers]]
op = "conv2d"
name = "a"
out_channels = 4
kernel = 3
padding = 1
activation = "none"

[[layers]]
op = "conv2d"
name = "b"
input = "input"
out_channels = 4
kernel = 1
activation = "none"

[[layers]]
op = "add"
name = "sum"
inputs = ["a", "b"]
activation = "none"

[[layers]]
op = "flatten"
name = "unused"
"#;
    let r = resolve(body, [6, 6, 2], 144).unwrap();
    assert_eq!(r.output, 2);
    assert_eq!(r.nodes[2].inputs, vec![Src::Node(0), Src::Node(1)]);
    assert_eq!(r.nodes[1].inputs, vec![Src::Input]);
}

#[test]
fn refusals_name_file_layer_and_field() {
    let conv = |extra: &str| {
        format!(
            "[[layers]]\nop = \"conv2d\"\nname = \"c\"\nout_channels = 4\nkernel = 3\nactivation = \"pact\"\n{extra}\n"
        )
    };
    let fc = "[[layers]]\nop = \"dense\"\nname = \"fc\"\nactivation = \"none\"\n";
    let cases: Vec<(String, [usize; 3], usize, &str)> = vec![
        (format!("{}{fc}", conv("groups = 3")), [8, 8, 4], 2, "layer `c`, field `groups`: 3 does not divide"),
        (format!("{}{fc}", conv("stride = 0")), [8, 8, 4], 2, "layer `c`, field `stride`: [0, 0] has a 0"),
        (
            format!("{}{fc}", conv("padding = \"full\"")),
            [8, 8, 4],
            2,
            "layer `c`, field `padding`: \"full\" is not a padding",
        ),
        (
            format!("{}{fc}", conv("")),
            [2, 2, 4],
            2,
            "layer `c`, field `kernel`: [3, 3] is larger than the padded input 2×2",
        ),
        (format!("{}{fc}", conv("act_bits = 9")), [8, 8, 4], 2, "layer `c`, field `act_bits`: 9 is not in 1..=8"),
        (format!("{}{fc}", conv("input = \"fc\"")), [8, 8, 4], 2, "layer `c`, field `input`: `fc` comes later"),
        (format!("{}{}", conv(""), conv("")), [8, 8, 4], 2, "layer `c`, field `name`: two layers have this name"),
        (
            format!("{}{}", conv(""), fc.replace("name = \"fc\"", "name = \"fc\"\nout_features = 5")),
            [8, 8, 4],
            3,
            "layer `fc`, field `out_features`: is 5 on the output layer, but the data has 3",
        ),
        (
            format!("{}{}{fc}", conv(""), fc.replace("name = \"fc\"", "name = \"h\"").replace("none", "pact")),
            [8, 8, 4],
            3,
            "layer `h`, field `out_features`: missing",
        ),
        (conv(""), [8, 8, 4], 2, "layer `c`: the network output has 144 values"),
        (
            format!("{}{fc}", conv("activation = \"none\"").replace("activation = \"pact\"\n", "")),
            [8, 8, 4],
            2,
            "reads `c`, a signed tensor",
        ),
        (
            format!("[input]\nshape = [28, 28, 1]\n{}{fc}", conv("")),
            [8, 8, 4],
            2,
            "layer `input`, field `shape`: is [28, 28, 1]",
        ),
        (format!("output = \"nope\"\n{}{fc}", conv("")), [8, 8, 4], 2, "field `output`: no layer is named `nope`"),
        (
            format!("{}[[layers]]\nop = \"max_pool\"\nname = \"p\"\nkernel = 2\npadding = 2\n{fc}", conv("")),
            [8, 8, 4],
            2,
            "layer `p`, field `padding`: [2, 2, 2, 2] is not smaller than the kernel",
        ),
        (
            format!(
                "{}[[layers]]\nop = \"add\"\nname = \"s\"\ninputs = [\"c\", \"input\"]\nactivation = \"pact\"\n{fc}",
                conv("")
            ),
            [8, 8, 4],
            2,
            "layer `s`, field `inputs`: `c` is [6, 6, 4] but `input` is [8, 8, 4]",
        ),
    ];
    for (body, input, outputs, want) in cases {
        let e = err(&body, input, outputs);
        assert!(e.starts_with("net.toml: "), "{e}");
        assert!(want.split('|').any(|w| e.contains(w)), "want {want:?} in {e:?}\n{body}");
    }
}

#[test]
fn parse_errors_name_the_file_and_the_field() {
    let e = Description::parse(
        "format = \"bsq-artifact\"\nversion = 1\nname = \"x\"\nlayers = []\n",
        true,
        Path::new("a.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a.toml: field `format`: is \"bsq-artifact\""), "{e}");
    let e = Description::parse(
        "format = \"bsq-model\"\nversion = 2\nname = \"x\"\nlayers = []\n",
        true,
        Path::new("a.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("field `version`: is 2"), "{e}");
    let e = parse(
        "[[layers]]\nop = \"conv2d\"\nname = \"c\"\nout_channels = 4\nkernel = 3\nactivation = \"pact\"\nchanels = 3\n",
    )
    .unwrap_err();
    assert!(e.contains("net.toml") && e.contains("chanels"), "{e}");
    let e = parse("[[layers]]\nop = \"conv3d\"\nname = \"c\"\n").unwrap_err();
    assert!(e.contains("conv3d"), "{e}");
    let e = parse("[[layers]]\nop = \"conv2d\"\nname = \"c\"\nout_channels = 4\nkernel = 3\nactivation = \"gelu\"\n")
        .unwrap_err();
    assert!(e.contains("gelu"), "{e}");
    let e = Description::load(Path::new("/nonexistent/net.toml")).unwrap_err().to_string();
    assert!(e.starts_with("/nonexistent/net.toml: cannot read"), "{e}");
    let e = parse("this is = not toml [").unwrap_err();
    assert!(e.starts_with("net.toml: "), "{e}");
}
