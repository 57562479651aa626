//! OpenClaw's `$include`, as its config loader reads it: an object's
//! `$include` (a file, or a list of them, named relative to the file that
//! names it) stands for the files' contents, merged in order, and the
//! object's other members merged over them: objects member by member,
//! lists one after the other, anything else the later's. An included file
//! may include others, ten deep at most, never itself.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::{ConfigErrors, parse_document, read_bounded};

/// The key that names the files.
const INCLUDE: &str = "$include";

/// How deep includes may nest, as OpenClaw allows.
const MAX_DEPTH: usize = 10;

/// The most files one config may include, all levels together.
const MAX_FILES: usize = 64;

/// `document`, read from `file`, with every `$include` replaced by what it
/// names.
pub fn resolve(document: Value, file: &Path) -> Result<Value, ConfigErrors> {
    let mut reading = Reading {
        chain: vec![(file.to_path_buf(), real(file))],
        files: 0,
    };
    reading.value(document, "")
}

/// The files being read, the first the config, each included by the one
/// before (as named, which later names are relative to, and as the file
/// system resolves it, which tells a file from another); and how many
/// were read so far.
struct Reading {
    chain: Vec<(PathBuf, PathBuf)>,
    files: usize,
}

fn real(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

impl Reading {
    fn value(&mut self, value: Value, at: &str) -> Result<Value, ConfigErrors> {
        match value {
            Value::Object(mut members) => {
                let include = members.remove(INCLUDE);
                let mut own = Map::new();
                for (key, member) in members {
                    let path = super::keys::join(at, &key);
                    own.insert(key, self.value(member, &path)?);
                }
                match include {
                    None => Ok(Value::Object(own)),
                    Some(names) => {
                        let at = super::keys::join(at, INCLUDE);
                        let included = self.files(names, &at)?;
                        if own.is_empty() {
                            return Ok(included);
                        }
                        // Members beside it merge into an object only.
                        if !included.is_object() {
                            return Err(ConfigErrors::single(
                                &at,
                                "the files hold no object, and the members beside `$include` need one to merge into".into(),
                            ));
                        }
                        Ok(merge(included, Value::Object(own)))
                    }
                }
            }
            Value::Array(items) => (items.into_iter().enumerate())
                .map(|(index, item)| self.value(item, &format!("{at}[{index}]")))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other),
        }
    }

    /// The files `names` (a name, or a list of them) merged in order.
    fn files(&mut self, names: Value, at: &str) -> Result<Value, ConfigErrors> {
        let error = |message: String| ConfigErrors::single(at, message);
        let names: Vec<String> = match names {
            Value::String(name) => vec![name],
            Value::Array(names) => (names.into_iter())
                .map(|name| match name {
                    Value::String(name) => Ok(name),
                    _ => Err(error("expected a file name or a list of file names".into())),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(error("expected a file name or a list of file names".into())),
        };
        let mut merged: Option<Value> = None;
        for name in names {
            let (including, _) = self.chain.last().expect("the config's own file");
            // As written, less its `./`.
            let file: PathBuf = (including.parent().unwrap_or(Path::new("")).join(&name))
                .components()
                .filter(|part| *part != Component::CurDir)
                .collect();
            let file_real = real(&file);
            if self.chain.iter().any(|(_, real)| *real == file_real) {
                let chain: Vec<String> = (self.chain.iter().map(|(named, _)| named))
                    .chain([&file])
                    .map(|file| file.display().to_string())
                    .collect();
                return Err(error(format!("includes itself: {}", chain.join(" -> "))));
            }
            if self.chain.len() > MAX_DEPTH {
                return Err(error(format!("more than {MAX_DEPTH} levels of $include")));
            }
            self.files += 1;
            if self.files > MAX_FILES {
                return Err(error(format!("more than {MAX_FILES} files included")));
            }
            // An error in the file is named at this `$include`, with the
            // file and its place there.
            let within = |errors: ConfigErrors| {
                let errors = errors.0.into_iter().map(|mut e| {
                    let place = match e.path.as_str() {
                        "" => String::new(),
                        path => format!(" at {path}"),
                    };
                    e.message = format!("in {}{place}: {}", file.display(), e.message);
                    e.path = at.to_string();
                    e
                });
                ConfigErrors(errors.collect())
            };
            let text = read_bounded(&file).map_err(within)?;
            let document = parse_document(&text).map_err(within)?;
            self.chain.push((file.clone(), file_real));
            let value = self.value(document, "");
            self.chain.pop();
            let value = value.map_err(within)?;
            merged = Some(match merged {
                None => value,
                Some(before) => merge(before, value),
            });
        }
        Ok(merged.unwrap_or(Value::Object(Map::new())))
    }
}

/// `later` merged over `earlier`: objects member by member, lists one
/// after the other, anything else the later's.
fn merge(earlier: Value, later: Value) -> Value {
    match (earlier, later) {
        (Value::Object(mut earlier), Value::Object(later)) => {
            for (key, value) in later {
                let merged = match earlier.remove(&key) {
                    Some(before) => merge(before, value),
                    None => value,
                };
                earlier.insert(key, merged);
            }
            Value::Object(earlier)
        }
        (Value::Array(mut earlier), Value::Array(later)) => {
            earlier.extend(later);
            Value::Array(earlier)
        }
        (_, later) => later,
    }
}
