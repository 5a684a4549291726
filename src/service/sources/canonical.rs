//! The canonical source URL, the key that keeps an article from being imported twice:
//! absolute, http(s), scheme and host lower-cased (the `url` crate does that, and drops a
//! default port), no fragment, and no tracking parameters (`utm_*`, `spm`, `from`, ...).
//! The other parameters keep their order and spelling.

use url::Url;

use crate::service::validate::URL_MAX;

/// Query keys that only say where a reader came from.
const TRACKING: &[&str] = &[
    "spm",
    "from",
    "scm",
    "ref",
    "ref_src",
    "share_token",
    "share_source",
    "fbclid",
    "gclid",
    "yclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_hsenc",
    "_hsmi",
    "wt.mc_id",
    "isappinstalled",
];

fn is_tracking(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("utm_") || TRACKING.contains(&key.as_str())
}

/// `href` resolved against `base`, canonical; None when it is not an http(s) URL that fits
/// in an article's `source_url`.
pub fn canonical(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    let mut url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    if let Some(query) = url.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                !pair.is_empty() && !is_tracking(key)
            })
            .collect();
        let kept = kept.join("&");
        url.set_query((!kept.is_empty()).then_some(kept.as_str()));
    }
    let text = String::from(url);
    (text.chars().count() <= URL_MAX).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_fragments_and_case_do_not_make_another_url() {
        let plain = canonical("https://developer.aliyun.com/article/1?id=2", None).unwrap();
        for variant in [
            "HTTPS://Developer.Aliyun.COM/article/1?id=2",
            "https://developer.aliyun.com:443/article/1?id=2#comments",
            "https://developer.aliyun.com/article/1?utm_source=rss&id=2&spm=a2c6h.1&from=timeline",
            "https://developer.aliyun.com/article/1?id=2&UTM_MEDIUM=feed",
        ] {
            assert_eq!(canonical(variant, None).unwrap(), plain, "{variant}");
        }
        assert_eq!(
            canonical("https://e.org/a?utm_source=x", None).unwrap(),
            "https://e.org/a"
        );
        // The path's case and other parameters are the page's own.
        assert_ne!(
            canonical("https://e.org/A", None),
            canonical("https://e.org/a", None)
        );
        assert_ne!(
            canonical("https://e.org/a?id=1", None),
            canonical("https://e.org/a?id=2", None)
        );
    }

    #[test]
    fn relative_links_resolve_and_other_schemes_are_refused() {
        let base = Url::parse("https://blog.example.cn/feed.xml").unwrap();
        assert_eq!(
            canonical("/posts/1", Some(&base)).unwrap(),
            "https://blog.example.cn/posts/1"
        );
        assert!(canonical("javascript:alert(1)", Some(&base)).is_none());
        assert!(canonical("ftp://e.org/x", None).is_none());
        assert!(canonical("not a url", None).is_none());
    }
}
