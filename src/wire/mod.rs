//! The API shapes the gateway reads and writes on the wire (OpenAI chat,
//! Anthropic Messages, OpenAI Responses), and the event-stream format streams arrive in.

pub mod anthropic;
pub mod body;
pub mod chunk;
pub mod openai;
pub mod responses;
pub mod scan;
pub mod sse;

use serde_json::value::RawValue;

/// A JSON string kept as the client wrote it, escapes and all: read without
/// unescaping it and written out again without escaping it, for long texts
/// the gateway passes on unread (tool descriptions, a Responses request's
/// instructions). Escaping a long text
/// again cost more than reading it.
#[derive(Debug, Clone)]
pub struct RawText(Box<RawValue>);

impl RawText {
    /// The JSON string literal, quotes included.
    pub fn json(&self) -> &RawValue {
        &self.0
    }

    /// Whether it is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.get() == "\"\""
    }

    /// The text itself (borrowed when it holds no escape).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        serde_json::from_str(self.0.get()).expect("checked to be a string when read")
    }
}

impl<'de> serde::Deserialize<'de> for RawText {
    /// A string, refused otherwise with serde's own message (`invalid type:
    /// integer `5`, expected a string`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        use serde_json::Value;
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if raw.get().starts_with('"') {
            return Ok(Self(raw));
        }
        let value: Value = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        let unexpected = match &value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Unexpected::Unsigned(u),
                (None, Some(i), _) => Unexpected::Signed(i),
                (None, None, f) => Unexpected::Float(f.unwrap_or_default()),
            },
            Value::String(_) => Unexpected::Str("a string"),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        Err(D::Error::invalid_type(unexpected, &"a string"))
    }
}

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

#[cfg(test)]
mod tests {
    use super::RawText;

    #[test]
    fn a_raw_text_is_written_as_read_and_refuses_what_is_not_a_string() {
        let json = r#""line one\nsays \"hi\" \u00e9""#;
        let text: RawText = serde_json::from_str(json).unwrap();
        assert_eq!(text.text(), "line one\nsays \"hi\" é");
        assert_eq!(serde_json::to_string(&text.json()).unwrap(), json);
        assert!(!text.is_empty());
        assert!(serde_json::from_str::<RawText>(r#""""#).unwrap().is_empty());
        for (json, expected) in [
            ("5", "invalid type: integer `5`, expected a string"),
            (
                "-1.5",
                "invalid type: floating point `-1.5`, expected a string",
            ),
            ("true", "invalid type: boolean `true`, expected a string"),
            ("[]", "invalid type: sequence, expected a string"),
        ] {
            let refused = serde_json::from_str::<RawText>(json)
                .unwrap_err()
                .to_string();
            let typed = serde_json::from_str::<String>(json)
                .unwrap_err()
                .to_string();
            assert!(refused.starts_with(expected), "{refused}");
            // The same words as a typed read gives.
            assert!(typed.starts_with(expected), "{typed}");
        }
    }
}
