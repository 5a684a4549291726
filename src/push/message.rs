//! What a push says: one article, or a digest when several qualify. WeChat's template
//! fields hold at most 20 characters (`thing`), so titles are cut there.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::wechat::client::{MessageData, message_data};

/// An article as a push names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleBrief {
    pub id: i64,
    pub title: String,
    /// Category slug; preferences filter on it.
    pub category: Option<String>,
}

/// WeChat's limit for a `thing` field.
const THING_CHARS: usize = 20;

/// Cuts `text` to `max` characters (not bytes), marking the cut with `…`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn article_url(site_url: &str, id: i64) -> String {
    format!("{}/articles/{id}", site_url.trim_end_matches('/'))
}

/// The campaign's headline: the title alone, or the first title and how many more.
pub fn headline(articles: &[ArticleBrief]) -> String {
    match articles {
        [] => String::new(),
        [one] => one.title.clone(),
        [first, rest @ ..] => format!("{} 等 {} 篇精选", first.title, rest.len() + 1),
    }
}

/// Inbox notification: (title, body).
pub fn inbox(articles: &[ArticleBrief]) -> (String, String) {
    let title = match articles {
        [one] => format!("精选文章：{}", one.title),
        _ => format!("本期精选 {} 篇", articles.len()),
    };
    let body = articles
        .iter()
        .map(|a| format!("· {}", a.title))
        .collect::<Vec<_>>()
        .join("\n");
    (title, body)
}

/// Template message fields: `thing1` title, `thing2` summary, `time3` when (Beijing time).
pub fn template_data(articles: &[ArticleBrief], at: DateTime<Utc>) -> MessageData {
    let title = truncate_chars(articles.first().map_or("", |a| &a.title), THING_CHARS);
    let summary = if articles.len() > 1 {
        format!("本期共 {} 篇精选文章", articles.len())
    } else {
        "新的精选文章".to_string()
    };
    // Written out rather than through `format("%Y-%m-%d %H:%M")`, which parses its pattern
    // again for every message of a campaign.
    let local = at.with_timezone(&chrono_tz::Asia::Shanghai);
    let when = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute()
    );
    message_data([
        ("thing1", title.as_str()),
        ("thing2", summary.as_str()),
        ("time3", when.as_str()),
    ])
}

/// Mass-send text: every title with its link.
pub fn mass_text(articles: &[ArticleBrief], site_url: &str) -> String {
    let mut out = String::from("qshare 精选\n");
    for a in articles {
        out.push_str(&format!("\n{}\n{}\n", a.title, article_url(site_url, a.id)));
    }
    out
}

/// A device notification's (title, body) in the device's language: Simplified Chinese
/// unless the locale is English.
pub fn device_text(articles: &[ArticleBrief], locale: &str) -> (String, String) {
    let english = locale.to_ascii_lowercase().starts_with("en");
    let titles = || {
        articles
            .iter()
            .map(|a| a.title.as_str())
            .collect::<Vec<_>>()
    };
    match (articles, english) {
        ([one], false) => ("精选文章".into(), one.title.clone()),
        ([one], true) => ("Featured article".into(), one.title.clone()),
        (_, false) => (
            format!("本期精选 {} 篇", articles.len()),
            titles().join("、"),
        ),
        (_, true) => (
            format!("{} featured articles", articles.len()),
            titles().join(" · "),
        ),
    }
}

/// The collapse key of a campaign's device notifications (APNs' `apns-collapse-id` is at
/// most 64 bytes): a resend after a crash replaces the first instead of adding a second.
pub fn collapse_id(campaign_id: i64) -> String {
    format!("qshare-c{campaign_id}")
}

/// HarmonyOS Push Kit's `pushOptions.collapseKey` for a campaign: an offline-cache group
/// (Push Kit keeps the newest message per group while the device is offline), 1..=100. Never
/// -1 (keep every message) or 0 (the default policy): a resend after a crash must land in
/// the same group as the first send. Campaigns 100 apart share a group; by then the older
/// one is long past its TTL.
pub fn harmony_collapse_key(campaign_id: i64) -> i32 {
    (campaign_id - 1).rem_euclid(100) as i32 + 1
}

