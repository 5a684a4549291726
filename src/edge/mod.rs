//! The HTTP edge without HTTP types: strong entity tags, content-coding negotiation, the
//! encoders, and a response body prepared once (its tag and its compressed forms) so that
//! cached reads pay for hashing and compression once per version, not per request.
//! `api::edge` applies these to every response.

pub mod body;
pub mod encoding;
pub mod etag;
pub mod policy;

pub use body::PreparedBody;
pub use encoding::Coding;
