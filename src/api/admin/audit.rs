//! `/api/admin/audit`: the audit log, newest first, with filters.

use entity::audit_log;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use serde_json::Value;

use crate::{
    api::{error::ApiResult, security::AdminAuth, tags::ApiTags, types::Timestamp},
    service::audit::{self, Filter},
    state::AppState,
};

/// One administrative change.
#[derive(Debug, Clone, Object)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    /// Null for the command line and the system.
    #[oai(nullable)]
    pub actor_id: Option<i64>,
    /// The username at the time (`cli`, `demo-seed` for non-users).
    pub actor_name: String,
    /// `<object type>.<verb>`, e.g. `article.update`, `job.run`, `comment.hide`.
    pub action: String,
    pub object_type: String,
    #[oai(nullable)]
    pub object_id: Option<i64>,
    /// Summary of the object before the change (changed fields only, for edits).
    #[oai(nullable)]
    pub before: Option<Value>,
    /// Summary after the change.
    #[oai(nullable)]
    pub after: Option<Value>,
    #[oai(nullable)]
    pub request_id: Option<String>,
    #[oai(nullable)]
    pub ip: Option<String>,
}

fn summary(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

impl From<audit_log::Model> for AuditEntry {
    fn from(e: audit_log::Model) -> Self {
        Self {
            id: e.id,
            at: e.at.into(),
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            before: summary(e.before),
            after: summary(e.after),
            request_id: e.request_id,
            ip: e.ip,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

pub struct AdminAuditApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminAudit")]
impl AdminAuditApi {
    /// The audit log, newest first; every filter is optional
    #[oai(path = "/audit", method = "get", operation_id = "adminListAuditLog")]
    #[allow(clippy::too_many_arguments)]
    async fn admin_audit_log(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        /// Only changes by this user.
        actor_id: Query<Option<i64>>,
        /// e.g. `article.update`.
        action: Query<Option<String>>,
        /// e.g. `article`, `job`, `comment`.
        object_type: Query<Option<String>>,
        /// Needs `object_type`.
        object_id: Query<Option<i64>>,
        /// From this time on (inclusive).
        from: Query<Option<Timestamp>>,
        /// Before this time (exclusive).
        to: Query<Option<Timestamp>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<AuditPage>> {
        let filter = Filter {
            actor_id: actor_id.0,
            action: action.0,
            object_type: object_type.0,
            object_id: object_id.0,
            from: from.0.map(|t| t.0),
            to: to.0.map(|t| t.0),
        };
        let page = audit::list(&state.db, &filter, cursor.0.as_deref(), limit.0).await?;
        let page = page.map(AuditEntry::from);
        Ok(Json(AuditPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }
}
