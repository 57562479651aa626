//! A fingerprint of a few byte pieces: foldhash, seeded alike in every
//! process, so a hash means the same bytes from turn to turn and from one
//! gateway to another. A long piece (a tool's result, a long prompt) is
//! known by its length and its first and last [`EDGE`] bytes, so a piece
//! costs the same whatever its size: what a client changes in a message
//! (a compaction, a dropped block) changes its length or its ends.

use std::hash::{BuildHasher, Hasher};

/// The seed every hash starts from: fixed, so that a conversation hashes
/// the same in every process (a restart, another instance).
const SEED: u64 = 0x636c_6177_6761_7465;

/// How many bytes of each end of a long piece are hashed.
const EDGE: usize = 256;

/// The 64-bit hash of `pieces`, each with its length (so `["ab", "c"]` is
/// not `["a", "bc"]`), a long one by its ends ([`EDGE`]).
pub fn hash<'p>(pieces: impl IntoIterator<Item = &'p [u8]>) -> u64 {
    let mut hasher = Fingerprint::default();
    for piece in pieces {
        hasher.piece(piece);
    }
    hasher.finish()
}

/// A hash built piece by piece, as [`hash`] builds it.
pub struct Fingerprint(foldhash::fast::FoldHasher<'static>);

impl Default for Fingerprint {
    fn default() -> Self {
        Self(foldhash::fast::FixedState::with_seed(SEED).build_hasher())
    }
}

impl Fingerprint {
    /// Adds one piece: its length, and its bytes or a long one's ends.
    pub fn piece(&mut self, piece: &[u8]) {
        self.0.write_usize(piece.len());
        match piece.len() > 2 * EDGE {
            true => {
                self.0.write(&piece[..EDGE]);
                self.0.write(&piece[piece.len() - EDGE..]);
            }
            false => self.0.write(piece),
        }
    }

    /// Adds a number as it is (no length before it).
    pub fn number(&mut self, number: u64) {
        self.0.write(&number.to_le_bytes());
    }

    pub fn finish(&self) -> u64 {
        self.0.finish()
    }
}
