//! Content codings: which one a client's `Accept-Encoding` asks for (by q-value, RFC 9110
//! §12.5.3), and the encoders (zstd, brotli, gzip).

use std::io::Write;

use bytes::Bytes;

/// A content coding we can send. Listed in our order of preference among equal q-values:
/// zstd and brotli both beat gzip on JSON; zstd is the cheaper of the two to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Zstd,
    Br,
    Gzip,
}

impl Coding {
    pub const ALL: [Self; 3] = [Self::Zstd, Self::Br, Self::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Br => "br",
            Self::Gzip => "gzip",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn of_token(token: &str) -> Option<Self> {
        match token {
            t if t.eq_ignore_ascii_case("zstd") => Some(Self::Zstd),
            t if t.eq_ignore_ascii_case("br") => Some(Self::Br),
            t if t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip") => {
                Some(Self::Gzip)
            }
            _ => None,
        }
    }
}

/// q-values in thousandths (`q=0.5` is 500), so they compare exactly.
fn parse_q(params: &str) -> Option<u16> {
    for param in params.split(';') {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            let value = value.trim();
            let q: f32 = value.parse().ok()?;
            if !(0.0..=1.0).contains(&q) || value.len() > 5 {
                return None;
            }
            return Some((q * 1000.0).round() as u16);
        }
    }
    Some(1000)
}

/// The coding to send for `accept_encoding`, `None` for identity. No header means identity.
/// A coding the client lists explicitly takes its own q; one it does not list takes the
/// q of `*` if present, else is unacceptable. Identity, unless listed (or refused with
/// `identity;q=0` or `*;q=0`), is acceptable but least preferred; when the client gives
/// identity a higher q than every coding, it gets identity. Refusing identity as well as
/// every coding we have still gets identity (the body has to be sent somehow).
pub fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    let header = accept_encoding?;
    let mut q = [None::<u16>; 3];
    let mut star = None::<u16>;
    let mut identity = None::<u16>;
    for item in header.split(',') {
        let (token, params) = item.split_once(';').unwrap_or((item, ""));
        let token = token.trim();
        if token.is_empty() {
            continue;
        }
        // A malformed q-value makes the entry meaningless; skip it.
        let Some(value) = parse_q(params) else {
            continue;
        };
        if token == "*" {
            star = Some(value);
        } else if token.eq_ignore_ascii_case("identity") {
            identity = Some(value);
        } else if let Some(coding) = Coding::of_token(token) {
            let slot = &mut q[coding.index()];
            *slot = Some(slot.map_or(value, |v| v.max(value)));
        }
    }
    let mut best: Option<(Coding, u16)> = None;
    for coding in Coding::ALL {
        let value = q[coding.index()].or(star).unwrap_or(0);
        if value > 0 && best.is_none_or(|(_, b)| value > b) {
            best = Some((coding, value));
        }
    }
    let (coding, value) = best?;
    match identity {
        Some(i) if i > value => None,
        _ => Some(coding),
    }
}

/// How hard to compress: `Stored` for bodies compressed once and kept (cached reads),
/// `Dynamic` for a body compressed on the way out of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Stored,
    Dynamic,
}

/// `body` encoded with `coding`.
pub fn encode(coding: Coding, body: &[u8], effort: Effort) -> std::io::Result<Bytes> {
    let stored = effort == Effort::Stored;
    let out = match coding {
        Coding::Zstd => zstd::bulk::compress(body, if stored { 12 } else { 3 })?,
        Coding::Br => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: if stored { 9 } else { 4 },
                lgwin: 22,
                size_hint: body.len(),
                ..Default::default()
            };
            let mut out = Vec::with_capacity(body.len() / 4);
            brotli::BrotliCompress(&mut &body[..], &mut out, &params)?;
            out
        }
        Coding::Gzip => {
            let level = flate2::Compression::new(if stored { 9 } else { 6 });
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), level);
            encoder.write_all(body)?;
            encoder.finish()?
        }
    };
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_q_value_wins_and_ties_go_to_our_preference() {
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("")), None);
        assert_eq!(negotiate(Some("gzip")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("br, gzip")), Some(Coding::Br));
        assert_eq!(negotiate(Some("gzip, br, zstd")), Some(Coding::Zstd));
        assert_eq!(
            negotiate(Some("zstd;q=0.5, gzip;q=0.8")),
            Some(Coding::Gzip)
        );
        assert_eq!(negotiate(Some("br;q=1.0, zstd;q=0.999")), Some(Coding::Br));
        assert_eq!(negotiate(Some("GZIP;Q=0.3")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("x-gzip")), Some(Coding::Gzip));
    }

    #[test]
    fn zero_refuses_and_the_star_covers_what_is_not_listed() {
        assert_eq!(
            negotiate(Some("zstd;q=0, br;q=0, gzip")),
            Some(Coding::Gzip)
        );
        assert_eq!(negotiate(Some("gzip;q=0")), None);
        assert_eq!(negotiate(Some("*")), Some(Coding::Zstd));
        assert_eq!(negotiate(Some("zstd;q=0, *;q=0.5")), Some(Coding::Br));
        assert_eq!(negotiate(Some("*;q=0")), None);
        assert_eq!(negotiate(Some("deflate, compress")), None);
    }

    #[test]
    fn identity_wins_only_with_a_higher_q_value() {
        assert_eq!(negotiate(Some("identity")), None);
        assert_eq!(negotiate(Some("gzip;q=0.5, identity")), None);
        assert_eq!(negotiate(Some("gzip, identity;q=0.5")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("gzip, identity")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("identity;q=0, br")), Some(Coding::Br));
    }

    #[test]
    fn malformed_q_values_are_ignored() {
        assert_eq!(negotiate(Some("br;q=2, gzip")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("br;q=abc")), None);
        assert_eq!(negotiate(Some("br;q=-1, gzip;q=0.1")), Some(Coding::Gzip));
    }

    #[test]
    fn every_coding_round_trips() {
        let body = "{\"title\":\"优质分享\"}".repeat(200);
        for coding in Coding::ALL {
            for effort in [Effort::Stored, Effort::Dynamic] {
                let encoded = encode(coding, body.as_bytes(), effort).unwrap();
                assert!(encoded.len() < body.len() / 4, "{coding:?}");
                let decoded = match coding {
                    Coding::Zstd => zstd::stream::decode_all(&encoded[..]).unwrap(),
                    Coding::Br => {
                        let mut out = Vec::new();
                        brotli::BrotliDecompress(&mut &encoded[..], &mut out).unwrap();
                        out
                    }
                    Coding::Gzip => {
                        let mut out = Vec::new();
                        std::io::Read::read_to_end(
                            &mut flate2::read::GzDecoder::new(&encoded[..]),
                            &mut out,
                        )
                        .unwrap();
                        out
                    }
                };
                assert_eq!(decoded, body.as_bytes());
            }
        }
    }
}
