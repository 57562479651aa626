//! ARCHITECTURE.md's code map says "dependencies point down this list;
//! nothing imports from above itself". This holds it to that: every
//! top-level module of `src/` is on the map, and no code line (comments and
//! test modules aside) of one names a module listed above it. Inside a
//! folder the same holds without a map: no two of its modules name each
//! other, directly or through a chain of its other modules.

use std::collections::{BTreeMap, BTreeSet};
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
/// target's plan decided, and the plan's decisions in Messages' terms
/// (`carried.rs`) only restate them, so no code line of either (comments
/// and tests aside) names a dialect or a provider, or calls into the rules.
#[test]
fn the_passthrough_decides_nothing() {
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
    for file in ["passthrough.rs", "carried.rs"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/translate/anthropic_provider")
            .join(file);
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for name in named.iter().filter(|name| line.contains(*name)) {
                found.push(format!("{file}:{}: {name}", number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the passthrough decides:\n{}",
        found.join("\n")
    );
}

/// A file's code: its lines before the first `#[cfg(test)]`, comment lines
/// left out.
fn code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap();
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file of `src/` (`ledger/store.rs` is
/// `["ledger", "store"]`, `ledger/mod.rs` is `["ledger"]`).
fn module_path(relative: &str) -> Vec<String> {
    let relative = relative.strip_suffix(".rs").unwrap_or(relative);
    let mut path: Vec<String> = relative.split('/').map(str::to_string).collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The paths a code text names from `crate::`, `super::` or `self::`, made
/// absolute from the module `here`, with `use` groups (`super::{a, b::c}`)
/// spread out.
fn absolute_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|start| rest.starts_with(start));
        let after_word =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || b"_:".contains(&bytes[at - 1]));
        if !(starts && after_word) {
            at += rest.chars().next().unwrap().len_utf8();
            continue;
        }
        let mut written = Vec::new();
        at = path_tree(code, at, &mut written, &[]);
        found.extend(written.iter().filter_map(|path| resolve(path, here)));
    }
    found
}

/// Reads the path (or `use` tree) starting at `at`: pushes each full path,
/// `prefix` before it, into `into`, and returns where it ends.
fn path_tree(code: &str, mut at: usize, into: &mut Vec<Vec<String>>, prefix: &[String]) -> usize {
    let bytes = code.as_bytes();
    let skip_space = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let mut path = prefix.to_vec();
    loop {
        at = skip_space(at);
        if at < bytes.len() && bytes[at] == b'{' {
            at += 1;
            loop {
                at = skip_space(at);
                if at >= bytes.len() {
                    return at;
                }
                if bytes[at] == b'}' {
                    return at + 1;
                }
                if bytes[at] == b',' {
                    at += 1;
                    continue;
                }
                let before = at;
                at = path_tree(code, at, into, &path);
                if at == before {
                    at += 1;
                }
            }
        }
        let start = at;
        while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
            at += 1;
        }
        if at == start {
            break;
        }
        path.push(code[start..at].to_string());
        if code[at..].starts_with("::") {
            at += 2;
        } else {
            break;
        }
    }
    if path.len() > prefix.len() {
        into.push(path);
    }
    at
}

