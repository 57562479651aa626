//! Tool calls held while their chunks arrive, for the front ends whose
//! streams send a call only when it is whole (Anthropic's and the
//! Responses API's encoders).

/// The most calls one answer may hold: as many as Kimi takes tools, and as
/// the reasoning cache keeps. It bounds what a stream of calls that never
/// end costs (each delta looks its call up among the held ones).
pub const MAX_HELD_CALLS: usize = 128;

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
pub struct HeldCalls {
    calls: Vec<HeldCall>,
    /// The bytes of the ids, names and arguments held.
    bytes: usize,
}

/// A delta that would start one call more than [`MAX_HELD_CALLS`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the answer holds more than {MAX_HELD_CALLS} tool calls")]
pub struct TooManyCalls;

impl HeldCalls {
    /// Adds one `delta.tool_calls[]` entry to the call it belongs to: the
    /// latest with its index, unless a new id starts another (some
    /// providers give every call index 0). The first id and name stay; an
    /// empty one is none (some providers send `"id": ""` and `"name": ""`
    /// on a call's later deltas).
    pub fn hold(
        &mut self,
        openai_index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) -> Result<(), TooManyCalls> {
        let id = id.filter(|id| !id.is_empty());
        let name = name.filter(|name| !name.is_empty());
        let calls = &mut self.calls;
        let existing = calls
            .iter()
            .rposition(|c| c.openai_index == openai_index)
            .filter(|&at| match (id, &calls[at].id) {
                (Some(new), Some(old)) => new == old,
                _ => true,
            });
        let at = match existing {
            Some(at) => at,
            None if calls.len() >= MAX_HELD_CALLS => return Err(TooManyCalls),
            None => {
                calls.push(HeldCall {
                    openai_index,
                    id: None,
                    name: None,
                    arguments: String::new(),
                });
                calls.len() - 1
            }
        };
        let call = &mut calls[at];
        if call.id.is_none() {
            call.id = id.map(str::to_string);
            self.bytes += id.map_or(0, str::len);
        }
        if call.name.is_none() {
            call.name = name.map(str::to_string);
            self.bytes += name.map_or(0, str::len);
        }
        call.arguments.push_str(arguments);
        self.bytes += arguments.len();
        Ok(())
    }

    /// The bytes held: every call's id, name and arguments.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Every call, in order, leaving none held.
    pub fn take(&mut self) -> Vec<HeldCall> {
        self.bytes = 0;
        std::mem::take(&mut self.calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_by_index_unless_a_new_id_starts_another_call() {
        let mut calls = HeldCalls::default();
        calls.hold(0, Some("a"), Some("read"), "{\"p\":").unwrap();
        calls.hold(0, None, None, "1}").unwrap();
        // Index 0 again, with a new id: another call.
        calls.hold(0, Some("b"), Some("write"), "{}").unwrap();
        calls.hold(1, Some("c"), None, "").unwrap();
        calls.hold(1, None, Some("late"), "{}").unwrap();
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

    #[test]
    fn ids_and_names_count_with_the_arguments_and_the_calls_are_bounded() {
        let mut calls = HeldCalls::default();
        calls.hold(0, Some("a"), Some("read"), "{}").unwrap();
        // A later name is not kept, so it does not count.
        calls.hold(0, None, Some("again"), "").unwrap();
        assert_eq!(calls.bytes(), "a".len() + "read".len() + "{}".len());
        for n in 1..MAX_HELD_CALLS {
            calls.hold(0, Some(&n.to_string()), None, "").unwrap();
        }
        assert_eq!(calls.hold(0, Some("one more"), None, ""), Err(TooManyCalls));
        // A held call still takes its arguments.
        calls.hold(0, None, None, "{}").unwrap();
        assert_eq!(calls.take().len(), MAX_HELD_CALLS);
        assert_eq!(calls.bytes(), 0);
    }
}
