//! The audit log (DESIGN.md §10): every administrative change is written down with who did
//! it, what they did, to which object, a small before/after summary, the request id and
//! client IP, and when.
//!
//! Recording, for any service that changes something on an administrator's behalf:
//!
//! ```ignore
//! let txn = db::begin_write(db).await?;
//! // ... the change, on &txn ...
//! audit::record(
//!     &txn,
//!     actor,
//!     Entry::new("push_campaign.retry", "push_campaign", campaign.id)
//!         .before(json!({ "failed": 12 }))
//!         .after(json!({ "queued": 12 })),
//! )
//! .await?;
//! txn.commit().await?;
//! ```
//!
//! - `record` inside the change's transaction whenever there is one: the change and its
//!   entry are kept or lost together.
//! - `record_after` right after a change that cannot share a transaction (a long sync, a
//!   job run): the change already happened, so a failure to write the entry is logged at
//!   error level with the whole entry instead of failing the request.
//! - The handler gets the `Actor` from `AdminAuth::actor()` (user, request id, client IP);
//!   the command line uses `Actor::cli()`, internal callers `Actor::system(..)`.
//! - Actions are `<object type>.<verb>` (`article.update`, `job.run`, `comment.hide`).
//!   Summaries hold the few fields an auditor needs, not whole rows: they are bounded here
//!   (long strings cut, large values replaced) and keys that look like secrets are redacted,
//!   as a safety net behind choosing the fields.
//! - Reads are not recorded.

use chrono::{DateTime, Utc};
use entity::{audit_log, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};

use crate::{
    error::{AppError, AppResult},
    pagination::{self, Page, TimeCursor},
    time,
};

/// Who acts: an administrator (with the request they sent), the command line, or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user: &user::Model) -> Self {
        Self {
            user_id: Some(user.id),
            name: user.username.clone(),
            request_id: None,
            ip: None,
        }
    }

    /// The `qshare` command line (run by whoever has the server's configuration).
    pub fn cli() -> Self {
        Self::system("cli")
    }

    /// Internal work such as seeding demo content, e.g. `Actor::system("demo-seed")`.
    pub fn system(name: &str) -> Self {
        Self {
            user_id: None,
            name: name.to_string(),
            request_id: None,
            ip: None,
        }
    }

    pub fn with_request(mut self, request_id: Option<String>, ip: Option<String>) -> Self {
        self.request_id = request_id;
        self.ip = ip;
        self
    }
}

/// What happened, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Entry {
    pub fn new(
        action: &'static str,
        object_type: &'static str,
        object_id: impl Into<Option<i64>>,
    ) -> Self {
        Self {
            action,
            object_type,
            object_id: object_id.into(),
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, summary: Value) -> Self {
        self.before = Some(summary);
        self
    }

    pub fn after(mut self, summary: Value) -> Self {
        self.after = Some(summary);
        self
    }

    /// Before and after reduced to the top-level fields that differ, so an edit shows what
    /// it changed rather than two near-identical copies.
    pub fn changes(self, before: Value, after: Value) -> Self {
        let (before, after) = differing_fields(before, after);
        self.before(before).after(after)
    }
}

fn differing_fields(before: Value, after: Value) -> (Value, Value) {
    let (Value::Object(mut b), Value::Object(mut a)) = (before.clone(), after.clone()) else {
        return (before, after);
    };
    let same: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k) == Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    for key in same {
        b.remove(&key);
        a.remove(&key);
    }
    (Value::Object(b), Value::Object(a))
}

/// Longest string kept in a summary, in characters.
const MAX_STRING_CHARS: usize = 200;
/// Longest array kept in a summary.
const MAX_ARRAY_ITEMS: usize = 50;
/// Largest summary stored, in bytes of JSON; a larger one is replaced by a note.
const MAX_SUMMARY_BYTES: usize = 4096;

fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "hash", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "key"
        || key.ends_with("_key")
}

/// A summary made safe to store: secrets redacted, long strings and arrays cut.
fn sanitize(value: Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
            let mut cut: String = s.chars().take(MAX_STRING_CHARS).collect();
            cut.push('…');
            Value::String(cut)
        }
        Value::Array(items) => {
            let total = items.len();
            let mut kept: Vec<Value> = items
                .into_iter()
                .take(MAX_ARRAY_ITEMS)
                .map(sanitize)
                .collect();
            if total > MAX_ARRAY_ITEMS {
                kept.push(Value::String(format!("… {} more", total - MAX_ARRAY_ITEMS)));
            }
            Value::Array(kept)
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if looks_secret(&k) {
                        Value::String("[redacted]".into())
                    } else {
                        sanitize(v)
                    };
                    (k, v)
                })
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// The stored text of a summary: sanitized, and never more than `MAX_SUMMARY_BYTES`.
pub fn bounded(summary: Value) -> String {
    let text = sanitize(summary).to_string();
    if text.len() <= MAX_SUMMARY_BYTES {
        return text;
    }
    serde_json::json!({ "truncated": true, "bytes": text.len() }).to_string()
}

