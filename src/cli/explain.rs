//! `clawgate explain`: what each target of a request's chain would be sent,
//! without sending anything. The body is decoded by the front end it is
//! for, the chain resolved from its `model`, and for each target the plan
//! made (`providers::plan`: its edits of the request model, or why the
//! target is skipped or the request refused) and rendered by the target's
//! transport, exactly as a request would be; its edits said in the terms
//! of the body the target gets (what changed of the client's own, for a
//! target of its format), with what the target would not get
//! (`translate::fields::dropped`, as the answer's `x-clawgate-dropped`
//! names it). No network, no key needed.
//!
//! What it knows of the gateway's decisions, it applies as the gateway
//! would: a target whose key variable is unset is skipped, and `--client`
//! keeps the chain to that client's `models`. What lives only in the
//! running gateway (cooldowns, quotas, budgets' spend) it says it does not
//! know: `clawgate status` shows those.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde_json::{Value, json};

use super::{CliError, SourceArgs, print_json, report};
use crate::chain::placement;
use crate::config::{ApiKey, Config, Secrets};
use crate::format::body::Edits;
use crate::http::{self, Front};
use crate::ops::redact::escape_controls;
use crate::providers::{self, Declined};
use crate::translate::fields;
use crate::upstream::transport_of;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The API the body is written for.
    #[arg(long, default_value = "chat", value_parser = api_parser())]
    api: Front,
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
    /// Explain the request as this client of `gateway.clients` would send
    /// it: its `models` narrow the chain.
    #[arg(long, value_name = "NAME")]
    client: Option<String>,
    /// The request body (JSON, as a client would send it); stdin when
    /// absent or `-`.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// `--api`: a front end by its name, each shown with its route.
fn api_parser() -> impl TypedValueParser<Value = Front> {
    let names = Front::ALL
        .map(|front| PossibleValue::new(front.name()).help(format!("POST {}", front.path())));
    PossibleValuesParser::new(names).map(|name| {
        // The parser lets only the names through.
        (Front::ALL.into_iter().find(|front| front.name() == name)).unwrap_or_default()
    })
}

pub fn explain(args: &ExplainArgs) -> Result<ExitCode, CliError> {
    let (source, loaded) = args.source.load(Secrets::Offline)?;
    report(&source, &loaded);
    let body = read_body(args.file.as_ref())?;
    // The body's text (an unknown model's name) is escaped: no terminal
    // control sequence or forged line reaches the reader.
    let explained = explanation(&loaded.config, args.api, body, args.client.as_deref())
        .map_err(|err| escape_controls(&err));
    match (explained, args.json) {
        (Ok(explained), true) => print_json(&explained),
        (Ok(explained), false) => out!("{}", text(&explained)),
        // A script reading `--json` gets why the gateway would refuse the
        // body before any target as JSON too, with the same exit status.
        (Err(refused), true) => {
            print_json(&json!({"api": args.api.path(), "refused": refused}));
            return Ok(ExitCode::FAILURE);
        }
        (Err(refused), false) => return Err(CliError::Other(refused)),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_body(file: Option<&PathBuf>) -> Result<Bytes, CliError> {
    let mut body = Vec::new();
    let file = file.filter(|path| path.as_os_str() != "-");
    let read = match file {
        Some(path) => std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut body)),
        None => std::io::stdin().read_to_end(&mut body),
    };
    read.map_err(|err| {
        let from = file.map_or_else(|| "stdin".into(), |path| path.display().to_string());
        CliError::Other(escape_controls(&format!(
            "cannot read the request body from {from}: {err}"
        )))
    })?;
    Ok(Bytes::from(body))
}

/// What the running gateway decides and `explain` cannot see.
const NOT_KNOWN: &str = "cooldowns, quota readings, budgets' spend and each target's measured speed and failures (which weigh where a pool places a session) live in the running gateway, not known here: `clawgate status` shows them";

