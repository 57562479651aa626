//! `count_tokens` without a provider: an estimate of a Messages request's
//! input tokens from its text. It counts what the model reads (system,
//! messages, tool definitions) and nothing the gateway drops (Claude Code's
//! attribution line).
//!
//! The rule: ASCII text costs one token per 4 bytes (rounded up), any other
//! character one token each (CJK text runs close to that on Kimi's and
//! Claude's tokenizers), plus a few tokens of framing per message and tool,
//! and 1,600 per image (Anthropic's figure for a full-size image). Its
//! accuracy is measured in `docs/claude-code.md`.

use crate::wire::anthropic::{
    Block, Content, DocumentSource, MessagesRequest, without_billing_header,
};

const PER_MESSAGE: u64 = 4;
const PER_TOOL: u64 = 8;
/// The instructions a provider adds when a request has tools.
const TOOLS_PREAMBLE: u64 = 300;
const PER_IMAGE: u64 = 1_600;

/// The estimated input tokens of `request`.
pub fn input_tokens(request: &MessagesRequest) -> u64 {
    let mut total = 0;
    if let Some(system) = &request.system {
        total += PER_MESSAGE + system_content(system);
    }
    for message in &request.messages {
        total += PER_MESSAGE + content(&message.content);
    }
    let tools = request.tools.as_deref().unwrap_or_default();
    if !tools.is_empty() {
        total += TOOLS_PREAMBLE;
    }
    for tool in tools {
        total += PER_TOOL + text(&tool.name);
        total += tool.description.as_ref().map_or(0, |d| text(&d.text()));
        total += tool
            .input_schema
            .as_ref()
            .map_or(0, |schema| text(&schema.to_string()));
    }
    total
}

/// The system prompt as the provider gets it: without Claude Code's
/// attribution line, in a block of its own or leading a plain string.
fn system_content(system: &Content) -> u64 {
    match system {
        Content::Text(t) => text(without_billing_header(&t.text())),
        Content::Blocks(blocks) => blocks
            .iter()
            .map(|b| match b {
                Block::Text { text: t, .. } => text(without_billing_header(&t.text())),
                other => block(other),
            })
            .sum(),
    }
}

fn content(content: &Content) -> u64 {
    match content {
        Content::Text(t) => text(&t.text()),
        Content::Blocks(blocks) => blocks.iter().map(block).sum(),
    }
}

fn block(block: &Block) -> u64 {
    match block {
        Block::Text { text: t, .. } => text(&t.text()),
        Block::Thinking { thinking } => text(&thinking.text()),
        Block::Image { .. } => PER_IMAGE,
        Block::ToolUse { name, input, .. } => PER_TOOL + text(name) + text(&input.to_string()),
        Block::ToolResult { content: c, .. } => PER_TOOL + c.as_ref().map_or(0, content),
        Block::Document {
            source: DocumentSource::Text { data },
            ..
        } => text(data),
        Block::Document { .. } | Block::RedactedThinking {} | Block::Unsupported(_) => 0,
    }
}

/// A whole body's bytes by the same rule as [`text`] (its JSON framing
/// counted too, so it errs high): what a request reserves for its input.
/// No character is decoded: a byte below 0x80 is ASCII, and a character
/// that is not starts with a byte of 0b11xx_xxxx. The bytes are counted in
/// 32 one-byte lanes, 255 rounds at most before the lanes are summed, so
/// that the compiler vectorises the loop (a 66 KB body in about 2 µs, where
/// a plain filter and count took 37).
pub fn body(bytes: &[u8]) -> u64 {
    const LANES: usize = 32;
    let (mut ascii, mut other) = (0u64, 0u64);
    for block in bytes.chunks(LANES * usize::from(u8::MAX)) {
        let (rows, tail) = block.as_chunks::<LANES>();
        let (mut ascii_lanes, mut other_lanes) = ([0u8; LANES], [0u8; LANES]);
        for row in rows {
            for lane in 0..LANES {
                ascii_lanes[lane] += u8::from(row[lane] < 0x80);
                other_lanes[lane] += u8::from(row[lane] >= 0xC0);
            }
        }
        let sum = |lanes: [u8; LANES]| lanes.into_iter().map(u64::from).sum::<u64>();
        ascii += sum(ascii_lanes) + tail.iter().filter(|b| b.is_ascii()).count() as u64;
        other += sum(other_lanes) + tail.iter().filter(|&&b| b >= 0xC0).count() as u64;
    }
    ascii.div_ceil(4) + other
}

/// One token per 4 ASCII bytes (rounded up), one per other character.
pub fn text(text: &str) -> u64 {
    let (ascii, other) = text.chars().fold((0u64, 0u64), |(a, o), c| {
        if c.is_ascii() { (a + 1, o) } else { (a, o + 1) }
    });
    ascii.div_ceil(4) + other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: u64) {
        let request = MessagesRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(input_tokens(&request), expected, "{body}");
    }

    #[test]
    fn a_body_is_counted_as_its_text_is() {
        for sample in [
            "",
            "abc",
            "abcde",
            "日本語のテキスト",
            r#"{"content":"Grüße, 世界"}"#,
        ] {
            assert_eq!(body(sample.as_bytes()), text(sample), "{sample}");
        }
        // Longer than one block of lanes, with a tail, non-ASCII throughout.
        let long = "Grüße, 世界 {\"a\": 1} ".repeat(2_000);
        assert_eq!(body(long.as_bytes()), text(&long));
    }

    #[test]
    fn text_costs_a_token_per_four_ascii_bytes_or_per_other_character() {
        assert_eq!(text(""), 0);
        assert_eq!(text("abcd"), 1);
        assert_eq!(text("abcde"), 2);
        assert_eq!(text("你好"), 2);
        assert_eq!(text("hi 你好"), 3);
    }

    #[test]
    fn requests_count_system_messages_and_tools() {
        check(
            r#"{"messages": [{"role": "user", "content": "abcdefgh"}]}"#,
            4 + 2,
        );
        check(
            r#"{"system": [{"type": "text", "text": "x-anthropic-billing-header: cch=1;"},
                {"type": "text", "text": "abcd"}],
                "messages": [{"role": "user", "content": [{"type": "text", "text": "abcd"},
                {"type": "image", "source": {"type": "url", "url": "http://x"}}]}]}"#,
            (4 + 1) + (4 + 1 + 1_600),
        );
        check(
            r#"{"system": "x-anthropic-billing-header: cc_version=2.1; cch=1;\nabcd",
                "messages": [{"role": "user", "content": "abcd"}]}"#,
            (4 + 1) + (4 + 1),
        );
        check(
            r#"{"messages": [{"role": "user", "content": "abcd"}],
                "tools": [{"name": "Bash", "description": "Runs", "input_schema": {}}]}"#,
            (4 + 1) + 300 + 8 + 1 + 1 + 1,
        );
        // A lone surrogate escape (JSON admits it) counts as one character:
        // it once stopped the count with a panic.
        check(
            r#"{"system": [{"type": "text", "text": "x-anthropic-billing-header: cch=1;\nab\ud800"}],
                "messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00abcd"}]}]}"#,
            (4 + 2) + (4 + 2),
        );
    }
}
