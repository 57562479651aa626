//! The text format: `tracing_subscriber`'s `Full` format, byte for byte,
//! with the access lines written straight into the line.
//!
//! An access line is written for every request, so its formatting is paid
//! on every request: through `Full` it goes through `fmt::Write` for every
//! piece (the styles, padding and escape guards that are off for it
//! included), about 3% of a request's CPU in the benchmark. Here the
//! pieces are appended as they are: the same bytes, which the tests below
//! check against `Full` for every kind of field an event can carry. With
//! colours on (a terminal) every line takes the `Full` path.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::ACCESS;

/// The text format's events: the access lines by hand, every other line
/// (and every line with colours on) by `Full`; both with the time of `T`
/// ([`Utc`]; the tests' is fixed).
pub(super) struct TextFormat<T = Utc> {
    full: Format<Full, T>,
    timer: T,
}

impl Default for TextFormat {
    fn default() -> Self {
        Self::new(Utc)
    }
}

impl<T: FormatTime + Clone> TextFormat<T> {
    pub(super) fn new(timer: T) -> Self {
        Self {
            full: tracing_subscriber::fmt::format().with_timer(timer.clone()),
            timer,
        }
    }
}

impl<S, N, T> FormatEvent<S, N> for TextFormat<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS || writer.has_ansi_escapes() {
            return self.full.format_event(ctx, writer, event);
        }
        // As `Full` writes them without colours: time, level, the spans
        // from the root with their fields, the target, the fields.
        self.timer.format_time(&mut writer)?;
        writer.write_char(' ')?;
        writer.write_str(level(meta.level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                seen = true;
                writer.write_str(span.metadata().name())?;
                let extensions = span.extensions();
                let fields = extensions.get::<FormattedFields<N>>();
                if let Some(fields) = fields.filter(|fields| !fields.is_empty()) {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let sanitize = writer.sanitizes_ansi_escapes();
        let mut fields = Fields {
            writer: &mut writer,
            sanitize,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `Full`'s level, five characters wide.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// An event's fields as `Full`'s visitor writes them without colours:
/// separated by a space, the message bare and first where it comes first,
/// the others `name=value` with the value's `Debug`; control characters
/// of the message and of errors escaped when the writer sanitizes.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    sanitize: bool,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn pad(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.result = self.writer.write_char(' ');
        }
    }

    fn name(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }
}

impl Visit for Fields<'_, '_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() || field.name() == "message" || is_log_metadata(field) {
            return self.record_debug(field, &value);
        }
        self.pad();
        self.result = self
            .name(field)
            .and_then(|()| write!(self.writer, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() || is_log_metadata(field) {
            return;
        }
        self.pad();
        let sanitize = self.sanitize;
        self.result = (|| {
            if field.name() != "message" {
                self.name(field)?;
            }
            write!(Escaping::new(self.writer, sanitize), "{value}")?;
            if value.source().is_some() {
                // The name as declared here (`r#` kept), as `Full` does.
                write!(self.writer, " {}.sources=", field.name())?;
                let mut list = Vec::new();
                let mut source = value.source();
                while let Some(error) = source {
                    list.push(Escaped(error, sanitize));
                    source = error.source();
                }
                write!(self.writer, "{list:?}")?;
            }
            Ok(())
        })();
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || is_log_metadata(field) {
            return;
        }
        self.pad();
        let sanitize = self.sanitize;
        self.result = if field.name() == "message" {
            write!(Escaping::new(self.writer, sanitize), "{value:?}")
        } else {
            self.name(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}

/// `log.*` fields carry a `log` record's metadata, written elsewhere.
fn is_log_metadata(field: &Field) -> bool {
    field.name().starts_with("log.")
}

/// An error's `Display`, escaped, as an entry of the sources list.
struct Escaped<'e>(&'e (dyn std::error::Error + 'static), bool);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping::new(f, self.1), "{}", self.0)
    }
}

/// A writer that escapes the control characters a terminal acts on (as
/// `tracing_subscriber` does for messages and errors) when `sanitize`.
struct Escaping<'w, W: fmt::Write + ?Sized> {
    inner: &'w mut W,
    sanitize: bool,
}

impl<'w, W: fmt::Write + ?Sized> Escaping<'w, W> {
    fn new(inner: &'w mut W, sanitize: bool) -> Self {
        Self { inner, sanitize }
    }
}

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if !self.sanitize {
            return self.inner.write_str(text);
        }
        let mut plain = 0;
        for (at, ch) in text.char_indices() {
            let escaped = match ch {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.inner.write_str(&text[plain..at])?;
            if escaped.is_empty() {
                write!(self.inner, "\\u{{{:x}}}", ch as u32)?;
            } else {
                self.inner.write_str(escaped)?;
            }
            plain = at + ch.len_utf8();
        }
        self.inner.write_str(&text[plain..])
    }
}

/// The time as `tracing_subscriber`'s `SystemTime` writes it (RFC 3339,
/// UTC, microseconds: `2026-11-25T09:40:00.123456Z`), written at once.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Utc;

impl FormatTime for Utc {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let text = rfc3339(since.as_secs(), since.subsec_micros());
        writer.write_str(std::str::from_utf8(&text).expect("digits and separators"))
    }
}

