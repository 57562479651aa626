//! A provider's cap on requests at once (`models.providers.<id>.maxConcurrent`,
//! 30 by default for Kimi Coding) as a short queue: over the cap, a request
//! waits a bounded time for a place, then the chain moves on to its next
//! target, a skip that cools nothing down. A provider that answers 429 over
//! its cap is then never sent more than it takes, and a burst is served a
//! moment later instead of by the fallback.
//!
//! A place is held for the whole answer, a stream's included, and given
//! back when the answer ends or the client leaves. The queues are kept
//! across reloads by provider id; a changed cap starts a new queue (the
//! requests in flight finish on the old one).

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::{Config, MaxConcurrent, Provider};
use crate::upstream::{EventStream, Reply};

/// Every capped provider's queue, by provider id.
#[derive(Default)]
pub struct Queues {
    by_provider: Mutex<HashMap<String, Arc<Queue>>>,
}

/// One provider's places and what its requests met.
struct Queue {
    cap: MaxConcurrent,
    places: Arc<Semaphore>,
    /// Requests waiting for a place now.
    waiting: AtomicU64,
    /// Requests that waited and got a place, since the queue started.
    waited: AtomicU64,
    /// Requests that waited in vain and went to the next target.
    skipped: AtomicU64,
}

/// A request's place: given back when dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
}

/// Why a target was not tried: every place stayed taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the provider's {requests} requests at once were all taken for {:.1}s",
    waited.as_secs_f64()
)]
pub struct Busy {
    pub requests: u32,
    pub waited: Duration,
}

/// A provider's queue as `/v1/status` shows it (`concurrency.<provider>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    pub max_concurrent: u32,
    pub wait_seconds: f64,
    pub in_flight: u64,
    pub waiting: u64,
    pub waited: u64,
    pub skipped: u64,
}

impl Queues {
    /// A place at `provider`, waiting for one until its wait or `deadline`
    /// runs out; `None` when the provider has no cap.
    pub async fn place(
        &self,
        provider: &Provider,
        deadline: Instant,
    ) -> Result<Option<Place>, Busy> {
        let Some(cap) = provider.max_concurrent else {
            return Ok(None);
        };
        let queue = self.queue(&provider.id, cap);
        if let Ok(permit) = queue.places.clone().try_acquire_owned() {
            return Ok(Some(Place { _permit: permit }));
        }
        let started = Instant::now();
        let until = deadline.min(started + cap.wait);
        let waiting = Waiting::enter(&queue);
        let taken = tokio::time::timeout_at(until, queue.places.clone().acquire_owned()).await;
        drop(waiting);
        match taken {
            Ok(Ok(permit)) => {
                queue.waited.fetch_add(1, Ordering::Relaxed);
                Ok(Some(Place { _permit: permit }))
            }
            // Timed out (a semaphore is never closed here).
            _ => {
                queue.skipped.fetch_add(1, Ordering::Relaxed);
                Err(Busy {
                    requests: cap.requests,
                    waited: started.elapsed(),
                })
            }
        }
    }

    fn queue(&self, provider: &str, cap: MaxConcurrent) -> Arc<Queue> {
        let mut queues = self
            .by_provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match queues.get(provider) {
            Some(queue) if queue.cap == cap => queue.clone(),
            _ => {
                let queue = Arc::new(Queue {
                    cap,
                    places: Arc::new(Semaphore::new(cap.requests as usize)),
                    waiting: AtomicU64::new(0),
                    waited: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                });
                queues.insert(provider.to_string(), queue.clone());
                queue
            }
        }
    }

    /// Forgets the queues of providers no longer configured.
    pub fn retain(&self, providers: &[&str]) {
        self.by_provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| providers.contains(&id.as_str()));
    }

    /// Every capped provider of `config`'s queue, by provider id (zeros
    /// for one no request has reached yet).
    pub fn snapshot(&self, config: &Config) -> BTreeMap<String, QueueStatus> {
        let queues = self
            .by_provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        config
            .providers
            .values()
            .filter_map(|provider| {
                let cap = provider.max_concurrent?;
                let queue = queues.get(&provider.id).filter(|q| q.cap == cap);
                let count = |figure: fn(&Queue) -> &AtomicU64| {
                    queue.map_or(0, |q| figure(q).load(Ordering::Relaxed))
                };
                let free = queue.map_or(cap.requests as usize, |q| q.places.available_permits());
                let status = QueueStatus {
                    max_concurrent: cap.requests,
                    wait_seconds: cap.wait.as_secs_f64(),
                    in_flight: u64::from(cap.requests).saturating_sub(free as u64),
                    waiting: count(|q| &q.waiting),
                    waited: count(|q| &q.waited),
                    skipped: count(|q| &q.skipped),
                };
                Some((provider.id.clone(), status))
            })
            .collect()
    }

    /// The queues' figures as gauges and counters, for `/metrics`.
    pub fn record_metrics(&self, config: &Config) {
        crate::ops::metrics::handle();
        for (provider, status) in self.snapshot(config) {
            let labels = [("provider", provider)];
            metrics::gauge!("clawgate_provider_in_flight", &labels).set(status.in_flight as f64);
            metrics::gauge!("clawgate_provider_queue_waiting", &labels).set(status.waiting as f64);
            metrics::counter!("clawgate_provider_queue_waited_total", &labels)
                .absolute(status.waited);
            metrics::counter!("clawgate_provider_queue_skipped_total", &labels)
                .absolute(status.skipped);
        }
    }
}

