//! The `${VAR}` substitution of the config's strings, drawing on an
//! [`Environment`](crate::ops::env::Environment).

use crate::ops::env::is_env_name;

/// Replaces every `${NAME}` in `input` (NAME of the form `[A-Z_][A-Z0-9_]*`)
/// with `lookup(NAME)`. `$${NAME}` yields a literal `${NAME}`, and any other
/// `${...}` is kept as written. Returns the names that `lookup` did not know;
/// their placeholders stay in the output unchanged.
pub fn substitute<'a>(
    input: &str,
    mut lookup: impl FnMut(&str) -> Option<&'a str>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(input.len());
    let mut missing = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let escaped = rest.starts_with("$$");
        let name = rest[1 + usize::from(escaped)..]
            .strip_prefix('{')
            .and_then(|body| body.split_once('}'))
            .map(|(name, _)| name)
            .filter(|name| is_env_name(name, false));
        let Some(name) = name else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        // `${NAME}`, or `$${NAME}` when escaped.
        let (written, after) = rest.split_at(name.len() + 3 + usize::from(escaped));
        if escaped {
            out.push_str(&written[1..]);
        } else if let Some(value) = lookup(name) {
            out.push_str(value);
        } else {
            out.push_str(written);
            missing.push(name.to_string());
        }
        rest = after;
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn check_sub(input: &str, expected: &str, expected_missing: &[&str]) {
        let vars: HashMap<&str, &str> = [("KEY", "sk-1"), ("A_B2", "x")].into();
        let (out, missing) = substitute(input, |n| vars.get(n).copied());
        assert_eq!(out, expected, "input {input:?}");
        assert_eq!(missing, expected_missing, "input {input:?}");
    }

    #[test]
    fn substitution() {
        check_sub("${KEY}", "sk-1", &[]);
        check_sub("Bearer ${KEY}!", "Bearer sk-1!", &[]);
        check_sub("${KEY}${A_B2}", "sk-1x", &[]);
        check_sub("$${KEY}", "${KEY}", &[]);
        // Left to right: a lone `$`, then the escape `$${KEY}`.
        check_sub("$$${KEY}", "$${KEY}", &[]);
        check_sub("${NOPE}", "${NOPE}", &["NOPE"]);
        check_sub("${lower}", "${lower}", &[]);
        check_sub("${1ABC}", "${1ABC}", &[]);
        check_sub("${KEY", "${KEY", &[]);
        check_sub("cost $5 and ${", "cost $5 and ${", &[]);
        check_sub("plain", "plain", &[]);
        check_sub("ünïcode ${KEY} ✓", "ünïcode sk-1 ✓", &[]);
    }
}
