//! A finished span written straight into OTLP protobuf bytes (the
//! `opentelemetry.proto.trace.v1.Span` message), attribute by attribute,
//! into one buffer per span.
//!
//! Building `opentelemetry-proto`'s own structs costs two allocations per
//! attribute (its keys and strings are owned `String`s), and encoding them
//! measures each nested message again at every level above it: with them,
//! tracing cost twice what it does written here, one allocation a span
//! (docs/performance.md, "With tracing on"). The tests decode what is
//! written with `opentelemetry-proto` itself.

use std::time::{SystemTime, UNIX_EPOCH};

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// Field numbers of `Span`, `Status`, `KeyValue`, `AnyValue` and
/// `ArrayValue` (opentelemetry/proto/trace/v1/trace.proto, common.proto).
mod field {
    pub const SPAN_TRACE_ID: u32 = 1;
    pub const SPAN_SPAN_ID: u32 = 2;
    pub const SPAN_PARENT_SPAN_ID: u32 = 4;
    pub const SPAN_NAME: u32 = 5;
    pub const SPAN_KIND: u32 = 6;
    pub const SPAN_START: u32 = 7;
    pub const SPAN_END: u32 = 8;
    pub const SPAN_ATTRIBUTES: u32 = 9;
    pub const SPAN_STATUS: u32 = 15;
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
    pub const KEY_VALUE_KEY: u32 = 1;
    pub const KEY_VALUE_VALUE: u32 = 2;
    pub const ANY_STRING: u32 = 1;
    pub const ANY_BOOL: u32 = 2;
    pub const ANY_INT: u32 = 3;
    pub const ANY_DOUBLE: u32 = 4;
    pub const ANY_ARRAY: u32 = 5;
    pub const ARRAY_VALUES: u32 = 1;
}

/// `SpanKind` and `StatusCode` values.
pub const KIND_SERVER: u64 = 2;
pub const KIND_CLIENT: u64 = 3;
const STATUS_ERROR: u64 = 2;

/// A span being written: its attributes first (a protobuf message's
/// fields may come in any order), then [`Attributes::finish`] adds the
/// rest.
#[derive(Debug, Default)]
pub struct Attributes {
    buf: Vec<u8>,
}

/// The ids, name and times that make attributes a span.
pub struct Head<'a> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    /// `{operation} {model}`, the GenAI conventions' span name.
    pub name: [&'a str; 2],
    pub kind: u64,
    pub started: SystemTime,
    pub ended: SystemTime,
}

