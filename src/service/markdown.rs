//! Markdown to HTML for previews (the console's editor). Raw HTML in the source is shown as
//! text, never passed through, so a preview can run no script and load nothing.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

// Links and images keep web and relative addresses only (no `javascript:` or `data:`).
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower.split_once(':').map(|(s, _)| s);
    match scheme {
        None | Some("http" | "https" | "mailto") => url,
        Some(s) if s.contains('/') || s.contains('#') || s.contains('?') => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

pub fn to_safe_html(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(source, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_escaped_and_markdown_is_rendered() {
        let out = to_safe_html("# Title\n\n<script>alert(1)</script>\n\nsome **bold**");
        assert!(out.contains("<h1>Title</h1>"));
        assert!(out.contains("&lt;script&gt;"));
        assert!(!out.contains("<script>"));
        assert!(out.contains("<strong>bold</strong>"));
        let link = to_safe_html("[x](javascript:alert(1)) [y](https://a.example/)");
        assert!(!link.contains("javascript:"));
        assert!(link.contains("https://a.example/"));
    }
}