/// `seconds` since the epoch and `micros` past them, in RFC 3339 (years
/// 1970 to 9999: a clock before the epoch reads as the epoch).
fn rfc3339(seconds: u64, micros: u32) -> [u8; 27] {
    let (year, month, day) = civil(seconds / 86_400);
    let of_day = seconds % 86_400;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let fields = [
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, of_day / 3600),
        (14, 2, of_day / 60 % 60),
        (17, 2, of_day % 60),
        (20, 6, u64::from(micros)),
    ];
    for (at, width, mut value) in fields {
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    text
}

/// The calendar date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;

    use super::*;

    /// A time that does not pass, so two formats' lines can be compared.
    #[derive(Clone)]
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
            writer.write_str("2026-11-25T09:40:00.123456Z")
        }
    }

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Failed(&'static str, Option<Box<Failed>>);

    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    /// Every kind of field and span an access line could carry, logged
    /// once through `TextFormat` and once through `Full`.
    fn log_all(ansi: bool, text_format: bool) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let builder = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(ansi)
            .with_writer(move || writer.clone());
        let log = || {
            let id = "req_8c2f";
            let request = tracing::info_span!("request", id = %id);
            let _in_request = request.enter();
            let (model, none): (Option<&str>, Option<&str>) = (Some("kimi \"k2\""), None);
            let attempts = "moonshot/kimi-k2.6:rate_limited,openrouter/x:ok";
            tracing::info!(
                target: "clawgate::access",
                status = 200u16,
                model,
                answered_by = none,
                attempts,
                first_byte_ms = 412u64,
                tokens_in = 812u64,
                end = "complete",
                "{} {} {}",
                "POST",
                "/v1/chat/completions",
                200
            );
            tracing::debug!(target: "clawgate::access", status = 200u64, "GET /healthz 200");
            let inner = tracing::info_span!("inner");
            let _in_inner = inner.enter();
            let error = Failed(
                "outer \x1b[31m",
                Some(Box::new(Failed("cause \u{85}", None))),
            );
            tracing::warn!(
                target: "clawgate::access",
                negative = -3i64,
                ratio = 0.5f64,
                yes = true,
                big = u128::MAX,
                r#type = "typed",
                text = "new\nline \x1b[2J \u{9b} é",
                debug = ?vec![1, 2],
                error = &error as &(dyn std::error::Error + 'static),
                plain = &Failed("plain", None) as &(dyn std::error::Error + 'static),
                r#cause = &error as &(dyn std::error::Error + 'static),
                log.line = 7u64,
                log.target = "a log record's",
                "message \x1b[31m red \u{85} {}", "é"
            );
            tracing::error!(target: "clawgate::access", "only a message");
            drop(_in_inner);
            drop(_in_request);
            tracing::info!(target: "clawgate::access", status = 404u64, "no span");
            tracing::info!(target: "clawgate::other", status = 1u64, "not an access line");
        };
        if text_format {
            let subscriber = builder.event_format(TextFormat::new(Fixed)).finish();
            tracing::subscriber::with_default(subscriber, log);
        } else {
            let subscriber = builder
                .event_format(tracing_subscriber::fmt::format().with_timer(Fixed))
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        }
        let text = lines.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn access_lines_are_the_bytes_tracing_writes() {
        for ansi in [false, true] {
            let ours = log_all(ansi, true);
            let full = log_all(ansi, false);
            assert_eq!(ours.lines().count(), 6, "{ours}");
            assert_eq!(ours, full, "ansi: {ansi}");
        }
        let ours = log_all(false, true);
        let first = ours.lines().next().unwrap();
        assert_eq!(
            first,
            "2026-11-25T09:40:00.123456Z  INFO request{id=req_8c2f}: clawgate::access: \
             POST /v1/chat/completions 200 status=200 model=\"kimi \\\"k2\\\"\" \
             attempts=\"moonshot/kimi-k2.6:rate_limited,openrouter/x:ok\" first_byte_ms=412 \
             tokens_in=812 end=\"complete\""
        );
        // What a terminal would act on is escaped, here as by tracing.
        assert!(!ours.contains('\x1b'), "{ours}");
        assert!(ours.contains("message \\x1b[31m red \\u{85} é"), "{ours}");
    }

    #[test]
    fn the_time_is_written_as_tracing_writes_it() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 7, "2000-02-29T00:00:00.000007Z"),
            (951_868_799, 999_999, "2000-02-29T23:59:59.999999Z"),
            (1_709_251_199, 120_000, "2024-02-29T23:59:59.120000Z"),
            (1_764_063_600, 123_456, "2025-11-25T09:40:00.123456Z"),
            (4_102_444_800, 1, "2100-01-01T00:00:00.000001Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z"),
        ];
        for (seconds, micros, expected) in cases {
            assert_eq!(
                std::str::from_utf8(&rfc3339(seconds, micros)).unwrap(),
                expected
            );
        }
        // And as tracing writes the present.
        let mut ours = String::new();
        let mut theirs = String::new();
        loop {
            ours.clear();
            theirs.clear();
            Utc.format_time(&mut Writer::new(&mut ours)).unwrap();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            // Microseconds apart; the same second but across a tick.
            if ours[..19] == theirs[..19] {
                break;
            }
        }
        assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
        assert_eq!(ours[..20], theirs[..20]);
    }
}
