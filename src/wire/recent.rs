//! A few values kept under the texts they were worked out from, newest
//! first: for work on a text a client sends unchanged every turn (the
//! `tools` of OpenClaw, Codex and Claude Code). Bounded in count and in the
//! size of each text; a lookup compares bytes, cheaper than hashing a text
//! of tens of kilobytes. Texts are kept as `str`, so a run of bytes found
//! equal to one is UTF-8 (the scan relies on it when it steps over one). A
//! poisoned lock is taken as it is: an entry is added or replaced whole,
//! never half.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub struct Recent<V> {
    entries: Mutex<VecDeque<(Box<str>, V)>>,
    /// How many texts are kept...
    capacity: usize,
    /// ...none longer than this.
    largest: usize,
}

impl<V: Clone> Recent<V> {
    pub const fn new(capacity: usize, largest: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            capacity,
            largest,
        }
    }

    /// Whether a text of `length` bytes would be kept.
    pub fn keeps(&self, length: usize) -> bool {
        length <= self.largest
    }

    /// The value kept under exactly `text`.
    pub fn get(&self, text: &[u8]) -> Option<V> {
        self.find(|kept, value| (kept == text).then(|| value.clone()))
    }

    /// The length of a kept text that `bytes` start with, and its value.
    /// Texts are kept as `str`: the bytes of that length are UTF-8.
    pub fn starting(&self, bytes: &[u8]) -> Option<(usize, V)> {
        self.find(|text, value| bytes.starts_with(text).then(|| (text.len(), value.clone())))
    }

    /// The first answer `found` gives for a kept text and its value,
    /// newest first.
    pub fn find<R>(&self, mut found: impl FnMut(&[u8], &V) -> Option<R>) -> Option<R> {
        self.entries()
            .iter()
            .find_map(|(text, value)| found(text.as_bytes(), value))
    }

    /// Keeps `value` under `text` (replacing what an equal text had), the
    /// oldest text going when there are too many; a text too long is not
    /// kept.
    pub fn insert(&self, text: &str, value: V) {
        if !self.keeps(text.len()) {
            return;
        }
        let mut entries = self.entries();
        if let Some(at) = entries.iter().position(|(kept, _)| **kept == *text) {
            entries.remove(at);
        } else if entries.len() >= self.capacity {
            entries.pop_back();
        }
        entries.push_front((text.into(), value));
    }

    fn entries(&self) -> MutexGuard<'_, VecDeque<(Box<str>, V)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn texts_are_kept_newest_first_bounded_in_count_and_size() {
        let recent = Recent::new(2, 4);
        recent.insert("a", 1);
        recent.insert("b", 2);
        assert_eq!(recent.get(b"a"), Some(1));
        // An equal text replaces its value, and is newest again.
        recent.insert("a", 3);
        assert_eq!(recent.get(b"a"), Some(3));
        assert_eq!(recent.find(|_, v| Some(*v)), Some(3));
        assert_eq!(recent.starting(b"ab"), Some((1, 3)));
        assert_eq!(recent.starting(b"b,"), Some((1, 2)));
        assert_eq!(recent.starting(b"c"), None);
        // A third text: the oldest (b) goes.
        recent.insert("c", 4);
        assert_eq!(recent.get(b"b"), None);
        assert_eq!(recent.get(b"a"), Some(3));
        assert_eq!(recent.get(b"c"), Some(4));
        // Too long: not kept.
        assert!(!recent.keeps(5));
        recent.insert("long!", 5);
        assert_eq!(recent.get(b"long!"), None);
        assert_eq!(recent.get(b"c"), Some(4));
    }
}
