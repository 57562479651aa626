//! The conversations of recent requests: a client re-sends its whole
//! history every turn (OpenClaw, Codex, Claude Code), the messages of the
//! turn before first, byte for byte, then the new ones. The elements of a
//! request's `messages` that an earlier request sent are not read again:
//! their bytes are compared with what that request sent and their record
//! ([`Items`]) is taken from it, so that reading a turn costs what is new
//! in it.
//!
//! The bytes of the elements read before fix where each ends and that
//! each is valid JSON at that depth, so equal bytes are those same
//! elements. Kept as `str`: bytes found equal to a kept text are UTF-8.
//! Bounded in count and size (eight conversations of at most 1 MiB); the
//! lock is held to pick an entry, not to compare its bytes; a poisoned
//! lock is taken as it is (an entry is added or replaced whole, never
//! half).

use std::collections::VecDeque;
use std::sync::Arc;
#[cfg(not(test))]
use std::sync::{Mutex, PoisonError};

use super::Items;

/// A history read before: its bytes from the array's `[` to the end of its
/// last element, and what the scan recorded of it (the elements of each
/// element's `nested` array among it), at offsets from the `[`.
struct Kept {
    text: Box<str>,
    depth: usize,
    nested: Option<Box<str>>,
    items: Items,
}

impl Kept {
    /// Whether this history was read as `depth` and `nested` ask.
    fn read_as(&self, depth: usize, nested: Option<&str>) -> bool {
        self.depth == depth && self.nested.as_deref() == nested
    }
}

/// Conversations kept: one entry each (a turn replaces the one before it).
const CAPACITY: usize = 8;
/// Smaller histories cost less to read than to compare and keep.
const SMALLEST: usize = 4 * 1024;
/// Larger ones are read every time (about 250,000 tokens of history).
const LARGEST: usize = 1024 * 1024;
/// The end of a kept text is compared first: another conversation with
/// the same system prompt differs there, and is passed over without
/// comparing tens of kilobytes.
const TAIL: usize = 32;

/// The histories kept, newest first, for the whole process.
#[cfg(not(test))]
fn with_kept<R>(f: impl FnOnce(&mut VecDeque<Arc<Kept>>) -> R) -> R {
    static KEPT: Mutex<VecDeque<Arc<Kept>>> = Mutex::new(VecDeque::new());
    f(&mut KEPT.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The histories kept, per thread under test: the tests that run side by
/// side do not push each other's histories out.
#[cfg(test)]
fn with_kept<R>(f: impl FnOnce(&mut VecDeque<Arc<Kept>>) -> R) -> R {
    thread_local! {
        static KEPT: std::cell::RefCell<VecDeque<Arc<Kept>>> = const { std::cell::RefCell::new(VecDeque::new()) };
    }
    KEPT.with(|kept| f(&mut kept.borrow_mut()))
}

#[cfg(test)]
thread_local! {
    /// Histories found on this thread, and the bytes stepped over.
    pub(super) static FOUND: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// A history found at the start of a request's array.
pub(super) struct Found {
    /// The bytes its elements take, from the `[` to the end of the last.
    pub length: usize,
    /// Their record, at the body's offsets.
    pub items: Items,
    entry: Arc<Kept>,
}

/// When `rest` (from an array's `[`, at offset `at` of the body, `depth`
/// deep, its elements' `nested` arrays to be recorded) starts with the
/// elements of a history read before: that history.
pub(super) fn find(rest: &[u8], at: usize, depth: usize, nested: Option<&str>) -> Option<Found> {
    if rest.len() < SMALLEST {
        return None;
    }
    // The entry whose end matches, picked under the lock; its tens of
    // kilobytes are compared after.
    let found = with_kept(|kept| {
        kept.iter()
            .find(|kept| {
                let text = kept.text.as_bytes();
                let tail = text.len().saturating_sub(TAIL);
                kept.read_as(depth, nested)
                    && rest.len() >= text.len()
                    && rest[tail..text.len()] == text[tail..]
                    // The element ends there too: a number could go on
                    // (`5` kept, `56` sent).
                    && matches!(
                        rest.get(text.len()),
                        Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']')
                    )
            })
            .cloned()
    })?;
    if !rest.starts_with(found.text.as_bytes()) {
        return None;
    }
    #[cfg(test)]
    FOUND.with(|counts| {
        let (count, bytes) = counts.get();
        counts.set((count + 1, bytes + found.text.len()));
    });
    Some(Found {
        length: found.text.len(),
        items: found.items.moved(0, at),
        entry: found,
    })
}

/// Keeps the history `text` (an array's `[` to the end of its last
/// element, read whole and valid, `depth` deep) with its record `items`
/// (of `nested` arrays), which lie at offset `at` of the body. The history
/// it continues (`continued`: the same conversation's turn before, found
/// at its start) makes way for it.
pub(super) fn keep(
    text: &[u8],
    at: usize,
    depth: usize,
    nested: Option<&str>,
    items: &Items,
    continued: Option<&Found>,
) {
    if !(SMALLEST..=LARGEST).contains(&text.len()) {
        return;
    }
    // Read whole, so UTF-8; checked again as it is kept (once per turn),
    // so that what is stepped over later is UTF-8 by its type.
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let entry = Arc::new(Kept {
        text: text.into(),
        depth,
        nested: nested.map(Into::into),
        items: items.moved(at, 0),
    });
    with_kept(|kept| {
        if let Some(continued) = continued {
            kept.retain(|old| !Arc::ptr_eq(old, &continued.entry));
        }
        if kept.len() >= CAPACITY {
            kept.pop_back();
        }
        kept.push_front(entry);
    });
}