fn clip(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

/// Writes one entry on `db`, which is the change's transaction when it has one.
pub async fn record(db: &impl ConnectionTrait, actor: &Actor, entry: Entry) -> AppResult<()> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        at: Set(time::now()),
        actor_id: Set(actor.user_id),
        actor_name: Set(clip(&actor.name, 64)),
        action: Set(entry.action.to_string()),
        object_type: Set(entry.object_type.to_string()),
        object_id: Set(entry.object_id),
        before: Set(entry.before.map(bounded)),
        after: Set(entry.after.map(bounded)),
        request_id: Set(actor.request_id.as_deref().map(|r| clip(r, 64))),
        ip: Set(actor.ip.as_deref().map(|i| clip(i, 64))),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Writes one entry after a change that already succeeded outside a transaction. The
/// change stands whatever happens here, so a failure is logged (with the entry) rather
/// than reported to the caller as if the change had failed.
pub async fn record_after(db: &impl ConnectionTrait, actor: &Actor, entry: Entry) {
    let logged = format!("{entry:?}");
    if let Err(err) = record(db, actor, entry).await {
        tracing::error!(%err, actor = ?actor, entry = %logged, "audit entry not written");
    }
}

/// Narrows the list; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

fn check_name(field: &str, value: &str, max: usize) -> AppResult<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_field(
            field,
            format!("{field} must be 1..{max} characters of a-z, 0-9, '_' and '.'"),
        ))
    }
}

impl Filter {
    fn validate(&self) -> AppResult<()> {
        if let Some(action) = &self.action {
            check_name("action", action, 64)?;
        }
        if let Some(object_type) = &self.object_type {
            check_name("object_type", object_type, 32)?;
        }
        if self.object_id.is_some() && self.object_type.is_none() {
            return Err(AppError::bad_field(
                "object_id",
                "object_id needs object_type (ids are per type)",
            ));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(AppError::bad_field("from", "from must be before to"));
        }
        Ok(())
    }
}

/// Entries newest first, narrowed by `filter`, in keyset pages.
pub async fn list(
    db: &DatabaseConnection,
    filter: &Filter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<audit_log::Model>> {
    let limit = pagination::limit(limit)?;
    filter.validate()?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    let mut query = audit_log::Entity::find();
    if let Some(id) = filter.actor_id {
        query = query.filter(audit_log::Column::ActorId.eq(id));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::Column::Action.eq(action.as_str()));
    }
    if let Some(object_type) = &filter.object_type {
        query = query.filter(audit_log::Column::ObjectType.eq(object_type.as_str()));
    }
    if let Some(id) = filter.object_id {
        query = query.filter(audit_log::Column::ObjectId.eq(id));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::Column::At.lt(to));
    }
    if let Some(c) = &cursor {
        query = query.filter(c.older(audit_log::Column::At, audit_log::Column::Id));
    }
    let rows = query
        .order_by_desc(audit_log::Column::At)
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |e| {
        TimeCursor { at: e.at, id: e.id }.encode()
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_that_look_like_secrets_are_redacted_at_any_depth() {
        let stored = bounded(json!({
            "name": "wechat",
            "password_hash": "$argon2id$...",
            "params": { "app_secret": "s3cr3t", "encoding_aes_key": "k", "batch": 100 },
        }));
        assert!(!stored.contains("argon2"), "{stored}");
        assert!(!stored.contains("s3cr3t"), "{stored}");
        let value: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(value["params"]["encoding_aes_key"], "[redacted]");
        assert_eq!(value["params"]["batch"], 100);
        assert_eq!(value["name"], "wechat");
    }

    #[test]
    fn long_strings_and_arrays_are_cut_and_huge_summaries_replaced() {
        let value: Value =
            serde_json::from_str(&bounded(json!({ "title": "x".repeat(500) }))).unwrap();
        assert_eq!(
            value["title"].as_str().unwrap().chars().count(),
            MAX_STRING_CHARS + 1
        );

        let ids: Vec<i64> = (0..80).collect();
        let value: Value = serde_json::from_str(&bounded(json!({ "ids": ids }))).unwrap();
        assert_eq!(value["ids"].as_array().unwrap().len(), MAX_ARRAY_ITEMS + 1);
        assert_eq!(value["ids"][MAX_ARRAY_ITEMS], "… 30 more");

        let wide: Map<String, Value> = (0..100)
            .map(|i| (format!("field_{i}"), json!("y".repeat(150))))
            .collect();
        let stored = bounded(Value::Object(wide));
        assert!(stored.len() <= MAX_SUMMARY_BYTES);
        assert_eq!(
            serde_json::from_str::<Value>(&stored).unwrap()["truncated"],
            true
        );
    }

    #[test]
    fn changes_keep_only_the_fields_that_differ() {
        let entry = Entry::new("article.update", "article", 7).changes(
            json!({ "title": "Old", "status": "draft", "featured": false }),
            json!({ "title": "New", "status": "draft", "featured": false }),
        );
        assert_eq!(entry.before, Some(json!({ "title": "Old" })));
        assert_eq!(entry.after, Some(json!({ "title": "New" })));
        assert_eq!(entry.object_id, Some(7));
    }

    #[test]
    fn a_filter_with_an_object_id_needs_its_type_and_a_range_must_be_ordered() {
        let no_type = Filter {
            object_id: Some(3),
            ..Default::default()
        };
        assert!(no_type.validate().is_err());
        let now = time::now();
        let backwards = Filter {
            from: Some(now),
            to: Some(now - chrono::Duration::seconds(1)),
            ..Default::default()
        };
        assert!(backwards.validate().is_err());
        let shouty = Filter {
            action: Some("Article.Update".into()),
            ..Default::default()
        };
        assert!(shouty.validate().is_err());
        let fine = Filter {
            action: Some("article.update".into()),
            object_type: Some("article".into()),
            object_id: Some(3),
            from: Some(now - chrono::Duration::days(1)),
            to: Some(now),
            ..Default::default()
        };
        assert!(fine.validate().is_ok());
    }
}
