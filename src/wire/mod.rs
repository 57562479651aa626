//! The API shapes the gateway reads and writes on the wire (OpenAI chat,
//! Anthropic Messages, OpenAI Responses), and the event-stream format streams arrive in.

pub mod anthropic;
pub mod body;
pub mod chunk;
pub mod openai;
pub mod responses;
pub mod scan;
pub mod sse;

/// A whole request body read as `T`; the error names the path of the
/// offending field (`messages[2].content[0].type: unknown variant …`).
///
/// Read without tracking the path first: tracking it costs on every value
/// (a seventh of a large request's CPU), and only a refused body needs it,
/// so that one is read again with it.
pub(crate) fn read_request<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    if let Ok(request) = serde_json::from_slice(body) {
        return Ok(request);
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let request: T = serde_path_to_error::deserialize(&mut reader).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    reader
        .end()
        .map_err(|err| format!("trailing data: {err}"))?;
    Ok(request)
}
