//! The mock's prefix cache (`--prefix-cache`), as Kimi's is measured to
//! work: automatic, byte-exact, over the request's prefix in the order the
//! provider reads it (tools, system, messages), counted in chunks of 256
//! tokens, each cached prefix living `--prefix-cache-seconds` from its last
//! use. One cache per mock: one mock is one target.
//!
//! Tokens are estimated at 4 bytes a token (rounded down) of the prefix as
//! JSON text, each message written alone, so that a turn's prefix is the
//! start of the next turn's. With the cache on, a request's input tokens are
//! this estimate, so that the cached tokens are never more than the input.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The estimate: bytes of the prefix a token.
pub const BYTES_PER_TOKEN: usize = 4;

/// The cache's unit, in tokens.
pub const CHUNK_TOKENS: u64 = 256;

const CHUNK_BYTES: usize = CHUNK_TOKENS as usize * BYTES_PER_TOKEN;

/// The most prefixes held; past it, the expired ones are forgotten, and if
/// that is not enough, all of them.
const MAX_ENTRIES: usize = 1 << 16;

/// The tokens `bytes` of prefix are estimated at.
pub fn tokens(bytes: usize) -> u64 {
    (bytes / BYTES_PER_TOKEN) as u64
}

/// The prefix a request's tokens are read in: its `tools`, its `system`
/// (Anthropic's; chat puts it among the messages), then each message.
pub fn prefix(request: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for key in ["tools", "system"] {
        if let Some(value) = request.get(key) {
            out.extend_from_slice(value.to_string().as_bytes());
        }
    }
    for message in request["messages"].as_array().into_iter().flatten() {
        out.extend_from_slice(message.to_string().as_bytes());
    }
    out
}

/// The prefixes seen, by the hash of each whole number of their chunks,
/// with when each expires.
pub struct PrefixCache {
    lifetime: Duration,
    expiries: Mutex<HashMap<u64, Instant>>,
}

impl PrefixCache {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            expiries: Mutex::default(),
        }
    }

    /// Serves `prefix` at `now`: the tokens of its longest prefix of whole
    /// chunks still cached (a read), then keeps every whole chunk of it for
    /// another lifetime.
    pub fn serve(&self, prefix: &[u8], now: Instant) -> u64 {
        let mut hasher = DefaultHasher::new();
        let hashes: Vec<u64> = prefix
            .chunks_exact(CHUNK_BYTES)
            .map(|chunk| {
                chunk.hash(&mut hasher);
                hasher.clone().finish()
            })
            .collect();
        let mut expiries = self.expiries.lock().expect("the lock is never poisoned");
        let live = |hash: &u64| expiries.get(hash).is_some_and(|&expiry| expiry > now);
        let cached = hashes.iter().take_while(|hash| live(hash)).count();
        if expiries.len() + hashes.len() > MAX_ENTRIES {
            expiries.retain(|_, expiry| *expiry > now);
            if expiries.len() + hashes.len() > MAX_ENTRIES {
                expiries.clear();
            }
        }
        for hash in hashes {
            expiries.insert(hash, now + self.lifetime);
        }
        cached as u64 * CHUNK_TOKENS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIFETIME: Duration = Duration::from_secs(300);

    fn bytes(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn a_first_request_reads_nothing_and_its_repeat_its_whole_chunks() {
        let cache = PrefixCache::new(LIFETIME);
        let now = Instant::now();
        let prompt = bytes(3 * CHUNK_BYTES + 100, b'a');
        assert_eq!(cache.serve(&prompt, now), 0);
        assert_eq!(cache.serve(&prompt, now), 3 * CHUNK_TOKENS);
    }

    #[test]
    fn a_longer_prompt_reads_the_shorter_ones_chunks_and_keeps_its_own() {
        let cache = PrefixCache::new(LIFETIME);
        let now = Instant::now();
        let mut prompt = bytes(2 * CHUNK_BYTES + 10, b'a');
        cache.serve(&prompt, now);
        prompt.extend(bytes(2 * CHUNK_BYTES, b'b'));
        assert_eq!(cache.serve(&prompt, now), 2 * CHUNK_TOKENS);
        assert_eq!(cache.serve(&prompt, now), 4 * CHUNK_TOKENS);
    }

    #[test]
    fn a_change_reads_only_the_chunks_before_it() {
        let cache = PrefixCache::new(LIFETIME);
        let now = Instant::now();
        let prompt = bytes(4 * CHUNK_BYTES, b'a');
        cache.serve(&prompt, now);
        let mut changed = prompt.clone();
        changed[CHUNK_BYTES + 5] = b'z';
        assert_eq!(cache.serve(&changed, now), CHUNK_TOKENS);
        changed[0] = b'z';
        assert_eq!(cache.serve(&changed, now), 0);
    }

    #[test]
    fn a_prefix_expires_a_lifetime_after_its_last_use() {
        let cache = PrefixCache::new(LIFETIME);
        let start = Instant::now();
        let prompt = bytes(2 * CHUNK_BYTES, b'a');
        cache.serve(&prompt, start);
        let later = start + LIFETIME - Duration::from_secs(1);
        assert_eq!(cache.serve(&prompt, later), 2 * CHUNK_TOKENS);
        // The read kept it from `later` on.
        assert_eq!(
            cache.serve(&prompt, later + LIFETIME - Duration::from_secs(1)),
            2 * CHUNK_TOKENS
        );
        let idle = later + 3 * LIFETIME;
        assert_eq!(cache.serve(&prompt, idle), 0);
    }

    #[test]
    fn a_prompt_under_a_chunk_is_never_cached() {
        let cache = PrefixCache::new(LIFETIME);
        let now = Instant::now();
        let prompt = bytes(CHUNK_BYTES - 1, b'a');
        cache.serve(&prompt, now);
        assert_eq!(cache.serve(&prompt, now), 0);
    }

    #[test]
    fn the_prefix_is_tools_then_system_then_each_message() {
        let request = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            "system": "be brief",
            "tools": [{"name": "t"}],
        });
        assert_eq!(
            String::from_utf8(prefix(&request)).unwrap(),
            r#"[{"name":"t"}]"be brief"{"role":"user","content":"hi"}{"role":"assistant","content":"yo"}"#
        );
        // A turn's prefix is the start of the next turn's.
        let mut next = request.clone();
        next["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "content": "again"}));
        assert!(prefix(&next).starts_with(&prefix(&request)));
        assert_eq!(tokens(7), 1);
    }
}
