//! An item's HTML to the article's Markdown: sanitized (ammonia: no scripts, no `on*`
//! attributes, no `javascript:` URLs), relative links and images made absolute against the
//! item's URL, then converted with htmd (Apache-2.0). Readability (dom_smoothie) extracts
//! the article from a full page for sources that switch it on.

use std::sync::LazyLock;

use ammonia::UrlRelative;
use url::Url;

/// Sanitized HTML with absolute URLs.
pub fn sanitize(html: &str, base: &Url) -> String {
    ammonia::Builder::default()
        .url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// Markdown of sanitized HTML.
pub fn to_markdown(html: &str) -> String {
    static CONVERTER: LazyLock<htmd::HtmlToMarkdown> = LazyLock::new(|| {
        htmd::HtmlToMarkdown::builder()
            .skip_tags(vec!["script", "style"])
            .build()
    });
    CONVERTER
        .convert(html)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Plain text of an HTML fragment (for titles and summaries), whitespace collapsed.
pub fn plain_text(html: &str) -> String {
    let document = dom_query::Document::from(format!("<body>{html}</body>").as_str());
    let text = document.select("body").text();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// A full page: its `rel=canonical` link and, by readability, the article's HTML.
pub struct Page {
    pub canonical: Option<String>,
    pub content_html: Option<String>,
}

pub fn read_page(html: &str, url: &Url) -> Page {
    let canonical = dom_query::Document::from(html)
        .select("link[rel~=canonical]")
        .attr("href")
        .map(|h| h.to_string());
    let content_html = dom_smoothie::Readability::new(html, Some(url.as_str()), None)
        .ok()
        .and_then(|mut r| r.parse().ok())
        .map(|article| article.content.to_string())
        .filter(|c| !c.trim().is_empty());
    Page {
        canonical,
        content_html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed_and_links_made_absolute() {
        let base = Url::parse("https://developer.aliyun.com/article/123").unwrap();
        let html = r#"<p onclick="steal()">Hi <a href="/u/1">me</a> <a href="javascript:alert(1)">x</a></p>
            <script>alert(1)</script><img src="img/a.png" onerror="x()">"#;
        let clean = sanitize(html, &base);
        assert!(!clean.contains("script"), "{clean}");
        assert!(
            !clean.contains("onclick") && !clean.contains("onerror"),
            "{clean}"
        );
        assert!(!clean.contains("javascript:"), "{clean}");
        assert!(
            clean.contains("https://developer.aliyun.com/u/1"),
            "{clean}"
        );
        assert!(
            clean.contains("https://developer.aliyun.com/article/img/a.png"),
            "{clean}"
        );
        let md = to_markdown(&clean);
        assert!(
            md.contains("[me](https://developer.aliyun.com/u/1)"),
            "{md}"
        );
        assert!(
            md.contains("![](https://developer.aliyun.com/article/img/a.png)"),
            "{md}"
        );
    }

    #[test]
    fn plain_text_and_cut_keep_characters_whole() {
        assert_eq!(
            plain_text("<b>云</b>  原生\n<i>x</i> &amp; y"),
            "云 原生 x & y"
        );
        assert_eq!(cut("阿里云开发者", 3), "阿里云");
        assert_eq!(cut("ab", 5), "ab");
    }
}
