//! The stream driver: the relay's items written by a front end's
//! [`Encoder`], gathered into as few writes as are ready, with the front
//! end's keep-alive after each silence; and [`Outgoing`], the one place
//! every byte of an answer or a stream passes on its way to the client,
//! where the key scrubber is wired in.
//!
//! The gathering (a few turns of the ready tasks for the next item before
//! a write) is kept for speed: `docs/performance.md` says what it saves
//! and what it costs an answer whose events come one by one.

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};

use crate::ops::redact::Redactor;
use crate::ops::scrub::{Scrubber, StreamScrub};
use crate::relay::Item;
use crate::translate::ids;

/// Writes a stream in one API's format from the relay's typed items.
pub trait Encoder: Send + 'static {
    /// The encoder reads chunks as typed parts: the relay gives it
    /// [`Item::Parts`] instead of [`Item::Chunk`] (nothing is written only
    /// to be read again). The OpenAI encoder relays the bytes.
    const PARTS: bool = false;

    /// The bytes for `item` (whole events), if it has any in this format,
    /// appended to `out` (what the stream driver gathers for one write).
    fn encode(&mut self, item: Item, out: &mut BytesMut);

    /// Whether the stream has ended (its last event written).
    fn is_finished(&self) -> bool;

    /// What to send after a silence of the given length, if anything
    /// (Anthropic's `ping`).
    fn keep_alive(&self) -> Option<(Duration, Bytes)> {
        None
    }

    /// The closing event of a stream whose items stopped without
    /// [`Item::Done`] or [`Item::Error`] (the relay never does this),
    /// appended to `out`.
    fn cut_off(&mut self, out: &mut BytesMut);
}

/// The one place the bytes of an answer or stream pass on their way to the
/// client, one buffer at a time, in order: every configured key in them,
/// raw or JSON-escaped, in any field, is replaced (see
/// [`crate::ops::scrub`]), also when it straddles two buffers. A key the
/// model itself spells out across two deltas (`"sk-ab"` in one event,
/// `"cd…"` in the next) is in no one event's bytes: the relay holds back
/// a delta's text that could start a key until the next, so the key
/// comes here whole (`relay::hold::HeldText`).
pub struct Outgoing {
    scrub: StreamScrub,
    scrubber: Scrubber,
}

impl Outgoing {
    /// For one response, under the config whose `redactor` knows its keys.
    pub fn new(redactor: &Redactor) -> Self {
        Self {
            scrub: redactor.scrubber().stream(),
            scrubber: redactor.scrubber().clone(),
        }
    }

    /// `bytes` as the client gets them (less a tail that could still be
    /// the start of a key, held until the next buffer or [`Self::finish`]),
    /// a key in a provider's tool-call id scrubbed too, though the id goes
    /// as hex ([`ids::scrubbed`]).
    pub fn pass(&mut self, bytes: Bytes) -> Bytes {
        let scrub = |id: &str| match self.scrubber.scrub(id.as_bytes()) {
            Cow::Owned(clean) => Some(String::from_utf8_lossy(&clean).into_owned()),
            Cow::Borrowed(_) => None,
        };
        let bytes = match ids::scrubbed(&bytes, scrub) {
            Cow::Borrowed(_) => bytes,
            Cow::Owned(clean) => Bytes::from(clean),
        };
        self.scrub.feed(bytes)
    }

    /// Whatever is still held back at the end of the response.
    pub fn finish(&mut self) -> Option<Bytes> {
        Some(self.scrub.finish()).filter(|rest| !rest.is_empty())
    }
}

/// What [`encode`] gathers at most before it hands bytes on.
const COALESCE_BYTES: usize = 64 * 1024;
/// How many times [`encode`] lets the ready tasks run before it sends what
/// it has gathered (two turns per event were needed, pinned to one core).
const HANDOVER_TURNS: usize = 8;

