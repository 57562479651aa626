//! Syntax errors a person can act on. The `json5` parser reports where its
//! grammar gave up, which for the commonest mistakes is not where the
//! mistake is (a missing comma on line 5 is "expected boolean or null" at
//! the string before it). A light scan of the text finds the real place of
//! those mistakes first: a missing `,` between members or elements, a
//! missing `:`, a string or comment never closed, a bracket never closed or
//! closed by the wrong one. The message says what is probably missing and
//! shows the line with a caret under the place, as rustc does.
//!
//! The line shown is an excerpt with every value masked (string literals,
//! comments, bare words other than keys, literals and short numbers become
//! `…`): a config may hold literal keys, and an error must never print one.
//!
//! [`too_deep`] is the bound checked before any recursive parse: a linear
//! scan for nesting deeper than the limit.

/// The message for a config that `json5` refused with `error`.
pub fn explain(text: &str, error: &json5::Error) -> String {
    if let Some(found) = scan(text) {
        return found.render(text);
    }
    let json5::Error::Message { msg, location } = error;
    // The parser's own words: its `= expected ...` line, when the message
    // quotes the source (which may hold a key) as pest's do; else its first
    // line (`error parsing integer`).
    let msg = if msg.contains("-->") {
        msg.lines()
            .find_map(|line| line.trim().strip_prefix("= "))
            .unwrap_or("the parser gave up here")
    } else {
        msg.lines().next().unwrap_or_default().trim()
    };
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

/// The message for the first place where `text` nests objects and arrays
/// deeper than `max`, if there is one. A linear scan that skips strings
/// and comments, so it runs before any recursive parse.
pub fn too_deep(text: &str, max: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    let column = text[line_start..i].chars().count() + 1;
                    let message = format!(
                        "nested more than {max} levels deep; clawgate reads configs up to {max} levels of objects and arrays"
                    );
                    return Some(
                        Found {
                            line,
                            column,
                            message,
                        }
                        .render(text),
                    );
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            quote @ (b'"' | b'\'') => {
                // To the closing quote, or to the line's end, where JSON5
                // ends the string with an error.
                // A backslash escapes whatever follows it, a line break
                // included (JSON5's line continuation: the string goes on).
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        // `\r\n` is one line break.
                        let skip = if bytes[i + 1..].starts_with(b"\r\n") {
                            3
                        } else {
                            2
                        };
                        if bytes.get(i + skip - 1) == Some(&b'\n') {
                            line += 1;
                            line_start = i + skip;
                        }
                        i += skip;
                    } else {
                        i += 1;
                    }
                }
                if bytes.get(i) == Some(&quote) {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A mistake at a place: 1-based line and column (in characters).
#[derive(Debug, PartialEq, Eq)]
struct Found {
    line: usize,
    column: usize,
    message: String,
}

/// The most characters of a line shown on either side of the caret.
const EXCERPT_REACH: usize = 60;

impl Found {
    fn render(&self, text: &str) -> String {
        let (source, caret) = masked_line(text, self.line, self.column);
        // A long line is shown around the caret.
        let chars: Vec<char> = source.chars().collect();
        let from = caret.saturating_sub(EXCERPT_REACH);
        let to = (caret + EXCERPT_REACH).min(chars.len());
        let mut shown: String = chars[from.min(to)..to].iter().collect();
        let mut caret = caret - from;
        if from > 0 {
            shown.insert(0, MASK);
            caret += 1;
        }
        if to < chars.len() {
            shown.push(MASK);
        }
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let caret = " ".repeat(caret);
        format!(
            "invalid JSON5 at line {}, column {}: {}\n{pad} |\n{number} | {shown}\n{pad} | {caret}^",
            self.line, self.column, self.message
        )
    }
}

/// What the text is in at a character, for masking.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lexeme {
    Code,
    Str(char),
    LineComment,
    BlockComment,
}

/// What stands in for a masked value.
const MASK: char = '…';

/// Line `line` (1-based) of `text` with every value masked, and the
/// 0-based character offset in it of `column` (1-based) of the original.
/// Strings' and comments' contents, and bare words other than keys and
/// [shown literals](is_shown_literal), become one [`MASK`]. The text is
/// lexed from its start, so a line that begins inside a string or a
/// comment is masked too.
fn masked_line(text: &str, line: usize, column: usize) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::new();
    let mut caret = None;
    let (mut at_line, mut col) = (1, 1);
    let mut state = Lexeme::Code;
    // Whether the mask for the current string or comment is out already.
    let mut masked = false;
    let mut i = 0;
    while i < chars.len() && at_line <= line {
        let c = chars[i];
        let here = at_line == line;
        if c == '\n' {
            if here && caret.is_none() && col <= column {
                caret = Some(out.len());
            }
            at_line += 1;
            col = 1;
            i += 1;
            if matches!(state, Lexeme::LineComment | Lexeme::Str(_)) {
                state = Lexeme::Code;
            }
            masked = false;
            continue;
        }
        // What this step writes, and how many characters it reads.
        let mut written: Vec<char> = Vec::new();
        let mut taken = 1;
        let mask = |written: &mut Vec<char>, masked: &mut bool| {
            if !*masked {
                written.push(MASK);
            }
            *masked = true;
        };
        match state {
            Lexeme::Str(quote) if c == quote => {
                written.push(c);
                state = Lexeme::Code;
            }
            Lexeme::Str(_) => {
                mask(&mut written, &mut masked);
                if c == '\\' && chars.get(i + 1).is_some_and(|next| *next != '\n') {
                    taken = 2;
                }
            }
            Lexeme::LineComment => mask(&mut written, &mut masked),
            Lexeme::BlockComment if c == '*' && chars.get(i + 1) == Some(&'/') => {
                written.extend(['*', '/']);
                taken = 2;
                state = Lexeme::Code;
            }
            Lexeme::BlockComment => mask(&mut written, &mut masked),
            Lexeme::Code => {
                masked = false;
                if let Some(end) = (c == '"' || c == '\'')
                    .then(|| quoted_key(&chars, i))
                    .flatten()
                {
                    // A quoted key (a JSON file's are all quoted) is shown
                    // as a bare one is.
                    written.extend(&chars[i..end]);
                    taken = end - i;
                } else if c == '"' || c == '\'' {
                    written.push(c);
                    state = Lexeme::Str(c);
                } else if c == '/' && matches!(chars.get(i + 1), Some('/' | '*')) {
                    written.extend(['/', chars[i + 1]]);
                    state = if chars[i + 1] == '/' {
                        Lexeme::LineComment
                    } else {
                        Lexeme::BlockComment
                    };
                    taken = 2;
                } else if is_delimiter(c) {
                    written.push(if c.is_control() { ' ' } else { c });
                } else {
                    let end = (i..chars.len())
                        .find(|&j| is_delimiter(chars[j]))
                        .unwrap_or(chars.len());
                    let word = &chars[i..end];
                    let is_key =
                        chars[end..].iter().find(|c| !matches!(c, ' ' | '\t')) == Some(&':');
                    let text: String = word.iter().collect();
                    if (is_key && is_shown_key(&text)) || is_shown_literal(&text) {
                        if here && caret.is_none() && (col..col + word.len()).contains(&column) {
                            caret = Some(out.len() + column - col);
                        }
                        written.extend(word);
                    } else {
                        mask(&mut written, &mut masked);
                        masked = false;
                    }
                    taken = end - i;
                }
            }
        }
        if here {
            // A caret inside what was read goes on the first character
            // written for it.
            if caret.is_none() && (col..col + taken).contains(&column) {
                caret = Some(out.len());
            }
            out.extend(written);
        }
        i += taken;
        col += taken;
    }
    let len = out.len();
    (out.into_iter().collect(), caret.unwrap_or(len).min(len))
}