/// A path written from `crate`, `super` or `self`, made absolute from the
/// module `here`.
fn resolve(path: &[String], here: &[String]) -> Option<Vec<String>> {
    let mut absolute: Vec<String> = here.to_vec();
    let mut rest = path;
    match rest.first()?.as_str() {
        "crate" => {
            absolute.clear();
            rest = &rest[1..];
        }
        "self" => rest = &rest[1..],
        "super" => {
            while rest.first().is_some_and(|first| first == "super") {
                absolute.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    absolute.extend(rest.iter().filter(|segment| *segment != "self").cloned());
    Some(absolute)
}

/// The import cycles inside the folders of a tree of `src/` files (paths
/// relative to `src/`, with their text): for each folder whose modules name
/// each other in a ring, the folder and the ring's edges. A subfolder counts
/// as one module of its folder; `tests.rs` files are test modules and left
/// out, as is everything after a file's first `#[cfg(test)]`.
fn folder_cycles(files: &[(String, String)]) -> Vec<String> {
    let modules: Vec<Vec<String>> = files
        .iter()
        .filter(|(path, _)| {
            !["lib.rs", "main.rs"].contains(&path.as_str()) && !path.starts_with("bin/")
        })
        .map(|(path, _)| module_path(path))
        .collect();
    let is_module = |path: &[String]| modules.iter().any(|module| module.starts_with(path));
    // folder -> module -> (module it names, where)
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>> =
        BTreeMap::new();
    for (path, text) in files {
        if path.ends_with("/tests.rs")
            || path == "tests.rs"
            || !modules.contains(&module_path(path))
        {
            continue;
        }
        let here = module_path(path);
        for named in absolute_paths(&code(text), &here) {
            for depth in 0..here.len() {
                let folder = &here[..depth];
                let (own, other) = (&here[depth], named.get(depth));
                let Some(other) = other else { continue };
                if named.starts_with(folder) && other != own && is_module(&named[..=depth]) {
                    edges
                        .entry(folder.to_vec())
                        .or_default()
                        .entry(own.clone())
                        .or_default()
                        .entry(other.clone())
                        .or_insert_with(|| path.clone());
                }
            }
        }
    }
    let mut cycles = Vec::new();
    for (folder, graph) in &edges {
        let reach = |from: &str| {
            let mut seen = BTreeSet::new();
            let mut next = vec![from.to_string()];
            while let Some(module) = next.pop() {
                for to in graph.get(&module).into_iter().flat_map(BTreeMap::keys) {
                    if seen.insert(to.clone()) {
                        next.push(to.clone());
                    }
                }
            }
            seen
        };
        let mut ringed = BTreeSet::new();
        for module in graph.keys() {
            if ringed.contains(module) || !reach(module).contains(module) {
                continue;
            }
            let ring: BTreeSet<String> = reach(module)
                .into_iter()
                .filter(|other| reach(other).contains(module))
                .collect();
            let lines: Vec<String> = ring
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| ring.contains(*to))
                        .map(move |(to, file)| format!("{file} -> {to}"))
                })
                .collect();
            cycles.push(format!("{}/: {}", folder.join("/"), lines.join(", ")));
            ringed.extend(ring);
        }
    }
    cycles
}

#[test]
fn no_folder_has_an_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&src)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            (relative, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    let cycles = folder_cycles(&files);
    assert!(
        cycles.is_empty(),
        "import cycles inside a folder:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn a_cycle_inside_a_folder_is_found() {
    let file = |path: &str, text: &str| (path.to_string(), text.to_string());
    let tree = |a: &str| {
        vec![
            file("lib.rs", "mod shop;"),
            file(
                "shop/mod.rs",
                "mod a;\nmod b;\nmod c;\nmod deep;\nuse self::a::A;",
            ),
            file("shop/a.rs", a),
            file("shop/b.rs", "use super::{c::C, Shared};"),
            file("shop/c.rs", "pub struct C;\n#[cfg(test)]\nuse super::a::A;"),
            file("shop/deep/mod.rs", "mod inner;"),
            file("shop/deep/inner.rs", "fn f() { crate::shop::a::g(); }"),
            file("shop/tests.rs", "use super::{a::A, b::B};"),
        ]
    };
    // A chain a -> b -> c with no way back, a test module and a test-only
    // import aside.
    assert_eq!(
        folder_cycles(&tree("use super::b::B;\n// use super::deep::X;")),
        Vec::<String>::new()
    );
    // a -> deep and deep (through a file of its own) -> a.
    assert_eq!(
        folder_cycles(&tree("use super::{b::B, deep::inner::X};")),
        ["shop/: shop/a.rs -> deep, shop/deep/inner.rs -> a"]
    );
    // Through a chain: a -> b -> c -> a.
    let mut chain = tree("use super::b::B;");
    chain[4] = file("shop/c.rs", "fn f() { super::super::shop::a::g() }");
    assert_eq!(
        folder_cycles(&chain),
        ["shop/: shop/a.rs -> b, shop/b.rs -> c, shop/c.rs -> a"]
    );
}
