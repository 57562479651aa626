//! Syntax errors a person can act on, worded from the `json5` parser's
//! error code and position. A few codes are placed where the mistake is
//! rather than where the parser noticed it (a missing `,` is shown after
//! the value before it, an unclosed comment at its `/*`, a string left
//! open by a typographic closing quote at that quote), and two pastes are
//! named for what they are: typographic quotes and Nix's `key = value;`.
//! The message shows the line with a caret under the place, as rustc does.
//!
//! The line shown is an excerpt with every value masked (string literals,
//! comments, bare words other than keys, literals and short numbers become
//! `…`): a config may hold literal keys, and an error must never print one.
//!
//! Two errors of clawgate's own are carried by the parser, which places
//! them: [`too_deep`], the nesting bound, where it is crossed, and
//! [`twice`], a key written twice in one object, at the second, which
//! [`written_twice`] words with the key's path.

use json5::ErrorCode::*;

use super::MAX_CONFIG_DEPTH;

/// The message for a config that `json5` refused with `error`.
pub fn explain(text: &str, error: &json5::Error) -> String {
    // The byte offset of the parser's place (the text's end when it names
    // none: the text ended before a value), and the text from it to the
    // line's end.
    let mut at = error.position().map_or(text.len(), |position| {
        let (start, _) = read_line(text, position.line + 1);
        let at = text[start..].char_indices().nth(position.column);
        at.map_or(text.len(), |(at, _)| start + at)
    });
    let rest = text[at..].split('\n').next().unwrap_or_default();
    let here = rest.chars().next();
    // Nix's `key = value`: an `=` before any `:`, quote or `,`.
    let nix_equals = rest
        .find(['=', ':', '"', '\'', ','])
        .filter(|&from| rest[from..].starts_with('='));
    // The message; where the mistake is elsewhere than the parser's place,
    // `at` is moved to it.
    let message = match (error.code(), here) {
        (_, Some(c)) if is_typographic_quote(c) => typographic(c),
        (Some(ExpectedComma), Some(';')) => looks_like_nix(';'),
        (Some(TrailingCharacters), Some(c @ ('=' | ';'))) => looks_like_nix(c),
        (Some(ExpectedColon | ExpectedComma | ExpectedValue | TrailingCharacters), _)
            if nix_equals.is_some() =>
        {
            at += nix_equals.unwrap_or(0);
            looks_like_nix('=')
        }
        (Some(ExpectedComma), Some(found @ ('}' | ']'))) => {
            let wanted = if found == '}' { ']' } else { '}' };
            format!(
                "expected `,` or `{wanted}`, found `{found}`: a bracket is probably closed by the wrong one"
            )
        }
        (Some(ExpectedComma), _) => {
            let what = if in_object(&text[..at]) || is_member(rest) {
                "members"
            } else {
                "elements"
            };
            // The caret goes on the last character of the value before.
            let before = text[..at].trim_end();
            at = before.char_indices().last().map_or(0, |(last, _)| last);
            format!("expected `,` after this value: a comma is probably missing between {what}")
        }
        (Some(ExpectedColon), _) => "expected `:` after the key before this".into(),
        (Some(ExpectedIdentifier | ExpectedValue), Some(',')) => {
            "unexpected `,`: a value is missing before it".into()
        }
        (Some(ExpectedIdentifier), _) => "expected a key: a name, or a string in quotes".into(),
        // The parser stops inside the word (`tru`): the caret goes on its
        // start.
        (Some(ExpectedBool | ExpectedNull), _) => {
            at = text[..at].trim_end_matches(|c| !is_delimiter(c)).len();
            EXPECTED_VALUE.into()
        }
        (Some(ExpectedValue), _) => EXPECTED_VALUE.into(),
        (Some(EofParsingValue), None) => {
            "the text ends where a value should be: a config is an object, `{}` at least".into()
        }
        // Everything after an unclosed `/*` is comment: its last `/*` is in
        // it. The parser names the start of the value around it.
        (Some(EofParsingComment), _) => {
            at = text.rfind("/*").unwrap_or(at);
            "this comment is never closed: add `*/`".into()
        }
        // The string runs from its quote to the end of the line where the
        // parser stopped (the text's last when it ended in the string): a
        // typographic quote of its kind in it was meant to close it.
        (Some(code @ (LineTerminatorInString | EofParsingString)), _) => {
            let line = match code {
                LineTerminatorInString => text[..at].matches('\n').count() + 1,
                _ => text.split('\n').count(),
            };
            let (start, masked) = read_line(text, line);
            let open = masked.open.map(|open| start + open);
            match open.and_then(|open| typographic_close(text, open)) {
                Some((close, c)) => {
                    at = close;
                    typographic(c)
                }
                // The caret goes on the quote that opens it.
                None => {
                    at = open.unwrap_or(at);
                    "this string is never closed: add its closing quote at the end".into()
                }
            }
        }
        // A second object after the config: its `{` is closed.
        (Some(TrailingCharacters), Some('{')) => {
            "unexpected text after the end of the config: a config is one object, so merge this one into the one before".into()
        }
        (Some(TrailingCharacters), _) => "unexpected text after the end of the config".into(),
        (Some(_), Some(open @ ('{' | '['))) => {
            let wanted = if open == '{' { '}' } else { ']' };
            format!("this `{open}` is never closed: add `{wanted}`")
        }
        (None, _) if error.to_string().starts_with(&too_deep(MAX_CONFIG_DEPTH)) => {
            too_deep(MAX_CONFIG_DEPTH)
        }
        // The parser's own words, without its position; a message of
        // serde's own (no code) may quote a value, so is not shown.
        (Some(code), _) => code.to_string(),
        (None, _) => "the parser could not read this value".into(),
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    render(text, line, column, &message)
}

const EXPECTED_VALUE: &str = "expected a value: a string in quotes, a number, an object, an array, `true`, `false` or `null`";

/// Whether the text at a missing `,` starts an object's member (a key and
/// a `:`) rather than an array's element.
fn is_member(rest: &str) -> bool {
    let after_key = match rest.chars().next() {
        Some(quote @ ('"' | '\'')) => rest[1..].split_once(quote).map(|(_, after)| after),
        _ => rest.find(is_delimiter).map(|at| &rest[at..]),
    };
    after_key.is_some_and(|after| after.trim_start().starts_with(':'))
}

/// Whether the end of `before` is inside an object: its innermost bracket
/// left open, outside strings and comments, is a `{`.
fn in_object(before: &str) -> bool {
    let mut in_comment = false;
    let mut open = Vec::new();
    for line in before.split('\n') {
        for c in mask_line(line, &mut in_comment).shown {
            match c {
                '{' | '[' => open.push(c),
                '}' | ']' => {
                    open.pop();
                }
                _ => {}
            }
        }
    }
    open.last() == Some(&'{')
}

/// The error for a config nested deeper than `max` levels, raised where
/// the parse reaches the first level beyond (`config::Nested`).
pub fn too_deep(max: usize) -> String {
    format!(
        "nested more than {max} levels deep; clawgate reads configs up to {max} levels of objects and arrays"
    )
}

/// What the parse raises for a key written twice in one object
/// (`config::Nested`): a marker and the key's path, which
/// [`written_twice`] reads back from the parser's error.
pub fn twice(path: &str) -> String {
    format!("{TWICE}{path}\u{0}")
}

const TWICE: &str = "\u{0}clawgate-twice:";

/// The path and message for a config that `json5` refused with `error`,
/// if it was refused for a key written twice in one object.
pub fn written_twice(error: &json5::Error) -> Option<(String, String)> {
    if error.code().is_some() {
        return None;
    }
    let shown = error.to_string();
    let (path, _) = shown.strip_prefix(TWICE)?.split_once('\u{0}')?;
    let at = error.position().map_or_else(String::new, |at| {
        format!(" (again at line {}, column {})", at.line + 1, at.column + 1)
    });
    let message = format!(
        "written twice{at}; the second would replace the first whole: write it once, merging the two"
    );
    Some((path.to_string(), message))
}

/// The most characters of a line shown on either side of the caret.
const EXCERPT_REACH: usize = 60;

/// The message at `line`, `column` (1-based, in characters): the place,
/// the message, and the line masked with a caret under the place.
fn render(text: &str, line: usize, column: usize, message: &str) -> String {
    let (_, masked) = read_line(text, line);
    let chars = masked.shown;
    let caret = masked.at.get(column - 1).copied().unwrap_or(chars.len());
    // A long line is shown around the caret.
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
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let caret = " ".repeat(caret);
    format!(
        "invalid JSON5 at line {line}, column {column}: {message}\n{pad} |\n{number} | {shown}\n{pad} | {caret}^"
    )
}

/// What stands in for a masked value.
const MASK: char = '…';

/// Line `line` (1-based) of `text` as an excerpt reads it, and the byte
/// offset in `text` where it starts. The lines before it are read for
/// whether it starts inside a block comment, so that such a line is
/// masked too.
fn read_line(text: &str, line: usize) -> (usize, Masked) {
    let mut in_comment = false;
    let mut start = 0;
    for (number, source) in (1..).zip(text.split('\n')) {
        let masked = mask_line(source, &mut in_comment);
        if number == line {
            return (start, masked);
        }
        start += source.len() + 1;
    }
    (text.len(), Masked::default())
}

/// The first typographic quote in the string opened at byte `open` of
/// `text` and left open on its line, of the kind of its opening quote
/// (`”` for a `"`, `’` for a `'`), and its byte offset in `text`.
fn typographic_close(text: &str, open: usize) -> Option<(usize, char)> {
    let quote = text[open..].chars().next()?;
    let body = text[open + 1..].split('\n').next()?;
    let (at, c) = body
        .char_indices()
        .find(|&(_, c)| typographic_quotes(quote).contains(c))?;
    Some((open + 1 + at, c))
}

/// A line as shown, and for each of its characters the offset of the one
/// shown for it.
#[derive(Default)]
struct Masked {
    shown: Vec<char>,
    at: Vec<usize>,
    /// The byte offset in the line of the quote opening a string that
    /// the line does not close.
    open: Option<usize>,
}

impl Masked {
    /// Shows `piece` as written (a control character as a space), or as
    /// one [`MASK`] for the whole of it, if it is not empty.
    fn push(&mut self, piece: &str, show: bool) {
        let start = self.shown.len();
        if show {
            self.at.extend(start..start + piece.chars().count());
            self.shown
                .extend(piece.chars().map(|c| if c.is_control() { ' ' } else { c }));
        } else if !piece.is_empty() {
            self.at.extend(piece.chars().map(|_| start));
            self.shown.push(MASK);
        }
    }
}

/// `source`, one line, with every value masked: strings' and comments'
/// contents, and bare words other than keys and
/// [shown literals](is_shown_literal), become one [`MASK`] each.
/// `in_comment` says whether the line starts inside a block comment, and
/// is left saying whether it ends inside one.
fn mask_line(source: &str, in_comment: &mut bool) -> Masked {
    let mut masked = Masked::default();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        rest = if *in_comment {
            let Some((body, after)) = rest.split_once("*/") else {
                masked.push(rest, false);
                break;
            };
            masked.push(body, false);
            masked.push("*/", true);
            *in_comment = false;
            after
        } else if let Some(comment) = rest.strip_prefix("//") {
            masked.push("//", true);
            masked.push(comment, false);
            break;
        } else if let Some(after) = rest.strip_prefix("/*") {
            masked.push("/*", true);
            *in_comment = true;
            after
        } else if c == '"' || c == '\'' {
            let (quote, body) = rest.split_at(1);
            let Some(close) = closing_quote(body, c) else {
                // Typographic quotes in it are shown: one may be the
                // closing quote meant.
                masked.open = Some(source.len() - rest.len());
                masked.push(quote, true);
                let mut pushed = 0;
                for (at, typographic) in body.match_indices(is_typographic_quote) {
                    masked.push(&body[pushed..at], false);
                    masked.push(typographic, true);
                    pushed = at + typographic.len();
                }
                masked.push(&body[pushed..], false);
                break;
            };
            let (inside, after) = (&body[..close], &body[close + 1..]);
            // A quoted key (a JSON file's are all quoted) is shown as a
            // bare one is.
            if is_key(inside, after) {
                masked.push(&rest[..close + 2], true);
            } else {
                masked.push(quote, true);
                masked.push(inside, false);
                masked.push(quote, true);
            }
            after
        } else if is_delimiter(c) {
            masked.push(&rest[..c.len_utf8()], true);
            &rest[c.len_utf8()..]
        } else {
            let (word, after) = rest.split_at(rest.find(is_delimiter).unwrap_or(rest.len()));
            masked.push(word, is_key(word, after) || is_shown_literal(word));
            after
        };
    }
    masked
}

