//! Tool results that lost their `tool_call_id` (an empty string, or none:
//! clients that drop ids, gentle-pi #1052), which Kimi refuses with
//! "tool_call_id  is not found". A result is paired again with its call
//! when that can only be one call: the results after an assistant turn
//! answer its calls, those with an id answer theirs, and one result
//! without an id next to one unanswered call is that call's. Otherwise
//! the request is refused before any provider is asked, naming the
//! message. Pure; every dialect.

use crate::wire::openai::MessageInfo;

/// A tool result clawgate cannot pair with its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaired {
    /// The message's index in `messages`.
    pub index: usize,
    /// Calls of the turn still unanswered.
    pub candidates: usize,
}

/// The `(message index, call id)` of every result whose id is empty and
/// can be told, or the first that cannot.
pub fn repairs(messages: &[MessageInfo]) -> Result<Vec<(usize, String)>, Unpaired> {
    let mut repairs = Vec::new();
    let mut index = 0;
    while index < messages.len() {
        let message = &messages[index];
        if message.role == "tool" && empty(message) {
            // A result with no assistant turn before it to take ids from.
            return Err(Unpaired {
                index,
                candidates: 0,
            });
        }
        if message.role != "assistant" || message.tool_call_ids.is_empty() {
            index += 1;
            continue;
        }
        // The results that follow this turn, and those without an id: in
        // the common case none, and nothing is collected.
        let end = messages[index + 1..]
            .iter()
            .position(|m| m.role != "tool")
            .map_or(messages.len(), |offset| index + 1 + offset);
        let results = &messages[index + 1..end];
        let mut without = (index + 1..end).filter(|&i| empty(&messages[i]));
        if let Some(first) = without.next() {
            let unanswered = || {
                message.tool_call_ids.iter().filter(|id| {
                    !results
                        .iter()
                        .any(|result| result.tool_call_id.as_ref() == Some(*id))
                })
            };
            let candidates = unanswered().count();
            match (without.next(), unanswered().next()) {
                (None, Some(call)) if candidates == 1 => repairs.push((first, call.clone())),
                _ => {
                    return Err(Unpaired {
                        index: first,
                        candidates,
                    });
                }
            }
        }
        index = end;
    }
    Ok(repairs)
}

fn empty(message: &MessageInfo) -> bool {
    message.tool_call_id.as_deref().is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assistant(ids: &[&str]) -> MessageInfo {
        MessageInfo {
            role: "assistant".into(),
            tool_call_ids: ids.iter().map(|s| s.to_string()).collect(),
            tool_call_id: None,
            has_reasoning_content: false,
        }
    }

    fn tool(id: Option<&str>) -> MessageInfo {
        MessageInfo {
            role: "tool".into(),
            tool_call_ids: Vec::new(),
            tool_call_id: id.map(str::to_string),
            has_reasoning_content: false,
        }
    }

    fn user() -> MessageInfo {
        MessageInfo {
            role: "user".into(),
            tool_call_ids: Vec::new(),
            tool_call_id: None,
            has_reasoning_content: false,
        }
    }

    type Case = (Vec<MessageInfo>, Result<Vec<(usize, String)>, Unpaired>);

    #[test]
    fn a_result_without_an_id_is_paired_only_when_it_can_only_be_one_call() {
        let ok = |messages: Vec<MessageInfo>| repairs(&messages);
        let unpaired = |index, candidates| Err(Unpaired { index, candidates });
        let a = "functions.read:0";
        let b = "functions.grep:1";
        let cases: Vec<Case> = vec![
            // Nothing to repair.
            (vec![user(), assistant(&[a]), tool(Some(a))], Ok(vec![])),
            // The one call, with "" or no id at all.
            (
                vec![user(), assistant(&[a]), tool(Some(""))],
                Ok(vec![(2, a.into())]),
            ),
            (
                vec![user(), assistant(&[a]), tool(None)],
                Ok(vec![(2, a.into())]),
            ),
            // Two calls, one answered by id: the other is the empty one's.
            (
                vec![user(), assistant(&[a, b]), tool(Some(a)), tool(Some(""))],
                Ok(vec![(3, b.into())]),
            ),
            (
                vec![user(), assistant(&[a, b]), tool(Some("")), tool(Some(b))],
                Ok(vec![(2, a.into())]),
            ),
            // Each turn on its own, ids repeating across turns (Kimi's).
            (
                vec![
                    user(),
                    assistant(&[a]),
                    tool(Some("")),
                    user(),
                    assistant(&[a]),
                    tool(None),
                ],
                Ok(vec![(2, a.into()), (5, a.into())]),
            ),
            // Two calls, two results without ids: which is which is unknown.
            (
                vec![user(), assistant(&[a, b]), tool(Some("")), tool(Some(""))],
                unpaired(2, 2),
            ),
            // More results without ids than calls left.
            (
                vec![user(), assistant(&[a]), tool(Some(a)), tool(Some(""))],
                unpaired(3, 0),
            ),
            // A result with no turn before it.
            (vec![user(), tool(Some(""))], unpaired(1, 0)),
        ];
        for (messages, expected) in cases {
            assert_eq!(ok(messages.clone()), expected, "{messages:?}");
        }
    }
}
