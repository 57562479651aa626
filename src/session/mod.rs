//! Sessions: the conversation each request belongs to, and why its prompt
//! cache broke.
//!
//! A request's session is what its client names ([`key`]), or else one
//! derived from the conversation's stable start (system prompt, tools,
//! first user message): the turns of one conversation share it, two
//! conversations seldom do. Either way it is written `<client>/<id>`
//! (a derived id starts with `~`), so one client never sees or joins
//! another's sessions.
//!
//! [`Sessions`] keeps, per session and model asked (the provider's cache
//! is the model's; Claude Code sends side requests to a small model in the
//! same session), the last turn's [`Conversation`], the target that
//! answered last and when it was last seen, bounded in count
//! and idle time (`gateway.sessions`). Each turn is compared with the one
//! before ([`conversation::first_change`]); a turn that extends it but
//! whose answer says the provider read little from its cache is put down
//! to the move to another target, or to an idle time longer than the
//! provider keeps its cache ([`settle`]). Each break is counted in
//! `clawgate_session_cache_breaks_total{cause}` and kept in a short list
//! of recent ones for the status.
//!
//! The store is one mutex, held for a few map operations and never
//! across an await; a tool list is split outside it.

pub mod conversation;
pub mod key;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

pub use conversation::{Break, Conversation, Tool};

use crate::ops::metrics;
use crate::ops::redact::Redactor;

/// The bounds (`gateway.sessions`), a setting of the config.
pub use crate::config::SessionLimits as Limits;

/// How many breaks the status keeps, the most recent first.
pub const RECENT_BREAKS: usize = 32;

/// Under this share of its input read from the provider's cache, an
/// answer to a turn that extended the one before is a cache break.
pub const LOW_HIT_RATE: f64 = 0.5;

/// What the body says of the session, as the front end's reader found it
/// (`metadata.user_id`'s session part, `prompt_cache_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint<'r> {
    pub id: Cow<'r, str>,
    /// The body field it came from.
    pub from: &'static str,
}

/// The text of a JSON string `raw` (as a reader found it): borrowed when
/// it holds no escape; `None` when it is not a string.
pub fn json_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// The request's session, `<client>/<id>`: `named` (from its headers,
/// [`key::from_headers`]), else `hint` when valid (else passed to
/// `ignored`), else derived from `conversation`'s start.
pub fn name(
    client: &str,
    named: Option<&str>,
    hint: Option<Hint<'_>>,
    conversation: &Conversation,
    ignored: impl FnOnce(&'static str),
) -> Arc<str> {
    let hint = hint.and_then(|hint| {
        if key::valid(hint.id.as_bytes()) {
            Some(hint.id)
        } else {
            ignored(hint.from);
            None
        }
    });
    match named.map(Cow::Borrowed).or(hint) {
        Some(id) => Arc::from(format!("{client}/{id}")),
        None => {
            let start = conversation.start().to_le_bytes();
            let derived = crate::format::fingerprint::hash([client.as_bytes(), &start[..]]);
            Arc::from(format!("{client}/~{derived:016x}"))
        }
    }
}

/// `key` as it is kept, logged and shown: a key in it (a configured one,
/// or a credential's shape, [`Redactor::scrub`]) as `[redacted]`, and
/// then, so that two ids that differ only in their keys stay two
/// sessions, `#` and a digest of the id as it came, keyed anew at each
/// start: nothing kept can lead back to the key.
pub fn kept(key: Arc<str>, redactor: &Redactor) -> Arc<str> {
    static DIGEST: std::sync::LazyLock<std::hash::RandomState> =
        std::sync::LazyLock::new(std::hash::RandomState::new);
    match redactor.scrub(&key) {
        Cow::Borrowed(_) => key,
        Cow::Owned(scrubbed) => {
            let digest = std::hash::BuildHasher::hash_one(&*DIGEST, &*key);
            Arc::from(format!("{scrubbed}#{:08x}", digest as u32))
        }
    }
}

/// The id in a session's key, as its client named it (or derived),
/// without the client, which a ledger row names beside it: a client's
/// name holds no `/`.
pub fn id(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, id)| id)
}

/// One session's memory.
#[derive(Debug)]
struct Entry {
    main: Slot,
    /// Another conversation within the session to the same model (a side
    /// request: [`conversation::unrelated`]), with its own turn before;
    /// the main one is kept for its next.
    side: Option<Slot>,
    /// Its last turn, of either conversation.
    seen: Instant,
    /// Its place in the idle order: the latest entry of `order` for it.
    stamp: u64,
}

