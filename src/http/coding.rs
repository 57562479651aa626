//! A request body's `Content-Encoding`, undone: Codex CLI and pi compress
//! their Responses requests with zstd, and gzip and deflate are HTTP's
//! own. What is decoded is bounded as a plain body is, by
//! `gateway.maxBodyBytes`: the decoder stops one step past it (a byte for
//! gzip and deflate, a megabyte for zstd), and a zstd frame may keep a
//! window of at most that limit or 8 MiB behind it, so a small body that
//! would expand without end (a "zip bomb") is a 413, never a gateway out of
//! memory.

use std::io::Read;

use axum::http::HeaderValue;
use bytes::Bytes;

use super::error::ApiError;

/// The codings read, as an error names them.
const READ: &str = "gzip, deflate and zstd";

/// One coding of a `Content-Encoding` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's `deflate`: the zlib format.
    Deflate,
    Zstd,
}

impl Coding {
    fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Self::Gzip),
            "deflate" => Some(Self::Deflate),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }
}

/// The most codings a `Content-Encoding` may list: each is a decode of up
/// to `gateway.maxBodyBytes`, and clients apply one.
const MOST_CODINGS: usize = 4;

/// The codings a request's `Content-Encoding` field lines say were applied,
/// in the order they were (`identity` left out; several lines read as one
/// list); a 400 naming one that is not read, or a list too long.
pub fn codings<'a>(
    lines: impl IntoIterator<Item = &'a HeaderValue>,
) -> Result<Vec<Coding>, ApiError> {
    let unread = |name: &str| {
        ApiError::BadRequest(format!(
            "the body's Content-Encoding {name:?} is not one clawgate reads ({READ}); send it uncompressed or in one of those"
        ))
    };
    let mut names = Vec::new();
    for line in lines {
        let text = line.to_str().map_err(|_| unread("(not text)"))?;
        names.extend(
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty()),
        );
    }
    if names.len() > MOST_CODINGS {
        return Err(ApiError::BadRequest(format!(
            "the body's Content-Encoding lists {} codings; clawgate reads at most {MOST_CODINGS}",
            names.len()
        )));
    }
    let names = names
        .into_iter()
        .filter(|name| !name.eq_ignore_ascii_case("identity"));
    names
        .map(|name| Coding::named(name).ok_or_else(|| unread(name)))
        .collect()
}

/// `body` with `codings` undone, the last applied first, each within
/// `limit` bytes.
pub fn decoded(codings: &[Coding], mut body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    for &coding in codings.iter().rev() {
        let invalid = || {
            // The decoders' words are left out: they add nothing a person
            // can act on, and one quotes the body's first bytes.
            ApiError::BadRequest(format!(
                "the body is not valid {} data, which its Content-Encoding says it is",
                coding.name()
            ))
        };
        body = match decode(coding, &body, limit) {
            Ok(decoded) => decoded.into(),
            Err(Unread::TooLarge) => return Err(ApiError::PayloadTooLarge(limit)),
            Err(Unread::Invalid) => return Err(invalid()),
        };
    }
    Ok(body)
}

/// Why a body could not be decoded.
#[derive(Debug, PartialEq)]
enum Unread {
    /// Past the limit.
    TooLarge,
    /// Not in the coding, cut short, or followed by what is not.
    Invalid,
}

fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Vec<u8>, Unread> {
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    let mut read = |reader: &mut dyn Read| {
        (reader.take(bound).read_to_end(&mut out)).map_err(|_| Unread::Invalid)?;
        if out.len() > limit {
            return Err(Unread::TooLarge);
        }
        Ok(())
    };
    match coding {
        // Every member; what follows the last that is not one is an error.
        Coding::Gzip => read(&mut flate2::read::MultiGzDecoder::new(body))?,
        Coding::Deflate => {
            let mut decoder = flate2::bufread::ZlibDecoder::new(body);
            read(&mut decoder)?;
            if !decoder.into_inner().is_empty() {
                return Err(Unread::Invalid);
            }
        }
        Coding::Zstd => return zstd(body, limit),
    }
    Ok(out)
}

/// The largest window a zstd frame may keep behind what it decoded: the
/// body's limit, or 8 MiB, what zstd's levels up to 19 use, if more.
const MOST_WINDOW: usize = 8 << 20;