/// What `body`, sent to `front` (by `client`, when named), would make each
/// target of its chain be sent: `{api, model, client?, notKnown, targets:
/// [{ref, provider, dialect, api, url, decision: "send" | "skip" |
/// "refuse", reason?, edits?, dropped?, body?}]}`. A target skipped for what the
/// gateway decides before its rules (no key, not in the client's models)
/// still shows the edits and body it would get.
pub fn explanation(
    config: &Config,
    front: Front,
    body: Bytes,
    client: Option<&str>,
) -> Result<Value, String> {
    let request = http::decode(front, config, body).map_err(|err| err.to_string())?;
    let chain = config
        .chain(request.facts().model())
        .map_err(|err| err.to_string())?;
    let caller =
        match client {
            None => config.gateway.clients.anonymous(),
            Some(name) => config.gateway.clients.get(name).ok_or_else(|| {
                format!("--client {name:?}: no such client under gateway.clients")
            })?,
        };
    let allowed = client.zip(caller.models.as_ref());
    // Its request holds its worst cost before the call: one that names no
    // output limit is sent the limit that cost assumed.
    let reserves = caller.reserves(&config.budgets);
    if let (Some((name, models)), Some(first)) = (allowed, chain.first())
        && !models.allows(&first.model_ref)
    {
        return Err(format!(
            "client {name} may not use model {:?} (403 model_not_allowed); it may use {} (gateway.clients.{name}.models)",
            request.facts().model().unwrap_or("default"),
            models.written.join(", ")
        ));
    }
    let memo = providers::Memo::default();
    let targets: Vec<Value> = chain
        .iter()
        .map(|target| {
            let provider = &target.provider;
            let mut entry = json!({
                "ref": target.model_ref.as_str(),
                "provider": provider.id,
                "dialect": provider.dialect,
                "api": provider.api,
                "url": provider.shown_url,
            });
            let plan = providers::plan(&request, target, &memo);
            match plan.map(|plan| if reserves { plan.bounded(&request, target) } else { plan }) {
                Ok(plan) => {
                    let skipped = match (&provider.api_key, allowed) {
                        (ApiKey::Missing(unset), _) => Some(format!(
                            "no API key: {unset} where explain runs (pass the service's environment file with --env-file); the gateway skips this target while it is unset"
                        )),
                        (_, Some((name, models))) if !models.allows(&target.model_ref) => {
                            Some(format!(
                                "not in gateway.clients.{name}.models: this client's requests never reach it"
                            ))
                        }
                        _ => None,
                    };
                    let transport = transport_of(provider.api);
                    let sent = transport.body(&request, target, &plan.decided, &plan.messages);
                    let sent: Value = serde_json::from_slice(&sent.to_vec()).unwrap_or(Value::Null);
                    // A target that takes the client's own body: what it
                    // is sent of it, in the body's own terms.
                    let own = (request.messages_body.as_ref())
                        .filter(|_| transport.speaks_natively(&request))
                        .and_then(|own| serde_json::from_slice::<Value>(own.bytes()).ok());
                    let edits = match own {
                        Some(own) => changes(&own, &sent),
                        None => match request.chat_form() {
                            Ok(chat) => plan_edits(chat, &plan.decided.chat_edits(chat)),
                            Err(_) => Vec::new(),
                        },
                    };
                    match skipped {
                        Some(reason) => {
                            entry["decision"] = json!("skip");
                            entry["reason"] = json!(reason);
                        }
                        None => entry["decision"] = json!("send"),
                    }
                    entry["edits"] = json!(edits);
                    let mut seen = request.seen.clone();
                    fields::before_transports(&request, [provider.api], &mut seen);
                    entry["dropped"] = json!(fields::dropped(&seen, provider.api, &plan.withheld));
                    entry["body"] = sent;
                }
                Err(Declined::Skip(why)) => {
                    entry["decision"] = json!("skip");
                    entry["reason"] = json!(why.to_string());
                }
                Err(Declined::Refuse(why)) => {
                    entry["decision"] = json!("refuse");
                    entry["reason"] = json!(why.to_string());
                }
            }
            entry
        })
        .collect();
    Ok(json!({
        "api": front.path(),
        "model": request.facts().model(),
        "client": client,
        "notKnown": NOT_KNOWN,
        "pools": pools(&chain),
        "targets": targets,
    }))
}

/// Each pool of `chain`: where a new session would be placed and why,
/// each member's expected cost per turn and its chance, by price alone
/// (what the running gateway measured is not known here).
fn pools(chain: &[crate::config::Target]) -> Vec<Value> {
    let mut pools = Vec::new();
    let mut start = 0;
    while start < chain.len() {
        let pool = chain[start].pool;
        let len = chain[start..]
            .iter()
            .take_while(|t| pool.is_some() && t.pool == pool)
            .count()
            .max(1);
        let run = &chain[start..start + len];
        start += len;
        if pool.is_none() {
            continue;
        }
        let members: Vec<Value> = run
            .iter()
            .zip(placement::weigh_by_price(run))
            .map(|(target, weighed)| {
                let mut member = json!(weighed);
                member["ref"] = json!(target.model_ref.as_str());
                member
            })
            .collect();
        pools.push(json!({"how": placement::HOW, "members": members}));
    }
    pools
}

