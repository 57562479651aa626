//! Values that come from outside the config file: the process
//! environment, `--env-file` files (systemd `EnvironmentFile=` syntax) and
//! systemd credentials, which the config's `${VAR}` substitution draws on.
//!
//! Nothing here reads the process environment implicitly: callers build an
//! [`Environment`] once and pass it down, so tests never call `set_var`.

use std::collections::HashMap;
use std::path::Path;

/// A snapshot of environment variables, looked up by name.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// The variables of the running process.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self { vars }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The names of the variables set, in no order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// The values of the variables set, in no order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.vars.values().map(String::as_str)
    }

    /// Adds `other`'s variables that are not set here.
    pub fn fill(&mut self, other: Environment) {
        for (name, value) in other.vars {
            self.vars.entry(name).or_insert(value);
        }
    }

    /// Takes out the variables `other` sets to the value they have here.
    pub fn remove_same(&mut self, other: &Environment) {
        (self.vars).retain(|name, value| other.get(name) != Some(value.as_str()));
    }

    /// Adds systemd credentials (`LoadCredential=`): each file in `dir`
    /// defines the variable of its name, without a trailing newline.
    /// Variables already present win.
    pub fn load_credentials(&mut self, dir: &Path) -> Result<(), EnvFileError> {
        let read_error = |source| EnvFileError::Read {
            path: dir.display().to_string(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| is_env_name(n, true))
            else {
                continue;
            };
            let value = read_bounded(&path)?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            self.vars
                .entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        Ok(())
    }

    /// Adds the variables of an env file; variables already present win, as
    /// they do when a user exports a variable before a manual run. Within
    /// the file, a name's last assignment wins, as under systemd's
    /// `EnvironmentFile=`, which reads the same file for the service.
    ///
    /// The lines that can be read are added even when others cannot:
    /// the error names those, and what goes on after it (`doctor`'s
    /// other checks) sees the variables the file does set.
    pub fn load_env_file(&mut self, path: &Path) -> Result<(), EnvFileError> {
        let text = read_bounded(path)?;
        let (pairs, bad) = parse_env_file(&text, path);
        self.fill(Environment::from_pairs(pairs));
        bad.map_or(Ok(()), Err)
    }
}

/// The largest env file or credential read: a few keys take a few hundred
/// bytes.
pub const MAX_ENV_FILE_BYTES: u64 = 1 << 20;

/// The file's text; at most [`MAX_ENV_FILE_BYTES`] are read.
fn read_bounded(path: &Path) -> Result<String, EnvFileError> {
    let error = |source| EnvFileError::Read {
        path: path.display().to_string(),
        source,
    };
    let too_large = || {
        let kib = MAX_ENV_FILE_BYTES / 1024;
        error(std::io::Error::other(format!(
            "larger than {kib} KiB; is it the right file?"
        )))
    };
    let bytes = read_at_most(path, MAX_ENV_FILE_BYTES as usize).map_err(error)?;
    let bytes = bytes.ok_or_else(too_large)?;
    String::from_utf8(bytes).map_err(|e| error(std::io::Error::other(e)))
}

/// The bytes of `path`, or `None` when it holds more than `max`: never more
/// than `max` and one are read, so a wrong path (a log, a disk image) is
/// not read whole.
pub fn read_at_most(path: &Path, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read env file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Each line that cannot be read, by its number: every one at once.
    #[error("{}", each_line(path, lines))]
    Syntax {
        path: String,
        lines: Vec<(usize, String)>,
    },
}

/// `path:line: message` for each of `lines`, one a line.
fn each_line(path: &str, lines: &[(usize, String)]) -> String {
    let said: Vec<String> = (lines.iter())
        .map(|(line, message)| format!("{path}:{line}: {message}"))
        .collect();
    said.join("\n")
}

