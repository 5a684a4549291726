//! A response body prepared once: its bytes, strong tag, and each compressed form made on
//! first demand and kept. Cached reads hold one per entry and version, so a hit neither
//! hashes nor compresses.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{
    encoding::{self, Coding, Effort},
    etag,
};

/// Bodies smaller than this go out as they are: coding them saves less than it costs.
pub const MIN_COMPRESS_BYTES: usize = 1024;

pub struct PreparedBody {
    bytes: Bytes,
    /// The tag of each representation, one per `Coding`, then identity; as bytes, so a
    /// response can carry one without copying it.
    etags: [Bytes; 4],
    /// One slot per `Coding`; `None` inside when that coding is not worth sending.
    encoded: [OnceLock<Option<Bytes>>; 3],
}

impl PreparedBody {
    pub fn new(bytes: Bytes) -> Self {
        let tag = etag::of(&bytes);
        let etags = [
            etag::coded(&tag, Some(Coding::ALL[0])).into(),
            etag::coded(&tag, Some(Coding::ALL[1])).into(),
            etag::coded(&tag, Some(Coding::ALL[2])).into(),
            tag.into(),
        ];
        Self {
            etags,
            bytes,
            encoded: Default::default(),
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The tag of the body sent in `coding` (`None`: identity), as shared bytes (cloning
    /// them copies nothing).
    pub fn etag_bytes(&self, coding: Option<Coding>) -> &Bytes {
        &self.etags[coding.map_or(3, Coding::index)]
    }

    /// The body in `coding`, compressed on the first call only; `None` when the body is too
    /// small or coding does not make it smaller.
    pub fn encoded(&self, coding: Coding) -> Option<&Bytes> {
        if self.bytes.len() < MIN_COMPRESS_BYTES {
            return None;
        }
        self.encoded[coding.index()]
            .get_or_init(|| {
                encoding::encode(coding, &self.bytes, Effort::Stored)
                    .ok()
                    .filter(|e| e.len() < self.bytes.len())
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_identity_and_large_ones_are_coded_once() {
        let small = PreparedBody::new(Bytes::from_static(b"{}"));
        assert!(small.encoded(Coding::Gzip).is_none());
        let large = PreparedBody::new(Bytes::from("x".repeat(4096)));
        let first = large.encoded(Coding::Br).unwrap().as_ptr();
        assert_eq!(large.encoded(Coding::Br).unwrap().as_ptr(), first);
        assert_eq!(large.etag_bytes(None), etag::of(large.bytes()).as_bytes());
        assert_eq!(
            large.etag_bytes(Some(Coding::Gzip)),
            etag::coded(&etag::of(large.bytes()), Some(Coding::Gzip)).as_bytes()
        );
    }
}
