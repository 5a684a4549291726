//! Which caching an answer allows, by what it is: public reads may be kept by any cache for
//! a few seconds and served stale while revalidating; a reader's own data only by that
//! reader's client, always revalidated; tokens, admin and ops answers never.

/// Public reads are fresh this long. Short, because a count a reader just changed must show
/// on their next read; revalidating after that costs a 304.
pub const PUBLIC_MAX_AGE_SECS: u32 = 5;
/// And may be served stale this long while the client revalidates in the background.
pub const STALE_WHILE_REVALIDATE_SECS: u32 = 30;

/// The `Cache-Control` of each `Caching` (`api::edge` sends them).
pub const PUBLIC: &str = "public, max-age=5, stale-while-revalidate=30";
pub const PRIVATE: &str = "private, no-cache";
pub const NO_STORE: &str = "no-store";

/// How an answer may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Anonymous public reads.
    Public,
    /// The reader's own data, or a public read made with credentials.
    Private,
    /// Tokens, admin, ops, writes and errors.
    NoStore,
}

impl Caching {
    /// Whether the answer carries an entity tag and honours `If-None-Match`.
    pub fn revalidates(self) -> bool {
        self != Self::NoStore
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Paths whose answers are never stored, whatever the method.
fn never_stored(path: &str) -> bool {
    [
        "/api/auth",
        "/api/admin",
        "/admin",
        "/wechat",
        "/metrics",
        "/readyz",
        "/healthz",
    ]
    .iter()
    .any(|p| under(path, p))
}

fn personal(path: &str) -> bool {
    under(path, "/api/me") || under(path, "/api/devices")
}

/// The caching of the answer with `status` to a `safe` (GET or HEAD) or unsafe request for
/// `path`, made with or without credentials.
pub fn caching(safe: bool, path: &str, with_credentials: bool, status: u16) -> Caching {
    of_request(safe, path, with_credentials).for_status(status)
}

/// The caching a successful answer to this request may have (known before it is served,
/// so the edge need not keep the path).
pub fn of_request(safe: bool, path: &str, with_credentials: bool) -> Caching {
    if !safe || never_stored(path) {
        Caching::NoStore
    } else if personal(path) || with_credentials {
        Caching::Private
    } else {
        Caching::Public
    }
}

impl Caching {
    /// Narrowed by the answer's status: only successes and 304s are kept.
    pub fn for_status(self, status: u16) -> Self {
        if (200..300).contains(&status) || status == 304 {
            self
        } else {
            Self::NoStore
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_answer_gets_its_caching() {
        assert_eq!(
            caching(true, "/api/articles/hot", false, 200),
            Caching::Public
        );
        assert_eq!(caching(true, "/feeds/all.rss", false, 200), Caching::Public);
        assert_eq!(
            caching(true, "/api/articles/1", true, 200),
            Caching::Private
        );
        assert_eq!(caching(true, "/api/me", false, 200), Caching::Private);
        assert_eq!(caching(true, "/api/me/likes", true, 200), Caching::Private);
        assert_eq!(caching(true, "/api/mentions", false, 200), Caching::Public);
        assert_eq!(
            caching(false, "/api/auth/login", false, 200),
            Caching::NoStore
        );
        assert_eq!(
            caching(true, "/api/admin/jobs", true, 200),
            Caching::NoStore
        );
        assert_eq!(caching(true, "/metrics", false, 200), Caching::NoStore);
        assert_eq!(
            caching(true, "/api/articles/9", false, 404),
            Caching::NoStore
        );
        assert_eq!(
            caching(true, "/api/articles/9", false, 304),
            Caching::Public
        );
        assert_eq!(
            caching(false, "/api/articles/9/like", true, 200),
            Caching::NoStore
        );
        assert_eq!(
            PUBLIC,
            format!(
                "public, max-age={PUBLIC_MAX_AGE_SECS}, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECS}"
            )
        );
    }
}
