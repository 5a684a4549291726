//! A decoded feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) to items, with feed-rs. feed-rs makes
//! up an id for an item without one (a hash of link and title, so a title edit would look
//! like a new item): ours says "none" instead, and such items are known by their URL.

use feed_rs::{model, parser};
use url::Url;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// The feed's own id for the item.
    pub guid: Option<String>,
    /// The item's link, absolute.
    pub link: Option<String>,
    pub title: String,
    pub summary_html: Option<String>,
    pub content_html: Option<String>,
    pub author: Option<String>,
}

pub fn parse(text: &str, base: &Url) -> Result<Vec<Item>, String> {
    let feed = parser::Builder::new()
        .base_uri(Some(base.as_str()))
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .build()
        .parse(text.as_bytes())
        .map_err(|e| format!("the feed does not parse: {e}"))?;
    Ok(feed.entries.into_iter().map(|e| item(e, base)).collect())
}

fn item(entry: model::Entry, base: &Url) -> Item {
    let guid = Some(entry.id.trim().to_string()).filter(|g| !g.is_empty());
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(entry.links.first())
        .map(|l| l.href.clone())
        // An RSS guid is a permalink unless it says otherwise.
        .or_else(|| guid.clone().filter(|g| g.starts_with("http")))
        .and_then(|href| base.join(href.trim()).ok())
        .map(String::from);
    Item {
        guid,
        link,
        title: entry.title.map(|t| t.content).unwrap_or_default(),
        summary_html: entry
            .summary
            .map(|t| t.content)
            .filter(|s| !s.trim().is_empty()),
        content_html: entry
            .content
            .and_then(|c| c.body)
            .filter(|s| !s.trim().is_empty()),
        author: entry
            .authors
            .into_iter()
            .find_map(|p| p.name.filter(|n| !n.trim().is_empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_without_an_id_get_none_not_a_made_up_one() {
        let rss = r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>
            <title>T</title><link>https://e.org/</link>
            <item><title>A</title><link>/a</link><description>&lt;p&gt;a&lt;/p&gt;</description></item>
            <item><title>B</title><guid>b-1</guid><link>https://e.org/b</link></item>
            </channel></rss>"#;
        let base = Url::parse("https://e.org/feed").unwrap();
        let items = parse(rss, &base).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].guid, None);
        assert_eq!(items[0].link.as_deref(), Some("https://e.org/a"));
        assert_eq!(items[0].summary_html.as_deref(), Some("<p>a</p>"));
        assert_eq!(items[1].guid.as_deref(), Some("b-1"));
    }

    #[test]
    fn atom_and_json_feed_parse_too() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>f</id>
            <entry><id>urn:1</id><title>A</title><link href="https://e.org/a"/>
            <author><name>Li Lei</name></author><content type="html">&lt;b&gt;x&lt;/b&gt;</content></entry></feed>"#;
        let base = Url::parse("https://e.org/atom").unwrap();
        let items = parse(atom, &base).unwrap();
        assert_eq!(items[0].author.as_deref(), Some("Li Lei"));
        assert_eq!(items[0].content_html.as_deref(), Some("<b>x</b>"));
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"T",
            "items":[{"id":"1","url":"https://e.org/j","title":"J","content_html":"<p>j</p>"}]}"#;
        let items = parse(json, &base).unwrap();
        assert_eq!(items[0].link.as_deref(), Some("https://e.org/j"));
        assert!(parse("<html>not a feed", &base).is_err());
    }
}
