//! `GET /feeds/{all|featured|category/<slug>|tag/<slug>}.{rss|atom|json}`: RSS 2.0, Atom 1.0
//! and JSON Feed 1.1 of the newest published articles, in full, each with its source name,
//! source link and 转载 notice. Served from the read cache as prepared bodies, so `api::edge`
//! answers `If-None-Match` with 304 and sends stored compressed forms.

use poem::{IntoResponse, Request, Response, handler, web::Data};
use quick_xml::escape::escape;
use serde_json::json;

use super::{
    edge::{http_date, prepared_response},
    error::ApiError,
};
use crate::{
    cache::read_through::Built,
    error::AppError,
    service::{
        articles::ArticleView,
        feeds::{self, FeedContent, FeedScope},
    },
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Rss => "application/rss+xml; charset=utf-8",
            Self::Atom => "application/atom+xml; charset=utf-8",
            Self::Json => "application/feed+json; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Rss => "rss",
            Self::Atom => "atom",
            Self::Json => "json",
        }
    }
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The feed a path under `/feeds/` names.
pub fn parse(path: &str) -> Option<(FeedScope, Format)> {
    let (name, ext) = path.rsplit_once('.')?;
    let format = match ext {
        "rss" => Format::Rss,
        "atom" => Format::Atom,
        "json" => Format::Json,
        _ => return None,
    };
    let scope = match name {
        "all" => FeedScope::All,
        "featured" => FeedScope::Featured,
        _ => match name.split_once('/')? {
            ("category", slug) if valid_slug(slug) => FeedScope::Category(slug.to_string()),
            ("tag", slug) if valid_slug(slug) => FeedScope::Tag(slug.to_string()),
            _ => return None,
        },
    };
    Some((scope, format))
}

fn scope_path(scope: &FeedScope) -> String {
    match scope {
        FeedScope::All => "all".into(),
        FeedScope::Featured => "featured".into(),
        FeedScope::Category(s) => format!("category/{s}"),
        FeedScope::Tag(s) => format!("tag/{s}"),
    }
}

/// The feeds the API root advertises (`rel="alternate"`).
pub fn advertised(site: &str) -> serde_json::Value {
    let mut links = Vec::new();
    for scope in ["all", "featured"] {
        for format in [Format::Rss, Format::Atom, Format::Json] {
            links.push(json!({
                "rel": "alternate",
                "type": format.content_type().split(';').next().unwrap_or_default(),
                "href": format!("{site}/feeds/{scope}.{}", format.extension()),
                "title": if scope == "all" { "优质分享" } else { "优质分享 · 精选" },
            }));
        }
    }
    serde_json::Value::Array(links)
}

/// A stable id per article, whatever the site's address.
fn guid(id: i64) -> String {
    format!("urn:qshare:article:{id}")
}

/// The article's body followed by its source and 转载 notice.
fn full_text(a: &entity::article::Model) -> String {
    format!(
        "{}\n\n---\n转载自 {}: {}\n{}",
        a.content, a.source_name, a.source_url, a.copyright_notice
    )
}

fn updated(items: &[ArticleView]) -> chrono::DateTime<chrono::Utc> {
    items
        .iter()
        .map(|v| v.article.updated_at)
        .max()
        .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
}

fn published(a: &entity::article::Model) -> chrono::DateTime<chrono::Utc> {
    a.published_at.unwrap_or(a.created_at)
}

pub fn render(format: Format, site: &str, self_url: &str, feed: &FeedContent) -> Vec<u8> {
    match format {
        Format::Rss => rss(site, self_url, feed),
        Format::Atom => atom(site, self_url, feed),
        Format::Json => json_feed(site, self_url, feed),
    }
    .into_bytes()
}

