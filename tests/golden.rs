//! Golden fixtures: one rich request per front end
//! (`tests/golden/requests/<front>.json`, every row of its table that is
//! not refused), sent through the gateway to each dialect and transport
//! behind a recording mock; the whole body each provider received is
//! compared with its committed snapshot (`tests/golden/sent/<front>-<target>.json`,
//! pretty-printed, keys sorted). `CLAWGATE_WRITE_GOLDEN=1 cargo test --test
//! golden` writes the snapshots again; review them in the diff.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use clawgate::translate::fields::{self, Fate};
use clawgate::wire::Front;
use clawgate_mock::MockServer;
use common::{KEY, TestGateway, gateway, header, healthy_mock};
use serde_json::{Map, Value, json};

/// Each front end with the name of its fixtures.
fn fronts() -> impl Iterator<Item = (Front, &'static str)> {
    Front::ALL.into_iter().map(|front| (front, front.name()))
}

/// Each target: its name in the snapshots' file names, the model ref, and
/// the transport its provider is reached over.
const TARGETS: [(&str, &str, &str); 5] = [
    ("moonshot", "moonshot/kimi-k2.6", "openai-completions"),
    ("kimi-coding", "kimi/kimi-for-coding", "openai-completions"),
    (
        "openrouter",
        "openrouter/anthropic/claude-sonnet-4.5",
        "openai-completions",
    ),
    ("openai-compatible", "plain/m", "openai-completions"),
    (
        "kimi-coding-anthropic",
        "kimi/kimi-for-coding",
        "anthropic-messages",
    ),
];

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn request(front: &str) -> Value {
    let path = golden().join(format!("requests/{front}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The catalog's Moonshot, Kimi Coding and OpenRouter (with one of
/// Anthropic's models, which takes cache breakpoints) and a plain
/// OpenAI-compatible endpoint, reached over `api` at `mock`.
async fn catalog(mock: &MockServer, api: &str) -> TestGateway {
    let base_url = match api {
        "anthropic-messages" => format!("http://{}/", mock.addr),
        _ => mock.base_url(),
    };
    let at = json!({"api": api, "baseUrl": base_url, "apiKey": KEY});
    let mut openrouter = at.clone();
    openrouter["models"] = json!([{"id": "anthropic/claude-sonnet-4.5", "reasoning": true,
        "input": ["text", "image"], "maxTokens": 64000}]);
    let mut plain = at.clone();
    plain["models"] = json!([{"id": "m", "reasoning": true, "input": ["text", "image"]}]);
    gateway(json!({"models": {"providers": {
        "moonshot": at, "kimi": at, "openrouter": openrouter, "plain": plain}}}))
    .await
}

/// `value` with every object's keys in order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort();
            let members: Map<String, Value> = keys
                .into_iter()
                .map(|key| (key.clone(), sorted(&members[key])))
                .collect();
            Value::Object(members)
        }
        Value::Array(elements) => Value::Array(elements.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).expect("JSON");
    text.push('\n');
    text
}

/// The lines of `old` and `new` as a diff: `-` only in the committed
/// snapshot, `+` only in what was sent (a longest common subsequence of
/// lines), with [`CONTEXT`] lines kept around each change and `...` for
/// the rest.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (mark, line)) in lines.iter().enumerate() {
        if near(k) {
            out += &format!("{mark} {line}\n");
            skipped = false;
        } else if !skipped {
            out += "...\n";
            skipped = true;
        }
    }
    out
}

/// Unchanged lines shown around a change.
const CONTEXT: usize = 3;

/// Every row of `front`'s table that is not refused is in its rich
/// request, as the front end reads it: the fixture covers the table.
fn check_covers(gw: &TestGateway, front: Front, name: &str, body: &Value) {
    let config = gw.gateway.config();
    let request = clawgate::http::decode(front, &config, Bytes::from(body.to_string()))
        .unwrap_or_else(|e| panic!("requests/{name}.json: {e:?}"));
    let seen = &request.seen;
    let missing: Vec<&str> = fields::table(front)
        .iter()
        .enumerate()
        // A header row is no member of the body.
        .filter(|(index, row)| {
            !matches!(row.openai, Fate::Refused(_))
                && row.kind != fields::Kind::Header
                && !seen.has(*index)
        })
        .map(|(_, row)| row.name)
        .collect();
    assert!(
        missing.is_empty(),
        "requests/{name}.json does not hold these rows of its table: {missing:?}"
    );
}

