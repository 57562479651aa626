//! The seam every API front end plugs into, and the handler skeleton they
//! share, written once: admit, read the body, decode it (once) into the
//! request model, run the chain, the `x-clawgate-*` headers, the access
//! record, then the answer or the stream in the front end's own format.
//!
//! A front end is one module implementing [`FrontEnd`]: how its body is
//! decoded into the request model ([`ClientRequest`]), how a whole answer is
//! written, an [`Encoder`] that writes a stream from the relay's typed
//! [`Item`]s (driven by `http::stream`), and the shape of its error
//! bodies. Its route is one line in `http::mod`'s table, served by
//! [`serve`].
//!
//! Every byte of an answer or a stream the gateway sends a client passes
//! through one place, [`Outgoing`] (`http::stream`): where the key
//! scrubber is wired in.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::coding;
use super::error::{ErrorReport, ErrorShape, Viewer};
use super::guard::Caller;
use super::stream::{Encoder, Outgoing, encode, with_head};
use super::{
    ATTEMPTS_HEADER, AccessRecord, ApiError, BETA_HEADER, DROPPED_HEADER, MODEL_HEADER,
    PROVIDER_HEADER, SESSION_HEADER, request_options,
};
use crate::admission::Refused;
use crate::capabilities::Api;
use crate::chain::Answer;
use crate::config::clients::Client;
use crate::config::{ApiKey, Config, ModelRef, Target, UnknownModel, placeholder_key};
use crate::format::sse::Event;
use crate::gateway::{Gateway, Memos, RequestOptions, Slot};
use crate::ledger::Pricing;
use crate::ledger::budget::Demand;
use crate::ops::metrics;
use crate::ops::redact::{Redactor, escape_controls};
use crate::ops::scrub::Scrubber;
use crate::ops::throttle::Throttle;
use crate::providers::{self, response::shape_completion};
use crate::reasoning_cache::{self, Collector, ReasoningCache, Scope};
use crate::relay::{self, Item, Liveness};
use crate::session::{self, Conversation};
use crate::translate::{fields, token_estimate};
use crate::upstream::Reply;
use crate::wire::anthropic::EventKind;
use crate::wire::facts::Facts;
use crate::wire::request::ClientRequest;
use crate::wire::{Front, Seen};

/// One API the gateway serves (the OpenAI chat API, Anthropic's Messages
/// API, ...). Everything else about a request is the same for all.
pub trait FrontEnd: Send + Sync + 'static {
    /// The API it serves: its route and its name in the ledger follow.
    const FRONT: Front;

    /// Writes one streamed answer.
    type Encoder: Encoder;

    /// What the answer needs to know of the client's request besides the
    /// model (the Responses API: which tools were namespaced or custom);
    /// `()` for most.
    type Context: Send + 'static;

    /// Decodes the client's body, once, into the request model, noting the
    /// model the client asked for on `record`.
    /// What `memos` hold is stepped over or taken as translated before.
    fn decode(
        config: &Config,
        memos: &Memos,
        body: Bytes,
        record: &AccessRecord,
    ) -> Result<(ClientRequest, Self::Context), ApiError>;

    /// What the body says of its conversation, as this front end's reader
    /// found it: OpenAI's `prompt_cache_key` (the chat API's and the
    /// Responses API's, carried into the model as it is) unless the front
    /// end knows better.
    fn session_hint(request: &dyn Facts) -> Option<session::Hint<'_>> {
        let id = session::json_string(request.raw("prompt_cache_key")?)?;
        Some(session::Hint {
            id,
            from: "prompt_cache_key",
        })
    }

    /// Whether the stream should carry the usage chunk (the OpenAI API's
    /// `stream_options.include_usage`; an encoder that needs usage itself
    /// says `true`).
    fn wants_usage(request: &dyn Facts) -> bool;

    /// The body of a whole answer: `completion` (a chat completion, usage
    /// priced) in this API's format, naming `model_ref`.
    fn answer(
        completion: Map<String, Value>,
        model_ref: &ModelRef,
        context: &Self::Context,
    ) -> Bytes;

    /// The body of a whole answer read from the provider's own events
    /// (`native`: the client speaks the provider's format), `None` when
    /// none came and [`Self::answer`] says it. A front end whose clients
    /// speak a provider's format must say it from those events: the
    /// completion beside them then holds only the answer's ends.
    fn native_answer(
        _native: &[Event],
        _model_ref: &ModelRef,
        _context: &Self::Context,
        _scrubber: &Scrubber,
    ) -> Option<Bytes> {
        None
    }

    /// The encoder for one streamed answer from `model_ref`.
    fn encoder(model_ref: &ModelRef, context: Self::Context) -> Self::Encoder;

    /// An error's body in this API's shape; OpenAI's by default.
    fn error_body(report: &ErrorReport) -> Value {
        report.openai_body()
    }

    /// The response for an error of this front end's route.
    ///
    /// When every provider refused the key clawgate holds for it, the
    /// answer says so in every API alike: a 502 (from
    /// [`crate::chain::policy::final_status`]) naming the variable each key
    /// came from, marked as not worth retrying. A 401 would read as the
    /// client's own token refused: the OpenAI SDK raises
    /// `AuthenticationError`, Claude Code retries without a word.
    fn error_response(mut report: ErrorReport, config: &Config) -> Response {
        flag_placeholder_keys(&mut report, config);
        if report.code != "upstream_auth_failed" {
            return report.response(Self::error_body);
        }
        report.message = refused_keys(&report, config);
        report.response(Self::error_body)
    }
}