fn rss(site: &str, self_url: &str, feed: &FeedContent) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:atom=\"http://www.w3.org/2005/Atom\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\n",
    );
    out += &format!(
        "<title>{}</title>\n<link>{}</link>\n<description>{}</description>\n\
         <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n\
         <lastBuildDate>{}</lastBuildDate>\n",
        escape(&feed.title),
        escape(site),
        escape(&feed.title),
        escape(self_url),
        updated(&feed.items).to_rfc2822()
    );
    for item in &feed.items {
        let a = &item.article;
        out += &format!(
            "<item>\n<title>{}</title>\n<link>{}/articles/{}</link>\n\
             <guid isPermaLink=\"false\">{}</guid>\n<pubDate>{}</pubDate>\n\
             <author>{}</author>\n<description>{}</description>\n\
             <content:encoded>{}</content:encoded>\n<source url=\"{}\">{}</source>\n",
            escape(&a.title),
            escape(site),
            a.id,
            guid(a.id),
            published(a).to_rfc2822(),
            escape(&a.author),
            escape(&a.summary),
            escape(full_text(a)),
            escape(&a.source_url),
            escape(&a.source_name),
        );
        if let Some(c) = &item.category {
            out += &format!("<category>{}</category>\n", escape(&c.name));
        }
        for t in &item.tags {
            out += &format!("<category>{}</category>\n", escape(&t.name));
        }
        out += "</item>\n";
    }
    out += "</channel>\n</rss>\n";
    out
}

fn atom(site: &str, self_url: &str, feed: &FeedContent) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    out += &format!(
        "<title>{}</title>\n<id>{}</id>\n<link rel=\"self\" href=\"{}\"/>\n\
         <link rel=\"alternate\" href=\"{}\"/>\n<updated>{}</updated>\n",
        escape(&feed.title),
        escape(self_url),
        escape(self_url),
        escape(site),
        updated(&feed.items).to_rfc3339()
    );
    for item in &feed.items {
        let a = &item.article;
        out += &format!(
            "<entry>\n<title>{}</title>\n<id>{}</id>\n\
             <link rel=\"alternate\" href=\"{}/articles/{}\"/>\n\
             <link rel=\"via\" href=\"{}\" title=\"{}\"/>\n\
             <published>{}</published>\n<updated>{}</updated>\n\
             <author><name>{}</name></author>\n<summary>{}</summary>\n\
             <content type=\"text\">{}</content>\n<rights>{}</rights>\n",
            escape(&a.title),
            guid(a.id),
            escape(site),
            a.id,
            escape(&a.source_url),
            escape(&a.source_name),
            published(a).to_rfc3339(),
            a.updated_at.to_rfc3339(),
            escape(&a.author),
            escape(&a.summary),
            escape(full_text(a)),
            escape(&a.copyright_notice),
        );
        for t in &item.tags {
            out += &format!("<category term=\"{}\"/>\n", escape(&t.slug));
        }
        out += "</entry>\n";
    }
    out += "</feed>\n";
    out
}

fn json_feed(site: &str, self_url: &str, feed: &FeedContent) -> String {
    let items: Vec<_> = feed
        .items
        .iter()
        .map(|item| {
            let a = &item.article;
            json!({
                "id": guid(a.id),
                "url": format!("{site}/articles/{}", a.id),
                "external_url": a.source_url,
                "title": a.title,
                "summary": a.summary,
                "content_text": full_text(a),
                "date_published": published(a).to_rfc3339(),
                "date_modified": a.updated_at.to_rfc3339(),
                "authors": [{ "name": a.author }],
                "tags": item.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                "_qshare": {
                    "source_name": a.source_name,
                    "source_url": a.source_url,
                    "copyright_notice": a.copyright_notice,
                },
            })
        })
        .collect();
    // `_qshare.updated` first (JSON Feed extensions start with `_`): `last_modified` finds it.
    json!({
        "_qshare": { "updated": updated(&feed.items).to_rfc3339() },
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": site,
        "feed_url": self_url,
        "language": "zh-CN",
        "items": items,
    })
    .to_string()
}

/// `GET /api`: where things are, with the feeds as `rel="alternate"` links.
#[handler]
pub fn api_root(state: Data<&AppState>) -> poem::web::Json<serde_json::Value> {
    let site = state.settings.push.site_url.trim_end_matches('/');
    poem::web::Json(json!({
        "name": "qshare",
        "openapi": "/openapi.json",
        "docs": "/docs",
        "links": advertised(site),
    }))
}