/// The path of every member of `value` that holds no member itself (a
/// scalar, an empty object or array; an array's scalar elements as
/// `[]`), as `fields::member_row` reads paths: an element tagged by its
/// `type`, else its `role`.
fn leaves(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(members) if !members.is_empty() => {
            for (key, value) in members {
                let path = match path {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                leaves(value, &path, out);
            }
        }
        Value::Array(elements) if !elements.is_empty() => {
            for element in elements {
                let tag = ["type", "role"]
                    .into_iter()
                    .find_map(|key| element.get(key)?.as_str())
                    .unwrap_or_default();
                leaves(element, &format!("{path}[{tag}]"), out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

/// Every member of each front end's rich request, at any depth, has a
/// fate in its table: a row whose fate it shares.
#[test]
fn every_member_of_each_rich_request_has_a_fate() {
    for (front, name) in fronts() {
        let mut paths = Vec::new();
        leaves(&request(name), "", &mut paths);
        paths.dedup();
        let homeless: Vec<&String> = paths
            .iter()
            .filter(|path| fields::member_row(front, path).is_none())
            .collect();
        assert!(
            homeless.is_empty(),
            "requests/{name}.json: members no row of the table gives a fate: {homeless:?}"
        );
    }
}

/// Every object of `value` at any depth: its path as `fields::member_row`
/// reads paths, and its JSON pointer.
fn objects(value: &Value, path: &str, pointer: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(members) => {
            out.push((path.to_string(), pointer.to_string()));
            for (key, value) in members {
                let path = match path {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                objects(value, &path, &format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(elements) => {
            for (index, element) in elements.iter().enumerate() {
                let tag = ["type", "role"]
                    .into_iter()
                    .find_map(|key| element.get(key)?.as_str())
                    .unwrap_or_default();
                objects(
                    element,
                    &format!("{path}[{tag}]"),
                    &format!("{pointer}/{index}"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// A member no row names, put in each object of each front end's rich
/// request in turn (the body, each message, block, part, item, tool, call,
/// source, schema and choice, at any depth), has a fate: sent through the
/// gateway to a plain target over each transport, it reaches the
/// provider, or the answer names it (`x-clawgate-dropped: unknown
/// members`), or the request is refused with a 400 naming it. Where a row
/// names what the member would hold (inside a schema, an audio part, a
/// server tool's block), it shares that row's fate, which
/// `tests/field_rows.rs` checks.
#[tokio::test]
async fn a_member_no_row_names_at_any_depth_reaches_the_provider_or_is_named() {
    let mut silent = Vec::new();
    let mut checked = 0;
    for api in ["openai-completions", "anthropic-messages"] {
        let mock = healthy_mock().await;
        let gw = catalog(&mock, api).await;
        let send = |front: Front, body: Value| {
            let path = match front {
                Front::Chat => "/v1/chat/completions",
                Front::Messages => "/v1/messages",
                Front::Responses => "/v1/responses",
            };
            gw.post(path, body)
        };
        for (front, name) in fronts() {
            let mut body = request(name);
            body["model"] = json!("plain/m");
            let response = send(front, body.clone()).await;
            assert_eq!(response.status(), 200, "{name} over {api}");
            let before = header(&response, "x-clawgate-dropped");
            assert!(
                !before.contains(fields::UNKNOWN),
                "{name} over {api} holds a member no row names: {before}"
            );
            let mut places = Vec::new();
            objects(&body, "", "", &mut places);
            for (n, (path, pointer)) in places.into_iter().enumerate() {
                let key = format!("colour_{n}");
                let member = match path.as_str() {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                if fields::member_row(front, &member).is_some() {
                    continue;
                }
                let mark = format!("blue-{n}-sent");
                let mut with = body.clone();
                with.pointer_mut(&pointer).unwrap()[&key] = json!(mark);
                let response = send(front, with).await;
                let status = response.status();
                let named = header(&response, "x-clawgate-dropped").to_string();
                let text = response.text().await.unwrap_or_default();
                let sent = mock.requests().last().map(|r| r["body"].to_string());
                let fate = if status == 400 {
                    text.contains(&key)
                } else {
                    assert_eq!(status, 200, "{name} over {api}, {member}: {text}");
                    named.contains(fields::UNKNOWN) || sent.is_some_and(|s| s.contains(&mark))
                };
                if !fate {
                    silent.push(format!("{name} over {api}: {member}"));
                }
                checked += 1;
            }
        }
    }
    assert!(
        silent.is_empty(),
        "members lost without a word:\n{}",
        silent.join("\n")
    );
    assert!(checked >= 100, "only {checked} places checked");
}

#[test]
fn a_member_without_a_row_has_no_fate() {
    let row = |front, path| fields::member_row(front, path).map(|at| fields::table(front)[at].name);
    assert_eq!(
        row(Front::Chat, "messages[user].name"),
        Some("name on messages")
    );
    assert_eq!(
        row(
            Front::Chat,
            "messages[user].content[text].cache_control.type"
        ),
        Some("cache_control on content parts")
    );
    assert_eq!(row(Front::Chat, "metadata.session"), Some("metadata"));
    assert_eq!(
        row(
            Front::Messages,
            "messages[assistant].content[web_search_tool_result].content"
        ),
        Some("server tool blocks (server_tool_use and *_tool_result)")
    );
    assert_eq!(row(Front::Messages, "thinking.type"), Some("thinking"));
    for (front, path) in [
        (Front::Chat, "messages[user].colour"),
        (Front::Chat, "messages[user].content[text].colour"),
        (Front::Chat, "tools[function].function.colour"),
        (Front::Chat, "colour"),
        (Front::Messages, "messages[user].content[text].colour"),
        (Front::Messages, "tools[].colour"),
        (Front::Messages, "thinking.colour"),
        (Front::Responses, "input[function_call].colour"),
        (Front::Responses, "reasoning.colour"),
    ] {
        assert_eq!(row(front, path), None, "{front:?}: {path}");
    }
}

#[tokio::test]
async fn what_each_provider_receives_is_its_snapshot() {
    let write = std::env::var_os("CLAWGATE_WRITE_GOLDEN").is_some();
    let mut differing = Vec::new();
    for api in ["openai-completions", "anthropic-messages"] {
        let mock = healthy_mock().await;
        let gw = catalog(&mock, api).await;
        for (front, name) in fronts() {
            let mut body = request(name);
            check_covers(&gw, front, name, &body);
            for (target, model, over) in TARGETS {
                if over != api {
                    continue;
                }
                body["model"] = json!(model);
                let before = mock.requests().len();
                let response = match front {
                    Front::Chat => gw.chat(body.clone()).await,
                    Front::Messages => gw.messages(body.clone()).await,
                    Front::Responses => gw.responses(body.clone()).await,
                };
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                assert_eq!(status, 200, "{name} to {target}: {text}");
                let requests = mock.requests();
                assert_eq!(requests.len(), before + 1, "{name} to {target}");
                let sent = pretty(&requests[before]["body"]);
                let path = golden().join(format!("sent/{name}-{target}.json"));
                if write {
                    std::fs::write(&path, &sent).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                    continue;
                }
                let committed = std::fs::read_to_string(&path).unwrap_or_default();
                if committed != sent {
                    differing.push(format!(
                        "tests/golden/sent/{name}-{target}.json (- committed, + sent):\n{}",
                        diff(&committed, &sent)
                    ));
                }
            }
        }
    }
    assert!(
        differing.is_empty(),
        "what the providers received differs from the snapshots; if the change is \
         meant, run `CLAWGATE_WRITE_GOLDEN=1 cargo test --test golden` and review \
         the snapshots' diff before committing them.\n\n{}",
        differing.join("\n")
    );
}

#[test]
fn the_diff_shows_what_changed_in_place() {
    assert_eq!(
        diff(
            "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
            "{\n  \"a\": 1,\n  \"b\": 3\n}\n"
        ),
        "  {\n    \"a\": 1,\n-   \"b\": 2\n+   \"b\": 3\n  }\n"
    );
    let long: String = (0..20).map(|n| format!("{n}\n")).collect();
    let changed = long.replace("10\n", "ten\n");
    assert_eq!(
        diff(&long, &changed),
        "...\n  7\n  8\n  9\n- 10\n+ ten\n  11\n  12\n  13\n...\n"
    );
}
