//! Syntax errors a person can act on. The `json5` parser reports where its
//! grammar gave up, which for the commonest mistakes is not where the
//! mistake is (a missing comma on line 5 is "expected boolean or null" at
//! the string before it). A light scan of the text finds the real place of
//! those mistakes first: a missing `,` between members or elements, a
//! missing `:`, a string or comment never closed, a bracket never closed or
//! closed by the wrong one. The message says what is probably missing and
//! shows the line with a caret under the place, as rustc does.

/// The message for a config that `json5` refused with `error`.
pub fn explain(text: &str, error: &json5::Error) -> String {
    if let Some(found) = scan(text) {
        return found.render(text);
    }
    let json5::Error::Message { msg, location } = error;
    // The parser's own words, first line only: the rest is its grammar.
    let msg = msg.lines().next().unwrap_or_default().trim();
    match location {
        Some(location) => Found {
            line: location.line,
            column: location.column,
            message: msg.to_string(),
        }
        .render(text),
        None => format!("invalid JSON5: {msg}"),
    }
}

/// A mistake at a place: 1-based line and column (in characters).
#[derive(Debug, PartialEq, Eq)]
struct Found {
    line: usize,
    column: usize,
    message: String,
}

impl Found {
    fn render(&self, text: &str) -> String {
        let source = text.lines().nth(self.line.saturating_sub(1)).unwrap_or("");
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let caret = " ".repeat(self.column.saturating_sub(1));
        format!(
            "invalid JSON5 at line {}, column {}: {}\n{pad} |\n{number} | {source}\n{pad} | {caret}^",
            self.line, self.column, self.message
        )
    }
}

/// A position in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

/// What the scan expects next inside a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A member's key (or the closer).
    Key,
    Colon,
    Value,
    /// `,` or the closer, after a value ended at `Pos`.
    CommaAfter(Pos),
}

struct Open {
    bracket: char,
    at: Pos,
    expect: Expect,
}

/// The first mistake the scan recognises, if any.
fn scan(text: &str) -> Option<Found> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let mut stack: Vec<Open> = Vec::new();
    let mut top_done = false;
    let found = |pos: Pos, message: String| {
        Some(Found {
            line: pos.line,
            column: pos.column,
            message,
        })
    };
    // Moves past `n` characters, keeping line and column.
    macro_rules! advance {
        ($n:expr) => {
            for _ in 0..$n {
                if chars.get(i) == Some(&'\n') {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
                i += 1;
            }
        };
    }
    while i < chars.len() {
        let c = chars[i];
        let here = Pos { line, column };
        if c.is_whitespace() || c == '\u{feff}' {
            advance!(1);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance!(1);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            advance!(2);
            loop {
                if i >= chars.len() {
                    return found(here, "this comment is never closed: add `*/`".into());
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance!(2);
                    break;
                }
                advance!(1);
            }
            continue;
        }
        // Where this token sits: what the innermost container expected.
        let expect = stack.last().map(|open| open.expect);
        let closer = match c {
            '}' | ']' => Some(c),
            _ => None,
        };
        if let Some(closer) = closer {
            let Some(open) = stack.pop() else {
                return found(here, format!("`{closer}` closes nothing: remove it"));
            };
            let wanted = if open.bracket == '{' { '}' } else { ']' };
            if closer != wanted {
                return found(
                    here,
                    format!(
                        "expected `{wanted}` to close the `{}` of line {}, found `{closer}`",
                        open.bracket, open.at.line
                    ),
                );
            }
            if matches!(open.expect, Expect::Colon) {
                return found(here, "expected `:` and a value after this key".into());
            }
            advance!(1);
            value_ended(&mut stack, &mut top_done, Pos { line, column });
            continue;
        }
        match (c, expect) {
            (',', Some(Expect::CommaAfter(_))) => {
                let open = stack.last_mut().expect("inside a container");
                open.expect = if open.bracket == '{' {
                    Expect::Key
                } else {
                    Expect::Value
                };
                advance!(1);
                continue;
            }
            (',', _) => return found(here, "unexpected `,`: a value is missing before it".into()),
            (':', Some(Expect::Colon)) => {
                stack.last_mut().expect("inside an object").expect = Expect::Value;
                advance!(1);
                continue;
            }
            (':', _) => return found(here, "unexpected `:`".into()),
            (_, Some(Expect::CommaAfter(end))) => {
                let what = if stack.last().is_some_and(|o| o.bracket == '{') {
                    "members"
                } else {
                    "elements"
                };
                return found(
                    end,
                    format!(
                        "expected `,` after this value: a comma is probably missing between {what}"
                    ),
                );
            }
            (_, Some(Expect::Colon)) => {
                return found(here, "expected `:` after the key before this".into());
            }
            _ => {}
        }
        if expect.is_none() && top_done {
            return found(here, "unexpected text after the end of the config".into());
        }
        match c {
            '{' | '[' => {
                if let Some(open) = stack.last_mut() {
                    // The container itself is the value being read.
                    open.expect = Expect::Value;
                }
                stack.push(Open {
                    bracket: c,
                    at: here,
                    expect: if c == '{' { Expect::Key } else { Expect::Value },
                });
                advance!(1);
                continue;
            }
            '"' | '\'' => {
                advance!(1);
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return found(
                                here,
                                format!("this string is never closed: add `{c}` at its end"),
                            );
                        }
                        Some('\\') => advance!(2),
                        Some(&quote) if quote == c => {
                            advance!(1);
                            break;
                        }
                        Some(_) => advance!(1),
                    }
                }
            }
            _ => {
                // A number, a literal or an unquoted key: up to a delimiter.
                while i < chars.len() && !is_delimiter(chars[i]) {
                    advance!(1);
                }
                if here == (Pos { line, column }) {
                    return found(here, format!("unexpected `{c}`"));
                }
            }
        }
        let end = Pos { line, column };
        match stack.last_mut() {
            Some(open) if open.bracket == '{' && open.expect == Expect::Key => {
                open.expect = Expect::Colon;
            }
            _ => value_ended(&mut stack, &mut top_done, end),
        }
    }
    match stack.last() {
        Some(open) => {
            let wanted = if open.bracket == '{' { '}' } else { ']' };
            found(
                open.at,
                format!("this `{}` is never closed: add `{wanted}`", open.bracket),
            )
        }
        None => None,
    }
}

