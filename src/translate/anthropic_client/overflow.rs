//! A provider's context-overflow error in the wording Claude Code recovers
//! from.

/// Phrases that name a context limit. Each names tokens or the context, so
/// a 400 about something else that is "too long" (a tool name, a string)
/// is left alone.
const PHRASES: [&str; 4] = [
    "maximum context length",
    "context length",
    "token limit",
    "context window",
];

/// How far after the phrase the numbers are looked for.
const WINDOW: usize = 240;

/// The smallest context limit taken for one: smaller numbers are lengths
/// of something else.
const MIN_LIMIT: u64 = 1_000;

/// A provider's context-overflow message in the two wordings Claude Code
/// recovers from: `prompt is too long: N tokens > M` (it compacts the
/// conversation) and ``input length and `max_tokens` exceed context limit:
/// X + Y > Z`` (it asks again for less output); `None` unless the numbers
/// are known. They are read after the phrase that names the limit, so digits
/// in a model name do not count, with thousands separators (`128,000`)
/// removed: the limit, the tokens requested, and, where the provider splits
/// them (OpenRouter, OpenAI), the input and the output.
pub fn context_overflow(message: &str) -> Option<String> {
    let lower = without_digit_separators(&message.to_ascii_lowercase());
    let start = PHRASES.iter().filter_map(|p| lower.find(p)).min()?;
    // The numbers of one clause: a `;` starts another (clawgate's own
    // messages list each attempt after one).
    let window: String = lower[start..]
        .chars()
        .take(WINDOW)
        .take_while(|&c| c != ';')
        .collect();
    let numbers: Vec<u64> = window
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(4)
        .collect();
    match numbers[..] {
        [limit, ..] if limit < MIN_LIMIT => None,
        [limit, _, input, output, ..] if input <= limit => Some(format!(
            "input length and `max_tokens` exceed context limit: {input} + {output} > {limit}"
        )),
        [limit, _, input, _, ..] => Some(format!("prompt is too long: {input} tokens > {limit}")),
        [limit, requested, ..] if requested > limit => {
            Some(format!("prompt is too long: {requested} tokens > {limit}"))
        }
        _ => None,
    }
}

/// `text` without the commas that group digits (`130,500` -> `130500`);
/// other commas stay.
fn without_digit_separators(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit = |at: Option<&char>| at.is_some_and(char::is_ascii_digit);
    chars
        .iter()
        .enumerate()
        .filter(|&(at, &c)| {
            !(c == ',' && at > 0 && digit(chars.get(at - 1)) && digit(chars.get(at + 1)))
        })
        .map(|(_, &c)| c)
        .collect()
}
