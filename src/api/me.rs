use entity::article_reaction::ReactionKind;
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi, param::Path, param::Query, payload::Json, types::MaybeUndefined,
};

use super::{
    dto::{ArticlePage, UserProfile},
    error::ApiResult,
    security::UserAuth,
    tags::ApiTags,
    types::Text,
};
use crate::{
    service::{
        accounts::{self, ProfileChanges},
        reactions,
    },
    state::AppState,
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub nickname: Option<Text>,
    /// `null` removes the avatar.
    pub avatar_url: MaybeUndefined<Text>,
    pub bio: Option<Text>,
}

/// The caller's reaction to an article and the article's total.
#[derive(Debug, Object)]
pub struct ReactionResult {
    pub article_id: i64,
    /// Whether the caller now likes (or has favourited) the article.
    pub active: bool,
    pub count: i64,
}

pub struct MeApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Me")]
impl MeApi {
    /// My profile (我的)
    #[oai(path = "/me", method = "get")]
    async fn get_me(&self, auth: UserAuth) -> ApiResult<Json<UserProfile>> {
        Ok(Json(auth.0.0.into()))
    }

    /// Edit my profile
    #[oai(path = "/me", method = "patch")]
    async fn update_me(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        body: Json<ProfileUpdate>,
    ) -> ApiResult<Json<UserProfile>> {
        let b = body.0;
        let changes = ProfileChanges {
            nickname: b.nickname.map(Into::into),
            avatar_url: match b.avatar_url {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v.into())),
            },
            bio: b.bio.map(Into::into),
        };
        Ok(Json(
            accounts::update_profile(&state.db, auth.0.id(), changes)
                .await?
                .into(),
        ))
    }

    /// Articles I like, most recent first
    #[oai(path = "/me/likes", method = "get")]
    async fn my_likes(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = reactions::mine(
            &state.db,
            auth.0.id(),
            ReactionKind::Like,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// My favourites, most recent first
    #[oai(path = "/me/favorites", method = "get")]
    async fn my_favorites(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = reactions::mine(
            &state.db,
            auth.0.id(),
            ReactionKind::Favorite,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// Like an article (idempotent)
    #[oai(path = "/articles/:id/like", method = "put")]
    async fn like(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Like, true).await
    }

    /// Take a like back (idempotent)
    #[oai(path = "/articles/:id/like", method = "delete")]
    async fn unlike(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Like, false).await
    }

    /// Add an article to my favourites (idempotent)
    #[oai(path = "/articles/:id/favorite", method = "put")]
    async fn favorite(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Favorite, true).await
    }

    /// Remove an article from my favourites (idempotent)
    #[oai(path = "/articles/:id/favorite", method = "delete")]
    async fn unfavorite(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Favorite, false).await
    }
}

async fn react(
    state: &AppState,
    auth: UserAuth,
    article_id: i64,
    kind: ReactionKind,
    on: bool,
) -> ApiResult<Json<ReactionResult>> {
    let result = if on {
        reactions::add(&state.db, auth.0.id(), article_id, kind).await?
    } else {
        reactions::remove(&state.db, auth.0.id(), article_id, kind).await?
    };
    Ok(Json(ReactionResult {
        article_id,
        active: result.active,
        count: result.count,
    }))
}
