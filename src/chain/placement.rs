//! Which of a pool's targets a request goes to first: a session keeps the
//! target it was placed on while that target answers, so its prompt
//! cache stays warm; a new session (or one idle for longer than its
//! target keeps a cache, or a request without a session) is drawn by
//! expected cost.
//!
//! The weighing is pure ([`weigh`], [`draw`]): a member's expected cost
//! per turn (the input price net of the expected cache hits, plus the
//! output), made dearer by its measured time to a first event, its recent
//! failures and 429s, and its account's quota pressure; drawn with
//! chances falling with the square of that cost, with a floor, so that
//! no target is starved or herded on. Price never moves a placed session:
//! the chain does, when its target fails or runs out of quota and another
//! member answers ([`Placements::answered`]); a target cooling down has its
//! sessions drawn again among the others ([`Placing::Away`]).
//!
//! The sticky map is bounded ([`MAX_SESSIONS`], and each entry's idle time)
//! and its lock is a plain mutex held for one lookup or insert, never
//! across an await. A placement costs one pass over the pool, without
//! allocating beyond the sticky entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::cooldown::{Cooldowns, Recent};
use crate::config::{Cost, MAX_POOL, ModelRef, Pool, Target};
use crate::ledger::placements::SharedPlacements;
use crate::quota::Quotas;

/// The turn whose cost is expected: a coding agent's, which re-sends a
/// long conversation and writes a short answer.
pub const TURN_INPUT_TOKENS: f64 = 40_000.0;
pub const TURN_OUTPUT_TOKENS: f64 = 1_000.0;
/// The share of a turn's input a warm prompt cache serves.
pub const EXPECTED_HIT_RATE: f64 = 0.9;
/// Added to every turn's cost, so that free targets (a subscription) are
/// still told apart by their speed, failures and quota.
const FLOOR_USD: f64 = 0.002;
/// The share of new sessions drawn evenly among the available members,
/// whatever they cost: none is starved.
pub const FLOOR_SHARE: f64 = 0.3;
/// A turn this many seconds long (to the first event, then the turn's
/// output at the target's decode speed) doubles a target's cost.
const SECONDS_TO_DOUBLE: f64 = 10.0;
/// Failures and 429s count up to this share (a target failing at 90% is
/// ten times as dear).
const MOST_FAILING: f64 = 0.9;
/// How many of its cache's lifetimes the shared store holds a kept
/// session's placement warm: written once a lifetime at most, it never
/// goes cold there before the cache does.
const SHARED_LIFETIMES: u32 = 2;
/// The most sessions remembered; the least recently placed go first.
pub const MAX_SESSIONS: usize = 100_000;

/// What a pool member is weighed by.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Member {
    /// The model's prices; `None` when not known.
    pub cost: Option<Cost>,
    pub recent: Recent,
    /// Its account's quota pressure (`crate::quota::pressure`); `None`
    /// when the quota is spent.
    pub quota: Option<f64>,
    /// Its provider's key variable gives no key: requests skip it.
    pub no_key: bool,
}

impl Member {
    /// Neither cooling down, nor out of quota, nor without its key.
    fn available(&self) -> bool {
        !self.recent.cooling && self.quota.is_some() && !self.no_key
    }
}

/// A member weighed: its expected cost per turn and the factors applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Weighed {
    /// The turn's price in USD; `None` when the model has no price (it is
    /// then weighed as the dearest member that has one).
    pub turn_usd: Option<f64>,
    /// From its time to a first event and its decode speed (the seconds a
    /// turn takes): 1 for none measured.
    pub speed: f64,
    /// From its recent failures and 429s: the attempts a turn expects.
    pub reliability: f64,
    /// From its account's quota (1 without one).
    pub quota: f64,
    /// `(turn_usd + floor) × speed × reliability × quota`.
    pub expected_usd: f64,
    /// Its chance of being drawn for a new session.
    pub chance: f64,
    /// Neither cooling down, nor out of quota, nor without its key.
    pub available: bool,
}

/// A turn's price on `cost`: the input at the expected hit rate (the cache
/// price, or the input price where the model has none), plus the output.
pub fn turn_usd(cost: &Cost) -> f64 {
    let cached = if cost.cache_read > 0.0 || cost.input == 0.0 {
        cost.cache_read
    } else {
        cost.input
    };
    let input = EXPECTED_HIT_RATE * cached + (1.0 - EXPECTED_HIT_RATE) * cost.input;
    (TURN_INPUT_TOKENS * input + TURN_OUTPUT_TOKENS * cost.output) / 1e6
}

