//! Models that cannot work do not compile, and the error names the field and the cause:
//! each case in `tests/ui` with the message it must give (`TRYBUILD=overwrite` rewrites them).

#[test]
fn wrong_models_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
