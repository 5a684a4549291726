//! Bytes to text. Chinese sites still serve GBK/GB18030, labelled in the HTTP header, in the
//! XML declaration or `<meta>`, or nowhere. The order: a byte-order mark, the HTTP charset,
//! the document's own declaration, then detection (chardetng). The text handed on is UTF-8
//! with its XML declaration saying so, because feed-rs would otherwise decode it again.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8};

/// How many leading bytes may hold the declaration.
const PRESCAN: usize = 1024;

/// The text and the encoding it was read as.
pub fn decode(body: &[u8], content_type: Option<&str>) -> (String, &'static Encoding) {
    let encoding = Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| content_type.and_then(http_charset))
        .or_else(|| declared_charset(body))
        .unwrap_or_else(|| detect(body));
    // `decode` also strips a BOM; malformed bytes become U+FFFD rather than failing.
    let (text, used, _) = encoding.decode(body);
    (relabel_xml_declaration(&text), used)
}

fn label(raw: &str) -> Option<&'static Encoding> {
    let raw = raw.trim().trim_matches(['"', '\'']);
    // UTF-16 labels on text that reached us as ASCII-compatible bytes are wrong.
    Encoding::for_label(raw.as_bytes()).filter(|e| e.is_ascii_compatible())
}

/// `text/xml; charset=GBK`.
fn http_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| label(v))
            .flatten()
    })
}

/// `<?xml version="1.0" encoding="gbk"?>`, `<meta charset="gbk">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=gbk">` near the start.
fn declared_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(PRESCAN)];
    // Only ASCII matters here; other bytes are kept as they are.
    let head: String = head
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                b.to_ascii_lowercase() as char
            } else {
                ' '
            }
        })
        .collect();
    if head.trim_start().starts_with("<?xml") {
        let decl = &head[..head.find("?>").unwrap_or(head.len())];
        if let Some(at) = decl.find("encoding") {
            return attribute_value(&decl[at + "encoding".len()..]).and_then(label);
        }
    }
    let at = head.find("charset")?;
    attribute_value(&head[at + "charset".len()..]).and_then(label)
}

/// The value after `=`, quoted or not.
fn attribute_value(rest: &str) -> Option<&str> {
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let (quote, rest) = match rest.chars().next()? {
        q @ ('"' | '\'') => (Some(q), &rest[1..]),
        _ => (None, rest),
    };
    let end = rest
        .find(|c: char| match quote {
            Some(q) => c == q,
            None => c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '>' | '/' | '?'),
        })
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|v| !v.is_empty())
}

fn detect(body: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(body).is_ok() {
        return UTF_8;
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, Utf8Detection::Allow)
}

/// Rewrites the XML declaration's encoding to UTF-8 (the text now is).
fn relabel_xml_declaration(text: &str) -> String {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("<?xml") {
        return text.to_string();
    }
    let Some(end) = trimmed.find("?>") else {
        return text.to_string();
    };
    let decl = &trimmed[..end];
    let lower = decl.to_ascii_lowercase();
    let Some(at) = lower.find("encoding") else {
        return text.to_string();
    };
    let after = &decl[at + "encoding".len()..];
    let Some(value) = attribute_value(after) else {
        return text.to_string();
    };
    let value_start = at + "encoding".len() + after.find(value).unwrap_or(0);
    let value_end = value_start + value.len();
    format!("{}UTF-8{}", &trimmed[..value_start], &trimmed[value_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(text: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(text).0.into_owned()
    }

    const CHINESE: &str = "阿里云开发者社区：云原生数据库实践与性能调优经验分享，欢迎转载";

    #[test]
    fn gbk_is_read_from_the_header_the_declaration_or_detection() {
        let xml = format!("<?xml version=\"1.0\"?><rss><title>{CHINESE}</title></rss>");
        let (text, enc) = decode(&gbk(&xml), Some("application/xml; charset=GBK"));
        assert!(text.contains(CHINESE), "{text}");
        assert_eq!(enc, encoding_rs::GBK);

        let declared = format!(
            "<?xml version=\"1.0\" encoding=\"gb2312\"?><rss><title>{CHINESE}</title></rss>"
        );
        let (text, _) = decode(&gbk(&declared), Some("application/xml"));
        assert!(text.contains(CHINESE), "{text}");
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{text}"
        );

        let (text, _) = decode(&gbk(&xml), None);
        assert!(text.contains(CHINESE), "{text}");

        let html = format!("<html><head><meta charset=gbk></head><body>{CHINESE}</body></html>");
        let (text, _) = decode(&gbk(&html), Some("text/html"));
        assert!(text.contains(CHINESE), "{text}");
    }

    #[test]
    fn the_header_wins_over_the_declaration_and_utf8_stays_utf8() {
        let xml = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><t>{CHINESE}</t>");
        let (text, _) = decode(&gbk(&xml), Some("text/xml; charset=\"gbk\""));
        assert!(text.contains(CHINESE));
        let (text, enc) = decode(xml.as_bytes(), None);
        assert_eq!(enc, UTF_8);
        assert!(text.contains(CHINESE));
    }
}