/// HarmonyOS' `notification.notifyId` for a campaign: a notification with the same id
/// replaces the one shown, so a resend replaces instead of adding a second. Non-negative
/// (-1 means "a new id each time").
pub fn harmony_notify_id(campaign_id: i64) -> i32 {
    campaign_id.rem_euclid(i64::from(i32::MAX)) as i32
}

/// The template `client_msg_id`: one per campaign and openid, so a resend after a crash is
/// answered with the first message instead of a second one.
pub fn client_msg_id(campaign_id: i64, openid: &str) -> String {
    format!("qs{campaign_id}-{openid}")
}

/// The mass `clientmsgid` (at most 64 bytes): one per campaign and batch.
pub fn clientmsgid(campaign_id: i64, batch: i32) -> String {
    format!("qshare-c{campaign_id}-b{batch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(id: i64, title: &str) -> ArticleBrief {
        ArticleBrief {
            id,
            title: title.into(),
            category: None,
        }
    }

    #[test]
    fn titles_are_cut_at_twenty_characters_not_bytes() {
        let long = "深入理解 Rust 异步运行时与调度器的设计取舍";
        let cut = truncate_chars(long, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_chars("短标题", 20), "短标题");
    }

    #[test]
    fn several_articles_make_a_digest() {
        let a = [brief(1, "Tokio 实战"), brief(2, "Axum 入门")];
        assert_eq!(headline(&a), "Tokio 实战 等 2 篇精选");
        let (title, body) = inbox(&a);
        assert_eq!(title, "本期精选 2 篇");
        assert!(body.contains("Tokio 实战") && body.contains("Axum 入门"));
        let data = template_data(&a, Utc::now());
        assert_eq!(data["thing1"].value, "Tokio 实战");
        assert_eq!(data["thing2"].value, "本期共 2 篇精选文章");
        let text = mass_text(&a, "https://x.example/");
        assert!(text.contains("https://x.example/articles/2"), "{text}");
    }

    #[test]
    fn the_template_time_is_beijing_time_to_the_minute() {
        let at = "2026-01-02T16:05:59Z".parse::<DateTime<Utc>>().unwrap();
        let data = template_data(&[brief(1, "Tokio 实战")], at);
        assert_eq!(data["time3"].value, "2026-01-03 00:05");
    }

    #[test]
    fn device_text_follows_the_locale() {
        let a = [brief(1, "Tokio 实战"), brief(2, "Axum 入门")];
        assert_eq!(device_text(&a[..1], "zh-CN").0, "精选文章");
        assert_eq!(device_text(&a[..1], "en-US").0, "Featured article");
        assert_eq!(device_text(&a, "en").0, "2 featured articles");
        assert_eq!(device_text(&a, "zh-CN").1, "Tokio 实战、Axum 入门");
        assert!(collapse_id(i64::MAX).len() <= 64);
    }

    #[test]
    fn harmony_collapse_keys_are_push_kit_groups_derived_from_the_campaign() {
        assert_eq!(harmony_collapse_key(1), 1);
        assert_eq!(
            harmony_collapse_key(100),
            100,
            "a group, not the default policy (0)"
        );
        assert_eq!(harmony_collapse_key(101), 1);
        assert_eq!(harmony_collapse_key(200), 100);
        assert!((1..=100).contains(&harmony_collapse_key(i64::MAX)));
        assert_eq!(harmony_notify_id(42), 42);
        assert!(harmony_notify_id(i64::MAX) >= 0);
    }

    #[test]
    fn dedup_keys_fit_wechat_limits() {
        let openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
        assert_eq!(client_msg_id(7, openid), format!("qs7-{openid}"));
        assert!(clientmsgid(i64::MAX, i32::MAX).len() <= 64);
    }
}
