//! `docs/translation.md` is written from the field tables
//! (`clawgate::translate::fields`): this test fails when the committed page
//! and the tables differ, and rewrites the page with `CLAWGATE_WRITE_DOCS=1`.

use std::path::Path;

#[test]
fn docs_translation_md_is_written_from_the_tables() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/translation.md");
    let written = clawgate::translate::fields::markdown();
    if std::env::var_os("CLAWGATE_WRITE_DOCS").is_some() {
        std::fs::write(&path, &written).expect("docs/translation.md is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == written,
        "docs/translation.md differs from the tables in src/translate/fields.rs: \
         run `CLAWGATE_WRITE_DOCS=1 cargo test --test translation_doc` and commit the page"
    );
}
