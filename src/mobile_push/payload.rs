//! Fitting a notification into a provider's byte limit (4096 bytes for APNs and FCM):
//! the body is cut first, then the title, always on a character boundary and marked `…`,
//! so Chinese text never breaks mid-character.

/// Cuts `text` to `max` characters (not bytes), marking the cut with `…`.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The largest payload `build(title, body)` not over `limit` bytes, cutting `body` then
/// `title`; None when even empty texts do not fit (our bug: the rest is too big).
pub fn fit(
    title: &str,
    body: &str,
    limit: usize,
    build: impl Fn(&str, &str) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let whole = build(title, body);
    if whole.len() <= limit {
        return Some(whole);
    }
    let body_chars = body.chars().count();
    if let Some(n) = largest(body_chars, |n| {
        build(title, &truncate_chars(body, n)).len() <= limit
    }) {
        return Some(build(title, &truncate_chars(body, n)));
    }
    let title_chars = title.chars().count();
    let n = largest(title_chars, |n| {
        build(&truncate_chars(title, n), "").len() <= limit
    })?;
    Some(build(&truncate_chars(title, n), ""))
}

/// The largest n in 1..=max with `fits(n)` (monotone), by bisection.
fn largest(max: usize, fits: impl Fn(usize) -> bool) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, max);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    (lo > 0).then_some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(title: &str, body: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"t": title, "b": body})).unwrap()
    }

    #[test]
    fn long_chinese_text_is_cut_on_a_character_boundary_under_the_limit() {
        let body = "深入理解异步运行时".repeat(400);
        let out = fit("标题", &body, 4096, build).unwrap();
        assert!(out.len() <= 4096, "{}", out.len());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let cut = v["b"].as_str().unwrap();
        assert!(cut.ends_with('…'));
        assert!(out.len() > 4000, "as much as fits: {}", out.len());
        assert_eq!(v["t"], "标题");
    }

    #[test]
    fn a_payload_that_fits_is_left_alone() {
        assert_eq!(fit("a", "b", 4096, build).unwrap(), build("a", "b"));
    }
}