#[handler]
pub async fn endpoint(req: &Request, state: Data<&AppState>) -> Response {
    let path = req.uri().path().strip_prefix("/feeds/").unwrap_or_default();
    let Some((scope, format)) = parse(path) else {
        return ApiError::from(AppError::not_found("feed")).into_response();
    };
    let site = state
        .settings
        .push
        .site_url
        .trim_end_matches('/')
        .to_string();
    let self_url = format!("{site}/feeds/{}.{}", scope_path(&scope), format.extension());
    let key = format!("feeds:{}.{}", scope_path(&scope), format.extension());
    let built = state
        .read_cache
        .get_or_build(&key, || async {
            let feed = feeds::content(&state.db, &scope).await?;
            Ok::<_, AppError>(Built {
                bytes: render(format, &site, &self_url, &feed).into(),
                articles: feed.items.iter().map(|i| i.article.id).collect(),
            })
        })
        .await;
    match built {
        Ok(body) => {
            let modified = last_modified(format, body.bytes()).and_then(settled_date);
            let mut resp = prepared_response(body, format.content_type());
            if let Some(at) = modified {
                resp.headers_mut()
                    .insert(poem::http::header::LAST_MODIFIED, http_date(at));
            }
            resp
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// How long after a feed's newest change its `Last-Modified` is sent: more than the time
/// a change takes to reach every instance's read cache.
const LAST_MODIFIED_SETTLE: chrono::Duration = chrono::Duration::seconds(2);

/// The `Last-Modified` to send for a feed whose newest change is `at`, if any. An HTTP date
/// has whole seconds, so a second change within the second of `at` would leave the date
/// unchanged and a client revalidating with `If-Modified-Since` would get a stale 304. So
/// the date is `at` rounded up to the second, sent only once that second (and the time a
/// change takes to reach every instance) has passed: any later change then has a later
/// date. Until then the feed revalidates by its `ETag` only.
fn settled_date(at: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::SubsecRound;
    let whole = at.trunc_subsecs(0);
    let up = if whole == at {
        whole
    } else {
        whole + chrono::Duration::seconds(1)
    };
    (crate::time::now() >= up + LAST_MODIFIED_SETTLE).then_some(up)
}

/// The feed's own date, read back from its first bytes (where each renderer writes it), so
/// a cached body, whichever instance built it, has its `Last-Modified`: RSS
/// `lastBuildDate`, Atom's first `updated`, JSON Feed's `_qshare.updated`.
pub fn last_modified(format: Format, body: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let head = &body[..body.len().min(4096)];
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let between = |open: &str, close: &str| {
        let start = head.find(open)? + open.len();
        let len = head[start..].find(close)?;
        Some(head[start..start + len].to_string())
    };
    let at = match format {
        Format::Rss => {
            chrono::DateTime::parse_from_rfc2822(&between("<lastBuildDate>", "</lastBuildDate>")?)
                .ok()?
        }
        Format::Atom => {
            chrono::DateTime::parse_from_rfc3339(&between("<updated>", "</updated>")?).ok()?
        }
        Format::Json => {
            chrono::DateTime::parse_from_rfc3339(&between("\"_qshare\":{\"updated\":\"", "\"")?)
                .ok()?
        }
    };
    Some(at.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_gives_back_the_date_it_wrote() {
        let feed = FeedContent {
            title: "t".into(),
            items: Vec::new(),
        };
        for format in [Format::Rss, Format::Atom, Format::Json] {
            let body = render(format, "https://s.example", "https://s.example/f", &feed);
            assert_eq!(
                last_modified(format, &body),
                Some(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH),
                "{format:?}"
            );
        }
    }

    #[test]
    fn feed_paths_name_a_scope_and_a_format() {
        assert_eq!(parse("all.rss"), Some((FeedScope::All, Format::Rss)));
        assert_eq!(
            parse("featured.atom"),
            Some((FeedScope::Featured, Format::Atom))
        );
        assert_eq!(
            parse("category/rust.json"),
            Some((FeedScope::Category("rust".into()), Format::Json))
        );
        assert_eq!(
            parse("tag/web-dev.rss"),
            Some((FeedScope::Tag("web-dev".into()), Format::Rss))
        );
        for bad in [
            "all.xml",
            "all",
            "tag/.rss",
            "tag/a/b.rss",
            "other.rss",
            "category/x y.rss",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