impl Attributes {
    /// Room for `attributes` attributes of a usual size.
    pub fn with_capacity(attributes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(attributes * 48 + 128),
        }
    }

    /// A string attribute.
    pub fn text(&mut self, key: &str, value: &str) {
        self.attribute(key, field::ANY_STRING, LEN, bytes_len(value.len()));
        put_bytes(&mut self.buf, value.as_bytes());
    }

    /// An integer attribute (`int_value` is an `int64`).
    pub fn int(&mut self, key: &str, value: u64) {
        let value = value.min(i64::MAX as u64);
        self.attribute(key, field::ANY_INT, VARINT, varint_len(value));
        put_varint(&mut self.buf, value);
    }

    /// A floating-point attribute.
    pub fn float(&mut self, key: &str, value: f64) {
        self.attribute(key, field::ANY_DOUBLE, FIXED64, 8);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A boolean attribute.
    pub fn flag(&mut self, key: &str, value: bool) {
        self.attribute(key, field::ANY_BOOL, VARINT, 1);
        self.buf.push(u8::from(value));
    }

    /// A string array attribute.
    pub fn texts<'a, I>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let values = values.into_iter();
        // Each element is an `AnyValue` holding a `string_value`.
        let element = |text: &str| tag_len(field::ANY_STRING) + bytes_len(text.len());
        let array: usize = values
            .clone()
            .map(|text| tag_len(field::ARRAY_VALUES) + bytes_len(element(text)))
            .sum();
        self.attribute(key, field::ANY_ARRAY, LEN, bytes_len(array));
        put_varint(&mut self.buf, array as u64);
        for text in values {
            put_tag(&mut self.buf, field::ARRAY_VALUES, LEN);
            put_varint(&mut self.buf, element(text) as u64);
            put_tag(&mut self.buf, field::ANY_STRING, LEN);
            put_bytes(&mut self.buf, text.as_bytes());
        }
    }

    /// A `KeyValue` up to its value's own bytes: `value_len` is the
    /// encoded length of the `AnyValue` field `any` after its tag (a
    /// length-delimited one's length prefix included).
    fn attribute(&mut self, key: &str, any: u32, wire: u8, value_len: usize) {
        let any_value = tag_len(any) + value_len;
        let key_value = tag_len(field::KEY_VALUE_KEY)
            + bytes_len(key.len())
            + tag_len(field::KEY_VALUE_VALUE)
            + bytes_len(any_value);
        put_tag(&mut self.buf, field::SPAN_ATTRIBUTES, LEN);
        put_varint(&mut self.buf, key_value as u64);
        put_tag(&mut self.buf, field::KEY_VALUE_KEY, LEN);
        put_bytes(&mut self.buf, key.as_bytes());
        put_tag(&mut self.buf, field::KEY_VALUE_VALUE, LEN);
        put_varint(&mut self.buf, any_value as u64);
        put_tag(&mut self.buf, any, wire);
    }

    /// The whole span: these attributes, `head`, and an error status with
    /// `error.type` when `failed` names the failure's class.
    pub fn finish(mut self, head: &Head, failed: Option<&str>) -> Vec<u8> {
        if let Some(class) = failed {
            self.text("error.type", class);
        }
        let buf = &mut self.buf;
        put_tag(buf, field::SPAN_TRACE_ID, LEN);
        put_bytes(buf, &head.trace_id);
        put_tag(buf, field::SPAN_SPAN_ID, LEN);
        put_bytes(buf, &head.span_id);
        if let Some(parent) = head.parent {
            put_tag(buf, field::SPAN_PARENT_SPAN_ID, LEN);
            put_bytes(buf, &parent);
        }
        let [operation, model] = head.name;
        put_tag(buf, field::SPAN_NAME, LEN);
        put_varint(buf, (operation.len() + 1 + model.len()) as u64);
        buf.extend_from_slice(operation.as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(model.as_bytes());
        put_tag(buf, field::SPAN_KIND, VARINT);
        put_varint(buf, head.kind);
        for (number, at) in [
            (field::SPAN_START, head.started),
            (field::SPAN_END, head.ended),
        ] {
            put_tag(buf, number, FIXED64);
            buf.extend_from_slice(&nanos(at).to_le_bytes());
        }
        if let Some(class) = failed {
            let status = tag_len(field::STATUS_MESSAGE)
                + bytes_len(class.len())
                + tag_len(field::STATUS_CODE)
                + varint_len(STATUS_ERROR);
            put_tag(buf, field::SPAN_STATUS, LEN);
            put_varint(buf, status as u64);
            put_tag(buf, field::STATUS_MESSAGE, LEN);
            put_bytes(buf, class.as_bytes());
            put_tag(buf, field::STATUS_CODE, VARINT);
            put_varint(buf, STATUS_ERROR);
        }
        self.buf
    }
}

fn nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Appends `spans` (each an encoded `Span`) to `out` as the
/// `ExportTraceServiceRequest` of one resource and one scope, whose
/// encoded messages are `resource` and `scope`.
pub fn export_request(out: &mut Vec<u8>, resource: &[u8], scope: &[u8], spans: &[Vec<u8>]) {
    // ExportTraceServiceRequest { 1: ResourceSpans { 1: Resource,
    //   2: ScopeSpans { 1: InstrumentationScope, 2: Span... } } }
    let scope_spans = tag_len(1)
        + bytes_len(scope.len())
        + spans
            .iter()
            .map(|span| tag_len(2) + bytes_len(span.len()))
            .sum::<usize>();
    let resource_spans =
        tag_len(1) + bytes_len(resource.len()) + tag_len(2) + bytes_len(scope_spans);
    out.reserve(tag_len(1) + bytes_len(resource_spans));
    put_tag(out, 1, LEN);
    put_varint(out, resource_spans as u64);
    put_tag(out, 1, LEN);
    put_bytes(out, resource);
    put_tag(out, 2, LEN);
    put_varint(out, scope_spans as u64);
    put_tag(out, 1, LEN);
    put_bytes(out, scope);
    for span in spans {
        put_tag(out, 2, LEN);
        put_bytes(out, span);
    }
}

fn put_tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, u64::from(field) << 3 | u64::from(wire));
}

/// A length-delimited field's value: its length, then its bytes.
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    // Seven bits a byte, at least one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