/// The plan's decisions as `edits` of the request model `chat`, each a member
/// (`key`, or `messages[i].key`) and its value (`null`: removed).
fn plan_edits(chat: &crate::wire::openai::ChatRequest, edits: &Edits) -> Vec<Value> {
    let mut shown: Vec<Value> = (edits.top.each())
        .map(|(key, value)| json!({"member": key, "value": value}))
        .collect();
    for (index, message) in &edits.items {
        shown.extend(message.each().map(
            |(key, value)| json!({"member": format!("messages[{index}].{key}"), "value": value}),
        ));
    }
    // A member removed that the request never held is no edit the reader
    // needs to hear of.
    shown.retain(|edit| !edit["value"].is_null() || held(chat, &edit["member"]));
    shown
}

/// What `sent` changes of the client's own body `own`, in its terms: each
/// member set, added or removed (`null`), named by its place at any depth
/// (`system[0].text`, `messages[3].content[1].type`); an element of an
/// array taken out or put in is named whole (`system[0]`: removed), so a
/// block moved is one taken out and one put in, not each after it
/// changed.
fn changes(own: &Value, sent: &Value) -> Vec<Value> {
    let mut shown = Vec::new();
    changed_within(String::new(), Some(own), Some(sent), &mut shown);
    shown
}

/// [`changes`] at `place`: `from` and `to` compared member by member
/// while both are objects, element by element ([`changed_elements`])
/// while both are arrays.
fn changed_within(place: String, from: Option<&Value>, to: Option<&Value>, shown: &mut Vec<Value>) {
    match (from, to) {
        (Some(Value::Object(from)), Some(Value::Object(to))) => {
            let added = to.keys().filter(|key| !from.contains_key(*key));
            for key in from.keys().chain(added) {
                let inner = if place.is_empty() {
                    key.clone()
                } else {
                    format!("{place}.{key}")
                };
                changed_within(inner, from.get(key), to.get(key), shown);
            }
        }
        (Some(Value::Array(from)), Some(Value::Array(to)))
            if from.len().saturating_mul(to.len()) <= MOST_ALIGNED =>
        {
            changed_elements(&place, from, to, shown);
        }
        // Too long to align: compared in place where as many.
        (Some(Value::Array(from)), Some(Value::Array(to))) if from.len() == to.len() => {
            for (index, (from, to)) in from.iter().zip(to).enumerate() {
                changed_within(format!("{place}[{index}]"), Some(from), Some(to), shown);
            }
        }
        (from, to) if from != to => shown.push(json!({"member": place, "value": to})),
        _ => {}
    }
}

/// The most pairs of elements two arrays are aligned over; longer ones
/// are compared in place, or shown whole where their lengths differ.
const MOST_ALIGNED: usize = 1 << 20;

/// [`changed_within`] for two arrays: the elements both hold, in order
/// (the longest such run), are unchanged; between two of them, as many
/// elements on each side are compared in place (named by their index in
/// `from`, the client's), else those of `from` are named removed (by
/// their index in `from`) and those of `to` added (by theirs in `to`).
fn changed_elements(place: &str, from: &[Value], to: &[Value], shown: &mut Vec<Value>) {
    let (mut i, mut j) = (0, 0);
    for (a, b) in common_elements(from, to)
        .into_iter()
        .chain([(from.len(), to.len())])
    {
        if a - i == b - j {
            for (k, (from, to)) in from[i..a].iter().zip(&to[j..b]).enumerate() {
                changed_within(format!("{place}[{}]", i + k), Some(from), Some(to), shown);
            }
        } else {
            let removed = (i..a).map(|k| json!({"member": format!("{place}[{k}]"), "value": null}));
            let added = (j..b).map(|k| json!({"member": format!("{place}[{k}]"), "value": to[k]}));
            shown.extend(removed.chain(added));
        }
        (i, j) = (a + 1, b + 1);
    }
}

