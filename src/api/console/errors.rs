//! A service error in the viewer's language. The services speak English (their messages are
//! also the API's); the console shows the translation of the error's `ErrorCode`, the label
//! of the field at fault when the console has one, and the service's message as the detail.
//! The match below is exhaustive: a new `ErrorCode` does not compile until it has its words.

use super::i18n::Lang;
use crate::error::{AppError, ErrorCode};

/// The translation key of an error code.
pub fn code_key(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        InvalidInput => "error.code.invalid_input",
        InvalidBody => "error.code.invalid_body",
        Unauthorized => "error.code.unauthorized",
        Forbidden => "error.code.forbidden",
        NotFound => "error.code.not_found",
        MethodNotAllowed => "error.code.method_not_allowed",
        Conflict => "error.code.conflict",
        PayloadTooLarge => "error.code.payload_too_large",
        UnsupportedMediaType => "error.code.unsupported_media_type",
        Unprocessable => "error.code.unprocessable",
        RateLimited => "error.code.rate_limited",
        InternalError => "error.code.internal_error",
        ServiceUnavailable => "error.code.service_unavailable",
        Error => "error.code.error",
        UsernameTaken => "error.code.username_taken",
        SlugTaken => "error.code.slug_taken",
        NameTaken => "error.code.name_taken",
        ReleaseExists => "error.code.release_exists",
        ChangedConcurrently => "error.code.changed_concurrently",
        InvalidTransition => "error.code.invalid_transition",
        AlreadyPublished => "error.code.already_published",
        NotPublished => "error.code.not_published",
        AlreadyRunning => "error.code.already_running",
        SyncRunning => "error.code.sync_running",
        InvalidStoredParams => "error.code.invalid_stored_params",
        SourceUrlTaken => "error.code.source_url_taken",
        NotConfigured => "error.code.not_configured",
    }
}

/// The label the console's forms give a field a service names, when there is one.
fn field_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "title" => "article.title",
        "summary" => "article.summary",
        "content" => "article.content",
        "cover_url" => "article.cover_url",
        "source_url" => "article.source_url",
        "source_name" => "article.source_name",
        "copyright" => "article.copyright",
        "category_id" => "article.category",
        "tag_ids" => "article.tags",
        "publish_at" => "article.schedule_at",
        "status" => "article.status",
        "origin" => "article.origin",
        "cron" => "job.cron",
        "timezone" => "job.timezone",
        "params" => "job.params",
        "kind" => "job.kind",
        "name" => "source.name",
        "feed_url" => "source.feed_url",
        "min_interval_secs" => "source.min_interval_secs",
        "notice_template" => "source.notice_template",
        "keyword" => "moderation.keyword",
        "article_id" => "moderation.article_id",
        "slug" => "taxonomy.slug",
        "version" => "resource.version",
        "license" => "resource.license",
        "homepage" => "resource.homepage",
        "download_url" => "release.download_url",
        "platform" => "release.platform",
        "username" => "login.username",
        "password" => "login.password",
        _ => return None,
    })
}

/// What the console shows for an error.
pub struct Described {
    /// The code's words, e.g. 输入有误.
    pub headline: &'static str,
    /// The field at fault: its label in this language, or its name.
    pub field: Option<String>,
    /// The service's own message.
    pub detail: String,
    pub code: ErrorCode,
}

pub fn describe(err: &AppError, lang: &Lang) -> Described {
    let code = err.code();
    let field = match err {
        AppError::BadRequest {
            field: Some(field), ..
        } => Some(field_key(field).map_or_else(|| field.clone(), |k| lang.t(k).to_string())),
        _ => None,
    };
    let detail = match err {
        // Internal details stay in the log, as in the API's answer.
        AppError::Internal(_) => String::new(),
        other => other.to_string(),
    };
    Described {
        headline: lang.t(code_key(code)),
        field,
        detail,
        code,
    }
}

impl Described {
    /// The `code` as the API spells it (`invalid_input`).
    pub fn code_name(&self) -> String {
        serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_reads_in_chinese_with_its_field_label() {
        let err = AppError::bad_field("title", "title must be at most 200 characters");
        let zh = describe(&err, Lang::of("zh-CN"));
        assert_eq!(zh.headline, "输入有误");
        assert_eq!(zh.field.as_deref(), Some("标题"));
        assert_eq!(zh.detail, "title must be at most 200 characters");
        assert_eq!(zh.code_name(), "invalid_input");
        let en = describe(&err, Lang::of("en"));
        assert_eq!(en.headline, "Invalid input");
        assert_eq!(en.field.as_deref(), Some("Title"));
    }

    #[test]
    fn an_unknown_field_shows_its_name_and_an_internal_error_no_detail() {
        let err = AppError::bad_field("mystery", "bad");
        assert_eq!(
            describe(&err, Lang::of("zh-CN")).field.as_deref(),
            Some("mystery")
        );
        let internal = describe(
            &AppError::Internal(anyhow::anyhow!("secret path")),
            Lang::of("zh-CN"),
        );
        assert_eq!(internal.detail, "");
        assert_eq!(internal.headline, "服务器内部错误");
    }
}