/// One conversation's last turn.
#[derive(Debug)]
struct Slot {
    conversation: Conversation,
    /// The target that answered it (`provider/model`).
    target: Option<Arc<str>>,
    seen: Instant,
    /// Its input tokens, as the provider reported them: what the next
    /// turn could read from the cache at most.
    input: Option<u64>,
    /// The stamp of the turn it is: a turn answered after a later one
    /// does not take its place.
    stamp: u64,
}

impl Slot {
    fn new(conversation: Conversation, now: Instant, stamp: u64) -> Self {
        Self {
            conversation,
            target: None,
            seen: now,
            input: None,
            stamp,
        }
    }
}

/// A session's turns to one model: the provider's cache is the model's,
/// and a client may send side requests to another model within one
/// session (Claude Code asks a small model for titles and checks).
type Thread = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct Inner {
    /// Looked up a few times a turn: a fast hash, seeded per process (the
    /// map is bounded, [`Limits`]).
    sessions: foldhash::HashMap<Thread, Entry>,
    /// Sessions in the order they were last seen, each with its stamp
    /// then; an older stamp than its entry's is stale, and skipped.
    order: VecDeque<(Thread, u64)>,
    next_stamp: u64,
    breaks: VecDeque<Noted>,
}

/// A cache break, for the status.
#[derive(Debug, Clone)]
pub struct Noted {
    pub session: Arc<str>,
    pub client: Arc<str>,
    pub cause: &'static str,
    /// What changed: `tools: added grep`, `messages: rewritten at 3`.
    pub detail: String,
    /// The target that answered the turn.
    pub target: Option<Arc<str>>,
    /// Unix seconds.
    pub at: u64,
}

/// The sessions of the conversations in flight, bounded.
#[derive(Debug)]
pub struct Sessions {
    limits: Limits,
    inner: Mutex<Inner>,
}

/// Whose a turn is: its session, its client and the place of the chain
/// it goes to (a model, or a pool), however the client named it.
#[derive(Debug, Clone)]
pub struct Whose<'a> {
    pub session: Arc<str>,
    pub client: &'a Arc<str>,
    pub model: &'a str,
}

/// A turn compared with the one before, until its answer settles it.
#[derive(Debug, Clone)]
pub struct Turn {
    pub session: Arc<str>,
    client: Arc<str>,
    /// The place of the chain it goes to: the turn before is the
    /// session's last turn to the same place.
    model: Arc<str>,
    /// What changed first, when the turn did not extend the one before.
    pub prefix_break: Option<Break>,
    /// The target that answered the turn before, and its input tokens.
    pub previous_target: Option<Arc<str>>,
    previous_input: Option<u64>,
    /// How long the session was idle before this turn.
    pub idle: Option<Duration>,
    /// A turn of a side conversation ([`Entry::side`]).
    side: bool,
    /// Its conversation and when it came, which take the place of the
    /// turn before once a target answers it: a turn no target answered
    /// is no turn the next is compared with. `None` for a first turn,
    /// kept in its place already.
    next: Option<(Conversation, Instant)>,
    /// Its place in the order turns came: a turn answered after a later
    /// one changes nothing the later one left.
    stamp: u64,
}

impl Turn {
    /// The first turn of a conversation of `thread` (of `client`): none
    /// before it.
    fn first(thread: &Thread, client: &Arc<str>, side: bool, stamp: u64) -> Self {
        Self {
            session: thread.0.clone(),
            client: client.clone(),
            model: thread.1.clone(),
            prefix_break: None,
            previous_target: None,
            previous_input: None,
            idle: None,
            side,
            next: None,
            stamp,
        }
    }
}

