//! The hot ranking (GET /api/articles/hot). Formula (weights and gravity in `hot.*`):
//!
//! ```text
//! score = (1 + views·w_views + likes·w_likes + comments·w_comments + favorites·w_favorites)
//!         / (age_hours + 2) ^ gravity
//! ```
//!
//! Engagement lifts an article; age pulls it down ever faster (like Hacker News). The
//! `refresh_hot_ranking` job recomputes the ranking and stores it as a sorted set in the
//! cache; reads take the top ids from there, or compute them from SQL when it is missing.

use chrono::{DateTime, Duration, Utc};
use entity::article;
use sea_orm::{ColumnTrait, DatabaseConnection, DerivePartialModel, QueryFilter};

use crate::{
    cache::{Cache, read_through::ReadCache},
    config::HotSettings,
    error::AppResult,
};

const RANKING_KEY: &str = "hot:ranking";

#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "article::Entity")]
struct Engagement {
    id: i64,
    published_at: Option<DateTime<Utc>>,
    view_count: i64,
    like_count: i64,
    comment_count: i64,
    favorite_count: i64,
}

/// The score of one article `age_hours` after publication.
pub fn score(
    settings: &HotSettings,
    views: i64,
    likes: i64,
    comments: i64,
    favorites: i64,
    age_hours: f64,
) -> f64 {
    let w = &settings.weights;
    let engagement = 1.0
        + views as f64 * w.views
        + likes as f64 * w.likes
        + comments as f64 * w.comments
        + favorites as f64 * w.favorites;
    engagement / (age_hours.max(0.0) + 2.0).powf(settings.gravity)
}

/// Ranks the published articles of the window, best first (ties: newest, then highest id).
pub async fn compute(
    db: &DatabaseConnection,
    settings: &HotSettings,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let since = now - Duration::days(i64::from(settings.window_days));
    let rows = article::Entity::find_published()
        .filter(article::Column::PublishedAt.gte(since))
        .into_partial_model::<Engagement>()
        .all(db)
        .await?;
    let mut scored: Vec<(f64, DateTime<Utc>, i64)> = rows
        .into_iter()
        .map(|r| {
            let published = r.published_at.unwrap_or(now);
            let age_hours = (now - published).num_milliseconds() as f64 / 3_600_000.0;
            let s = score(
                settings,
                r.view_count,
                r.like_count,
                r.comment_count,
                r.favorite_count,
                age_hours,
            );
            (s, published, r.id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    scored.truncate(settings.size);
    Ok(scored.into_iter().map(|(_, _, id)| id).collect())
}

/// Recomputes and stores the ranking, then lets cached reads refresh. Returns its length.
pub async fn refresh(
    db: &DatabaseConnection,
    cache: &Cache,
    read_cache: &ReadCache,
    settings: &HotSettings,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let ids = compute(db, settings, now).await?;
    let count = ids.len();
    if let Err(err) = cache
        .set_ranking(RANKING_KEY, ids.iter().map(i64::to_string).collect())
        .await
    {
        tracing::warn!(%err, "hot ranking not stored; reads will compute it from SQL");
    }
    read_cache.invalidate().await;
    Ok(count)
}

/// The best `n` article ids: from the stored ranking, or computed when there is none (never
/// refreshed yet, or the cache is down).
pub async fn top_ids(
    db: &DatabaseConnection,
    cache: &Cache,
    settings: &HotSettings,
    n: usize,
) -> AppResult<Vec<i64>> {
    match cache.ranking_top(RANKING_KEY, n).await {
        Ok(Some(members)) => return Ok(members.iter().filter_map(|m| m.parse().ok()).collect()),
        Ok(None) => {}
        Err(err) => tracing::debug!(%err, "hot ranking unavailable; computing from SQL"),
    }
    let mut ids = compute(db, settings, crate::time::now()).await?;
    ids.truncate(n);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HotWeights;

    fn settings() -> HotSettings {
        HotSettings {
            weights: HotWeights {
                views: 1.0,
                likes: 5.0,
                comments: 8.0,
                favorites: 10.0,
            },
            gravity: 1.5,
            window_days: 30,
            size: 200,
        }
    }

    #[test]
    fn the_score_follows_the_documented_formula() {
        let s = score(&settings(), 10, 2, 1, 1, 7.0);
        let expected = (1.0 + 10.0 + 10.0 + 8.0 + 10.0) / 9f64.powf(1.5);
        assert!((s - expected).abs() < 1e-12);
    }

    #[test]
    fn age_lowers_the_score_and_engagement_raises_it() {
        let s = settings();
        assert!(score(&s, 0, 0, 0, 0, 1.0) > score(&s, 0, 0, 0, 0, 10.0));
        assert!(
            score(&s, 0, 1, 0, 0, 5.0) > score(&s, 4, 0, 0, 0, 5.0),
            "a like weighs five views"
        );
    }
}
