//! The toolkit the API shapes in [`crate::wire`] are read and written with:
//! JSON read in one pass without building it (`scan.rs`), a body edited
//! without rebuilding it (`body.rs`), a body read member by member with
//! the members a memo holds stepped over (`members.rs`, `recent.rs`), and
//! the event-stream format streams arrive in (`sse.rs`), and the
//! fingerprint a conversation's pieces are known by (`fingerprint.rs`).
//! Knows no API.

pub mod body;
pub mod fingerprint;
pub mod members;
pub mod recent;
pub mod scan;
pub mod sse;