/// Parses the subset of systemd's `EnvironmentFile=` syntax that people
/// write: `NAME=value` lines, `#` and `;` comments, blank lines, single- or
/// double-quoted values and lines continued with a trailing backslash.
/// The pairs of the lines that can be read, and the error naming `path`
/// and each line that cannot.
fn parse_env_file(text: &str, path: &Path) -> (Vec<(String, String)>, Option<EnvFileError>) {
    let (mut pairs, mut bad) = (Vec::new(), Vec::new());
    // Windows editors write one; systemd reads it as part of the first
    // name, which the service then does not get.
    let bom = text.starts_with('\u{feff}');
    if bom {
        bad.push((1, "the file starts with a byte-order mark (a Windows editor's), which systemd's EnvironmentFile= reads as part of the first name, so the service would not get that variable; save the file without one (UTF-8 without BOM)".into()));
    }
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let mut line = first.to_string();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next),
                None => break,
            }
        }
        // Named above; the service does not get its variable.
        if bom && index == 0 {
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            // `NAME: value`, `NAME value`: its name, if it reads as a
            // variable's.
            let named = named_prefix(trimmed)
                .filter(|(prefix, _)| !prefix.chars().any(|c| c.is_ascii_lowercase()));
            let said = match named {
                Some((prefix, after)) => {
                    format!("expected NAME=value; {prefix:?} is followed by {after:?}, not `=`")
                }
                None => "expected NAME=value".into(),
            };
            bad.push((index + 1, said));
            continue;
        };
        let name = name.trim();
        if !is_env_name(name, true) {
            bad.push((index + 1, invalid_name(name)));
            continue;
        }
        pairs.push((name.to_string(), unquote(value.trim())));
    }
    let error = (!bad.is_empty()).then(|| EnvFileError::Syntax {
        path: path.display().to_string(),
        lines: bad,
    });
    (pairs, error)
}

/// Why `name` (what came before the first `=`) is no variable name, without
/// quoting it: in a line like `NAME: sk-...=` that would print the key.
/// Only a leading part that is a name is shown, and only one that reads
/// as a name: a variable's (capitals, digits and `_`) before `:` or a
/// space, or a few letters (`sk`); a pasted key cut at its `+` or `/`
/// (`Zm9vYmFy…+/…==`) is not.
fn invalid_name(name: &str) -> String {
    let rule = "a name is letters, digits and `_`, not starting with a digit";
    if name.starts_with("export ") {
        return "invalid variable name: `export` is shell syntax, not env-file syntax; write NAME=value without it".into();
    }
    match named_prefix(name) {
        Some((prefix, c)) => format!(
            "invalid variable name: {prefix:?} is followed by {c:?}; expected NAME=value ({rule})",
        ),
        None => format!("invalid variable name before `=`; expected NAME=value ({rule})"),
    }
}