/// A zstd body: its frames in order, skippable ones skipped, each checked
/// against its declared size and checksum; a frame whose window is larger
/// than [`MOST_WINDOW`] (or the limit) is too large.
fn zstd(mut input: &[u8], limit: usize) -> Result<Vec<u8>, Unread> {
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
    let mut out = Vec::new();
    let mut decoder = FrameDecoder::new();
    decoder.set_max_window_size(u64::try_from(limit.max(MOST_WINDOW)).unwrap_or(u64::MAX));
    while !input.is_empty() {
        // Whether the frame says its size: the descriptor after the magic
        // number (RFC 8878, 3.1.1.1.1).
        let descriptor = input.get(4).copied().unwrap_or_default();
        let sized = descriptor >> 6 != 0 || descriptor & 0x20 != 0;
        match decoder.init(&mut input) {
            Ok(()) => {}
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                input = input.get(length..).ok_or(Unread::Invalid)?;
                continue;
            }
            Err(FrameDecoderError::WindowSizeTooBig { .. }) => return Err(Unread::TooLarge),
            Err(_) => return Err(Unread::Invalid),
        }
        let start = out.len();
        loop {
            let left = input.len();
            let step = BlockDecodingStrategy::UptoBytes(1 << 20);
            (decoder.decode_blocks(&mut input, step)).map_err(|_| Unread::Invalid)?;
            (decoder.collect_to_writer(&mut out)).map_err(|_| Unread::Invalid)?;
            if out.len() > limit {
                return Err(Unread::TooLarge);
            }
            if decoder.is_finished() {
                break;
            }
            // Each step reads a block's header at least, or fails: this
            // only guards the loop against a decoder that would not.
            if input.len() == left {
                return Err(Unread::Invalid);
            }
        }
        let whole = !sized || decoder.content_size() == (out.len() - start) as u64;
        let checksum = decoder.get_checksum_from_data();
        if !whole || checksum.is_some_and(|sum| decoder.get_calculated_checksum() != Some(sum)) {
            return Err(Unread::Invalid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    fn message(error: ApiError) -> String {
        error.to_string()
    }

    /// `body` as a request with `Content-Encoding: name` is read.
    fn read(name: &str, body: impl Into<Bytes>, limit: usize) -> Result<Bytes, ApiError> {
        decoded(&codings([&header(name)])?, body.into(), limit)
    }

    #[test]
    fn each_coding_is_undone_and_a_list_last_first() {
        let body = br#"{"model": "default", "input": "hi"}"#;
        for (name, encoded) in [
            ("gzip", gzip(body)),
            ("x-gzip", gzip(body)),
            ("deflate", zlib(body)),
            ("zstd", zstd(body)),
            ("ZSTD", zstd(body)),
            ("identity", body.to_vec()),
            ("gzip, identity", gzip(body)),
            ("gzip, zstd", zstd(&gzip(body))),
        ] {
            assert_eq!(&read(name, encoded, 1024).unwrap()[..], body, "{name}");
        }
        assert!(codings([]).unwrap().is_empty());
        assert!(codings([&header("identity")]).unwrap().is_empty());
    }

    #[test]
    fn several_lines_are_one_list_and_a_long_list_is_refused() {
        let lines = |lines: &[&str]| {
            let values: Vec<HeaderValue> = lines.iter().map(|line| header(line)).collect();
            codings(&values).map_err(message)
        };
        assert_eq!(lines(&["identity", "gzip"]), Ok(vec![Coding::Gzip]));
        assert_eq!(
            lines(&["gzip", "zstd"]),
            Ok(vec![Coding::Gzip, Coding::Zstd])
        );
        let br = lines(&["gzip", "br"]).unwrap_err();
        assert!(br.contains("\"br\" is not one clawgate reads"), "{br}");
        for long in [
            &["gzip, gzip, gzip", "gzip, gzip"][..],
            &["identity, identity, identity, identity, identity"],
        ] {
            let error = lines(long).unwrap_err();
            assert!(
                error.contains("lists 5 codings; clawgate reads at most 4"),
                "{error}"
            );
        }
    }

    /// A zstd frame of `data` in one raw block, with a window of
    /// 2^`window_log` bytes, that says its size is `size`.
    fn frame(data: &[u8], window_log: u8, size: u64) -> Vec<u8> {
        // An 8-byte size, a window descriptor, no checksum.
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xc0, (window_log - 10) << 3];
        frame.extend(size.to_le_bytes());
        let block = ((data.len() as u32) << 3) | 1;
        frame.extend(&block.to_le_bytes()[..3]);
        frame.extend(data);
        frame
    }

    #[test]
    fn every_zstd_frame_is_read_and_checked() {
        let (first, second) = (&br#"{"model": "#[..], &br#""default"}"#[..]);
        let whole = br#"{"model": "default"}"#;
        let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        skippable.extend(zstd(first));
        skippable.extend(zstd(second));
        assert_eq!(&read("zstd", skippable, 1024).unwrap()[..], whole);
        let sized = [frame(first, 10, 10), frame(second, 10, 10)].concat();
        assert_eq!(&read("zstd", sized, 1024).unwrap()[..], whole);

        let mut flipped = zstd(whole);
        *flipped.last_mut().unwrap() ^= 1;
        let mut trailing = zstd(whole);
        trailing.extend(b"garbage");
        let mut cut_skip = zstd(whole);
        cut_skip.extend([0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0, 1]);
        for (what, body) in [
            ("a checksum that does not match", flipped),
            ("a size said larger", frame(whole, 10, 120)),
            ("a size said smaller", frame(whole, 10, 5)),
            ("bytes after the frame", trailing),
            ("a skippable frame cut short", cut_skip),
        ] {
            let error = message(read("zstd", body, 1024).unwrap_err());
            assert!(
                error.starts_with("the body is not valid zstd data"),
                "{what}: {error}"
            );
        }
    }

    #[test]
    fn what_expands_past_the_limit_is_refused_as_too_large() {
        let big = vec![b' '; 1 << 20];
        for (name, encoded) in [("gzip", gzip(&big)), ("zstd", zstd(&big))] {
            assert!(encoded.len() < 8 * 1024, "{name}: {}", encoded.len());
            let error = read(name, encoded, 64 * 1024).unwrap_err();
            assert!(
                matches!(error, ApiError::PayloadTooLarge(65536)),
                "{name}: {error}"
            );
        }
        // Exactly the limit is read.
        for (name, encoded) in [
            ("gzip", gzip(&big)),
            ("deflate", zlib(&big)),
            ("zstd", zstd(&big)),
        ] {
            let whole = read(name, encoded, 1 << 20).unwrap();
            assert_eq!(whole.len(), 1 << 20, "{name}");
        }
        // A window larger than 8 MiB and the limit, whatever the frame
        // holds: its memory would be.
        let wide = read("zstd", frame(b"{}", 30, 2), 1 << 20).unwrap_err();
        assert!(matches!(wide, ApiError::PayloadTooLarge(_)), "{wide}");
        assert_eq!(
            &read("zstd", frame(b"{}", 23, 2), 1 << 20).unwrap()[..],
            b"{}"
        );
    }

    #[test]
    fn codings_not_read_and_data_not_so_coded_are_named() {
        for name in ["br", "compress", "gzip, br"] {
            let error = message(codings([&header(name)]).unwrap_err());
            assert!(
                error.contains("is not one clawgate reads (gzip, deflate and zstd)"),
                "{error}"
            );
        }
        for name in ["gzip", "deflate", "zstd"] {
            let plain = Bytes::from_static(br#"{"model": "default"}"#);
            let error = message(read(name, plain, 1024).unwrap_err());
            let expected = format!("the body is not valid {name} data");
            assert!(error.starts_with(&expected), "{error}");
        }
        // Followed by what is not deflate.
        let mut trailing = zlib(b"{}");
        trailing.extend(b"garbage");
        let error = message(read("deflate", trailing, 1024).unwrap_err());
        assert!(
            error.starts_with("the body is not valid deflate data"),
            "{error}"
        );
        // Cut short.
        let cut = gzip(b"{\"model\": \"default\"}");
        let cut = Bytes::copy_from_slice(&cut[..cut.len() - 6]);
        let error = message(read("gzip", cut, 1024).unwrap_err());
        assert!(
            error.starts_with("the body is not valid gzip data"),
            "{error}"
        );
    }
}
