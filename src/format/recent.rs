//! A few values kept under the texts they were worked out from, newest
//! first: for work on a text a client sends unchanged every turn (the
//! `tools` of OpenClaw, Codex and Claude Code). Bounded in count and in the
//! size of each text; a lookup compares bytes, cheaper than hashing a text
//! of tens of kilobytes. Texts are kept as `str`, so a run of bytes found
//! equal to one is UTF-8 (the scan relies on it when it steps over one).
//!
//! A memo is owned by whoever reads the texts (the gateway holds one of
//! each, [`crate::gateway::Memos`]) and is read without a lock: a lookup
//! takes the current list, an insertion (only after a miss) puts a new
//! list in its place. Each memo's saving is measured in
//! `docs/performance.md`.

use std::sync::Arc;

use arc_swap::ArcSwap;

/// One text and the value worked out from it.
type Entry<V> = Arc<(Box<str>, V)>;

pub struct Recent<V> {
    /// Newest first.
    entries: ArcSwap<Vec<Entry<V>>>,
    /// How many texts are kept...
    capacity: usize,
    /// ...none longer than this.
    largest: usize,
}

impl<V: Clone> Recent<V> {
    pub fn new(capacity: usize, largest: usize) -> Self {
        Self {
            entries: ArcSwap::from_pointee(Vec::new()),
            capacity,
            largest,
        }
    }

    /// Whether a text of `length` bytes would be kept.
    pub fn keeps(&self, length: usize) -> bool {
        self.capacity > 0 && length <= self.largest
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
        self.entries
            .load()
            .iter()
            .find_map(|entry| found(entry.0.as_bytes(), &entry.1))
    }

    /// The value kept under `text`, else `work`'s, kept. Two readers of a
    /// new text at once both work it out, to the same value.
    pub fn remembered(&self, text: &str, work: impl FnOnce() -> V) -> V {
        if let Some(known) = self.get(text.as_bytes()) {
            return known;
        }
        let value = work();
        self.insert(text, value.clone());
        value
    }

    /// Keeps `value` under `text` (replacing what an equal text had), the
    /// oldest text going when there are too many; a text too long is not
    /// kept.
    pub fn insert(&self, text: &str, value: V) {
        if !self.keeps(text.len()) {
            return;
        }
        let entry = Arc::new((Box::<str>::from(text), value));
        self.entries.rcu(|entries| {
            let others = entries.iter().filter(|kept| *kept.0 != *text);
            let mut next = Vec::with_capacity(self.capacity);
            next.push(entry.clone());
            next.extend(others.take(self.capacity - 1).cloned());
            next
        });
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
        // A memo of no texts keeps none.
        let none = Recent::new(0, 4);
        none.insert("a", 1);
        assert_eq!(none.get(b"a"), None);
    }

    /// Threads that keep texts at once lose none of them: each finds its
    /// own text after keeping it, whatever the others kept meanwhile.
    #[test]
    fn texts_kept_from_several_threads_at_once_are_all_kept() {
        let recent = std::sync::Arc::new(Recent::new(8, 16));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let recent = recent.clone();
                std::thread::spawn(move || {
                    let text = format!("thread {t}");
                    for i in 0..500 {
                        recent.insert(&text, i);
                        assert_eq!(recent.get(text.as_bytes()), Some(i));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(recent.entries.load().len(), 4);
        assert_eq!(recent.get(b"thread 3"), Some(499));
    }
}