/// After a value that ended just before `end`: its container now wants `,`.
fn value_ended(stack: &mut [Open], top_done: &mut bool, end: Pos) {
    match stack.last_mut() {
        Some(open) => {
            // The caret goes on the value's last character.
            let last = Pos {
                line: end.line,
                column: end.column.saturating_sub(1).max(1),
            };
            open.expect = Expect::CommaAfter(last);
        }
        None => *top_done = true,
    }
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ':' | '{' | '}' | '[' | ']' | '"' | '\'' | '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let error =
            json5::from_str::<serde_json::Value>(text).expect_err("the text is invalid JSON5");
        assert_eq!(explain(text, &error), expected, "{text}");
    }

    #[test]
    fn common_mistakes_are_found_where_they_are() {
        check(
            "{\n  gateway: {\n    port: 18700,\n  },\n  models: { mode: \"merge\" }\n  agents: {},\n}",
            "invalid JSON5 at line 5, column 27: expected `,` after this value: a comma is probably missing between members\n  |\n5 |   models: { mode: \"merge\" }\n  |                           ^",
        );
        check(
            "{\n  a: \"x\"\n  b: 1\n}",
            "invalid JSON5 at line 2, column 8: expected `,` after this value: a comma is probably missing between members\n  |\n2 |   a: \"x\"\n  |        ^",
        );
        check(
            "{ fallbacks: [\"a/b\" \"c/d\"] }",
            "invalid JSON5 at line 1, column 19: expected `,` after this value: a comma is probably missing between elements\n  |\n1 | { fallbacks: [\"a/b\" \"c/d\"] }\n  |                   ^",
        );
        check(
            "{\n  a: \"open,\n  b: 1\n}",
            "invalid JSON5 at line 2, column 6: this string is never closed: add `\"` at its end\n  |\n2 |   a: \"open,\n  |      ^",
        );
        check(
            "{\n  models: {\n    mode: \"merge\",\n}",
            "invalid JSON5 at line 1, column 1: this `{` is never closed: add `}`\n  |\n1 | {\n  | ^",
        );
        check(
            "{ a: [1, 2} }",
            "invalid JSON5 at line 1, column 11: expected `]` to close the `[` of line 1, found `}`\n  |\n1 | { a: [1, 2} }\n  |           ^",
        );
        check(
            "{ a 1 }",
            "invalid JSON5 at line 1, column 5: expected `:` after the key before this\n  |\n1 | { a 1 }\n  |     ^",
        );
        check(
            "{ a: 1 /* note }",
            "invalid JSON5 at line 1, column 8: this comment is never closed: add `*/`\n  |\n1 | { a: 1 /* note }\n  |        ^",
        );
        check(
            "{ a: 1,, }",
            "invalid JSON5 at line 1, column 8: unexpected `,`: a value is missing before it\n  |\n1 | { a: 1,, }\n  |        ^",
        );
    }

    #[test]
    fn valid_json5_is_never_flagged() {
        for text in [
            "{}",
            "{ a: 1, b: [1, 2,], 'c': \"d\", }",
            "// comment\n{ /* inline */ a: { b: null }, e: 'it\\'s', f: -1.5e3, g: Infinity }",
            "{ \"url\": \"http://x/y\" }",
            "\u{feff}{ a: 1 }",
        ] {
            assert!(
                json5::from_str::<serde_json::Value>(text).is_ok(),
                "{text} is valid JSON5"
            );
            assert!(scan(text).is_none(), "{text}: {:?}", scan(text));
        }
    }

    #[test]
    fn other_errors_keep_the_parsers_words_with_a_caret() {
        let text = "{ a: tru }";
        let error = json5::from_str::<serde_json::Value>(text).unwrap_err();
        let explained = explain(text, &error);
        assert!(
            explained.starts_with("invalid JSON5 at line 1, column 6: "),
            "{explained}"
        );
        assert!(explained.ends_with("\n  |      ^"), "{explained}");
    }
}