/// A length-delimited value of `len` bytes with its length prefix.
fn bytes_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{Span, Status};
    use prost::Message;

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn head(parent: Option<[u8; 8]>) -> Head<'static> {
        Head {
            trace_id: *b"0123456789abcdef",
            span_id: *b"spanid01",
            parent,
            name: ["chat", "kimi-k2.6"],
            kind: KIND_CLIENT,
            started: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            ended: UNIX_EPOCH + Duration::from_nanos(1_700_000_001_000_000_000),
        }
    }

    #[test]
    fn a_written_span_decodes_as_the_span_it_describes() {
        let long = "x".repeat(300);
        let mut attributes = Attributes::with_capacity(2);
        attributes.text("gen_ai.request.model", "kimi-k2.6");
        attributes.text("empty", "");
        attributes.text("long", &long);
        attributes.int("zero", 0);
        attributes.int("port", 18700);
        attributes.int("huge", u64::MAX);
        attributes.float("cost", 0.0123);
        attributes.flag("yes", true);
        attributes.flag("no", false);
        attributes.texts("chain", ["moonshot/kimi-k2.6", "", long.as_str()]);
        attributes.texts("none", []);
        let bytes = attributes.finish(&head(Some(*b"parent01")), Some("rate_limited"));
        let span = Span::decode(bytes.as_slice()).expect("a Span");
        let strings = |values: &[&str]| {
            Value::ArrayValue(ArrayValue {
                values: values
                    .iter()
                    .map(|v| AnyValue {
                        value: Some(Value::StringValue(v.to_string())),
                    })
                    .collect(),
            })
        };
        let expected = Span {
            trace_id: b"0123456789abcdef".to_vec(),
            span_id: b"spanid01".to_vec(),
            parent_span_id: b"parent01".to_vec(),
            name: "chat kimi-k2.6".into(),
            kind: KIND_CLIENT as i32,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            end_time_unix_nano: 1_700_000_001_000_000_000,
            attributes: vec![
                kv(
                    "gen_ai.request.model",
                    Value::StringValue("kimi-k2.6".into()),
                ),
                kv("empty", Value::StringValue(String::new())),
                kv("long", Value::StringValue(long.clone())),
                kv("zero", Value::IntValue(0)),
                kv("port", Value::IntValue(18700)),
                kv("huge", Value::IntValue(i64::MAX)),
                kv("cost", Value::DoubleValue(0.0123)),
                kv("yes", Value::BoolValue(true)),
                kv("no", Value::BoolValue(false)),
                kv("chain", strings(&["moonshot/kimi-k2.6", "", &long])),
                kv("none", strings(&[])),
                kv("error.type", Value::StringValue("rate_limited".into())),
            ],
            status: Some(Status {
                message: "rate_limited".into(),
                code: STATUS_ERROR as i32,
            }),
            ..Span::default()
        };
        assert_eq!(span, expected);
        // Re-encoded by prost, the same bytes' meaning.
        assert_eq!(
            Span::decode(expected.encode_to_vec().as_slice()).unwrap(),
            span
        );
    }

    #[test]
    fn a_span_without_parent_or_failure_has_neither() {
        let span =
            Span::decode(Attributes::default().finish(&head(None), None).as_slice()).unwrap();
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.status, None);
        assert!(span.attributes.is_empty());
        assert_eq!(span.kind, KIND_CLIENT as i32);
    }

    #[test]
    fn spans_make_one_export_request() {
        let resource = Resource {
            attributes: vec![kv("service.name", Value::StringValue("clawgate".into()))],
            ..Resource::default()
        };
        let scope = InstrumentationScope {
            name: "clawgate".into(),
            ..InstrumentationScope::default()
        };
        let spans: Vec<Vec<u8>> = (0..3)
            .map(|n| {
                let mut attributes = Attributes::default();
                attributes.int("n", n);
                attributes.finish(&head(None), None)
            })
            .collect();
        let mut out = b"kept".to_vec();
        export_request(
            &mut out,
            &resource.encode_to_vec(),
            &scope.encode_to_vec(),
            &spans,
        );
        assert_eq!(&out[..4], b"kept");
        let request = ExportTraceServiceRequest::decode(&out[4..]).unwrap();
        let [resource_spans] = request.resource_spans.as_slice() else {
            panic!("one resource");
        };
        assert_eq!(resource_spans.resource.as_ref(), Some(&resource));
        let [scope_spans] = resource_spans.scope_spans.as_slice() else {
            panic!("one scope");
        };
        assert_eq!(scope_spans.scope.as_ref(), Some(&scope));
        let ns: Vec<_> = scope_spans
            .spans
            .iter()
            .map(|s| s.attributes[0].value.clone().unwrap().value.unwrap())
            .collect();
        assert_eq!(ns, [0, 1, 2].map(Value::IntValue));
    }

    #[test]
    fn varint_lengths_are_those_written() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value), "{value}");
        }
    }
}
