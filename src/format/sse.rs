//! Server-sent events as the gateway reads them from providers: an
//! incremental parser of the event-stream format (the HTML standard's
//! "parsing an event stream"), and [`items`], the adapter from a body's
//! byte stream to a stream of [`Item`]s.
//!
//! The parser looks at each input byte once, whatever the chunking: it keeps
//! a line's state between chunks instead of a buffer it would rescan, and
//! appends a `data:` value straight to the event being built. What it holds
//! for one event is bounded by `max_event_bytes`; past that it reports
//! [`SseError::TooLarge`]. Lines end in `\r\n`, `\n` or `\r`; a byte order
//! mark at the start is skipped; comment lines are surfaced as
//! [`Item::Comment`], since a comment is a sign of life but not an event.
//!
//! At the end of input an unfinished event is an error, as the standard
//! says, with one exception seen in the wild: a final `data: [DONE]` line
//! without its blank line is taken as the end.
//!
//! Written here rather than taken from a crate (as `eventsource-stream` was):
//! that one rescans its buffer for every chunk, which is superlinear on a
//! large event, and holds an event of any size.

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `None` for the default type, `message`.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event ID set in the stream so far.
    pub id: Option<String>,
}

impl Event {
    /// The bytes it holds: what counts when events are kept.
    pub fn size(&self) -> usize {
        self.data.len()
            + self.event.as_ref().map_or(0, String::len)
            + self.id.as_ref().map_or(0, String::len)
    }
}

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    /// A comment line such as `: keep-alive`, without its colon and one
    /// leading space.
    Comment(String),
    /// An event in the provider's own format, for a client that speaks
    /// that format too, beside the same event read as OpenAI chunks
    /// ([`Item::Event`]s, which the gateway itself reads) as far as the
    /// gateway reads it (`upstream::transport::EventReading`). Never made by
    /// the parser: a transport adds it (`upstream::anthropic`).
    Native(Event),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the stream ended inside an event")]
    Incomplete,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest `id:` taken; a longer one is ignored, as one holding NUL is.
/// An id is copied into every later event, where it no longer counts
/// toward `max_event_bytes`; ids are short in practice (a counter, a UUID).
const MAX_ID_BYTES: usize = 1024;

/// Where the parser is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    /// Reading a field name into `name`.
    Name,
    /// After the colon, where one space is dropped.
    Space(Field),
    Value(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    Id,
    Comment,
    /// A field the standard says to ignore, or `retry` (clawgate never
    /// reconnects); its value is not kept.
    Other,
}

/// The incremental event-stream parser. Feed it with [`Parser::parse`] and
/// end it with [`Parser::finish`]. After an error it keeps returning that
/// error.
#[derive(Debug)]
pub struct Parser {
    max_event_bytes: usize,
    state: State,
    /// How many bytes of a byte order mark were seen at the start, or `None`
    /// once the start is behind.
    bom: Option<usize>,
    /// The last line ended in `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
    name: Vec<u8>,
    /// The value of an `event:`, `id:` or comment line.
    value: Vec<u8>,
    data: Vec<u8>,
    /// A `data` field was seen in this event (its data may still be empty).
    has_data: bool,
    event_type: Option<String>,
    last_id: Option<String>,
    failed: Option<SseError>,
}