/// The end (past its closing quote) of the string opening at `start` when
/// it is a key: no escape in it, a colon after it, and its text one
/// [`is_shown_key`] shows.
fn quoted_key(chars: &[char], start: usize) -> Option<usize> {
    let quote = chars[start];
    let close = start
        + 1
        + chars[start + 1..]
            .iter()
            .position(|&c| c == quote || c == '\\' || c == '\n')?;
    if chars[close] != quote {
        return None;
    }
    let text: String = chars[start + 1..close].iter().collect();
    let colon = chars[close + 1..].iter().find(|c| !matches!(c, ' ' | '\t')) == Some(&':');
    (colon && is_shown_key(&text)).then_some(close + 1)
}

/// A bare word before a colon, shown as a key only if it could be one: a
/// JSON5 identifier (letters, digits, `_`, `$`) of a key's length. A
/// misplaced quote can leave part of a secret bare before a colon
/// (`hdr-secret-P0o9:8u7y…` once its opening quote has moved), and that
/// is no key.
fn is_shown_key(word: &str) -> bool {
    let mut chars = word.chars();
    word.len() <= SHOWN_KEY_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// Longer bare words are masked even before a colon: config keys, provider
/// names and variable names are shorter.
const SHOWN_KEY_LEN: usize = 40;

/// Numbers longer than this are masked: a port, a timeout or a price is
/// shorter, a key written as a number is not.
const SHOWN_NUMBER_LEN: usize = 8;

/// A bare word shown in an excerpt: a JSON5 literal or a short number.
fn is_shown_literal(word: &str) -> bool {
    let unsigned = word.trim_start_matches(['+', '-']);
    let short_number = word.len() <= SHOWN_NUMBER_LEN
        && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && (unsigned.parse::<f64>().is_ok() || unsigned.starts_with("0x"));
    short_number || matches!(unsigned, "true" | "false" | "null" | "Infinity" | "NaN")
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
        if is_typographic_quote(c) {
            return found(
                here,
                format!(
                    "`{c}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`"
                ),
            );
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
            (';', Some(Expect::CommaAfter(_))) => return found(here, looks_like_nix(';')),
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
            ('=', Some(Expect::Colon)) => return found(here, looks_like_nix('=')),
            (_, Some(Expect::Colon)) => {
                return found(here, "expected `:` after the key before this".into());
            }
            _ => {}
        }
        if expect.is_none() && top_done {
            if matches!(c, '=' | ';') {
                return found(here, looks_like_nix(c));
            }
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
    c.is_whitespace()
        || matches!(
            c,
            ',' | ':' | '{' | '}' | '[' | ']' | '"' | '\'' | '/' | '=' | ';'
        )
        || is_typographic_quote(c)
}

/// Quotes a word processor or a blog writes for `"` and `'`: shown as
/// themselves in an excerpt, they are what the error is about.
fn is_typographic_quote(c: char) -> bool {
    matches!(
        c,
        '\u{201c}'
            | '\u{201d}'
            | '\u{201e}'
            | '\u{201f}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{00ab}'
            | '\u{00bb}'
    )
}

/// The message for Nix's `=` or `;` where JSON5 wants `:` or `,`.
fn looks_like_nix(c: char) -> String {
    format!(
        "unexpected `{c}`: this looks like Nix (`key = value;`); a JSON5 config writes `key: value,` (Nix belongs in the modules' services.clawgate.settings, see docs/nix.md)"
    )
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
            "invalid JSON5 at line 5, column 27: expected `,` after this value: a comma is probably missing between members\n  |\n5 |   models: { mode: \"…\" }\n  |                       ^",
        );
        check(
            "{\n  a: \"x\"\n  b: 1\n}",
            "invalid JSON5 at line 2, column 8: expected `,` after this value: a comma is probably missing between members\n  |\n2 |   a: \"…\"\n  |        ^",
        );
        check(
            "{ fallbacks: [\"a/b\" \"c/d\"] }",
            "invalid JSON5 at line 1, column 19: expected `,` after this value: a comma is probably missing between elements\n  |\n1 | { fallbacks: [\"…\" \"…\"] }\n  |                 ^",
        );
        check(
            "{\n  a: \"open,\n  b: 1\n}",
            "invalid JSON5 at line 2, column 6: this string is never closed: add `\"` at its end\n  |\n2 |   a: \"…\n  |      ^",
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
            "invalid JSON5 at line 1, column 5: expected `:` after the key before this\n  |\n1 | { … 1 }\n  |     ^",
        );
        check(
            "{ a: 1 /* note }",
            "invalid JSON5 at line 1, column 8: this comment is never closed: add `*/`\n  |\n1 | { a: 1 /*…\n  |        ^",
        );
        check(
            "{ a: 1,, }",
            "invalid JSON5 at line 1, column 8: unexpected `,`: a value is missing before it\n  |\n1 | { a: 1,, }\n  |        ^",
        );
    }

    /// Quotes pasted from a blog are named, and shown in the excerpt (the
    /// value between them stays masked).
    #[test]
    fn typographic_quotes_are_named_and_shown() {
        check(
            "{\n  agents: { defaults: { model: { primary: \u{201c}kimi/kimi-for-coding\u{201d} } } },\n}",
            "invalid JSON5 at line 2, column 43: `\u{201c}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`\n  |\n2 |   agents: { defaults: { model: { primary: \u{201c}\u{2026}/\u{2026}\u{201d} } } },\n  |                                           ^",
        );
        check(
            "{ \u{2018}port\u{2019}: 18700 }",
            "invalid JSON5 at line 1, column 3: `\u{2018}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`\n  |\n1 | { \u{2018}\u{2026}\u{2019}: 18700 }\n  |   ^",
        );
    }

    /// Nix pasted into the JSON5 file: `=` and `;` say so, wherever they
    /// stand.
    #[test]
    fn nix_syntax_is_named() {
        let nix = "unexpected `=`: this looks like Nix (`key = value;`); a JSON5 config writes `key: value,` (Nix belongs in the modules' services.clawgate.settings, see docs/nix.md)";
        check(
            "services.clawgate.settings = { gateway.port = 18700; };",
            &format!(
                "invalid JSON5 at line 1, column 28: {nix}\n  |\n1 | … = {{ … = 18700; }};\n  |   ^"
            ),
        );
        check(
            "{ gateway = { port = 18700; }; }",
            &format!(
                "invalid JSON5 at line 1, column 11: {nix}\n  |\n1 | {{ … = {{ … = 18700; }}; }}\n  |     ^"
            ),
        );
        check(
            "{ port: 18700; }",
            "invalid JSON5 at line 1, column 14: unexpected `;`: this looks like Nix (`key = value;`); a JSON5 config writes `key: value,` (Nix belongs in the modules' services.clawgate.settings, see docs/nix.md)\n  |\n1 | { port: 18700; }\n  |              ^",
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

    const SECRET: &str = "sk-live-0123456789abcdef";

    fn explained(text: &str) -> String {
        let error = json5::from_str::<serde_json::Value>(text).expect_err("invalid JSON5");
        explain(text, &error)
    }

    #[test]
    fn the_line_shown_never_holds_a_value() {
        for text in [
            // A missing comma after a literal key, the commonest mistake.
            format!("{{\n  apiKey: \"{SECRET}\"\n  b: 1\n}}"),
            format!("{{ apiKey: '{SECRET}' token: 1 }}"),
            // Quotes forgotten, or one of them.
            format!("{{ apiKey: {SECRET}, }}"),
            format!("{{ apiKey: {SECRET}\", }}"),
            format!("{{ apiKey: \"{SECRET}, }}"),
            // In a comment, on the line or around it.
            format!("{{ a: 1 // old key {SECRET}\n b: 2 c: 3 }}"),
            format!("{{ a: 1 /* old key\n {SECRET} */ b: 2 c: 3 }}"),
            // A key written as a number, and a key before an escape.
            "{ token: 12345678901234567890 x }".to_string(),
            format!("{{ a: \"\\\"{SECRET}\" b }}"),
            // A quote typed over a line break moves every string boundary
            // after it: a secret's first part is left bare before a colon.
            format!(
                "{{\n  apiKey: \"x\",\"  h: {{ \"X-Api-Key\": \"{}:{}\" }},\n}}",
                &SECRET[..12],
                &SECRET[12..]
            ),
        ] {
            let message = explained(&text);
            assert!(message.starts_with("invalid JSON5 at line "), "{message}");
            assert!(!message.contains(&SECRET[..10]), "{text}\n{message}");
            assert!(!message.contains("1234567890"), "{text}\n{message}");
        }
    }

    #[test]
    fn keys_literals_and_short_numbers_stay_readable() {
        assert_eq!(
            explained("{ port: 18700, open: true x: null }"),
            "invalid JSON5 at line 1, column 25: expected `,` after this value: a comma is probably missing between members\n  |\n1 | { port: 18700, open: true x: null }\n  |                         ^"
        );
    }

    #[test]
    fn quoted_keys_are_shown_and_their_values_masked() {
        let message =
            explained(r#"{ "gateway": { "port": 18700, "token": "s3cret-value" "x": 1 } }"#);
        let shown = message.lines().nth(2).unwrap();
        assert_eq!(
            shown, r#"1 | { "gateway": { "port": 18700, "token": "…" "x": 1 } }"#,
            "{message}"
        );
        // A string before a colon that could not be a key stays masked.
        let message = explained(r#"{ "a": "x", "hdr-secret-P0o9": 1 "b": 2 }"#);
        assert!(!message.contains("P0o9"), "{message}");
    }

    #[test]
    fn a_long_line_is_shown_around_the_caret() {
        let text = format!("{{ a: [{}] b: 1 }}", "1, ".repeat(10_000));
        let message = explained(&text);
        let shown = message.lines().nth(2).unwrap();
        assert!(shown.chars().count() < 2 * EXCERPT_REACH + 10, "{shown}");
        assert!(
            shown.starts_with("1 | …1, 1, ") && shown.ends_with(" b: 1 }"),
            "{shown}"
        );
        let caret = message.lines().nth(3).unwrap();
        let bracket = shown.find("] b").unwrap();
        let bracket = shown.char_indices().position(|(at, _)| at == bracket);
        assert_eq!(caret.chars().position(|c| c == '^'), bracket, "{message}");
    }

    #[test]
    fn nesting_is_bounded_before_parsing() {
        assert_eq!(too_deep("{a: [[{b: 1}]]}", 4), None);
        assert_eq!(
            too_deep("{a: [[{b: [1]}]]}", 4).as_deref(),
            Some(
                "invalid JSON5 at line 1, column 11: nested more than 4 levels deep; clawgate reads configs up to 4 levels of objects and arrays\n  |\n1 | {a: [[{b: [1]}]]}\n  |           ^"
            )
        );
        // Brackets in strings and comments do not count.
        assert_eq!(
            too_deep(
                "{a: '[[[[[', b: \"{{{{\\\"[[[[\", // [[[[[\n /* {{{{{\n[[[[ */ c: [1]}",
                2
            ),
            None
        );
        // A string ends at the line's end (as JSON5 ends it, with an error).
        assert!(too_deep("{a: \"open\n[[[[[[", 4).is_some());
        // A backslash before the line break continues the string (JSON5's
        // line continuation, LF or CRLF): what follows is still counted,
        // and json5 itself parses it.
        for (continued, line) in [
            ("{k: \"a\\\nb\", x: [[[[[1]]]]]}", 2),
            ("{k: 'a\\\r\nb', x: [[[[[1]]]]]}", 2),
        ] {
            assert!(
                json5::from_str::<serde_json::Value>(continued).is_ok(),
                "{continued}"
            );
            let message = too_deep(continued, 4).expect("counted after the continuation");
            assert!(
                message.starts_with(&format!("invalid JSON5 at line {line}, column ")),
                "{message}"
            );
        }
        // A million levels: found at once, without recursion.
        let deep = "[".repeat(1_000_000);
        let message = too_deep(&deep, 64).unwrap();
        assert!(
            message.starts_with("invalid JSON5 at line 1, column 65: nested more than 64"),
            "{message}"
        );
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
        // Only the parser's words: not its own quote of the line.
        assert!(!explained.contains("-->"), "{explained}");
        assert!(explained.contains("\n1 | { a: … }\n"), "{explained}");
    }
}