impl Sessions {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many sessions are kept now: those seen within `idleSeconds`
    /// (the others are forgotten first).
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.forget_idle(Instant::now(), self.limits.idle);
        inner.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The turn `conversation` of `session` (of `client`) to `model` (the
    /// place of the chain it goes to), compared with the session's turn
    /// before to that place, and kept in its place. `restored` says whether the
    /// reasoning cache gave back the reasoning of a message (by its index
    /// after the system prompt); `tools` splits the request's tool list,
    /// called only for a new session or a changed list, outside the lock.
    pub fn turn(
        &self,
        Whose {
            session,
            client,
            model,
        }: Whose<'_>,
        mut conversation: Conversation,
        restored: impl Fn(usize) -> bool,
        tools: impl FnOnce() -> Arc<[Tool]>,
        now: Instant,
    ) -> Turn {
        let thread: Thread = (session, Arc::from(model));
        let known = {
            let mut inner = self.lock();
            inner.forget_idle(now, self.limits.idle);
            inner.sessions.get(&thread).map(|e| {
                (
                    e.main.conversation.tools,
                    e.main.conversation.tool_list.clone(),
                )
            })
        };
        conversation.tool_list = match known {
            Some((hash, list)) if hash == conversation.tools => list,
            _ => Some(tools()),
        };
        let mut inner = self.lock();
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        let turn = match inner.sessions.get_mut(&thread) {
            Some(entry) => {
                let on_main = !conversation::unrelated(&entry.main.conversation, &conversation);
                let slot = match &mut entry.side {
                    _ if on_main => Some(&mut entry.main),
                    Some(slot) if !conversation::unrelated(&slot.conversation, &conversation) => {
                        Some(slot)
                    }
                    // A conversation new to the session: no turn before it.
                    _ => None,
                };
                let turn = match slot {
                    // A turn no target answered yet is no turn before:
                    // this one takes its place once answered.
                    Some(slot) if slot.target.is_none() => Turn {
                        idle: Some(now.saturating_duration_since(slot.seen)),
                        next: Some((conversation, now)),
                        ..Turn::first(&thread, client, !on_main, stamp)
                    },
                    Some(slot) => {
                        let prefix_break =
                            conversation::first_change(&slot.conversation, &conversation, restored);
                        Turn {
                            prefix_break,
                            previous_target: slot.target.clone(),
                            previous_input: slot.input,
                            idle: Some(now.saturating_duration_since(slot.seen)),
                            next: Some((conversation, now)),
                            ..Turn::first(&thread, client, !on_main, stamp)
                        }
                    }
                    None => {
                        entry.side = Some(Slot::new(conversation, now, stamp));
                        Turn::first(&thread, client, true, stamp)
                    }
                };
                entry.seen = now;
                entry.stamp = stamp;
                turn
            }
            None => {
                let entry = Entry {
                    main: Slot::new(conversation, now, stamp),
                    side: None,
                    seen: now,
                    stamp,
                };
                inner.sessions.insert(thread.clone(), entry);
                Turn::first(&thread, client, false, stamp)
            }
        };
        inner.order.push_back((thread, stamp));
        inner.bound(self.limits.max_sessions);
        turn
    }

    /// Settles `turn` once its answer is known: `answered_by` (the target
    /// that answered, if one did) is kept as the session's with the turn,
    /// and the break, if any, counted and kept for the status: the
    /// prefix's, or one put down to [`low_hit_cause`] from `usage` (input
    /// and cached tokens) and `lifetime` (how long the answering provider
    /// keeps its cache). A turn no target answered breaks nothing (no
    /// provider read it) and leaves the turn before in place.
    pub fn settle(
        &self,
        mut turn: Turn,
        answered_by: Option<&str>,
        usage: Option<(u64, Option<u64>)>,
        lifetime: Option<Duration>,
    ) -> Option<Break> {
        answered_by?;
        let cause = turn.prefix_break.or_else(|| {
            let (input, cached) = usage?;
            // What the cache could have served: the turn before's input,
            // where this one is longer.
            let could = turn
                .previous_input
                .map_or(input, |before| before.min(input));
            low_hit_cause(
                turn.previous_target.as_deref(),
                answered_by,
                turn.idle?,
                lifetime?,
                could,
                cached?,
            )
        });
        let mut inner = self.lock();
        let thread = (turn.session.clone(), turn.model);
        // A session forgotten while its turn was in flight (bounded out,
        // idle too long) keeps nothing of it; its break is counted still.
        if let Some(entry) = inner.sessions.get_mut(&thread) {
            let slot = match &mut entry.side {
                Some(side) if turn.side => side,
                _ => &mut entry.main,
            };
            // A turn older than the slot's (answered after a later
            // one) leaves it as the later one left it.
            if turn.stamp >= slot.stamp {
                if let Some(target) = answered_by
                    && slot.target.as_deref() != Some(target)
                {
                    slot.target = Some(Arc::from(target));
                }
                if let Some((conversation, seen)) = turn.next.take() {
                    (slot.conversation, slot.seen) = (conversation, seen);
                }
                slot.stamp = turn.stamp;
                slot.input = usage.map(|(input, _)| input);
            }
        }
        if let Some(cause) = &cause {
            metrics::session_cache_break(cause.cause());
            let at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if inner.breaks.len() == RECENT_BREAKS {
                inner.breaks.pop_back();
            }
            inner.breaks.push_front(Noted {
                session: turn.session,
                client: turn.client,
                cause: cause.cause(),
                detail: cause.to_string(),
                target: answered_by.map(Arc::from),
                at,
            });
        }
        cause
    }

    /// The recent breaks, the latest first: all of them, or `client`'s.
    pub fn recent_breaks(&self, client: Option<&str>) -> Vec<Noted> {
        self.lock()
            .breaks
            .iter()
            .filter(|noted| client.is_none_or(|c| *noted.client == *c))
            .cloned()
            .collect()
    }
}

impl Inner {
    /// Forgets the sessions idle longer than `idle`.
    fn forget_idle(&mut self, now: Instant, idle: Duration) {
        while let Some((session, stamp)) = self.order.front() {
            match self.sessions.get(session) {
                Some(entry) if entry.stamp == *stamp => {
                    if now.saturating_duration_since(entry.seen) <= idle {
                        return;
                    }
                    self.sessions.remove(session);
                }
                // A stale place: the session was seen since, or is gone.
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Forgets the least recently seen sessions over `max`, and the stale
    /// places once they outnumber the live ones.
    fn bound(&mut self, max: usize) {
        while self.sessions.len() > max {
            let Some((session, stamp)) = self.order.pop_front() else {
                break;
            };
            if self
                .sessions
                .get(&session)
                .is_some_and(|e| e.stamp == stamp)
            {
                self.sessions.remove(&session);
            }
        }
        if self.order.len() > 2 * self.sessions.len() + 64 {
            let sessions = &self.sessions;
            self.order.retain(|(session, stamp)| {
                sessions.get(session).is_some_and(|e| e.stamp == *stamp)
            });
        }
    }
}

/// Why a turn that extended the one before read under [`LOW_HIT_RATE`] of
/// the `input` tokens the cache could serve (the turn before's, where this
/// one is longer) from the cache (`cached`), where it is known: the
/// session was idle longer than the provider keeps its cache (`expired`:
/// a session back from a pause is placed afresh, so it often moves too,
/// but the cache it left was cold), or another target answered than the
/// turn before (`moved`). A provider that keeps no cache (a `lifetime` of
/// zero) has none to break.
pub fn low_hit_cause(
    previous_target: Option<&str>,
    answered_by: Option<&str>,
    idle: Duration,
    lifetime: Duration,
    input: u64,
    cached: u64,
) -> Option<Break> {
    if input == 0 || lifetime.is_zero() || cached as f64 >= LOW_HIT_RATE * input as f64 {
        return None;
    }
    match (previous_target, answered_by) {
        _ if idle > lifetime => Some(Break::Expired),
        (Some(before), Some(now)) if before != now => Some(Break::Moved),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::conversation::{Message, Role};

    fn conversation(messages: &[u64]) -> Conversation {
        Conversation {
            system: vec![1],
            tools: 7,
            tool_list: None,
            messages: messages
                .iter()
                .zip(0..)
                .map(|(&hash, at)| Message {
                    role: Role::User,
                    hash,
                    reasoning: false,
                    at,
                })
                .collect(),
        }
    }

    fn turn(sessions: &Sessions, session: &str, messages: &[u64], at: Instant) -> Turn {
        let client: Arc<str> = Arc::from("c");
        let whose = Whose {
            session: Arc::from(session),
            client: &client,
            model: "m",
        };
        sessions.turn(
            whose,
            conversation(messages),
            |_| false,
            || Arc::from([]),
            at,
        )
    }

    #[test]
    fn a_low_hit_rate_is_put_down_to_a_move_or_an_expiry_only() {
        let minute = Duration::from_secs(60);
        let five = 5 * minute;
        let cause = |before, now, idle, cached| {
            low_hit_cause(before, now, idle, five, 1000, cached).map(|b| b.cause())
        };
        assert_eq!(cause(Some("a/m"), Some("b/m"), minute, 0), Some("moved"));
        assert_eq!(
            cause(Some("a/m"), Some("b/m"), 6 * minute, 0),
            Some("expired"),
            "back from a pause, placed afresh"
        );
        assert_eq!(
            cause(Some("a/m"), Some("a/m"), 6 * minute, 100),
            Some("expired")
        );
        assert_eq!(cause(Some("a/m"), Some("a/m"), minute, 0), None);
        assert_eq!(cause(Some("a/m"), Some("b/m"), minute, 500), None);
        assert_eq!(cause(None, Some("b/m"), minute, 0), None);
        assert_eq!(low_hit_cause(None, None, five * 2, five, 0, 0), None);
        // No cache kept, none broken: whatever the idle time or the move.
        for (before, idle) in [("a/m", minute), ("b/m", minute), ("a/m", 6 * minute)] {
            let nothing_kept = Duration::ZERO;
            let cause = low_hit_cause(Some(before), Some("a/m"), idle, nothing_kept, 1000, 0);
            assert_eq!(cause, None, "{before} after {idle:?}");
        }
    }

    #[test]
    fn sessions_are_bounded_in_count_and_idle_time() {
        let sessions = Sessions::new(Limits {
            max_sessions: 2,
            idle: Duration::from_secs(60),
        });
        let now = Instant::now();
        turn(&sessions, "a", &[1], now);
        turn(&sessions, "b", &[1], now);
        // `a` seen again: `b` is the least recently seen and goes for `c`.
        let again = turn(&sessions, "a", &[1, 2], now);
        assert_eq!(again.idle, Some(Duration::ZERO));
        turn(&sessions, "c", &[1], now);
        assert_eq!(sessions.len(), 2);
        assert!(
            turn(&sessions, "b", &[1, 2], now).idle.is_none(),
            "b was forgotten"
        );
        // Past the idle time, a session is new again.
        let later = now + Duration::from_secs(61);
        assert!(turn(&sessions, "a", &[1, 2, 3], later).idle.is_none());
        assert_eq!(sessions.len(), 1);
        // Places of sessions seen again do not pile up.
        for _ in 0..1000 {
            turn(&sessions, "a", &[1, 2, 3], later);
        }
        let live = sessions.len();
        assert!(sessions.lock().order.len() <= 2 * live + 64 + 1);
        // Counted as kept only while within the idle time, though no new
        // turn comes to forget them.
        let brief = Sessions::new(Limits {
            max_sessions: 2,
            idle: Duration::from_millis(200),
        });
        turn(&brief, "a", &[1], Instant::now());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(brief.lock().sessions.len(), 1, "not forgotten yet");
        assert_eq!(brief.len(), 0);
    }

    #[test]
    fn a_break_is_settled_kept_for_its_client_and_the_target_remembered() {
        let sessions = Sessions::new(Limits::default());
        let now = Instant::now();
        let first = turn(&sessions, "c/s", &[1], now);
        assert_eq!(
            sessions.settle(first, Some("a/m"), Some((100, Some(0))), None),
            None
        );
        let second = turn(&sessions, "c/s", &[2], now);
        assert_eq!(second.previous_target.as_deref(), Some("a/m"));
        let settled = sessions.settle(second, Some("a/m"), None, None);
        assert_eq!(settled, Some(Break::Messages { index: 0 }));
        let third = turn(&sessions, "c/s", &[2, 3], now);
        let lifetime = Some(Duration::from_secs(300));
        let settled = sessions.settle(third, Some("b/m"), Some((1000, Some(10))), lifetime);
        assert_eq!(settled, Some(Break::Moved));
        let recent = sessions.recent_breaks(Some("c"));
        let causes: Vec<&str> = recent.iter().map(|n| n.cause).collect();
        assert_eq!(causes, ["moved", "messages"]);
        assert!(sessions.recent_breaks(Some("other")).is_empty());
    }

    /// A session bounded out while its turn is in flight: its break, which
    /// the access line names, is counted and listed as the others are.
    #[test]
    fn a_break_of_a_session_forgotten_in_flight_is_kept_still() {
        let sessions = Sessions::new(Limits {
            max_sessions: 1,
            ..Limits::default()
        });
        let now = Instant::now();
        let first = turn(&sessions, "c/s5", &[1], now);
        sessions.settle(first, Some("a/m"), None, None);
        let rewritten = turn(&sessions, "c/s5", &[2], now);
        let other = turn(&sessions, "c/s6", &[1], now);
        assert_eq!(sessions.len(), 1, "s5 bounded out");
        let settled = sessions.settle(rewritten, Some("a/m"), None, None);
        assert_eq!(settled, Some(Break::Messages { index: 0 }));
        let recent = sessions.recent_breaks(Some("c"));
        let listed: Vec<(&str, &str)> = recent.iter().map(|n| (&*n.session, n.cause)).collect();
        assert_eq!(listed, [("c/s5", "messages")]);
        sessions.settle(other, Some("a/m"), None, None);
    }

    #[test]
    fn a_turn_no_target_answered_breaks_nothing_and_is_not_the_turn_before() {
        let sessions = Sessions::new(Limits::default());
        let now = Instant::now();
        let first = turn(&sessions, "c/s", &[1], now);
        sessions.settle(first, Some("a/m"), Some((100, Some(0))), None);
        // A rewritten turn the provider refused: no break, nothing billed.
        let refused = turn(&sessions, "c/s", &[9], now);
        assert_eq!(refused.prefix_break, Some(Break::Messages { index: 0 }));
        assert_eq!(sessions.settle(refused, None, None, None), None);
        // The client's retry extends the turn answered before it.
        let retry = turn(&sessions, "c/s", &[1, 2], now);
        assert_eq!(retry.prefix_break, None);
        assert_eq!(sessions.settle(retry, Some("a/m"), None, None), None);
        assert!(sessions.recent_breaks(None).is_empty());
    }

    #[test]
    fn a_turn_answered_after_a_later_one_does_not_take_its_place() {
        let sessions = Sessions::new(Limits::default());
        let now = Instant::now();
        let first = turn(&sessions, "c/s", &[1], now);
        sessions.settle(first, Some("a/m"), None, None);
        // An earlier turn of another branch, answered last, by another
        // target with a small input: neither is the turn before's.
        let slow = turn(&sessions, "c/s", &[1, 5], now);
        let fast = turn(&sessions, "c/s", &[1, 2, 3], now);
        sessions.settle(fast, Some("a/m"), Some((3000, Some(900))), None);
        sessions.settle(slow, Some("b/m"), Some((10, Some(0))), None);
        let next = turn(&sessions, "c/s", &[1, 2, 3, 4], now);
        assert_eq!(next.prefix_break, None);
        assert_eq!(next.previous_target.as_deref(), Some("a/m"));
        assert_eq!(next.previous_input, Some(3000));
    }

    #[test]
    fn a_first_turn_no_target_answered_is_not_the_turn_before() {
        let sessions = Sessions::new(Limits::default());
        let now = Instant::now();
        // Refused by every target: the client rewrites it.
        let refused = turn(&sessions, "c/s", &[9], now);
        assert_eq!(sessions.settle(refused, None, None, None), None);
        let rewritten = turn(&sessions, "c/s", &[1], now);
        assert_eq!(rewritten.prefix_break, None, "nothing was cached to break");
        sessions.settle(rewritten, Some("a/m"), None, None);
        // The rewritten turn, answered, is the one the next extends.
        let next = turn(&sessions, "c/s", &[1, 2], now);
        assert_eq!(next.prefix_break, None);
        assert_eq!(next.previous_target.as_deref(), Some("a/m"));
    }

    #[test]
    fn a_hit_is_weighed_against_what_the_turn_before_could_leave_in_the_cache() {
        let sessions = Sessions::new(Limits::default());
        let now = Instant::now();
        let lifetime = Some(Duration::from_secs(300));
        let first = turn(&sessions, "c/s", &[1], now);
        sessions.settle(first, Some("a/m"), Some((1000, Some(0))), lifetime);
        // After a pause, a turn three times as long: the whole of the turn
        // before (900 of its 1,000 tokens) was read from the cache.
        let later = now + Duration::from_secs(600);
        let long = turn(&sessions, "c/s", &[1, 2], later);
        let settled = sessions.settle(long, Some("a/m"), Some((3000, Some(900))), lifetime);
        assert_eq!(settled, None);
        // Little of it read: the cache had gone.
        let again = turn(
            &sessions,
            "c/s",
            &[1, 2, 3],
            later + Duration::from_secs(600),
        );
        let settled = sessions.settle(again, Some("a/m"), Some((3100, Some(0))), lifetime);
        assert_eq!(settled, Some(Break::Expired));
    }

    #[test]
    fn a_side_request_to_another_model_breaks_nothing() {
        let sessions = Sessions::new(Limits::default());
        let client: Arc<str> = Arc::from("c");
        let now = Instant::now();
        let turn = |model: &str, messages: &[u64]| {
            let mut conversation = conversation(messages);
            if model == "small" {
                conversation.system = vec![99];
            }
            let session = Arc::from("c/s");
            let whose = Whose {
                session,
                client: &client,
                model,
            };
            let turn = sessions.turn(whose, conversation, |_| false, || Arc::from([]), now);
            let prefix_break = turn.prefix_break.clone();
            sessions.settle(turn, Some("a/m"), None, None);
            prefix_break
        };
        assert!(turn("big", &[1]).is_none());
        assert!(turn("small", &[5]).is_none(), "another model's first turn");
        assert!(
            turn("big", &[1, 2]).is_none(),
            "the big model's turn before"
        );
        assert_eq!(turn("small", &[6]), Some(Break::Messages { index: 0 }));
    }

    /// A side request to the same model (Claude Code's title or check,
    /// with both its models set to one) is another conversation of the
    /// session: neither it nor the main one's next turn is a break. A
    /// system prompt changed under the same messages is one.
    #[test]
    fn a_side_request_to_the_same_model_breaks_nothing() {
        let sessions = Sessions::new(Limits::default());
        let client: Arc<str> = Arc::from("c");
        let now = Instant::now();
        let turn = |system: u64, messages: &[u64]| {
            let mut conversation = conversation(messages);
            conversation.system = vec![system];
            let whose = Whose {
                session: Arc::from("c/s"),
                client: &client,
                model: "m",
            };
            sessions.turn(whose, conversation, |_| false, || Arc::from([]), now)
        };
        let main = turn(1, &[1]);
        assert!(main.prefix_break.is_none());
        sessions.settle(main, Some("a/m"), None, None);
        let side = turn(99, &[5]);
        assert_eq!(
            (&side.prefix_break, side.idle),
            (&None, None),
            "a side request"
        );
        sessions.settle(side, Some("b/m"), None, None);
        // Each conversation's next turn: its turn before is its own,
        // answered by its own target.
        let next = turn(1, &[1, 2]);
        assert!(next.prefix_break.is_none(), "the main one's next");
        assert_eq!(next.previous_target.as_deref(), Some("a/m"));
        let side = turn(99, &[5, 6]);
        assert!(side.prefix_break.is_none(), "the side one's next");
        assert_eq!(side.previous_target.as_deref(), Some("b/m"));
        assert_eq!(
            turn(99, &[7]).prefix_break,
            Some(Break::Messages { index: 0 })
        );
        assert_eq!(turn(2, &[1, 2, 3]).prefix_break, Some(Break::System));
    }

    #[test]
    fn a_session_is_named_by_its_client_or_derived_within_its_namespace() {
        let start = conversation(&[5]);
        let later = conversation(&[5, 6]);
        let mut ignored = None;
        let named = name("alice", Some("abc"), None, &start, |_| {});
        assert_eq!(&*named, "alice/abc");
        let hint = Hint {
            id: Cow::Borrowed("k1"),
            from: "prompt_cache_key",
        };
        assert_eq!(
            &*name("alice", None, Some(hint), &start, |_| {}),
            "alice/k1"
        );
        let bad = Hint {
            id: Cow::Borrowed("has space"),
            from: "prompt_cache_key",
        };
        let derived = name("alice", None, Some(bad), &start, |from| {
            ignored = Some(from)
        });
        assert_eq!(ignored, Some("prompt_cache_key"));
        assert!(derived.starts_with("alice/~"), "{derived}");
        assert_eq!(derived, name("alice", None, None, &later, |_| {}));
        assert_ne!(
            derived,
            name("alice", None, None, &conversation(&[9]), |_| {})
        );
        let bobs = name("bob", None, None, &start, |_| {});
        assert!(bobs.starts_with("bob/~"));
        assert_ne!(
            bobs[4..],
            derived[6..],
            "the client is part of the derivation"
        );
    }
}
