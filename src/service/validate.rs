//! Input rules shared by the services. Each returns the cleaned value or a 400 naming the
//! field.

use crate::error::{AppError, AppResult};

/// A `String` newtype that only its `parse` builds: read it with `as_str`, store it with
/// `String::from`.
macro_rules! parsed_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}
pub(crate) use parsed_string;

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

/// The longest URL accepted anywhere.
pub const URL_MAX: usize = 1024;
/// The longest slug.
pub const SLUG_MAX: usize = 64;
/// The longest version string (`1.2.3`, with pre-release and build parts).
pub const VERSION_MAX: usize = 64;
/// The longest IANA timezone name accepted (the longest real one has 32).
pub const TIMEZONE_MAX: usize = 64;

/// An absolute http(s) URL of at most `URL_MAX` characters (source links, homepages, download
/// links), parsed once where the input enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(field: &str, value: &str) -> AppResult<Self> {
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
        if value.chars().count() > URL_MAX {
            return Err(AppError::bad_field(
                field,
                format!("{field} must be at most {URL_MAX} characters"),
            ));
        }
        Ok(Self(value.to_string()))
    }
}

parsed_string!(HttpUrl);

/// `HttpUrl::parse`, as the stored string.
pub fn url(field: &str, value: &str) -> AppResult<String> {
    HttpUrl::parse(field, value).map(Into::into)
}

/// A URL slug: 1..=`SLUG_MAX` of `a-z`, `0-9` and `-`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(field: &str, value: &str) -> AppResult<Self> {
        let value = value.trim();
        let ok = (1..=SLUG_MAX).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if !ok {
            return Err(AppError::bad_field(
                field,
                format!("{field} must be 1 to {SLUG_MAX} characters of a-z, 0-9 and '-'"),
            ));
        }
        Ok(Self(value.to_string()))
    }
}

parsed_string!(Slug);

/// A semantic version such as `2.3.1`.
pub fn version(field: &str, value: &str) -> AppResult<semver::Version> {
    let value = value.trim();
    if value.len() > VERSION_MAX {
        return Err(AppError::bad_field(
            field,
            format!("{field} must be at most {VERSION_MAX} characters"),
        ));
    }
    semver::Version::parse(value).map_err(|_| {
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
        let url = HttpUrl::parse;
        assert_eq!(
            url("u", " https://example.com/a?b=1 ").unwrap().as_str(),
            "https://example.com/a?b=1"
        );
        assert!(url("u", "ftp://example.com").is_err());
        assert!(url("u", "https://").is_err());
        assert!(url("u", "javascript:alert(1)").is_err());
        assert!(url("u", "https://exa mple.com").is_err());
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        let slug = Slug::parse;
        assert_eq!(slug("slug", "rust-web").unwrap().as_str(), "rust-web");
        assert!(slug("slug", "Rust").is_err());
        assert!(slug("slug", "-rust").is_err());
        assert!(slug("slug", "").is_err());
    }
}