/// The relay's items written by `encoder`, with its keep-alive after each
/// silence. A mapping of the relay's stream (nothing spawned): dropping it
/// drops the upstream request. `slot` (the request's place among those in
/// flight) is held until the stream ends.
///
/// Items that are ready together (one upstream read holds many events) go
/// out as one buffer, so as one write to the client's socket: nothing
/// waits for more than is already there, so nothing is delayed.
pub fn encode(
    items: impl Stream<Item = Item> + Send,
    mut encoder: impl Encoder,
    mut outgoing: Outgoing,
    slot: impl Send,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        let _slot = slot;
        let mut items = pin!(items);
        let keep_alive = encoder.keep_alive();
        // The silence is the client's: it counts from the last bytes sent,
        // not from the last item (items the encoder holds, such as a tool
        // call's argument deltas, send nothing).
        let mut last_sent = tokio::time::Instant::now();
        let mut gathered = BytesMut::new();
        while !encoder.is_finished() {
            let next = if !gathered.is_empty() {
                // More only if it is there now, or once the tasks that are
                // ready have run: the upstream body reaches this task one
                // piece at a time, through the connection's own task, so a
                // read that holds many events takes a few turns to hand
                // them over. Else what is gathered goes.
                match next_within(&mut items, HANDOVER_TURNS).await {
                    Some(next) => next,
                    None => {
                        let bytes = outgoing.pass(gathered.split().freeze());
                        if !bytes.is_empty() {
                            last_sent = tokio::time::Instant::now();
                            yield Ok(bytes);
                        }
                        continue;
                    }
                }
            } else {
                match &keep_alive {
                    Some((every, ping)) => {
                        match tokio::time::timeout_at(last_sent + *every, items.next()).await {
                            Err(_) => {
                                last_sent = tokio::time::Instant::now();
                                yield Ok(outgoing.pass(ping.clone()));
                                continue;
                            }
                            Ok(next) => next,
                        }
                    }
                    None => items.next().await,
                }
            };
            let Some(item) = next else {
                encoder.cut_off(&mut gathered);
                break;
            };
            encoder.encode(item, &mut gathered);
            if gathered.len() >= COALESCE_BYTES {
                let bytes = outgoing.pass(gathered.split().freeze());
                if !bytes.is_empty() {
                    last_sent = tokio::time::Instant::now();
                    yield Ok(bytes);
                }
            }
        }
        if !gathered.is_empty() {
            yield Ok(outgoing.pass(gathered.split().freeze()));
        }
        if let Some(bytes) = outgoing.finish() {
            yield Ok(bytes);
        }
    }
}

/// How many turns of the ready tasks [`with_head`] gives a stream's first
/// buffer: enough for [`encode`] to gather the events that are already
/// there (each takes a turn or two to be handed over, and it gives up
/// after [`HANDOVER_TURNS`] without one).
const FIRST_BUFFER_TURNS: usize = 8 * HANDOVER_TURNS;

/// `stream` with its first buffer taken out beforehand when it is there
/// now or once the ready tasks have run a few turns, as it nearly always
/// is: the attempt held the answer's first event. The response's head
/// then leaves in the same write as the first events. hyper writes the
/// head with what the body has ready and flushes it alone when the body
/// is pending, so without this every stream cost the client's socket two
/// writes (and the client two wake-ups) where one does. Nothing waits for
/// the network here: a first buffer that needs more than is already there
/// is left to the stream, which starts as it would have.
pub async fn with_head<S>(stream: S) -> impl Stream<Item = S::Item> + Send
where
    S: Stream + Send,
    S::Item: Send,
{
    let mut stream = Box::pin(stream.fuse());
    let first = next_within(&mut stream, FIRST_BUFFER_TURNS).await;
    futures_util::stream::iter(first.flatten()).chain(stream)
}

/// `stream`'s next item if it is there now or once the ready tasks have
/// run up to `turns` turns (yielding between tries); `None` if it is not,
/// without waiting for anything else.
async fn next_within<S>(stream: &mut S, turns: usize) -> Option<Option<S::Item>>
where
    S: Stream + Unpin + ?Sized,
{
    let mut ready = stream.next().now_or_never();
    for _ in 0..turns {
        if ready.is_some() {
            break;
        }
        tokio::task::yield_now().await;
        ready = stream.next().now_or_never();
    }
    ready
}