/// Weighs `members` into `out` (as long): each one's expected cost and its
/// chance of being drawn. When none is available, all those with their key
/// are drawn from as if they were (the chain then tries them as it does
/// cooling targets); one without its key only when none has one, as its
/// requests skip it until a reload gives it one.
pub fn weigh(members: &[Member], out: &mut [Weighed]) {
    let dearest = members
        .iter()
        .filter_map(|m| m.cost.as_ref().map(turn_usd))
        .fold(0.0, f64::max);
    let any_available = members.iter().any(Member::available);
    let any_keyed = members.iter().any(|m| !m.no_key);
    let mut total = 0.0;
    let mut available = 0usize;
    for (member, weighed) in members.iter().zip(out.iter_mut()) {
        let turn = member.cost.as_ref().map(turn_usd);
        let recent = &member.recent;
        let first_event = recent.first_event.map_or(0.0, |d| d.as_secs_f64());
        let decoding = recent
            .decode_per_second
            .map_or(0.0, |speed| TURN_OUTPUT_TOKENS / speed.max(1.0));
        let speed = 1.0 + (first_event + decoding) / SECONDS_TO_DOUBLE;
        let failing = (member.recent.failing + member.recent.rate_limited).min(MOST_FAILING);
        let reliability = 1.0 / (1.0 - failing);
        let quota = member.quota.unwrap_or(1.0);
        let expected_usd = (turn.unwrap_or(dearest) + FLOOR_USD) * speed * reliability * quota;
        let is_available = member.available() || (!any_available && (!member.no_key || !any_keyed));
        *weighed = Weighed {
            turn_usd: turn,
            speed,
            reliability,
            quota,
            expected_usd,
            chance: 0.0,
            available: is_available,
        };
        if is_available {
            total += expected_usd.powi(-2);
            available += 1;
        }
    }
    for weighed in out.iter_mut().take(members.len()) {
        if weighed.available {
            weighed.chance = (1.0 - FLOOR_SHARE) * weighed.expected_usd.powi(-2) / total
                + FLOOR_SHARE / available as f64;
        }
    }
}

/// The members of a pool weighed by their prices alone, as a new session
/// meets them in a gateway that has measured nothing yet (`clawgate
/// explain`, which knows no health or quota).
pub fn weigh_by_price(run: &[Target]) -> Vec<Weighed> {
    let members: Vec<Member> = run
        .iter()
        .map(|target| Member {
            cost: target.model.cost,
            quota: Some(1.0),
            no_key: target.provider.api_key.is_missing(),
            ..Member::default()
        })
        .collect();
    let mut out = vec![Weighed::default(); members.len()];
    weigh(&members, &mut out);
    out
}

/// How a new session is placed, in words for `explain` and the docs.
pub const HOW: &str = "a new session is drawn among the available members: 30% evenly, 70% by the inverse square of each one's expected USD per turn (40000 input tokens, 90% of them cache hits, and 1000 output, plus 0.002), times its speed (1 + (seconds to a first event + seconds to decode the 1000 tokens) / 10), reliability (1 / (1 - recent failure and 429 share)) and quota pressure; it then stays there while that member answers and its prompt cache is warm";

/// The member drawn by `uniform` (in `[0, 1)`) from their chances.
pub fn draw(weighed: &[Weighed], uniform: f64) -> usize {
    let mut left = uniform;
    let mut last = 0;
    for (index, member) in weighed.iter().enumerate() {
        if member.chance <= 0.0 {
            continue;
        }
        last = index;
        if left < member.chance {
            return index;
        }
        left -= member.chance;
    }
    // Rounding left a sliver: the last member that could be drawn.
    last
}

/// A pool member chosen for a request.
enum Placing {
    /// The session's, while its cache is warm; `share`: its placement is
    /// due to be held warm in the shared store again.
    Kept { index: usize, share: bool },
    /// Drawn: a new session, or a request without one.
    New(usize),
    /// Drawn for a session whose member cools down: its sessions are
    /// spread over the others, not all moved to the next in the chain.
    Away(usize),
}