impl Parser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            state: State::LineStart,
            bom: Some(0),
            after_cr: false,
            name: Vec::new(),
            value: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event_type: None,
            last_id: None,
            failed: None,
        }
    }

    /// Consumes `input` from its front until an item is complete, which is
    /// returned with `input` left at the byte after it, or until `input` is
    /// used up (`Ok(None)`).
    pub fn parse(&mut self, input: &mut &[u8]) -> Result<Option<Item>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.consume(input);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// Ends the input: the last item, if the input ended cleanly after it
    /// (see the module's note on `[DONE]`), or [`SseError::Incomplete`].
    pub fn finish(&mut self) -> Result<Option<Item>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let at_line_start = self.state == State::LineStart;
        let result = if self.bom.is_some_and(|seen| seen > 0) {
            Err(SseError::Incomplete)
        } else if at_line_start && !self.has_data && self.event_type.is_none() {
            Ok(None)
        } else if (at_line_start || self.state == State::Value(Field::Data))
            && self.has_data
            && self.data.trim_ascii() == b"[DONE]"
        {
            Ok(self.dispatch().map(Item::Event))
        } else {
            Err(SseError::Incomplete)
        };
        self.failed = Some(SseError::Incomplete);
        result
    }

    fn consume(&mut self, input: &mut &[u8]) -> Result<Option<Item>, SseError> {
        if let Some(seen) = self.bom {
            let mut seen = seen;
            while seen < BOM.len() && input.first() == Some(&BOM[seen]) {
                seen += 1;
                *input = &input[1..];
            }
            if seen < BOM.len() && input.is_empty() {
                self.bom = Some(seen);
                return Ok(None);
            }
            self.bom = None;
            if seen < BOM.len() {
                // Not a byte order mark after all: its first bytes are text.
                // They end no line, so they complete no item.
                let mut replay = &BOM[..seen];
                self.consume(&mut replay)?;
            }
        }
        while let Some((&byte, rest)) = input.split_first() {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                *input = rest;
                continue;
            }
            match self.state {
                State::Value(field) => {
                    let end = memchr::memchr2(b'\n', b'\r', input);
                    let text = &input[..end.unwrap_or(input.len())];
                    self.append(field, text)?;
                    *input = &input[text.len()..];
                    if let Some((&terminator, rest)) = input.split_first() {
                        *input = rest;
                        self.after_cr = terminator == b'\r';
                        if let Some(item) = self.end_line(field) {
                            return Ok(Some(item));
                        }
                    }
                }
                State::LineStart => {
                    *input = rest;
                    match byte {
                        b'\n' | b'\r' => {
                            self.after_cr = byte == b'\r';
                            if let Some(event) = self.dispatch() {
                                return Ok(Some(Item::Event(event)));
                            }
                        }
                        b':' => self.state = State::Space(Field::Comment),
                        _ => {
                            self.state = State::Name;
                            self.push_name(byte)?;
                        }
                    }
                }
                State::Name => {
                    *input = rest;
                    match byte {
                        b':' => {
                            let field = self.begin_field()?;
                            self.state = State::Space(field);
                        }
                        // A line without a colon is a field with an empty value.
                        b'\n' | b'\r' => {
                            self.after_cr = byte == b'\r';
                            let field = self.begin_field()?;
                            if let Some(item) = self.end_line(field) {
                                return Ok(Some(item));
                            }
                        }
                        _ => self.push_name(byte)?,
                    }
                }
                State::Space(field) => {
                    if byte == b' ' {
                        *input = rest;
                    }
                    self.state = State::Value(field);
                }
            }
        }
        Ok(None)
    }

    /// Bytes held for the event being read.
    fn held(&self) -> usize {
        self.data.len()
            + self.value.len()
            + self.name.len()
            + self.event_type.as_ref().map_or(0, String::len)
    }

    fn reserve(&self, more: usize) -> Result<(), SseError> {
        if self.held().saturating_add(more) > self.max_event_bytes {
            return Err(SseError::TooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    fn push_name(&mut self, byte: u8) -> Result<(), SseError> {
        self.reserve(1)?;
        self.name.push(byte);
        Ok(())
    }

    /// The field named by `name`, which is cleared.
    fn begin_field(&mut self) -> Result<Field, SseError> {
        let field = match self.name.as_slice() {
            b"data" => Field::Data,
            b"event" => Field::Event,
            b"id" => Field::Id,
            _ => Field::Other,
        };
        self.name.clear();
        if field == Field::Data {
            if self.has_data {
                self.reserve(1)?;
                self.data.push(b'\n');
            }
            self.has_data = true;
        }
        Ok(field)
    }

    fn append(&mut self, field: Field, text: &[u8]) -> Result<(), SseError> {
        if field == Field::Other {
            return Ok(());
        }
        self.reserve(text.len())?;
        let target = if field == Field::Data {
            &mut self.data
        } else {
            &mut self.value
        };
        target.extend_from_slice(text);
        Ok(())
    }

    /// Applies the field of the line that just ended; a comment is an item.
    fn end_line(&mut self, field: Field) -> Option<Item> {
        self.state = State::LineStart;
        let value = std::mem::take(&mut self.value);
        match field {
            Field::Data | Field::Other => None,
            Field::Event => {
                self.event_type = (!value.is_empty()).then(|| text(value));
                None
            }
            Field::Id => {
                if value.len() <= MAX_ID_BYTES && !value.contains(&0) {
                    self.last_id = (!value.is_empty()).then(|| text(value));
                }
                None
            }
            Field::Comment => Some(Item::Comment(text(value))),
        }
    }

    /// The event a blank line ends, if it has data.
    fn dispatch(&mut self) -> Option<Event> {
        self.state = State::LineStart;
        let event_type = self.event_type.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(Event {
            event: event_type,
            data: text(std::mem::take(&mut self.data)),
            id: self.last_id.clone(),
        })
    }
}

/// Bytes as text without copying when they are UTF-8, as they should be;
/// invalid sequences become U+FFFD, as the standard says.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
}

/// Why an event stream could not be read on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error(transparent)]
    Sse(SseError),
    /// The body itself failed.
    #[error("{0}")]
    Body(E),
    /// The events broke their format's order (a transport's check, for a
    /// client that gets them as they came).
    #[error("the provider's events are out of order: {0}")]
    OutOfOrder(String),
    /// An event's data is not JSON (a transport's check, for a stream it
    /// reads event by event).
    #[error("the provider sent an event that is not JSON")]
    NotJson,
}