#[cfg(test)]
pub(crate) fn event_names(buffers: &[String]) -> Vec<String> {
    buffers
        .iter()
        .flat_map(|e| e.split("\n\n"))
        .filter_map(|e| e.lines().next())
        .map(|line| line.trim_start_matches("event: ").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::config::ModelRef;
    use crate::http::chat::Chat;
    use crate::http::front::FrontEnd;
    use crate::relay::Chunk;

    fn text(n: usize) -> Item {
        Item::Chunk(Chunk::of_json(
            format!(r#"{{"choices":[{{"delta":{{"content":"{n}"}}}}]}}"#).as_bytes(),
        ))
    }

    /// `items` as the OpenAI encoder writes them.
    fn encoded(
        items: impl Stream<Item = Item> + Send,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
        let encoder = Chat::encoder(&ModelRef::parse("p/m").unwrap(), ());
        let outgoing = Outgoing::new(&Redactor::new(["configured-key"]));
        encode(items, encoder, outgoing, ())
    }

    async fn buffers(items: impl Stream<Item = Item> + Send) -> Vec<String> {
        encoded(items)
            .map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap())
            .collect()
            .await
    }

    /// Events that are there together leave together, as one buffer (one
    /// write to the socket); an event that is not there yet is not waited
    /// for: what came before it goes first.
    #[tokio::test(start_paused = true)]
    async fn ready_events_leave_in_one_buffer_and_none_waits_for_the_next() {
        let items = async_stream::stream! {
            for n in 0..5 {
                yield text(n);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            yield text(5);
            yield Item::Done;
        };
        let buffers = buffers(items).await;
        assert_eq!(buffers.len(), 2, "{buffers:?}");
        assert_eq!(buffers[0].matches("data: ").count(), 5, "{buffers:?}");
        assert!(buffers[1].contains(r#""content":"5""#), "{buffers:?}");
        assert!(buffers[1].ends_with("data: [DONE]\n\n"), "{buffers:?}");
    }

    /// A stream whose first events are there is ready with its first
    /// buffer at once: hyper writes it with the response's head, one
    /// write to the client's socket and not two.
    #[tokio::test]
    async fn a_stream_whose_first_events_are_there_starts_with_them() {
        let items = futures_util::stream::iter([text(0), text(1), Item::Done]);
        let stream = with_head(encoded(items)).await;
        let mut stream = pin!(stream);
        let first = stream.next().now_or_never();
        let first = String::from_utf8(first.unwrap().unwrap().unwrap().to_vec()).unwrap();
        assert_eq!(first.matches("data: ").count(), 3, "{first}");
        assert!(first.ends_with("data: [DONE]\n\n"), "{first}");
        assert!(stream.next().await.is_none());
    }

    /// Without anything there yet, the stream is handed on as it is after
    /// a few turns: nothing waits for the upstream before the head goes.
    #[tokio::test(start_paused = true)]
    async fn a_stream_with_nothing_there_yet_is_not_waited_for() {
        let items = async_stream::stream! {
            tokio::time::sleep(Duration::from_secs(30)).await;
            yield text(0);
            yield Item::Done;
        };
        let started = tokio::time::Instant::now();
        let stream = with_head(encoded(items)).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        let out: Vec<u8> = stream.map(|b| b.unwrap().to_vec()).concat().await;
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("data: {"), "{out}");
        assert_eq!(out.matches("data: ").count(), 2, "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    }

    /// A stream that ends before it has anything ends at once.
    #[tokio::test]
    async fn a_stream_that_ends_at_once_is_empty() {
        let stream = with_head(encoded(futures_util::stream::iter(Vec::<Item>::new()))).await;
        let out: Vec<u8> = stream.map(|b| b.unwrap().to_vec()).concat().await;
        assert!(out.is_empty(), "{out:?}");
    }

    /// Gathered events pass the key scrubber like any others.
    #[tokio::test]
    async fn gathered_events_are_scrubbed() {
        let items = futures_util::stream::iter([
            text(0),
            Item::Chunk(Chunk::of_json(br#"{"b":"configured-key"}"#)),
            Item::Done,
        ]);
        let buffers = buffers(items).await;
        let out = buffers.concat();
        assert!(!out.contains("configured-key"), "{out}");
        assert!(out.contains("[redacted]"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    }
}