/// The offset in `body` of the quote that closes a string opened with
/// `quote` before it, escapes skipped.
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == quote {
            return Some(at);
        }
        if c == '\\' {
            chars.next();
        }
    }
    None
}

/// Whether `word`, followed by `after` on its line, is a key shown: a
/// colon after it, and a word that could be a key: a JSON5 identifier
/// (letters, digits, `_`, `$`) of a key's length. A misplaced quote can
/// leave part of a secret bare before a colon (`hdr-secret-P0o9:8u7y…`
/// once its opening quote has moved), and that is no key.
fn is_key(word: &str, after: &str) -> bool {
    let mut chars = word.chars();
    after.trim_start_matches([' ', '\t']).starts_with(':')
        && word.len() <= SHOWN_KEY_LEN
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
    typographic_quotes('"').contains(c) || typographic_quotes('\'').contains(c)
}

/// The typographic quotes written for `quote`, `"` or `'`.
fn typographic_quotes(quote: char) -> &'static str {
    match quote {
        '"' => "\u{201c}\u{201d}\u{201e}\u{201f}\u{00ab}\u{00bb}",
        _ => "\u{2018}\u{2019}",
    }
}

/// The message for a typographic quote `c` where JSON5 wants a straight one.
fn typographic(c: char) -> String {
    format!(
        "`{c}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`"
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
        // A bare word where a key goes is a member too.
        check(
            "{ a: 1 x }",
            "invalid JSON5 at line 1, column 6: expected `,` after this value: a comma is probably missing between members\n  |\n1 | { a: 1 … }\n  |      ^",
        );
        check(
            "{ fallbacks: [\"a/b\" \"c/d\"] }",
            "invalid JSON5 at line 1, column 19: expected `,` after this value: a comma is probably missing between elements\n  |\n1 | { fallbacks: [\"…\" \"…\"] }\n  |                 ^",
        );
        check(
            "{\n  a: \"open,\n  b: 1\n}",
            "invalid JSON5 at line 2, column 6: this string is never closed: add its closing quote at the end\n  |\n2 |   a: \"…\n  |      ^",
        );
        // The text ends in the string: the parser names the object around
        // it, the caret goes on its quote, a key's or a value's.
        check(
            "{ gateway: { port: \"18700",
            "invalid JSON5 at line 1, column 20: this string is never closed: add its closing quote at the end\n  |\n1 | { gateway: { port: \"…\n  |                    ^",
        );
        check(
            "{\n  \"gateway",
            "invalid JSON5 at line 2, column 3: this string is never closed: add its closing quote at the end\n  |\n2 |   \"…\n  |   ^",
        );
        check(
            "{\n  models: {\n    mode: \"merge\",\n}",
            "invalid JSON5 at line 1, column 1: this `{` is never closed: add `}`\n  |\n1 | {\n  | ^",
        );
        check(
            "{ a: [1, 2} }",
            "invalid JSON5 at line 1, column 11: expected `,` or `]`, found `}`: a bracket is probably closed by the wrong one\n  |\n1 | { a: [1, 2} }\n  |           ^",
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

    /// Where `json5` stops is not always the mistake: a missing `,` is
    /// shown after the value before it (on that value's line), a literal
    /// cut short at its start.
    #[test]
    fn the_parsers_place_is_moved_to_the_mistake() {
        check(
            "{\n  port: 18700\n\n  bind: 'lan'\n}",
            "invalid JSON5 at line 2, column 13: expected `,` after this value: a comma is probably missing between members\n  |\n2 |   port: 18700\n  |             ^",
        );
        check(
            "{ a: nul }",
            "invalid JSON5 at line 1, column 6: expected a value: a string in quotes, a number, an object, an array, `true`, `false` or `null`\n  |\n1 | { a: … }\n  |      ^",
        );
        check(
            "{ apiKey: sk-abc }",
            "invalid JSON5 at line 1, column 11: expected a value: a string in quotes, a number, an object, an array, `true`, `false` or `null`\n  |\n1 | { apiKey: … }\n  |           ^",
        );
        check(
            "// nothing yet\n",
            "invalid JSON5 at line 2, column 1: the text ends where a value should be: a config is an object, `{}` at least\n  |\n2 | \n  | ^",
        );
        check(
            "{ a: 1 } x",
            "invalid JSON5 at line 1, column 10: unexpected text after the end of the config\n  |\n1 | { a: 1 } …\n  |          ^",
        );
    }

    /// A second object or array after the config is text after its end,
    /// not a bracket never closed.
    #[test]
    fn a_second_value_is_text_after_the_end() {
        check(
            "{ gateway: { port: 19501 } }\n{ models: {} }\n",
            "invalid JSON5 at line 2, column 1: unexpected text after the end of the config: a config is one object, so merge this one into the one before\n  |\n2 | { models: {} }\n  | ^",
        );
        check(
            "{ a: 1 }\n[1]",
            "invalid JSON5 at line 2, column 1: unexpected text after the end of the config\n  |\n2 | [1]\n  | ^",
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

    /// A typographic quote closing a string opened with a straight one is
    /// named, where it is, not the string as never closed; one of the
    /// other kind (an apostrophe in a `"` string) is no closing quote.
    #[test]
    fn a_typographic_closing_quote_is_named_where_it_is() {
        check(
            "{\n  models: { mode: \"replace\u{201d} },\n  agents: {},\n}\n",
            "invalid JSON5 at line 2, column 27: `\u{201d}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`\n  |\n2 |   models: { mode: \"\u{2026}\u{201d}\u{2026}\n  |                     ^",
        );
        check(
            "{ a: 'x', b: 'primary\u{2019} }",
            "invalid JSON5 at line 1, column 22: `\u{2019}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`\n  |\n1 | { a: '\u{2026}', b: '\u{2026}\u{2019}\u{2026}\n  |                ^",
        );
        // The text ends in the string: its last line holds it.
        check(
            "{ a: \"x\u{201d}, b: 'y' }",
            "invalid JSON5 at line 1, column 8: `\u{201d}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`\n  |\n1 | { a: \"\u{2026}\u{201d}\u{2026}\n  |        ^",
        );
        check(
            "{\n  a: \"it\u{2019}s open,\n  b: 1\n}",
            "invalid JSON5 at line 2, column 6: this string is never closed: add its closing quote at the end\n  |\n2 |   a: \"\u{2026}\u{2019}\u{2026}\n  |      ^",
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
            format!("{{ apiKey: \"{SECRET}\u{201d},\n}}"),
            format!("{{ apiKey: \"{SECRET}\u{2019}{SECRET}\u{201d} }}"),
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

    /// The message `parse_document` gives for `text`.
    fn parsed(text: &str) -> Result<serde_json::Value, String> {
        crate::config::parse_document(text).map_err(|e| e.to_string())
    }

    #[test]
    fn nesting_is_bounded_where_the_parser_crosses_it() {
        let nested = |levels: usize| {
            format!(
                "{{a: {}1{}}}",
                "[".repeat(levels - 1),
                "]".repeat(levels - 1)
            )
        };
        assert!(parsed(&nested(MAX_CONFIG_DEPTH)).is_ok());
        let deeper = parsed(&nested(MAX_CONFIG_DEPTH + 1)).unwrap_err();
        assert!(
            deeper.starts_with(
                "invalid JSON5 at line 1, column 68: nested more than 64 levels deep; clawgate reads configs up to 64 levels of objects and arrays\n"
            ),
            "{deeper}"
        );
        // Plain JSON is bounded as JSON5 is.
        let json = format!("{{\"a\": {}1{}}}", "[".repeat(64), "]".repeat(64));
        assert!(
            parsed(&json)
                .unwrap_err()
                .contains("column 70: nested more than 64")
        );
        // Brackets in strings and comments do not count.
        let brackets = "[".repeat(100);
        assert!(
            parsed(&format!(
                "{{a: '{brackets}', b: \"{{{{\\\"{brackets}\", // {brackets}\n /* {brackets}\n{brackets} */ c: [1]}}"
            ))
            .is_ok()
        );
        // A backslash before the line break continues the string (JSON5's
        // line continuation, LF or CRLF): what follows is still counted.
        for continued in ["{k: \"a\\\nb\", x: ", "{k: 'a\\\r\nb', x: "] {
            let text = format!("{continued}{}1{}}}", "[".repeat(64), "]".repeat(64));
            let message = parsed(&text).unwrap_err();
            assert!(
                message.starts_with("invalid JSON5 at line 2, column "),
                "{message}"
            );
        }
        // A million levels: found at once, without recursion.
        let message = parsed(&"[".repeat(1_000_000)).unwrap_err();
        assert!(
            message.starts_with("invalid JSON5 at line 1, column 65: nested more than 64"),
            "{message}"
        );
    }

    #[test]
    fn other_errors_keep_the_parsers_words_with_a_caret() {
        check(
            "{ a: 01 }",
            "invalid JSON5 at line 1, column 6: leading zero\n  |\n1 | { a: 01 }\n  |      ^",
        );
    }
}
