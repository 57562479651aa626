//! Tool calls held while their chunks arrive, for the front ends whose
//! streams send a call only when it is whole (Anthropic's and the
//! Responses API's encoders).

/// One tool call as its chunks arrive.
#[derive(Debug)]
pub struct HeldCall {
    /// `tool_calls[].index` in the chunks.
    pub openai_index: u64,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// The calls of one answer, in the order they started.
#[derive(Debug, Default)]
pub struct HeldCalls(Vec<HeldCall>);

impl HeldCalls {
    /// Adds one `delta.tool_calls[]` entry to the call it belongs to: the
    /// latest with its index, unless a new id starts another (some
    /// providers give every call index 0). The first id and name stay.
    pub fn hold(
        &mut self,
        openai_index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) {
        let calls = &mut self.0;
        let existing = calls
            .iter()
            .rposition(|c| c.openai_index == openai_index)
            .filter(|&at| match (id, &calls[at].id) {
                (Some(new), Some(old)) => new == old,
                _ => true,
            });
        let at = existing.unwrap_or_else(|| {
            calls.push(HeldCall {
                openai_index,
                id: None,
                name: None,
                arguments: String::new(),
            });
            calls.len() - 1
        });
        let call = &mut calls[at];
        if call.id.is_none() {
            call.id = id.map(str::to_string);
        }
        if call.name.is_none() {
            call.name = name.map(str::to_string);
        }
        call.arguments.push_str(arguments);
    }

    /// Every call, in order, leaving none held.
    pub fn take(&mut self) -> Vec<HeldCall> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_by_index_unless_a_new_id_starts_another_call() {
        let mut calls = HeldCalls::default();
        calls.hold(0, Some("a"), Some("read"), "{\"p\":");
        calls.hold(0, None, None, "1}");
        // Index 0 again, with a new id: another call.
        calls.hold(0, Some("b"), Some("write"), "{}");
        calls.hold(1, Some("c"), None, "");
        calls.hold(1, None, Some("late"), "{}");
        let taken: Vec<_> = calls
            .take()
            .into_iter()
            .map(|c| (c.id, c.name, c.arguments))
            .collect();
        assert_eq!(
            taken,
            [
                (Some("a".into()), Some("read".into()), "{\"p\":1}".into()),
                (Some("b".into()), Some("write".into()), "{}".into()),
                (Some("c".into()), Some("late".into()), "{}".into()),
            ]
        );
        assert!(calls.take().is_empty());
    }
}