/// The index pairs of the longest run of elements `from` and `to` both
/// hold in the same order.
fn common_elements(from: &[Value], to: &[Value]) -> Vec<(usize, usize)> {
    // longest[a][b]: the longest common run of from[a..] and to[b..].
    let width = to.len() + 1;
    let mut longest = vec![0u32; (from.len() + 1) * width];
    for a in (0..from.len()).rev() {
        for b in (0..to.len()).rev() {
            longest[a * width + b] = if from[a] == to[b] {
                longest[(a + 1) * width + b + 1] + 1
            } else {
                longest[(a + 1) * width + b].max(longest[a * width + b + 1])
            };
        }
    }
    let (mut a, mut b, mut pairs) = (0, 0, Vec::new());
    while a < from.len() && b < to.len() {
        if from[a] == to[b] {
            pairs.push((a, b));
            (a, b) = (a + 1, b + 1);
        } else if longest[(a + 1) * width + b] >= longest[a * width + b + 1] {
            a += 1;
        } else {
            b += 1;
        }
    }
    pairs
}

/// Whether the request model holds `member` (`key`, or
/// `messages[i].key`).
fn held(request: &crate::wire::openai::ChatRequest, member: &Value) -> bool {
    let member = member.as_str().unwrap_or_default();
    let in_message = member
        .strip_prefix("messages[")
        .and_then(|rest| rest.split_once("]."))
        .and_then(|(index, key)| Some((index.parse().ok()?, key)));
    match in_message {
        Some((index, key)) => request.message_member(index, key).is_some(),
        None => request.contains(member),
    }
}

/// The longest edit value shown in the text form; `--json` shows all.
const SHOWN_VALUE: usize = 100;

