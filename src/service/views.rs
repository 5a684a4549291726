//! Article views, counted in the cache (at most once per viewer per article per hour) and
//! written to SQL in batches by `flush` (the `flush_counters` job): no SQL write per read.

use std::time::Duration;

use entity::article;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter, prelude::Expr,
};

use crate::{cache::Cache, error::AppResult};

/// A viewer counts once per article in this window.
pub const VIEW_WINDOW: Duration = Duration::from_secs(3600);
const DIRTY_SET: &str = "views:dirty";
const FLUSH_BATCH: usize = 500;

fn pending_key(article_id: &str) -> String {
    format!("views:pending:{article_id}")
}

/// Counts a view of `article_id` by `viewer` (`u:<id>` or `ip:<addr>`) unless this viewer
/// was counted within the hour. A cache failure loses the view, never the request.
pub async fn record(cache: &Cache, article_id: i64, viewer: &str) -> bool {
    let marker = format!("view:{article_id}:{viewer}");
    let id = article_id.to_string();
    match cache
        .count_once(&marker, VIEW_WINDOW, &pending_key(&id), DIRTY_SET, &id)
        .await
    {
        Ok(counted) => counted,
        Err(err) => {
            tracing::debug!(%err, "view not counted: cache unavailable");
            false
        }
    }
}

/// Remembers that `user_id` opened `article_id` (the `read` of their article state). Called
/// for a counted view only, so at most once per reader and article per view window.
pub async fn record_read(db: &DatabaseConnection, user_id: i64, article_id: i64) -> AppResult<()> {
    use entity::article_read;
    use sea_orm::{ActiveValue::Set, sea_query::OnConflict};
    article_read::Entity::insert(article_read::ActiveModel {
        user_id: Set(user_id),
        article_id: Set(article_id),
        read_at: Set(crate::time::now()),
    })
    .on_conflict(
        OnConflict::columns([
            article_read::Column::UserId,
            article_read::Column::ArticleId,
        ])
        .update_column(article_read::Column::ReadAt)
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Moves pending view counts into `articles.view_count`; returns how many views it wrote.
/// Counts whose SQL write fails go back into the cache (with the articles of the batch not
/// yet written) and the flush stops with the error, so the next flush writes them: taken
/// views are never dropped, and a database that is down is not retried in a loop.
pub async fn flush(db: &DatabaseConnection, cache: &Cache) -> AppResult<u64> {
    let mut written = 0u64;
    loop {
        let members = match cache.take_members(DIRTY_SET, FLUSH_BATCH).await {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(%err, "view flush stopped: cache unavailable");
                break;
            }
        };
        if members.is_empty() {
            break;
        }
        for (i, member) in members.iter().enumerate() {
            let Ok(article_id) = member.parse::<i64>() else {
                continue;
            };
            let views = match cache.take_counter(&pending_key(member)).await {
                Ok(n) if n > 0 => n,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(%err, article_id, "pending views left in the cache");
                    continue;
                }
            };
            let result = article::Entity::update_many()
                .col_expr(
                    article::Column::ViewCount,
                    Expr::col(article::Column::ViewCount).add(views),
                )
                .filter(article::Column::Id.eq(article_id))
                .exec(db)
                .await;
            match result {
                Ok(_) => written += views as u64,
                Err(err) => {
                    restore(cache, member, views, &members[i + 1..]).await;
                    return Err(err.into());
                }
            }
        }
    }
    Ok(written)
}

/// Puts `views` of `member` back, and marks the untouched `rest` dirty again.
async fn restore(cache: &Cache, member: &str, views: i64, rest: &[String]) {
    let back = std::iter::once((member, views)).chain(rest.iter().map(|m| (m.as_str(), 0)));
    for (article, views) in back {
        if let Err(err) = cache
            .add_pending(&pending_key(article), views, DIRTY_SET, article)
            .await
        {
            tracing::error!(%err, article, views, "pending views could not be put back");
        }
    }
    tracing::warn!(
        article = member,
        views,
        "view flush failed; counts put back for the next flush"
    );
}
