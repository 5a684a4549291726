//! What qshare does with a verified, decrypted callback message and what it answers:
//! subscribe/unsubscribe maintain the follower table, a bind QR ticket links a follower to
//! a user (once, and never away from another user),
//! a text message gets the published articles matching its words. Everything else is
//! acknowledged without a reply.

use std::collections::HashSet;

use crate::{
    error::AppResult,
    service::{
        articles::{self, CardView, ListFilter},
        followers::{self, LinkOutcome},
        wechat_bind,
    },
    state::AppState,
    time,
    wechat::xml::{self, InboundMessage, MessageKind},
};

/// Articles listed in a reply.
const MAX_RESULTS: usize = 5;
/// `list_published` refuses longer search strings.
const MAX_QUERY_CHARS: usize = 100;
/// Words tried one by one when the whole text matches nothing.
const MAX_WORDS: usize = 5;

const NOTHING_FOUND: &str =
    "没有找到相关文章，换个关键词试试吧。\nNo matching articles found; try other words.";
const BOUND: &str = "已关联你的 qshare 账号。\nYour qshare account is now linked.";
const LINKED_TO_OTHER: &str = "这个微信已关联另一个 qshare 账号，未做更改。\n\
     This WeChat account is already linked to another qshare account; nothing was changed.";
const TICKET_INVALID: &str = "二维码已失效或已使用，请在 App 中重新生成。\n\
     This QR code has expired or was already used; make a new one in the app.";

/// Acts on `msg`; returns the plaintext reply XML, or None for "no reply" (`success`).
pub async fn respond(state: &AppState, msg: &InboundMessage) -> AppResult<Option<String>> {
    let now = time::now();
    let openid = msg.from_user_name.as_str();
    let text = match msg.kind() {
        MessageKind::Subscribe { scene } => {
            followers::record_subscribe(&state.db, openid, scene.as_deref(), now).await?;
            match scene.as_deref().and_then(wechat_bind::ticket_of) {
                Some(ticket) => Some(bind(state, openid, ticket).await?),
                None => None,
            }
        }
        MessageKind::Unsubscribe => {
            followers::record_unsubscribe(&state.db, openid, now).await?;
            None
        }
        MessageKind::Scan { scene } => match wechat_bind::ticket_of(&scene) {
            Some(ticket) => Some(bind(state, openid, ticket).await?),
            None => None,
        },
        MessageKind::Text { content } => Some(search_reply(state, &content).await?),
        MessageKind::Other => None,
    };
    Ok(text.map(|text| xml::text_reply(openid, &msg.to_user_name, now.timestamp(), &text)))
}

/// Redeems a bind ticket for the scanner; the answer tells them what happened.
async fn bind(state: &AppState, openid: &str, ticket: &str) -> AppResult<String> {
    let Some(user_id) = wechat_bind::redeem(state, ticket).await? else {
        return Ok(TICKET_INVALID.to_string());
    };
    let outcome = followers::link_user(&state.db, openid, user_id, time::now()).await?;
    Ok(match outcome {
        LinkOutcome::Linked => BOUND,
        LinkOutcome::LinkedToOther => {
            tracing::info!(
                user_id,
                "bind scan refused: the follower is linked to another user"
            );
            LINKED_TO_OTHER
        }
        LinkOutcome::NoUser => TICKET_INVALID,
    }
    .to_string())
}

async fn search_reply(state: &AppState, content: &str) -> AppResult<String> {
    let found = search(state, content).await?;
    if found.is_empty() {
        return Ok(NOTHING_FOUND.to_string());
    }
    let mut text = String::from("为你找到这些文章：");
    for (i, card) in found.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, card.article.title));
    }
    Ok(text)
}

/// Up to five published articles matching the whole text, or else matching its words one
/// by one (people type "rust async" meaning either).
async fn search(state: &AppState, content: &str) -> AppResult<Vec<CardView>> {
    let whole: String = content.trim().chars().take(MAX_QUERY_CHARS).collect();
    if whole.is_empty() {
        return Ok(Vec::new());
    }
    let found = matching(state, &whole).await?;
    let words: Vec<&str> = whole.split_whitespace().take(MAX_WORDS).collect();
    if !found.is_empty() || words.len() < 2 {
        return Ok(found);
    }
    let mut seen = HashSet::new();
    let mut merged = Vec::new();
    for word in words {
        for card in matching(state, word).await? {
            if merged.len() < MAX_RESULTS && seen.insert(card.article.id) {
                merged.push(card);
            }
        }
    }
    Ok(merged)
}

async fn matching(state: &AppState, q: &str) -> AppResult<Vec<CardView>> {
    let filter = ListFilter {
        q: Some(q.to_string()),
        ..Default::default()
    };
    let page = articles::list_published(&state.db, &filter, None, Some(MAX_RESULTS as u32)).await?;
    Ok(page.items)
}