/// What to fix when every provider refused its key: each target and where
/// clawgate took the key from.
fn refused_keys(report: &ErrorReport, config: &Config) -> String {
    let refused: Vec<String> = report
        .attempts
        .iter()
        .flatten()
        .map(|attempt| {
            let status = attempt
                .status
                .map_or("refused its key".to_string(), |s| format!("answered {s}"));
            let mut source = match config.providers.get(&attempt.provider) {
                Some(provider) => match &provider.key_var {
                    Some(var) => format!("the key in {var}"),
                    None => format!("the apiKey of models.providers.{}", provider.id),
                },
                None => "its key".to_string(),
            };
            if attempt.hint == Some(PLACEHOLDER_HINT) {
                source.push_str(", a placeholder from the docs");
            }
            format!("{} {status} ({source})", attempt.model)
        })
        .collect();
    format!(
        "clawgate's providers refused the API keys clawgate holds for them, not your token: {}; fix each key where it is named, then reload clawgate (a NixOS service: restart it)",
        refused.join("; ")
    )
}

/// The hint of an attempt whose key was refused and looks like a
/// placeholder copied from the docs.
pub const PLACEHOLDER_HINT: &str = "the provider's key looks like a placeholder from the docs (sk-..., YOUR_API_KEY_HERE): put the real key in its variable";

/// Points the refused attempts whose key is a placeholder at that.
pub fn flag_placeholder_keys(report: &mut ErrorReport, config: &Config) {
    for attempt in report.attempts.iter_mut().flatten() {
        let placeholder = config.providers.get(&attempt.provider).is_some_and(|p| {
            matches!(&p.api_key, ApiKey::Set(key) if placeholder_key(key.expose_secret()).is_some())
        });
        if attempt.outcome == "auth" && placeholder {
            attempt.hint = Some(PLACEHOLDER_HINT);
        }
    }
}