/// The leading part of `text` that is a name and reads as one (see
/// [`invalid_name`]), and the character after it; `None` when no part
/// may be shown.
fn named_prefix(text: &str) -> Option<(&str, char)> {
    let valid = text
        .char_indices()
        .find(|&(at, c)| !(c == '_' || c.is_ascii_alphabetic() || (at > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(at, _)| at);
    let prefix = &text[..valid];
    let reads_as_a_name = |after: char| {
        let a_variable = !prefix.chars().any(|c| c.is_ascii_lowercase());
        prefix.len() <= 3 || (a_variable && (after == ':' || after == ' '))
    };
    match text[valid..].chars().next() {
        Some(c) if valid > 0 && (c.is_ascii_punctuation() || c == ' ') && reads_as_a_name(c) => {
            Some((prefix, c))
        }
        _ => None,
    }
}

/// A value without its quotes: single quotes keep everything as written;
/// in double quotes, a backslash escapes `"`, `\`, `$` and `` ` ``, and
/// `\n` is a line break.
fn unquote(value: &str) -> String {
    let inside = |quote| value.strip_prefix(quote)?.strip_suffix(quote);
    if let Some(single) = inside('\'') {
        return single.to_string();
    }
    let Some(double) = inside('"') else {
        return value.to_string();
    };
    let mut out = String::with_capacity(double.len());
    let mut chars = double.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped = chars.next_if(|&next| c == '\\' && "\"\\$`n".contains(next));
        out.push(match escaped {
            Some('n') => '\n',
            Some(escaped) => escaped,
            None => c,
        });
    }
    out
}

/// `[A-Za-z_][A-Za-z0-9_]*`, or without `allow_lower` the `[A-Z_][A-Z0-9_]*`
/// form that `${VAR}` substitution accepts.
pub fn is_env_name(name: &str, allow_lower: bool) -> bool {
    let mut chars = name.chars();
    let head_ok =
        |c: char| c == '_' || c.is_ascii_uppercase() || (allow_lower && c.is_ascii_lowercase());
    let tail_ok = |c: char| head_ok(c) || c.is_ascii_digit();
    matches!(chars.next(), Some(c) if head_ok(c)) && chars.all(tail_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file's pairs, or its error when a line cannot be read.
    fn parsed(text: &str, path: &Path) -> Result<Vec<(String, String)>, EnvFileError> {
        match parse_env_file(text, path) {
            (pairs, None) => Ok(pairs),
            (_, Some(error)) => Err(error),
        }
    }

    /// A line that cannot be read leaves the others read: the error
    /// names it, and the variables the file does set are added.
    #[test]
    fn the_lines_that_can_be_read_are_kept_beside_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        std::fs::write(&path, "export MOONSHOT_API_KEY=a\nOPENROUTER_API_KEY=b\n").unwrap();
        let mut env = Environment::from_pairs([("X", "1")]);
        let error = env.load_env_file(&path).unwrap_err().to_string();
        assert!(error.ends_with("secrets.env:1: invalid variable name: `export` is shell syntax, not env-file syntax; write NAME=value without it"), "{error}");
        assert_eq!(env.get("OPENROUTER_API_KEY"), Some("b"));
        assert_eq!(env.get("MOONSHOT_API_KEY"), None);
        // After a byte-order mark the first line's variable is none, as
        // the service would not get it.
        std::fs::write(&path, "\u{feff}A_KEY=a\nB_KEY=b\n").unwrap();
        let mut env = Environment::from_pairs([("X", "1")]);
        assert!(env.load_env_file(&path).is_err());
        assert_eq!((env.get("A_KEY"), env.get("B_KEY")), (None, Some("b")));
    }

    fn check_file(text: &str, expected: &[(&str, &str)]) {
        let got = parsed(text, Path::new("")).unwrap();
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected, "text {text:?}");
    }

    #[test]
    fn env_file_syntax() {
        check_file("A=1\n", &[("A", "1")]);
        check_file("# comment\n; other\n\nA = spaced \n", &[("A", "spaced")]);
        check_file("A=\"quoted \\\"x\\\" $\"\n", &[("A", "quoted \"x\" $")]);
        check_file("A='single $x'\n", &[("A", "single $x")]);
        check_file("A=one\\\ntwo\n", &[("A", "onetwo")]);
        check_file("A=x=y\nlower_case=1", &[("A", "x=y"), ("lower_case", "1")]);
        check_file("A=", &[("A", "")]);
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        // At the start, as systemd would not read the first name.
        let err = parsed("\u{feff}A=1\r\nB=2\n", Path::new("")).unwrap_err();
        assert!(
            err.to_string()
                .contains(":1: the file starts with a byte-order mark"),
            "{err}"
        );
        // Elsewhere it is no part of a name.
        let err = parsed("A=1\n\u{feff}B=2\n", Path::new("")).unwrap_err();
        assert!(
            err.to_string().contains(":2: invalid variable name"),
            "{err}"
        );
    }

    #[test]
    fn env_file_errors_name_the_line() {
        let error_of = |text| parsed(text, Path::new("")).unwrap_err().to_string();
        let plain = error_of("A=1\nnot a pair\n");
        assert!(plain.ends_with(":2: expected NAME=value"), "{plain}");
        // A YAML-like line is named by its name, its value never shown.
        let yaml = error_of("MY_KEY: sk-live-0123456789");
        let named = ":1: expected NAME=value; \"MY_KEY\" is followed by ':', not `=`";
        assert!(yaml.ends_with(named), "{yaml}");
        // Every bad line at once, each on its own line.
        let both = error_of("A: 1\nB=2\nnot a pair\n");
        let lines: Vec<&str> = both.lines().collect();
        assert_eq!(lines.len(), 2, "{both}");
        assert!(lines[0].ends_with(":1: expected NAME=value; \"A\" is followed by ':', not `=`"));
        assert!(lines[1].ends_with(":3: expected NAME=value"), "{both}");
        let err = parsed("1A=2", Path::new("")).unwrap_err();
        assert!(err.to_string().contains("invalid variable name"), "{err}");
    }

    #[test]
    fn env_file_errors_never_quote_a_value() {
        for (line, expected) in [
            (
                "MOONSHOT_API_KEY: sk-live-0123456789=",
                ":1: invalid variable name: \"MOONSHOT_API_KEY\" is followed by ':'; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
            (
                "export KEY sk-live-0123456789=x",
                ":1: invalid variable name: `export` is shell syntax, not env-file syntax; write NAME=value without it",
            ),
            (
                "MY KEY sk-live-0123456789=x",
                ":1: invalid variable name: \"MY\" is followed by ' '; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
            (
                "sk-live-0123456789==",
                ":1: invalid variable name: \"sk\" is followed by '-'; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
            (
                "0sk-live-0123456789=x",
                ":1: invalid variable name before `=`; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
            // A pasted base64 key, cut at its `+`: none of it is shown.
            (
                "Zm9vYmFy0123456789X2tleQ+/abc==",
                ":1: invalid variable name before `=`; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
            (
                "my_key0123456789: value=",
                ":1: invalid variable name before `=`; expected NAME=value (a name is letters, digits and `_`, not starting with a digit)",
            ),
        ] {
            let err = parsed(line, Path::new("")).unwrap_err().to_string();
            assert_eq!(err, expected, "{line}");
            assert!(!err.contains("0123456789"), "{err}");
        }
    }

    #[test]
    fn credentials_define_variables_named_after_their_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("MOONSHOT_API_KEY"), "sk-cred\n").unwrap();
        std::fs::write(dir.path().join("KEEP"), "cred").unwrap();
        std::fs::write(dir.path().join("not a name"), "x").unwrap();
        let mut env = Environment::from_pairs([("KEEP", "process")]);
        env.load_credentials(dir.path()).unwrap();
        assert_eq!(env.get("MOONSHOT_API_KEY"), Some("sk-cred"));
        assert_eq!(env.get("KEEP"), Some("process"));
        assert_eq!(env.get("not a name"), None);
    }

    #[test]
    fn a_huge_env_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.env");
        std::fs::write(&path, format!("A={}\n", "x".repeat(2 << 20))).unwrap();
        let err = Environment::default().load_env_file(&path).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("huge.env: larger than 1024 KiB; is it the right file?"),
            "{err}"
        );
    }

    #[test]
    fn env_file_does_not_override_existing_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        std::fs::write(&path, "KEEP=file\nNEW=file\nTWICE=first\nTWICE=last\n").unwrap();
        let mut env = Environment::from_pairs([("KEEP", "process")]);
        env.load_env_file(&path).unwrap();
        assert_eq!(env.get("KEEP"), Some("process"));
        assert_eq!(env.get("NEW"), Some("file"));
        // The file's last assignment, as systemd reads it.
        assert_eq!(env.get("TWICE"), Some("last"));
        let missing = env.load_env_file(&dir.path().join("absent")).unwrap_err();
        assert!(
            missing.to_string().starts_with("cannot read env file"),
            "{missing}"
        );
    }
}