/// Counts a request as waiting until dropped, however the wait ends
/// (the client may leave while it waits).
struct Waiting<'a>(&'a Queue);

impl<'a> Waiting<'a> {
    fn enter(queue: &'a Queue) -> Self {
        queue.waiting.fetch_add(1, Ordering::Relaxed);
        Self(queue)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `reply` holding `place` until its end: a stream's until it is read to
/// its end or dropped (the client left); a whole answer has ended already,
/// and the place is given back now.
pub fn hold(place: Option<Place>, reply: Reply) -> Reply {
    match (place, reply) {
        (
            Some(place),
            Reply::Stream {
                first,
                rest,
                native,
            },
        ) => Reply::Stream {
            first,
            rest: Box::pin(Holding {
                rest,
                _place: place,
            }),
            native,
        },
        (_, reply) => reply,
    }
}

/// A stream with the place it was answered in.
struct Holding {
    rest: EventStream,
    _place: Place,
}

impl Stream for Holding {
    type Item = <EventStream as Stream>::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rest.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_concurrent: serde_json::Value) -> Config {
        crate::config::load_str(
            &serde_json::json!({
                "models": {"mode": "replace", "providers": {"p": {
                    "baseUrl": "http://127.0.0.1:9/v1",
                    "maxConcurrent": max_concurrent,
                    "models": [{"id": "m"}]}}},
                "agents": {"defaults": {"model": "p/m"}},
            })
            .to_string(),
            &crate::config::Environment::from_pairs::<&str, &str>([]),
            crate::config::Secrets::Offline,
        )
        .unwrap()
        .config
    }

    fn cap(requests: u32, wait_ms: u64) -> serde_json::Value {
        serde_json::json!({"requests": requests, "waitSeconds": wait_ms as f64 / 1000.0})
    }

    fn provider(requests: u32, wait_ms: u64) -> Arc<Provider> {
        config(cap(requests, wait_ms)).providers["p"].clone()
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_cap_a_request_waits_for_a_place_then_gives_up() {
        let queues = Queues::default();
        let p = provider(2, 1000);
        let far = Instant::now() + Duration::from_secs(60);
        let first = queues.place(&p, far).await.unwrap().unwrap();
        let _second = queues.place(&p, far).await.unwrap().unwrap();

        // A place given back within the wait is taken.
        let freed = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(first);
        });
        let third = queues.place(&p, far).await.unwrap();
        assert!(third.is_some());
        freed.await.unwrap();

        // None within the wait: busy, after the wait.
        let started = Instant::now();
        let busy = queues.place(&p, far).await.err().unwrap();
        assert_eq!(busy.requests, 2);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        // The chain's deadline shortens the wait.
        let started = Instant::now();
        let near = started + Duration::from_millis(100);
        assert!(queues.place(&p, near).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(100));

        let status = &queues.snapshot(&config(cap(2, 1000)))["p"];
        assert_eq!(
            (
                status.in_flight,
                status.waiting,
                status.waited,
                status.skipped
            ),
            (2, 0, 1, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_leaves_while_waiting_is_no_longer_counted() {
        let queues = Queues::default();
        let p = provider(1, 5000);
        let far = Instant::now() + Duration::from_secs(60);
        let _held = queues.place(&p, far).await.unwrap();
        let waiting = queues.place(&p, far);
        let left = tokio::time::timeout(Duration::from_millis(10), waiting).await;
        assert!(left.is_err());
        assert_eq!(queues.snapshot(&config(cap(1, 5000)))["p"].waiting, 0);
    }

    #[tokio::test]
    async fn a_changed_cap_starts_a_new_queue_and_no_cap_none() {
        let queues = Queues::default();
        let far = Instant::now() + Duration::from_secs(60);
        let _held = queues.place(&provider(1, 0), far).await.unwrap();
        assert!(queues.place(&provider(1, 0), far).await.is_err());
        assert!(queues.place(&provider(2, 0), far).await.unwrap().is_some());
        let uncapped = config(serde_json::json!(false)).providers["p"].clone();
        assert!(queues.place(&uncapped, far).await.unwrap().is_none());
        queues.retain(&[]);
        let idle = &queues.snapshot(&config(cap(1, 0)))["p"];
        assert_eq!((idle.max_concurrent, idle.in_flight), (1, 0));
    }
}