/// Errors on `paths` (answered by the guards, or by no route at all) take
/// the front end's shape: re-rendered from the [`ErrorReport`] the response
/// carries, never by reading its body. Status and headers stay.
pub async fn error_shape<F>(
    request: Request,
    next: impl FnOnce(Request) -> F,
    shape: ErrorShape,
) -> Response
where
    F: Future<Output = Response>,
{
    let response = next(request).await;
    let Some(report) = response.extensions().get::<ErrorReport>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&shape(&report)).expect("a JSON value always serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The handler of a front end's main route.
pub async fn serve<F: FrontEnd>(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match answer::<F>(&gateway, request).await {
        Ok(response) => response,
        Err(error) => {
            // Refused before its body was read: the connection cannot carry
            // another request (the body's bytes would be read as one), and
            // the client must know it before it reuses it.
            let unread = matches!(
                error,
                ApiError::ClientLimited { .. } | ApiError::Busy(_) | ApiError::PayloadTooLarge(_)
            );
            let mut response = F::error_response(error.report(), &gateway.config());
            if unread {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

async fn answer<F: FrontEnd>(gateway: &Gateway, request: Request) -> Result<Response, ApiError> {
    let config = gateway.config();
    let record = AccessRecord::of(&request);
    let client = Caller::of(&request).unwrap_or_else(|| config.gateway.clients.anonymous().clone());
    let slot = admit(gateway, Some(&client))?;
    let options = request_options(request.headers());
    // A Messages client's feature flags, its own: the rules decide which
    // each target is sent.
    let betas = (F::FRONT == Front::Messages)
        .then(|| joined(request.headers(), BETA_HEADER))
        .flatten();
    let sessions = gateway.sessions();
    let named = sessions
        .as_ref()
        .map(|_| named_session(request.headers(), gateway.log_throttle()));
    let bytes = read_limited(request, &config).await?;
    record.body_read(bytes.len());
    // Refused once the body is read: the connection can carry the next.
    let named = named.transpose().map_err(ApiError::BadRequest)?;
    let mut options = options.map_err(ApiError::BadRequest)?;
    let (mut request, context) = F::decode(&config, gateway.memos(), bytes, &record)?;
    request.native.betas = betas;
    let found = named.map(|named| {
        let conversation = Conversation::of(request.facts());
        let ignored = |from| ignored_session(from, gateway.log_throttle());
        let hint = F::session_hint(request.facts());
        let key = session::name(&client.name, named.as_deref(), hint, &conversation, ignored);
        // A key pasted as a session's id is kept, logged and shown as
        // `[redacted]`, as one pasted as a model is.
        let key = session::kept(key, &config.redactor);
        (key, conversation)
    });
    let wants_usage = F::wants_usage(request.facts());
    let mut chain =
        (config.chain(request.facts().model())).map_err(|unknown| config.seen_by(unknown, &client));
    let left_out = allowed_chain(&client, request.facts().model(), &mut chain)?;
    options.demand = reserve(gateway, &config, &client, &request, &chain, &record)?;
    options.in_flight = Some(record.in_flight());
    // The reasoning the model produced for replayed tool-call turns, for
    // chains with a target whose rules give it back.
    if gateway.telemetry().is_some() {
        options.trace = record.trace();
        options.onward = record.onward();
    }
    if options.trace.is_some() {
        record.traced_request(&request, chain.as_deref().unwrap_or_default());
    }
    let reasoning = gateway.reasoning_cache().filter(|_| {
        chain
            .as_ref()
            .is_ok_and(|chain| chain.iter().any(providers::gives_reasoning_back))
    });
    // Restored per turn; the answer's kept for this client's conversation:
    // one client never gets another's.
    let (request, scope) = match &reasoning {
        Some(cache) => {
            let scope = Scope::of_client(&client);
            let request = reasoning_cache::restore(cache, scope, request);
            let answer_scope = reasoning_cache::answer_scope(scope, request.facts());
            (request, answer_scope)
        }
        None => (request, Scope::of_client(&client)),
    };
    // A request no chain serves reaches no provider's cache: no session.
    if let (Some(sessions), Some((key, conversation)), Ok(targets)) = (sessions, found, &chain) {
        // Message indices after the system prompt, as the turn counts them.
        let system = conversation.system.len();
        // The place the chain starts at (a pool, or a model), however the
        // client named it: the provider's cache is that place's.
        let place = match targets.first() {
            Some(Target {
                pool: Some(pool), ..
            }) => Cow::Owned(format!("pool {pool}")),
            Some(first) => Cow::Borrowed(first.model_ref.as_str()),
            None => Cow::Borrowed(request.facts().model().unwrap_or_default()),
        };
        let whose = session::Whose {
            session: key.clone(),
            client: &client.name,
            model: &place,
        };
        let turn = sessions.turn(
            whose,
            conversation,
            |index| request.restored_reasoning(system + index).is_some(),
            || Conversation::tool_list(request.facts(), |name| scrubbed(&config.redactor, name)),
            std::time::Instant::now(),
        );
        record.session(key.clone());
        record.session_turn(sessions, turn);
        options.session = Some(key);
    }
    let viewer = Viewer {
        admin: client.admin,
        left_out: (!left_out.is_empty()).then(|| (client.name.clone(), left_out)),
    };
    options.client = Some(client);
    let mut seen = request.seen.clone();
    if let Ok(chain) = &chain {
        fields::before_transports(&request, chain.iter().map(|t| t.provider.api), &mut seen);
    }
    if request.native.betas.is_some() {
        fields::MessagesRow::AnthropicBeta.mark(&mut seen);
    }
    let answer = run_chain(gateway, &config, chain, request, options, &record)
        .await
        .map_err(|error| error.seen_by(viewer))?;
    let (mut headers, outcome) = answered(&answer);
    let said = gateway.log_throttle();
    let (target, withheld) = (&answer.target, &answer.withheld);
    name_dropped(
        &seen,
        target,
        withheld,
        &config.redactor,
        said,
        &mut headers,
    );
    let model_ref = answer.target.model_ref.clone();
    let mut outgoing = Outgoing::new(&config.redactor);
    let response = match answer.reply {
        Reply::Complete {
            mut completion,
            native,
        } => {
            metrics::request(outcome);
            shape_completion(&mut completion, &Pricing::of(&answer.target.model));
            record.usage_of(&completion);
            if let Some(cache) = &reasoning {
                remember_answer(cache, scope, &completion, &native);
            }
            let body = F::native_answer(&native, &model_ref, &context, config.redactor.scrubber())
                .unwrap_or_else(|| F::answer(completion, &model_ref, &context));
            let body = outgoing.pass(body);
            let body = match outgoing.finish() {
                Some(rest) => [body, rest].concat().into(),
                None => body,
            };
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (headers, body).into_response()
        }
        Reply::Stream {
            first,
            rest,
            native,
        } => {
            let rest = record.watch_answer(&first, rest);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let answering = relay::Answering {
                model_ref: model_ref.clone(),
                pricing: Pricing::of(&answer.target.model),
                client_wants_usage: wants_usage,
                parts: <F::Encoder as Encoder>::PARTS,
                native,
                chat_upstream: answer.target.provider.api == Api::OpenAiCompletions,
                outcome,
                health: answer.health,
                usage: record.usage_sink(),
            };
            let items = relay::relay(
                first,
                rest,
                answering,
                Liveness::new(config.gateway.timeouts.idle, config.gateway.timeouts.chain),
                config.redactor.clone(),
                gateway.aborted(),
            );
            let broken = record.clone();
            let items = items.inspect(move |item| {
                if let Item::Error(error) = item {
                    broken.stream_broken(error.code);
                }
            });
            let items = remember_reasoning(items, reasoning, scope);
            let stream = encode(items, F::encoder(&model_ref, context), outgoing, slot);
            (headers, Body::from_stream(with_head(stream).await)).into_response()
        }
    };
    Ok(response)
}

/// Every `name` line of `headers` as one list, as HTTP reads a header
/// sent on several lines.
fn joined(headers: &HeaderMap, name: &str) -> Option<HeaderValue> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next()?;
    let mut list = first.as_bytes().to_vec();
    for line in lines {
        list.extend_from_slice(b", ");
        list.extend_from_slice(line.as_bytes());
    }
    HeaderValue::from_bytes(&list).ok()
}

/// The relay's items as they are, the stream's reasoning and tool calls
/// kept in the reasoning cache when it completes (a mapping, nothing
/// spawned). A provider's own Anthropic events, which the relay passes on
/// unread, are read here for it.
fn remember_reasoning(
    items: impl Stream<Item = Item> + Send,
    cache: Option<Arc<ReasoningCache>>,
    scope: Scope,
) -> impl Stream<Item = Item> + Send {
    let mut collector = cache.map(|cache| (cache, Collector::default()));
    items.map(move |item| {
        if matches!(item, Item::Done) {
            if let Some((cache, kept)) = collector.take() {
                kept.finish(&cache, scope);
            }
            return item;
        }
        let Some((_, kept)) = &mut collector else {
            return item;
        };
        match &item {
            Item::Chunk(chunk) => kept.feed(chunk.data()),
            Item::Parts(parts) => kept.feed_parts(parts),
            Item::Native(event, kind) => kept.feed_native(event, *kind),
            _ => {}
        }
        item
    })
}

/// A whole answer's reasoning and tool calls, kept in the reasoning
/// cache: from the provider's own events when they came (they are the
/// answer), else from the completion.
fn remember_answer(
    cache: &ReasoningCache,
    scope: Scope,
    completion: &Map<String, Value>,
    native: &[Event],
) {
    if native.is_empty() {
        return cache.remember_completion(scope, completion);
    }
    let mut kept = Collector::default();
    for event in native {
        kept.feed_native(event, EventKind::of(event));
    }
    kept.finish(cache, scope);
}

/// The session the headers name, as its own text (`crate::session::key`);
/// a client's own header that cannot name one is passed over and logged.
fn named_session(headers: &HeaderMap, said: &Throttle) -> Result<Option<String>, String> {
    if headers.get_all(SESSION_HEADER).iter().nth(1).is_some() {
        return Err(format!(
            "`{SESSION_HEADER}` is given more than once: give the session once"
        ));
    }
    let header = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    let named = session::key::from_headers(header, |from| ignored_session(from, said))
        .map_err(|invalid| invalid.to_string())?;
    Ok(named.map(|named| named.id.to_string()))
}

/// Says, at most once a minute per source, that a session id `from` sent
/// was passed over.
fn ignored_session(from: &'static str, said: &Throttle) {
    if said.due(format!("session:{from}"), std::time::Instant::now()) {
        tracing::warn!(
            from,
            "a session id that is not 1 to 128 visible ASCII characters was passed over; the session is taken from the next source (said at most once a minute per source)"
        );
    }
}

/// `chain` as `client` may use it: 403 when the model it asked for is not
/// one of its models, else without the targets that are not (a client
/// kept to cheap models never falls over to a dear one), which it returns.
fn allowed_chain(
    client: &Client,
    asked: Option<&str>,
    chain: &mut Result<Vec<Target>, UnknownModel>,
) -> Result<Vec<String>, ApiError> {
    let (Some(allowed), Ok(targets)) = (&client.models, chain) else {
        return Ok(Vec::new());
    };
    // The model asked is its place in the chain: the first target, with
    // the rest of its pool when it is in one. One of them must be allowed.
    let first_pool = targets.first().and_then(|t| t.pool);
    let asked_place = (targets.iter().enumerate())
        .take_while(|(at, t)| *at == 0 || (first_pool.is_some() && t.pool == first_pool));
    if !asked_place
        .into_iter()
        .any(|(_, t)| allowed.allows(&t.model_ref))
    {
        return Err(ApiError::ModelNotAllowed {
            client: client.name.clone(),
            model: asked.unwrap_or("default").to_string(),
            allowed: allowed.written.clone(),
        });
    }
    let left_out = targets
        .iter()
        .filter(|t| !allowed.allows(&t.model_ref))
        .map(|t| t.model_ref.to_string())
        .collect();
    targets.retain(|t| allowed.allows(&t.model_ref));
    Ok(left_out)
}

/// `text` (the client's: a session's id, a tool's name) as the gateway
/// keeps and shows it: a key in it `[redacted]`.
fn scrubbed(redactor: &Redactor, text: Arc<str>) -> Arc<str> {
    match redactor.scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(scrubbed) => Arc::from(scrubbed),
    }
}

/// A place among the requests in flight (and among `client`'s), or 503
/// when they are at `gateway.limits.maxConcurrentRequests`, 429 when the
/// client is at one of its limits.
pub fn admit(gateway: &Gateway, client: Option<&Client>) -> Result<Slot, ApiError> {
    gateway.admit(client).map_err(refused)
}

fn refused(refused: Refused) -> ApiError {
    match refused {
        Refused::Busy(cap) => ApiError::Busy(cap),
        Refused::Client {
            client,
            limit,
            retry_after,
        } => ApiError::ClientLimited {
            client,
            limit,
            retry_after,
        },
    }
}

/// What `request` may use at most, when its client has a token limit or
/// budgets apply (else nothing is reserved, nor the body counted): its
/// tokens reserved against `tokensPerMinute` at once (429 when the client
/// is in debt), held by `record` until its row is counted; the demand
/// for the chain to reserve each target's worst cost against the budgets.
fn reserve(
    gateway: &Gateway,
    config: &Config,
    client: &Arc<Client>,
    request: &ClientRequest,
    chain: &Result<Vec<Target>, UnknownModel>,
    record: &AccessRecord,
) -> Result<Option<Demand>, ApiError> {
    if !client.reserves(&config.budgets) {
        return Ok(None);
    }
    let limited = client.limits.tokens_per_minute.is_some();
    let demand = Demand {
        client: client.name.clone(),
        input_tokens: token_estimate::body(request.facts().bytes()),
    };
    if limited {
        // A model no chain knows is refused at once, no output to come:
        // its input is held, until its row is counted.
        let output = match chain.as_deref() {
            Ok([first, ..]) => providers::most_output(request, first),
            _ => 0,
        };
        let tokens = demand.input_tokens.saturating_add(output);
        if let Some(hold) = gateway
            .reserve_tokens(&client.name, tokens)
            .map_err(refused)?
        {
            record.hold_tokens(hold);
        }
    }
    Ok(Some(demand))
}

/// The request body, refused early when its `Content-Length` is over
/// `gateway.maxBodyBytes`, else read within that limit and
/// `clientBodySeconds`, and decoded when its `Content-Encoding` says it is
/// compressed (within that limit again).
pub async fn read_limited(request: Request, config: &Config) -> Result<Bytes, ApiError> {
    let limit = config.gateway.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let codings = coding::codings(request.headers().get_all(header::CONTENT_ENCODING))?;
    let within = config.gateway.timeouts.client_body;
    let body = read_body(request.into_body(), limit, within).await?;
    if codings.is_empty() {
        return Ok(body);
    }
    // Decoding a body of megabytes takes milliseconds: off the workers
    // that relay streams.
    let decoding = move || coding::decoded(&codings, body, limit);
    (tokio::task::spawn_blocking(decoding).await).unwrap_or_else(|panicked| {
        tracing::error!("decoding a request body failed: {panicked}");
        Err(ApiError::Internal)
    })
}

/// Runs the request's `chain` (as resolved in `config`), recording its
/// attempts for the access log; shutdown's end of grace ends the wait.
async fn run_chain(
    gateway: &Gateway,
    config: &Config,
    chain: Result<Vec<Target>, UnknownModel>,
    request: ClientRequest,
    options: RequestOptions,
    record: &AccessRecord,
) -> Result<Answer, ApiError> {
    let answer = async {
        gateway
            .run_chain(config, &mut chain?, request, options)
            .await
    };
    tokio::select! {
        answer = answer => Ok(record.chain(answer)?),
        () = gateway.aborted() => {
            record.cut_by_shutdown();
            Err(ApiError::ShuttingDown)
        }
    }
}

/// The `x-clawgate-*` headers of an answer, and its metric outcome (`ok`,
/// or `fallback` when an earlier target failed).
fn answered(answer: &Answer) -> (HeaderMap, &'static str) {
    let model_ref = &answer.target.model_ref;
    let mut headers = HeaderMap::new();
    headers.insert(PROVIDER_HEADER, header_value(model_ref.provider()));
    headers.insert(MODEL_HEADER, header_value(model_ref.as_str()));
    headers.insert(ATTEMPTS_HEADER, HeaderValue::from(answer.attempts()));
    let outcome = if answer.failures.is_empty() {
        "ok"
    } else {
        "fallback"
    };
    (headers, outcome)
}

/// Names in [`DROPPED_HEADER`] what `target` did not get of a request that
/// held `seen`, by design (`translate::fields`), and says so in a warn
/// line, at most once a minute per target and set of fields (the header
/// is on every answer).
fn name_dropped(
    seen: &Seen,
    target: &Target,
    withheld: &[providers::Withheld],
    redactor: &Redactor,
    said: &Throttle,
    headers: &mut HeaderMap,
) {
    let dropped = fields::dropped(seen, target.provider.api, withheld);
    if dropped.is_empty() {
        return;
    }
    // Names the client wrote (a server tool's type, a member's): without
    // a key pasted there.
    let named = redactor.scrub(&dropped.join(", ")).into_owned();
    let unknown = fields::unknown_dropped(seen, target.provider.api, withheld).join(", ");
    let unknown = redactor.scrub(&unknown);
    // The unknown members by name too: the header's `unknown members`
    // says the same for any of them.
    let line = format!("{}: {named}; {unknown}", target.model_ref.as_str());
    if said.due(line, std::time::Instant::now()) {
        tracing::warn!(
            target = target.model_ref.as_str(),
            // Client text: control characters escaped, so no line is forged.
            dropped = %escape_controls(&named),
            unknown = %escape_controls(&unknown),
            "fields the target cannot take were dropped (said at most once a minute per target and set of fields; the answers name them in x-clawgate-dropped)"
        );
    }
    headers.insert(DROPPED_HEADER, header_value(&named));
}

/// Refs are validated config text; this cannot fail for them, but a header
/// is no place to panic.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Whether `err`, reading a request's body, says its client closed the
/// connection before the body was whole.
fn closed_mid_body(err: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
    std::iter::successors(Some(err), |err| err.source()).any(|err| {
        err.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
            || (err.downcast_ref::<std::io::Error>()).is_some_and(|err| {
                matches!(
                    err.kind(),
                    UnexpectedEof | ConnectionReset | ConnectionAborted
                )
            })
    })
}

async fn read_body(body: Body, limit: usize, within: Duration) -> Result<bytes::Bytes, ApiError> {
    let collected = tokio::time::timeout(within, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::BodyTimeout(within.as_secs()))?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Err(err) if closed_mid_body(&*err) => Err(ApiError::ClientLeft),
        Err(err) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {err}"
        ))),
    }
}
