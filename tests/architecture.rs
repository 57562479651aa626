//! ARCHITECTURE.md's code map says "dependencies point down this list;
//! nothing imports from above itself". This holds it to that: every
//! top-level module of `src/` is on the map, and no code line (comments and
//! test modules aside) of one names a module listed above it.

use std::path::{Path, PathBuf};

/// The top-level modules of `src/`: its folders and files but the crate
/// roots.
fn modules(src: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_string()))
        .filter(|name| !["lib", "main", "bin"].contains(&name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The modules a code line names as `crate::<module>`.
fn named(line: &str) -> Vec<&str> {
    line.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &line[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn every_import_points_down_the_code_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let map = &architecture
        [architecture.find("## Code map").unwrap()..architecture.find("## Invariants").unwrap()];
    let src = root.join("src");
    let modules = modules(&src);
    // A module's place: where the map first names it, as `name/` or `name.rs`.
    let place = |module: &str| {
        [format!("`{module}/`"), format!("`{module}.rs`")]
            .iter()
            .filter_map(|name| map.find(name.as_str()))
            .min()
    };
    let unmapped: Vec<&String> = modules.iter().filter(|m| place(m).is_none()).collect();
    assert!(unmapped.is_empty(), "not on the code map: {unmapped:?}");

    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap();
        let top = top.strip_suffix(".rs").unwrap_or(top);
        let Some(own) = place(top) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for module in named(line) {
                if module != top && place(module).is_some_and(|other| other < own) {
                    upward.push(format!(
                        "{}:{}: {top} -> {module}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from above on the code map:\n{}",
        upward.join("\n")
    );
}

/// The rules live in `providers/`: the passthrough only writes what a
/// target's plan decided, so no code line of it (comments and tests aside)
/// names a dialect or a provider, or calls into the rules.
#[test]
fn the_passthrough_decides_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/translate/anthropic_provider/passthrough.rs");
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    let named = [
        "providers",
        "Dialect",
        "dialect",
        "Target",
        "Kimi",
        "kimi",
        "Moonshot",
        "moonshot",
        "OpenRouter",
        "openrouter",
        "catalog",
        "config::",
    ];
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for name in named.iter().filter(|name| line.contains(*name)) {
            found.push(format!("passthrough.rs:{}: {name}", number + 1));
        }
    }
    assert!(
        found.is_empty(),
        "the passthrough decides:\n{}",
        found.join("\n")
    );
}
