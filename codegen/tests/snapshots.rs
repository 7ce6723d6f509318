//! Snapshots of the generated source and of the memory report for every fixture (insta): any change in
//! what codegen emits is reviewed like code. Re-bless with `cargo insta review` or `INSTA_UPDATE=always`.

use bsq_codegen::{compile, emit::emit, fixtures, report::report};

#[test]
fn generated_source() {
    for a in fixtures::all() {
        let m = compile(&a).unwrap();
        insta::assert_snapshot!(format!("{}_source", a.name), emit(&m, &format!("{}.bsq.json", a.name)));
    }
}

#[test]
fn memory_report() {
    for a in fixtures::all() {
        insta::assert_snapshot!(format!("{}_report", a.name), report(&compile(&a).unwrap()).to_string());
    }
}