/// A session's place in one pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    session: Arc<str>,
    pool: usize,
}

#[derive(Debug)]
struct Placed {
    target: ModelRef,
    /// Past this, its target's prompt cache is cold: the session is
    /// placed afresh.
    warm_until: Instant,
    /// Until when the shared store holds it warm, as this gateway last
    /// wrote it there (with a shared store).
    shared_until: Instant,
    /// The [`Ticket`] of the session's latest request placed here.
    latest: Ticket,
}

/// The place of a request among those [`Placements::order`] placed: an
/// answer moves its session only if no later request of the session was
/// placed since (a turn answered after a later one leaves the later one's
/// place as it was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Each session's target in each pool, for the gateway's life.
#[derive(Debug)]
pub struct Placements {
    sticky: Mutex<HashMap<Key, Placed>>,
    max: usize,
    /// The next request's [`Ticket`].
    tickets: AtomicU64,
    /// Where gateways on one PostgreSQL store agree on a new session's
    /// placement (`ledger.store`).
    shared: Option<Arc<SharedPlacements>>,
}

impl Default for Placements {
    fn default() -> Self {
        Self::with_capacity(MAX_SESSIONS)
    }
}

/// Where [`Placements::order`] finds what it weighs: the targets' health
/// and their accounts' quotas; and the config's pools.
pub struct Readings<'a> {
    pub cooldowns: &'a Cooldowns,
    pub quotas: &'a Quotas,
    pub pools: &'a [Pool],
}

impl Placements {
    /// Placements remembering at most `max` sessions.
    pub fn with_capacity(max: usize) -> Self {
        Self {
            sticky: Mutex::default(),
            max: max.max(1),
            tickets: AtomicU64::new(1),
            shared: None,
        }
    }