/// The explanation for a reader: the chain, then each target's decision,
/// the edits its rules made (values shortened) and the body it would get.
fn text(explained: &Value) -> String {
    let targets = explained["targets"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "POST {} for {}: {} target(s)\n",
        explained["api"].as_str().unwrap_or_default(),
        escape_controls(explained["model"].as_str().unwrap_or("the default model")),
        targets.len()
    );
    if let Some(client) = explained["client"].as_str() {
        out.push_str(&format!("as client {client}\n"));
    }
    out.push_str(&format!(
        "not known: {}\n",
        explained["notKnown"].as_str().unwrap_or_default()
    ));
    for pool in explained["pools"].as_array().into_iter().flatten() {
        let members = pool["members"].as_array().cloned().unwrap_or_default();
        let refs: Vec<&str> = members.iter().filter_map(|m| m["ref"].as_str()).collect();
        out.push_str(&format!(
            "\npool {}: {}\n",
            refs.join(" | "),
            pool["how"].as_str().unwrap_or_default()
        ));
        for member in &members {
            let number = |key: &str| member[key].as_f64().unwrap_or_default();
            let price = match member["turnUsd"].as_f64() {
                Some(usd) => format!("{usd:.4} USD"),
                None => "no price (weighed as the dearest)".to_string(),
            };
            out.push_str(&format!(
                "   {}: {:.0}% of new sessions; {:.4} USD a turn expected (price {price}, speed x{:.2}, reliability x{:.2}, quota x{:.2})\n",
                member["ref"].as_str().unwrap_or_default(),
                100.0 * number("chance"),
                number("expectedUsd"),
                number("speed"),
                number("reliability"),
                number("quota"),
            ));
        }
    }
    for (n, target) in targets.iter().enumerate() {
        let field = |key: &str| target[key].as_str().unwrap_or_default().to_string();
        out.push_str(&format!(
            "\n{}. {} ({} dialect, {}, {})\n",
            n + 1,
            field("ref"),
            field("dialect"),
            field("api"),
            field("url")
        ));
        match target["decision"].as_str() {
            Some("send") => {
                out.push_str("   sent, with these edits by its rules:\n");
                for edit in target["edits"].as_array().into_iter().flatten() {
                    let value = match &edit["value"] {
                        Value::Null => "removed".to_string(),
                        value => shortened(value.to_string()),
                    };
                    out.push_str(&format!("     {}: {value}\n", field_of(edit)));
                }
                let dropped: Vec<&str> = (target["dropped"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                if !dropped.is_empty() {
                    out.push_str(&format!(
                        "   not sent (x-clawgate-dropped): {}\n",
                        dropped.join(", ")
                    ));
                }
                let body = serde_json::to_string_pretty(&target["body"]).unwrap_or_default();
                out.push_str("   body:\n");
                for line in body.lines() {
                    out.push_str(&format!("     {line}\n"));
                }
            }
            Some(decision) => {
                let done = if decision == "skip" {
                    "skipped"
                } else {
                    "refused"
                };
                out.push_str(&format!("   {done}: {}\n", field("reason")));
            }
            None => {}
        }
    }
    out
}

fn field_of(edit: &Value) -> &str {
    edit["member"].as_str().unwrap_or_default()
}

fn shortened(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(SHOWN_VALUE) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, load_str};

    fn config() -> Config {
        config_with(&[("MOONSHOT_API_KEY", "k")])
    }

    fn config_with(env: &[(&str, &str)]) -> Config {
        let env = Environment::from_pairs(env.iter().copied());
        let text = json!({
            "models": {"mode": "replace", "providers": {
                "moonshot": {"baseUrl": "https://api.moonshot.ai/v1", "apiKey": "${MOONSHOT_API_KEY}",
                    "models": [{"id": "kimi-k2-turbo", "input": ["text"]},
                               {"id": "kimi-k2.6", "reasoning": true, "input": ["text", "image"],
                                "compat": {"thinking": "optional"}}]}}},
            "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2-turbo",
                                              "fallbacks": ["moonshot/kimi-k2.6"]}}},
            "gateway": {"clients": {"ci": {"key": "${CI_KEY}", "models": ["moonshot/kimi-k2-turbo"]}}},
        });
        load_str(&text.to_string(), &env, Secrets::Offline)
            .unwrap()
            .config
    }

    fn hello() -> Bytes {
        Bytes::from(json!({"messages": [{"role": "user", "content": "hi"}]}).to_string())
    }

    #[test]
    fn a_pool_says_where_a_new_session_would_go_and_why() {
        let env = Environment::from_pairs([("MOONSHOT_API_KEY", "k")]);
        let provider = |url: &str, input: f64| {
            json!({"baseUrl": url, "apiKey": "${MOONSHOT_API_KEY}",
                "models": [{"id": "kimi-k2.6", "cost": {"input": input, "output": 4.0, "cacheRead": input / 6.0}}]})
        };
        let text = json!({
            "models": {"mode": "replace", "providers": {
                "moonshot": provider("https://api.moonshot.ai/v1", 0.95),
                "moonshot-b": provider("https://api.moonshot.cn/v1", 3.0),
            }},
            "agents": {"defaults": {"model": {"primary": ["moonshot/kimi-k2.6", "moonshot-b/kimi-k2.6"]}}},
        });
        let config = load_str(&text.to_string(), &env, Secrets::Offline)
            .unwrap()
            .config;
        let explained = explanation(&config, Front::Chat, hello(), None).unwrap();
        let members = explained["pools"][0]["members"].as_array().unwrap();
        assert_eq!(members[0]["ref"], "moonshot/kimi-k2.6", "{explained}");
        let chance = |n: usize| members[n]["chance"].as_f64().unwrap();
        assert!(chance(0) > chance(1) && chance(1) > 0.0, "{explained}");
        assert!((chance(0) + chance(1) - 1.0).abs() < 1e-9);
        assert!(
            members[0]["expectedUsd"].as_f64().unwrap()
                < members[1]["expectedUsd"].as_f64().unwrap()
        );
        let shown = text_of(&explained);
        assert!(
            shown
                .contains("pool moonshot/kimi-k2.6 | moonshot-b/kimi-k2.6: a new session is drawn"),
            "{shown}"
        );
        assert!(shown.contains("   moonshot/kimi-k2.6: "), "{shown}");
        // No pool, nothing said of one.
        let plain = explanation(
            &config_with(&[("MOONSHOT_API_KEY", "k")]),
            Front::Chat,
            hello(),
            None,
        )
        .unwrap();
        assert_eq!(plain["pools"], json!([]));
    }

    fn text_of(explained: &Value) -> String {
        text(explained)
    }

    /// A body sent in the client's own format is explained by what changed
    /// of it: members set, added and removed at any depth, an element taken
    /// out or put in whole.
    #[test]
    fn the_own_bodys_changes_are_said_in_its_terms() {
        let own = json!({"max_tokens": 10, "temperature": 0.5, "stream": true, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}]}, "odd"]});
        let mut sent = own.clone();
        sent["max_tokens"] = json!(4);
        sent.as_object_mut().unwrap().remove("temperature");
        sent["model"] = json!("k");
        sent["messages"][1]["content"] = json!([]);
        sent["messages"][1]["name"] = json!("x");
        sent["messages"][2] = json!("even");
        let member = |member: &str, value: Value| json!({"member": member, "value": value});
        assert_eq!(
            changes(&own, &sent),
            [
                member("max_tokens", json!(4)),
                member("temperature", Value::Null),
                member("messages[1].content[0]", Value::Null),
                member("messages[1].name", json!("x")),
                member("messages[2]", json!("even")),
                member("model", json!("k")),
            ]
        );
        sent["messages"] = json!([{"role": "user", "content": "hi"}]);
        assert_eq!(
            changes(&own, &sent)[2..4],
            [
                member("messages[1]", Value::Null),
                member("messages[2]", Value::Null)
            ]
        );
        assert_eq!(changes(&own, &own), Vec::<Value>::new());

        // A block taken out and another put in at the end (Claude Code's
        // billing line dropped, a `role: system` message moved into
        // `system`, to Kimi Coding) are those two, not each block after.
        let block = |text: &str| {
            json!({"type": "text", "text": text,
            "cache_control": {"type": "ephemeral"}})
        };
        let own = json!({"system": [{"type": "text", "text": "x-anthropic-billing-header: 1"},
            block("A"), block("B")]});
        let sent = json!({"system": [block("A"), block("B"), {"type": "text", "text": "moved"}]});
        assert_eq!(
            changes(&own, &sent),
            [
                member("system[0]", Value::Null),
                member("system[2]", json!({"type": "text", "text": "moved"}))
            ]
        );

        // Deeper changes are named where they are: a billing line taken
        // out of the system prompt's first block is that block's text, not
        // the whole prompt.
        let own = json!({"system": [{"type": "text", "text": "x-anthropic-billing-header: 1\nBe brief."},
            {"type": "text", "text": "Tools follow."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                {"type": "tool_reference", "tool_name": "t"}]}]});
        let mut sent = own.clone();
        sent["system"][0]["text"] = json!("Be brief.");
        sent["messages"][0]["content"][1] = json!({"type": "text", "text": "t"});
        assert_eq!(
            changes(&own, &sent),
            [
                member("system[0].text", json!("Be brief.")),
                member("messages[0].content[1].type", json!("text")),
                member("messages[0].content[1].tool_name", Value::Null),
                member("messages[0].content[1].text", json!("t")),
            ]
        );
    }

    #[test]
    fn targets_are_decided_as_the_gateway_would_and_the_unknown_is_said() {
        let explained = explanation(&config(), Front::Chat, hello(), None).unwrap();
        let targets = explained["targets"].as_array().unwrap();
        assert_eq!(targets[0]["decision"], "send", "{explained}");
        assert_eq!(targets[1]["decision"], "send", "{explained}");
        assert!(
            explained["notKnown"]
                .as_str()
                .unwrap()
                .contains("cooldowns"),
            "{explained}"
        );
        // No `thinking: removed` for a body that held none.
        for target in targets {
            for edit in target["edits"].as_array().unwrap() {
                assert!(!edit["value"].is_null(), "{explained}");
            }
        }
        assert!(
            !text(&explained).contains(": removed"),
            "{}",
            text(&explained)
        );

        // A key variable unset where explain runs: skipped, as the gateway
        // skips it, the body it would get still shown.
        let keyless = explanation(&config_with(&[]), Front::Chat, hello(), None).unwrap();
        let first = &keyless["targets"][0];
        assert_eq!(first["decision"], "skip", "{keyless}");
        assert!(
            first["reason"]
                .as_str()
                .unwrap()
                .starts_with("no API key: MOONSHOT_API_KEY is not set"),
            "{keyless}"
        );
        assert_eq!(first["body"]["model"], "kimi-k2-turbo");

        // A client's models narrow its chain.
        let as_ci = explanation(&config(), Front::Chat, hello(), Some("ci")).unwrap();
        assert_eq!(as_ci["targets"][0]["decision"], "send", "{as_ci}");
        assert_eq!(as_ci["targets"][1]["decision"], "skip", "{as_ci}");
        assert!(
            as_ci["targets"][1]["reason"]
                .as_str()
                .unwrap()
                .starts_with("not in gateway.clients.ci.models"),
            "{as_ci}"
        );
        assert!(text(&as_ci).contains("as client ci"));
        let body =
            json!({"model": "moonshot/kimi-k2.6", "messages": [{"role": "user", "content": "hi"}]});
        let refused = explanation(
            &config(),
            Front::Chat,
            Bytes::from(body.to_string()),
            Some("ci"),
        );
        assert!(refused.unwrap_err().contains("client ci may not use model"));
        let nobody = explanation(&config(), Front::Chat, hello(), Some("nobody"));
        assert!(nobody.unwrap_err().contains("no such client"));
    }

    #[test]
    fn each_target_says_what_it_would_be_sent_or_why_not() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
            "reasoning_effort": "low", "temperature": 0.3});
        let explained =
            explanation(&config(), Front::Chat, Bytes::from(body.to_string()), None).unwrap();
        let targets = explained["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0]["ref"], "moonshot/kimi-k2-turbo");
        assert_eq!(targets[0]["decision"], "skip");
        assert!(
            targets[0]["reason"]
                .as_str()
                .unwrap()
                .contains("holds an image and the model takes text only"),
            "{explained}"
        );
        assert_eq!(targets[1]["decision"], "send");
        let sent = &targets[1]["body"];
        assert_eq!(sent["model"], "kimi-k2.6");
        assert_eq!(sent["thinking"], json!({"type": "enabled"}));
        assert_eq!(sent["stream"], json!(true));
        let edited: Vec<&str> = targets[1]["edits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["member"].as_str().unwrap())
            .collect();
        assert!(edited.contains(&"thinking"), "{edited:?}");
        assert!(edited.contains(&"reasoning_effort"), "{edited:?}");
        // The text form names the skip, the edits and the body.
        let shown = text(&explained);
        assert!(shown.contains("1. moonshot/kimi-k2-turbo"), "{shown}");
        assert!(
            shown.contains("   skipped: `messages[0].content` holds an image"),
            "{shown}"
        );
        assert!(shown.contains("     reasoning_effort: removed"), "{shown}");
        assert!(shown.contains("\"model\": \"kimi-k2.6\""), "{shown}");
    }

    /// Under a budget a request that names no output limit is sent the one
    /// its reservation assumed, and explain shows it as the gateway sends it.
    #[test]
    fn a_budget_s_output_limit_is_shown() {
        let mut text = json!({
            "models": {"mode": "replace", "providers": {
                "moonshot": {"baseUrl": "https://api.moonshot.ai/v1", "apiKey": "k",
                    "models": [{"id": "kimi-k2-turbo", "maxTokens": 4096,
                                "cost": {"input": 1.0, "output": 2.0}}]}}},
            "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2-turbo"}}},
        });
        let sent = |text: &Value| {
            let env = Environment::from_pairs([("K", "k")]);
            let config = load_str(&text.to_string(), &env, Secrets::Offline).unwrap();
            let explained = explanation(&config.config, Front::Chat, hello(), None).unwrap();
            explained["targets"][0]["body"].clone()
        };
        assert!(sent(&text).get("max_tokens").is_none());
        text["gateway"] = json!({"budgets": {"daily": 10}});
        assert_eq!(sent(&text)["max_tokens"], 4096);
    }

    #[test]
    fn bad_input_is_refused_with_the_front_ends_message() {
        let config = config();
        let cases = [
            (Front::Chat, "not json", "not valid JSON"),
            (Front::Chat, r#"{"messages": []}"#, "at least one message"),
            (
                Front::Chat,
                r#"{"model": "nobody/x", "messages": [{"role": "user", "content": "hi"}]}"#,
                "nobody/x",
            ),
            (Front::Messages, r#"{"messages": "hi"}"#, "messages"),
            (
                Front::Responses,
                r#"{"model": "moonshot/kimi-k2.6"}"#,
                "`input` is required",
            ),
        ];
        for (front, body, expected) in cases {
            let err = explanation(&config, front, Bytes::from(body), None).unwrap_err();
            assert!(err.contains(expected), "{front:?} {body}: {err}");
        }
        // A refusal names the message.
        let unpaired = json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "tool", "content": "x"}]});
        let explained = explanation(
            &config,
            Front::Chat,
            Bytes::from(unpaired.to_string()),
            None,
        )
        .unwrap();
        assert_eq!(explained["targets"][0]["decision"], "refuse");
        assert!(
            explained["targets"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("messages[1] is a tool result without a tool_call_id")
        );
    }
}