/// The data of each whole event in `text`, read by this parser (comments
/// give none). For tests that feed an encoder text.
#[cfg(test)]
pub fn data_of(mut text: &[u8]) -> Vec<String> {
    let mut parser = Parser::new(usize::MAX);
    let mut data = Vec::new();
    while let Ok(Some(item)) = parser.parse(&mut text) {
        if let Item::Event(event) = item {
            data.push(event.data);
        }
    }
    data
}

/// The items of an event stream carried by `body` (pin a body that is not
/// `Unpin` with `Box::pin`). The stream ends after the first error, or
/// cleanly at the body's end (see [`Parser::finish`]). It holds at most one
/// chunk of `body` and the event being read.
pub fn items<S, E>(
    body: S,
    max_event_bytes: usize,
) -> impl Stream<Item = Result<Item, ReadError<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    struct Reading<S> {
        body: S,
        parser: Parser,
        chunk: Bytes,
        ended: bool,
    }
    let start = Reading {
        body,
        parser: Parser::new(max_event_bytes),
        chunk: Bytes::new(),
        ended: false,
    };
    futures_util::stream::unfold(start, |mut reading| async move {
        loop {
            if reading.ended {
                return None;
            }
            if !reading.chunk.is_empty() {
                let mut rest: &[u8] = &reading.chunk;
                let parsed = reading.parser.parse(&mut rest);
                let used = reading.chunk.len() - rest.len();
                reading.chunk.advance(used);
                if reading.chunk.is_empty() {
                    // Let go of a used-up chunk at once: an empty slice of
                    // it still holds its buffer, which the body's reader
                    // could otherwise not read the next chunk into (hyper
                    // takes a fresh 8 KB buffer for every read while one
                    // is held).
                    reading.chunk = Bytes::new();
                }
                match parsed {
                    Ok(Some(item)) => return Some((Ok(item), reading)),
                    Ok(None) => {}
                    Err(err) => {
                        reading.ended = true;
                        return Some((Err(ReadError::Sse(err)), reading));
                    }
                }
                continue;
            }
            match reading.body.next().await {
                Some(Ok(chunk)) => reading.chunk = chunk,
                Some(Err(err)) => {
                    reading.ended = true;
                    return Some((Err(ReadError::Body(err)), reading));
                }
                None => {
                    reading.ended = true;
                    return match reading.parser.finish() {
                        Ok(Some(item)) => Some((Ok(item), reading)),
                        Ok(None) => None,
                        Err(err) => Some((Err(ReadError::Sse(err)), reading)),
                    };
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 64;

    /// Every item and the end of `input` read in one piece, rendered one per
    /// line: `data` (with `event=` and `id=` when set), `: comment`, or
    /// `! error`.
    fn parse_all(input: &[u8], pieces: &[usize], limit: usize) -> Vec<String> {
        let mut parser = Parser::new(limit);
        let mut out = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = pieces.iter().map(|&p| p.min(input.len())).collect();
        cuts.sort_unstable();
        cuts.push(input.len());
        for cut in cuts {
            let mut rest = &input[start..cut];
            start = cut;
            loop {
                let parsed = parser.parse(&mut rest);
                assert!(parser.held() <= limit, "held {} > {limit}", parser.held());
                match parsed {
                    Ok(Some(item)) => out.push(render(&item)),
                    Ok(None) => break,
                    Err(err) => {
                        out.push(format!("! {err}"));
                        return out;
                    }
                }
            }
            assert!(rest.is_empty());
        }
        match parser.finish() {
            Ok(Some(item)) => out.push(render(&item)),
            Ok(None) => {}
            Err(err) => out.push(format!("! {err}")),
        }
        out
    }

    fn render(item: &Item) -> String {
        match item {
            Item::Comment(text) => format!(": {text}"),
            Item::Native(_) => unreachable!("the parser makes no native events"),
            Item::Event(event) => {
                let mut out = String::new();
                if let Some(kind) = &event.event {
                    out.push_str(&format!("event={kind} "));
                }
                if let Some(id) = &event.id {
                    out.push_str(&format!("id={id} "));
                }
                out.push_str(&format!("{:?}", event.data));
                out
            }
        }
    }

    /// Reads `input` whole and byte by byte; both must give `expected`.
    fn check(input: &str, expected: &[&str]) {
        let whole = parse_all(input.as_bytes(), &[], LIMIT);
        assert_eq!(whole, expected, "input {input:?}");
        let every_byte: Vec<usize> = (0..input.len()).collect();
        let split = parse_all(input.as_bytes(), &every_byte, LIMIT);
        assert_eq!(split, expected, "input {input:?} byte by byte");
    }

    const INCOMPLETE: &str = "! the stream ended inside an event";
    const TOO_LARGE: &str = "! an event is larger than the limit of 64 bytes";

    #[test]
    fn events_follow_the_event_stream_rules() {
        check("", &[]);
        check("data: hi\n\n", &[r#""hi""#]);
        check("data:hi\n\n", &[r#""hi""#]);
        check("data:  two spaces\n\n", &[r#"" two spaces""#]);
        check("data: a\ndata: b\n\n", &[r#""a\nb""#]);
        check("data: a\r\ndata: b\r\n\r\n", &[r#""a\nb""#]);
        check("data: a\rdata: b\r\r", &[r#""a\nb""#]);
        check("data: a\r\n\rdata: b\n\r\n", &[r#""a""#, r#""b""#]);
        check("data\n\n", &[r#""""#]);
        check("data:\ndata:\n\n", &[r#""\n""#]);
        check("event: ping\n\n", &[]);
        check(
            "event: add\ndata: 1\n\ndata: 2\n\n",
            &[r#"event=add "1""#, r#""2""#],
        );
        check(
            "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
            &[r#"id=7 "a""#, r#"id=7 "b""#, r#""c""#],
        );
        check("id: a\0b\ndata: x\n\n", &[r#""x""#]);
        check("retry: 1000\ndata: x\n\n", &[r#""x""#]);
        check("foo: bar\ndata: x\n\n", &[r#""x""#]);
        check("\n\n\ndata: x\n\n", &[r#""x""#]);
        check(": keep-alive\n\n", &[": keep-alive"]);
        check(
            ": OPENROUTER PROCESSING\n\ndata: x\n\n",
            &[": OPENROUTER PROCESSING", r#""x""#],
        );
        check("data: a\n: note\ndata: b\n\n", &[": note", r#""a\nb""#]);
        check("\u{FEFF}data: bom\n\n", &[r#""bom""#]);
        check("\u{FEFF}\u{FEFF}data: x\n\n", &[]);
        check("data: \u{FEFF}x\n\n", &[r#""\u{feff}x""#]);
    }

    #[test]
    fn the_end_of_input_must_end_an_event_except_for_a_final_done() {
        check("data: x\n\n\r", &[r#""x""#]);
        check("data: [DONE]", &[r#""[DONE]""#]);
        check("data: [DONE]\n", &[r#""[DONE]""#]);
        check("data: [DONE]\r\n", &[r#""[DONE]""#]);
        check("data: x", &[INCOMPLETE]);
        check("data: x\n", &[INCOMPLETE]);
        check("data: x\n\ndata: y\n", &[r#""x""#, INCOMPLETE]);
        check("data: a\ndata: [DONE]\n", &[INCOMPLETE]);
        check(": partial comment", &[INCOMPLETE]);
        check("event: x\n", &[INCOMPLETE]);
        check("dat", &[INCOMPLETE]);
        check("\u{FEFF}", &[]);
        assert_eq!(parse_all(b"\xEF\xBB", &[], LIMIT), [INCOMPLETE]);
    }

    #[test]
    fn an_event_over_the_limit_is_an_error() {
        let fits = format!("data: {}\n\n", "x".repeat(LIMIT));
        check(&fits, &[&format!("{:?}", "x".repeat(LIMIT))]);
        let over = format!("data: {}\n\n", "x".repeat(LIMIT + 1));
        check(&over, &[TOO_LARGE]);
        // Lines add up, their joins too.
        let half = "x".repeat(LIMIT / 2);
        check(&format!("data: {half}\ndata: {half}\n\n"), &[TOO_LARGE]);
        check(&format!(": {}\n", "c".repeat(LIMIT + 1)), &[TOO_LARGE]);
        check(&format!("{}: x\n", "n".repeat(LIMIT + 1)), &[TOO_LARGE]);
        // Unknown fields are not held, so they cannot overflow.
        check(&format!("other: {}\n\n", "x".repeat(1000)), &[]);
        // The error is final.
        check(&format!("{over}data: ok\n\n"), &[TOO_LARGE]);
    }

    #[test]
    fn an_id_over_its_bound_is_ignored_and_the_last_one_kept() {
        let longest = "i".repeat(MAX_ID_BYTES);
        let over = "o".repeat(MAX_ID_BYTES + 1);
        let input = format!("id: 7\ndata: a\n\nid: {over}\ndata: b\n\nid: {longest}\ndata: c\n\n");
        let got = parse_all(input.as_bytes(), &[], 1 << 20);
        assert_eq!(
            got,
            [
                r#"id=7 "a""#.to_string(),
                r#"id=7 "b""#.to_string(),
                format!(r#"id={longest} "c""#),
            ]
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let got = parse_all(b"data: a\xFFb\n\n", &[], LIMIT);
        assert_eq!(got, ["\"a\u{FFFD}b\""]);
    }

    #[tokio::test]
    async fn the_adapter_reads_a_chunked_body_and_reports_its_errors() {
        async fn run(chunks: Vec<Result<&'static str, &'static str>>) -> Vec<String> {
            let body = futures_util::stream::iter(
                chunks
                    .into_iter()
                    .map(|chunk| chunk.map(|text| Bytes::from_static(text.as_bytes()))),
            );
            let items: Vec<_> = items(body, LIMIT).collect().await;
            items
                .into_iter()
                .map(|item| match item {
                    Ok(item) => render(&item),
                    Err(err) => format!("! {err}"),
                })
                .collect()
        }
        assert_eq!(
            run(vec![
                Ok("data: a\n\ndat"),
                Ok("a: b\n"),
                Ok("\n: c\n"),
                Ok("data: [DONE]")
            ])
            .await,
            [r#""a""#, r#""b""#, ": c", r#""[DONE]""#]
        );
        assert_eq!(
            run(vec![Ok("data: a\n\n"), Err("reset"), Ok("data: b\n\n")]).await,
            [r#""a""#, "! reset"]
        );
        assert_eq!(run(vec![Ok("data: a\n")]).await, [INCOMPLETE]);
    }

    /// The body's reader can read the next chunk into the buffer of the
    /// last only when nothing holds on to it (hyper takes a fresh buffer
    /// for every read otherwise): once the last item of a chunk is out,
    /// the adapter holds nothing of it, also while it waits for the next.
    #[tokio::test]
    async fn waiting_for_the_next_chunk_holds_nothing_of_the_last() {
        let (send, receive) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, ()>>();
        let body = futures_util::stream::unfold(receive, |mut receive| async move {
            receive.recv().await.map(|chunk| (chunk, receive))
        });
        let mut items = Box::pin(items(Box::pin(body), LIMIT));
        let chunk = Bytes::from(b"data: a\n\n".to_vec());
        send.send(Ok(chunk.clone())).unwrap();
        let first = items.next().await.unwrap().unwrap();
        assert_eq!(render(&first), r#""a""#);
        assert!(
            chunk.is_unique(),
            "the adapter holds the chunk its last item came from"
        );
        let waiting = futures_util::poll!(items.next());
        assert!(waiting.is_pending(), "no second chunk has come");
        assert!(
            chunk.is_unique(),
            "the adapter still holds the used-up chunk"
        );
        drop(send);
        assert!(items.next().await.is_none());
    }

    /// One event of a generated stream: its lines, and what it should read as.
    #[derive(Debug, Clone)]
    struct Generated {
        comment: Option<String>,
        event: Option<String>,
        id: Option<String>,
        data: Vec<String>,
    }

    fn line_text() -> impl Strategy<Value = String> {
        // Any text without line ends, with the characters that matter here.
        proptest::collection::vec(
            prop_oneof![
                Just(' '),
                Just(':'),
                Just('x'),
                Just('é'),
                Just('{'),
                Just('"')
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn generated() -> impl Strategy<Value = Generated> {
        (
            proptest::option::of(line_text()),
            proptest::option::of("[a-z]{1,5}"),
            proptest::option::of("[0-9]{1,3}"),
            proptest::collection::vec(line_text(), 1..4),
        )
            .prop_map(|(comment, event, id, data)| Generated {
                comment,
                event,
                id,
                data,
            })
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            events in proptest::collection::vec(generated(), 0..6),
            ending in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")],
            bom in any::<bool>(),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let mut input = String::new();
            if bom {
                input.push('\u{FEFF}');
            }
            let mut expected = Vec::new();
            let mut last_id: Option<String> = None;
            for event in &events {
                if let Some(comment) = &event.comment {
                    input.push_str(&format!(":{comment}{ending}"));
                    expected.push(format!(": {}", comment.strip_prefix(' ').unwrap_or(comment)));
                }
                if let Some(kind) = &event.event {
                    input.push_str(&format!("event: {kind}{ending}"));
                }
                if let Some(id) = &event.id {
                    input.push_str(&format!("id: {id}{ending}"));
                    last_id = Some(id.clone());
                }
                for line in &event.data {
                    input.push_str(&format!("data: {line}{ending}"));
                }
                input.push_str(ending);
                expected.push(render(&Item::Event(Event {
                    event: event.event.clone(),
                    data: event.data.join("\n"),
                    id: last_id.clone(),
                })));
            }
            let whole = parse_all(input.as_bytes(), &[], 1 << 20);
            prop_assert_eq!(&whole, &expected);
            let split = parse_all(input.as_bytes(), &cuts, 1 << 20);
            prop_assert_eq!(split, expected);
        }

        #[test]
        fn any_input_parses_without_panic_within_the_limit_the_same_in_any_split(
            input in proptest::collection::vec(
                prop_oneof![
                    Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(0u8), Just(0xEF), Just(0xBB), Just(0xBF),
                    Just(b'd'), Just(b'a'), Just(b't'), Just(b'x'), any::<u8>(),
                ],
                0..300,
            ),
            prefix in prop_oneof![Just(&b""[..]), Just(&b"data:"[..]), Just(&b"\xEF\xBB\xBFdata: "[..]), Just(&b"id:"[..])],
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let input = [prefix, &input].concat();
            // parse_all asserts the bound after every item.
            let whole = parse_all(&input, &[], 16);
            let split = parse_all(&input, &cuts, 16);
            prop_assert_eq!(whole, split);
        }
    }
}
