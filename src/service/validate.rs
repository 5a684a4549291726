//! Input rules shared by the services. Each returns the cleaned value or a 400 naming the
//! field.

use crate::error::{AppError, AppResult};

/// Trimmed text of `min..=max` characters (not bytes: Chinese text counts per character).
pub fn text(field: &str, value: &str, min: usize, max: usize) -> AppResult<String> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            AppError::bad_field(field, format!("{field} must not be empty"))
        } else {
            AppError::bad_field(field, format!("{field} must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(AppError::bad_field(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// An absolute http(s) URL of at most 1024 characters.
pub fn url(field: &str, value: &str) -> AppResult<String> {
    let value = value.trim();
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains(char::is_whitespace)
    });
    if !host_ok || value.contains(char::is_whitespace) {
        return Err(AppError::bad_field(
            field,
            format!("{field} must be an absolute http:// or https:// URL"),
        ));
    }
    if value.len() > 1024 {
        return Err(AppError::bad_field(
            field,
            format!("{field} must be at most 1024 characters"),
        ));
    }
    Ok(value.to_string())
}

/// A URL slug: 1..=64 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn slug(field: &str, value: &str) -> AppResult<String> {
    let value = value.trim();
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        return Err(AppError::bad_field(
            field,
            format!("{field} must be 1 to 64 characters of a-z, 0-9 and '-'"),
        ));
    }
    Ok(value.to_string())
}

/// A semantic version such as `2.3.1`.
pub fn version(field: &str, value: &str) -> AppResult<semver::Version> {
    semver::Version::parse(value.trim()).map_err(|_| {
        AppError::bad_field(
            field,
            format!("{field} must be a semantic version like 1.2.3"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_not_bytes() {
        assert_eq!(text("title", "  优质分享  ", 1, 4).unwrap(), "优质分享");
        assert!(text("title", "优质分享!", 1, 4).is_err());
        assert!(text("title", "   ", 1, 4).is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(url("u", "https://example.com/a?b=1").is_ok());
        assert!(url("u", "ftp://example.com").is_err());
        assert!(url("u", "https://").is_err());
        assert!(url("u", "javascript:alert(1)").is_err());
        assert!(url("u", "https://exa mple.com").is_err());
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert!(slug("slug", "rust-web").is_ok());
        assert!(slug("slug", "Rust").is_err());
        assert!(slug("slug", "-rust").is_err());
        assert!(slug("slug", "").is_err());
    }
}