    /// New sessions' placements agreed through `shared` with the other
    /// gateways on its store.
    pub fn share(&mut self, shared: Arc<SharedPlacements>) {
        self.shared = Some(shared);
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Key, Placed>) -> T) -> T {
        f(&mut self.sticky.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts the placed member of each pool of `chain` first among its
    /// pool's members (the others keep their order): the session's
    /// target while its cache is warm, else one drawn by [`weigh`] (or,
    /// with a shared store, the one the first gateway drew). The request's
    /// ticket, for [`Self::answered`].
    pub async fn order(
        &self,
        chain: &mut [Target],
        session: Option<&Arc<str>>,
        readings: &Readings<'_>,
        now: Instant,
    ) -> Ticket {
        let ticket = Ticket(self.tickets.fetch_add(1, Ordering::Relaxed));
        let mut start = 0;
        while start < chain.len() {
            let Some(pool) = chain[start].pool else {
                start += 1;
                continue;
            };
            let len = chain[start..]
                .iter()
                .take_while(|t| t.pool == Some(pool))
                .count();
            let run = &mut chain[start..start + len];
            let chosen = match self.place(run, pool, session, readings, (now, ticket)) {
                Placing::Kept { index, share } => {
                    if let (true, Some(session)) = (share, session) {
                        self.keep_shared(session, &run[index], readings.pools, false);
                    }
                    index
                }
                Placing::Away(index) => {
                    if let Some(session) = session {
                        let key = Key {
                            session: session.clone(),
                            pool,
                        };
                        if self.stick(key, &run[index], (now, ticket), None) {
                            self.keep_shared(session, &run[index], readings.pools, true);
                        }
                    }
                    index
                }
                Placing::New(index) => match session {
                    Some(session) => {
                        let (index, ours) = self.agree(run, index, session, readings).await;
                        let key = Key {
                            session: session.clone(),
                            pool,
                        };
                        // Another gateway's placement is held warm in the
                        // store as that gateway wrote it: this one writes
                        // it at its next turn.
                        let shared_until = if ours { None } else { Some(now) };
                        self.stick(key, &run[index], (now, ticket), shared_until);
                        index
                    }
                    None => index,
                },
            };
            run[..=chosen].rotate_right(1);
            start += len;
        }
        ticket
    }

    /// The member of `run` the gateways agree on for a new session, where
    /// this one drew `drawn`: the first gateway's, read from the shared
    /// store within its deadline; else `drawn`. And whether the store
    /// holds `drawn` as this gateway wrote it.
    async fn agree(
        &self,
        run: &[Target],
        drawn: usize,
        session: &Arc<str>,
        readings: &Readings<'_>,
    ) -> (usize, bool) {
        let target = &run[drawn];
        let (Some(shared), Some(pool_key)) = (&self.shared, pool_key(target, readings.pools))
        else {
            return (drawn, true);
        };
        let agreed = shared
            .claim(
                session,
                &pool_key,
                target.model_ref.as_str(),
                target.provider.cache_lifetime,
            )
            .await;
        // A member this gateway has no key for is not followed: its
        // requests would skip it.
        let keyed = |index: &usize| !run[*index].provider.api_key.is_missing();
        match agreed
            .and_then(|agreed| run.iter().position(|t| t.model_ref.as_str() == agreed))
            .filter(keyed)
        {
            Some(index) => (index, index == drawn),
            None => (drawn, false),
        }
    }

    /// Holds `session`'s placement on `target` warm in the shared store
    /// for [`SHARED_LIFETIMES`] of its cache, in the background: a session
    /// that stays on one gateway longer than its target keeps a cache is
    /// still found placed by the others; one `moved` (the chain moved it,
    /// or its member cools down) is found on its new member.
    fn keep_shared(&self, session: &Arc<str>, target: &Target, pools: &[Pool], moved: bool) {
        let (Some(shared), Some(pool_key)) = (&self.shared, pool_key(target, pools)) else {
            return;
        };
        let warm_for = target.provider.cache_lifetime * SHARED_LIFETIMES;
        let placed = (&**session, &*pool_key, target.model_ref.as_str());
        shared.keep(placed, warm_for, moved);
    }

    /// The index in `run` (the members of `pool` in a chain) of the one
    /// the request goes to first: kept for its session, or drawn.
    fn place(
        &self,
        run: &[Target],
        pool: usize,
        session: Option<&Arc<str>>,
        readings: &Readings<'_>,
        (now, ticket): (Instant, Ticket),
    ) -> Placing {
        let mut away = false;
        if let Some(session) = session {
            let key = Key {
                session: session.clone(),
                pool,
            };
            let shared = self.shared.is_some();
            let kept = self.with(|sticky| {
                let placed = sticky.get_mut(&key).filter(|p| now < p.warm_until)?;
                let index = run.iter().position(|t| t.model_ref == placed.target)?;
                let lifetime = run[index].provider.cache_lifetime;
                placed.warm_until = now + lifetime;
                placed.latest = placed.latest.max(ticket);
                // The store's copy is written again, off the request's
                // path, where it would go cold before the cache does: once
                // a lifetime at most.
                let share = shared && placed.shared_until < now + lifetime;
                if share {
                    placed.shared_until = now + lifetime * SHARED_LIFETIMES;
                }
                Some((index, share))
            });
            if let Some((index, share)) = kept {
                let mut cooling = false;
                let kept_ref = std::iter::once(&run[index].model_ref);
                (readings.cooldowns).recent(kept_ref, now, |recent| cooling = recent.cooling);
                if !cooling {
                    return Placing::Kept { index, share };
                }
                away = true;
            }
        }
        let run = &run[..run.len().min(MAX_POOL)];
        let mut members = [Member::default(); MAX_POOL];
        let mut weighed = [Weighed::default(); MAX_POOL];
        let mut filled = members.iter_mut();
        readings
            .cooldowns
            .recent(run.iter().map(|t| &t.model_ref), now, |recent| {
                if let Some(member) = filled.next() {
                    member.recent = recent;
                }
            });
        let wall = SystemTime::now();
        for (member, target) in members.iter_mut().zip(run) {
            member.cost = target.model.cost;
            member.quota = readings.quotas.pressure(&target.provider, wall);
            member.no_key = target.provider.api_key.is_missing();
        }
        weigh(&members[..run.len()], &mut weighed[..run.len()]);
        let drawn = draw(&weighed[..run.len()], fastrand::f64());
        match away {
            true => Placing::Away(drawn),
            false => Placing::New(drawn),
        }
    }

    /// The request of `session` (its `ticket`) was answered by `target`:
    /// when the chain moved it off the member it was placed on (`placed`),
    /// it stays on the one that answered, here and in the shared store
    /// (`pools`: the config's), unless a later request of the session was
    /// placed meanwhile.
    pub fn answered(
        &self,
        (session, ticket): (Option<&Arc<str>>, Ticket),
        placed: Option<&ModelRef>,
        target: &Target,
        pools: &[Pool],
        now: Instant,
    ) {
        let (Some(session), Some(pool)) = (session, target.pool) else {
            return;
        };
        if placed == Some(&target.model_ref) {
            return;
        }
        let key = Key {
            session: session.clone(),
            pool,
        };
        if self.stick(key, target, (now, ticket), None) {
            self.keep_shared(session, target, pools, true);
        }
    }

    /// Remembers `session`'s placement on `target` for its request of
    /// ticket `latest`, which the shared store holds warm until
    /// `shared_until` (`None`: as long as it does here); unless a later
    /// request of the session was placed already. Whether it was.
    fn stick(
        &self,
        key: Key,
        target: &Target,
        (now, latest): (Instant, Ticket),
        shared_until: Option<Instant>,
    ) -> bool {
        let warm_until = now + target.provider.cache_lifetime;
        let placed = Placed {
            target: target.model_ref.clone(),
            warm_until,
            shared_until: shared_until.unwrap_or(warm_until),
            latest,
        };
        let max = self.max;
        self.with(|sticky| {
            if sticky.get(&key).is_some_and(|p| p.latest > latest) {
                return false;
            }
            if sticky.len() >= max && !sticky.contains_key(&key) {
                make_room(sticky, max, now);
            }
            sticky.insert(key, placed);
            true
        })
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.with(|sticky| sticky.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The name of `target`'s pool in the shared store: its members' refs.
fn pool_key(target: &Target, pools: &[Pool]) -> Option<String> {
    let pool = pools.get(target.pool?)?;
    let members: Vec<&str> = pool.members.iter().map(ModelRef::as_str).collect();
    Some(members.join(" "))
}

/// Forgets the sessions whose cache has gone cold and, if the map is still
/// more than seven eighths full, the ones that would go cold first, down
/// to that: a full map is swept once per eighth of its size.
fn make_room(sticky: &mut HashMap<Key, Placed>, max: usize, now: Instant) {
    sticky.retain(|_, placed| now < placed.warm_until);
    let keep = max - max.div_ceil(8);
    if sticky.len() > keep {
        let mut ends: Vec<Instant> = sticky.values().map(|p| p.warm_until).collect();
        let cut = sticky.len() - keep;
        let (_, nth, _) = ends.select_nth_unstable(cut - 1);
        let before = *nth;
        sticky.retain(|_, placed| placed.warm_until > before);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn priced(input: f64, cache_read: f64, output: f64) -> Member {
        Member {
            cost: Some(Cost {
                input,
                output,
                cache_read,
                cache_write: 0.0,
            }),
            quota: Some(1.0),
            ..Member::default()
        }
    }

    fn weighed(members: &[Member]) -> Vec<Weighed> {
        let mut out = vec![Weighed::default(); members.len()];
        weigh(members, &mut out);
        out
    }

    #[test]
    fn a_turn_costs_its_input_net_of_the_cache_plus_its_output() {
        // kimi-k2.6: 0.95 a miss, 0.16 a hit, 4.00 out.
        let turn = turn_usd(&priced(0.95, 0.16, 4.0).cost.unwrap());
        let expected = (40_000.0 * (0.9 * 0.16 + 0.1 * 0.95) + 1_000.0 * 4.0) / 1e6;
        assert!((turn - expected).abs() < 1e-12, "{turn} != {expected}");
        // No cache price: every input token at the input price.
        let uncached = turn_usd(&priced(1.0, 0.0, 0.0).cost.unwrap());
        assert!((uncached - 0.04).abs() < 1e-12);
    }

    #[test]
    fn the_cheapest_is_likeliest_and_every_available_member_has_its_floor() {
        let chances: Vec<f64> = weighed(&[
            priced(0.5, 0.1, 2.0),
            priced(1.0, 0.2, 4.0),
            priced(2.0, 0.4, 8.0),
        ])
        .iter()
        .map(|w| w.chance)
        .collect();
        assert!((chances.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(
            chances[0] > chances[1] && chances[1] > chances[2],
            "{chances:?}"
        );
        assert!(chances[0] < 1.0 - FLOOR_SHARE + FLOOR_SHARE / 3.0 + 1e-9);
        for chance in &chances {
            assert!(*chance >= FLOOR_SHARE / 3.0 - 1e-12, "{chances:?}");
        }
    }

    #[test]
    fn slowness_failures_and_quota_pressure_make_a_member_dearer() {
        let base = priced(1.0, 0.2, 4.0);
        let plain = weighed(&[base])[0].expected_usd;
        let mut slow = base;
        // 4 s to the first event, then 1000 tokens at 166.7 a second.
        slow.recent.first_event = Some(Duration::from_secs(4));
        slow.recent.decode_per_second = Some(1000.0 / 6.0);
        let mut failing = base;
        failing.recent.failing = 0.3;
        failing.recent.rate_limited = 0.2;
        let mut pressed = base;
        pressed.quota = Some(3.0);
        let [slow, failing, pressed] =
            [slow, failing, pressed].map(|m| weighed(&[m])[0].expected_usd);
        assert!((slow / plain - 2.0).abs() < 1e-9);
        assert!((failing / plain - 2.0).abs() < 1e-9);
        assert!((pressed / plain - 3.0).abs() < 1e-9);
    }

    #[test]
    fn cooling_or_spent_members_are_drawn_only_when_none_is_available_keyless_ones_when_all_are() {
        let mut cooling = priced(0.1, 0.01, 0.1);
        cooling.recent.cooling = true;
        let mut spent = priced(0.1, 0.01, 0.1);
        spent.quota = None;
        let mut keyless = priced(0.1, 0.01, 0.1);
        keyless.no_key = true;
        let some = weighed(&[cooling, spent, keyless, priced(9.0, 9.0, 9.0)]);
        assert_eq!(
            some.iter().map(|w| w.chance).collect::<Vec<_>>(),
            [0.0, 0.0, 0.0, 1.0]
        );
        // None available: the cooling and the spent are drawn from, not
        // the keyless, unless every member is.
        let none = weighed(&[cooling, spent, keyless]);
        assert_eq!(
            none.iter().map(|w| w.available).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert!(none[..2].iter().all(|w| w.chance > 0.0) && none[2].chance == 0.0);
        let keyless_all = weighed(&[keyless, keyless]);
        assert!(keyless_all.iter().all(|w| w.available && w.chance > 0.0));
    }

    #[test]
    fn a_member_without_a_price_is_weighed_as_the_dearest() {
        let mut unpriced = priced(0.0, 0.0, 0.0);
        unpriced.cost = None;
        let out = weighed(&[priced(1.0, 0.2, 4.0), unpriced]);
        assert_eq!(out[1].turn_usd, None);
        assert_eq!(out[0].expected_usd, out[1].expected_usd);
    }

    #[test]
    fn draw_follows_the_chances_and_skips_members_without_one() {
        let out = [0.0, 0.25, 0.75].map(|chance| Weighed {
            chance,
            ..Weighed::default()
        });
        assert_eq!(draw(&out, 0.0), 1);
        assert_eq!(draw(&out, 0.249), 1);
        assert_eq!(draw(&out, 0.25), 2);
        assert_eq!(draw(&out, 0.999_999_9), 2);
        assert_eq!(draw(&out, 1.0), 2);
    }

    #[test]
    fn a_full_map_forgets_the_cold_then_the_coldest_to_seven_eighths() {
        let now = Instant::now();
        let mut sticky = HashMap::new();
        let add = |sticky: &mut HashMap<Key, Placed>, n: u64, warm_until| {
            let session = n.to_string().into();
            let target = ModelRef::new("p", "m");
            sticky.insert(
                Key { session, pool: 0 },
                Placed {
                    target,
                    warm_until,
                    shared_until: warm_until,
                    latest: Ticket::default(),
                },
            );
        };
        // Two are cold already; the rest go cold in order.
        for n in 0..16u64 {
            let warm = if n < 2 { 0 } else { n };
            add(&mut sticky, n, now + Duration::from_secs(warm));
        }
        make_room(&mut sticky, 16, now);
        assert_eq!(sticky.len(), 14);
        for n in 16..18u64 {
            add(&mut sticky, n, now + Duration::from_secs(100 + n));
        }
        make_room(&mut sticky, 16, now);
        assert_eq!(sticky.len(), 14);
        // The two that would go cold first are gone.
        for gone in ["2", "3"] {
            assert!(!sticky.keys().any(|k| &*k.session == gone));
        }
    }
}
