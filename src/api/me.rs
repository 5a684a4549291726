use entity::article_reaction::ReactionKind;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json, types::MaybeUndefined,
};

use super::{
    dto::{ArticlePage, UserProfile},
    error::ApiResult,
    security::UserAuth,
    tags::ApiTags,
    types::{List, Text, Timestamp},
};
use crate::{
    service::{
        accounts::{self, ProfileChanges},
        push_preferences::{self, Preferences, QuietHours},
        reactions, wechat_bind,
    },
    state::AppState,
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub nickname: Option<Text<{ crate::service::accounts::NICKNAME_MAX }>>,
    /// `null` removes the avatar.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub avatar_url: MaybeUndefined<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub bio: Option<Text<{ crate::service::accounts::BIO_MAX }>>,
}

/// A one-time ticket for binding the caller to their Official Account follower, with the
/// temporary QR code that carries it: the first scan before `expires_at` links the scanner
/// (never one already linked to another user).
#[derive(Debug, Object)]
pub struct WechatBindTicket {
    /// `bind:<ticket>`, the QR code's `scene_str`.
    pub scene: String,
    /// The QR code's image (WeChat's `showqrcode` URL).
    pub qr_image_url: String,
    /// The URL the QR code encodes (to draw it yourself).
    pub qr_url: String,
    /// Seconds until the ticket expires (the QR code's `expire_seconds`).
    pub expires_in: u64,
    pub expires_at: Timestamp,
}

#[derive(ApiResponse)]
pub enum BindTicketMinted {
    /// A new ticket.
    #[oai(status = 201)]
    Created(Json<WechatBindTicket>),
}

/// The caller's reaction to an article and the article's total.
#[derive(Debug, Object)]
pub struct ReactionResult {
    pub article_id: i64,
    /// Whether the caller now likes (or has favourited) the article.
    pub active: bool,
    pub count: i64,
}

/// The caller's own state for one article.
#[derive(Debug, Object)]
pub struct MyArticleState {
    pub article_id: i64,
    pub liked: bool,
    pub favorited: bool,
    /// Opened while signed in.
    pub read: bool,
}

/// Quiet hours in the user's timezone, `HH:MM`; may wrap past midnight.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct QuietHoursWindow {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub start: Text<{ crate::service::push_preferences::CLOCK_MAX }>,
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub end: Text<{ crate::service::push_preferences::CLOCK_MAX }>,
}

/// What the user wants pushed (new featured articles).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PushPreferencesBody {
    /// No pushes at all (the in-app inbox included).
    pub opted_out: bool,
    /// Category slugs of interest; empty means all.
    #[oai(default)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub categories: List<
        Text<{ crate::service::validate::SLUG_MAX }>,
        { crate::service::push_preferences::MAX_CATEGORIES },
    >,
    /// Pushes falling inside are delivered when the window ends.
    #[oai(nullable)]
    pub quiet_hours: Option<QuietHoursWindow>,
    /// IANA timezone of the quiet hours (default Asia/Shanghai).
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub timezone: Option<Text<{ crate::service::validate::TIMEZONE_MAX }>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SubscriptionGrant {
    /// The template ids the user accepted in `wx.requestSubscribeMessage`.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub template_ids: List<
        Text<{ crate::service::push_preferences::TEMPLATE_ID_MAX }>,
        { crate::service::push_preferences::MAX_TEMPLATES_PER_GRANT },
    >,
}

#[derive(Debug, Object)]
pub struct TemplateCredits {
    pub template_id: String,
    /// Messages that may still be sent with this template.
    pub credits: i32,
}

#[derive(Debug, Object)]
pub struct SubscriptionCredits {
    pub items: Vec<TemplateCredits>,
}

fn preferences_body(p: Preferences) -> PushPreferencesBody {
    PushPreferencesBody {
        opted_out: p.opted_out,
        categories: List(p.categories.into_iter().map(Text).collect()),
        quiet_hours: p.quiet_hours.map(|q| QuietHoursWindow {
            start: Text(push_preferences::format_clock(q.start_minute)),
            end: Text(push_preferences::format_clock(q.end_minute)),
        }),
        timezone: Some(Text(p.timezone)),
    }
}

pub struct MeApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Me")]
impl MeApi {
    /// My profile (我的)
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn get_me(&self, auth: UserAuth) -> ApiResult<Json<UserProfile>> {
        Ok(Json(auth.user().clone().into()))
    }

    /// Edit my profile
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
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
            accounts::update_profile(&state.db, auth.id(), changes)
                .await?
                .into(),
        ))
    }

    /// Articles I like, most recent first
    #[oai(path = "/me/likes", method = "get", operation_id = "myLikes")]
    async fn my_likes(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = reactions::mine(
            &state.db,
            auth.id(),
            ReactionKind::Like,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// My state for one article: liked, favourited, read
    ///
    /// The article page is shared and cached; this small private answer puts the
    /// reader's own state on top of it.
    #[oai(
        path = "/me/articles/:id/state",
        method = "get",
        operation_id = "myArticleState"
    )]
    async fn my_article_state(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<MyArticleState>> {
        let s = reactions::reader_state(&state.db, auth.id(), id.0).await?;
        Ok(Json(MyArticleState {
            article_id: id.0,
            liked: s.liked,
            favorited: s.favorited,
            read: s.read,
        }))
    }

    /// My favourites, most recent first
    #[oai(path = "/me/favorites", method = "get", operation_id = "myFavorites")]
    async fn my_favorites(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = reactions::mine(
            &state.db,
            auth.id(),
            ReactionKind::Favorite,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// My push preferences
    #[oai(
        path = "/me/push-preferences",
        method = "get",
        operation_id = "myPushPreferences"
    )]
    async fn my_push_preferences(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
    ) -> ApiResult<Json<PushPreferencesBody>> {
        Ok(Json(preferences_body(
            push_preferences::get(&state.db, auth.id()).await?,
        )))
    }

    /// Replace my push preferences
    #[oai(
        path = "/me/push-preferences",
        method = "put",
        operation_id = "setPushPreferences"
    )]
    async fn set_push_preferences(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        body: Json<PushPreferencesBody>,
    ) -> ApiResult<Json<PushPreferencesBody>> {
        let b = body.0;
        let quiet_hours = match b.quiet_hours {
            Some(q) => Some(QuietHours {
                start_minute: push_preferences::parse_clock("quiet_hours.start", &q.start.0)?,
                end_minute: push_preferences::parse_clock("quiet_hours.end", &q.end.0)?,
            }),
            None => None,
        };
        let prefs = Preferences {
            opted_out: b.opted_out,
            categories: b.categories.into_iter().map(|c| c.0).collect(),
            quiet_hours,
            timezone: b
                .timezone
                .map_or_else(|| push_preferences::DEFAULT_TIMEZONE.to_string(), |t| t.0),
        };
        Ok(Json(preferences_body(
            push_preferences::set(&state.db, auth.id(), prefs).await?,
        )))
    }

    /// Record mini-program subscribe-message grants (one credit per accepted template)
    #[oai(
        path = "/me/wechat/subscriptions",
        method = "post",
        operation_id = "grantWechatSubscriptions"
    )]
    async fn grant_subscriptions(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        body: Json<SubscriptionGrant>,
    ) -> ApiResult<Json<SubscriptionCredits>> {
        let ids: Vec<String> = body.0.template_ids.into_iter().map(|t| t.0).collect();
        let credits = push_preferences::grant(&state.db, auth.id(), &ids).await?;
        Ok(Json(SubscriptionCredits {
            items: credits
                .into_iter()
                .map(|(template_id, credits)| TemplateCredits {
                    template_id,
                    credits,
                })
                .collect(),
        }))
    }

    /// Mint a one-time bind QR ticket for my WeChat follower (409 `not_configured` without
    /// an Official Account)
    #[oai(
        path = "/me/wechat/bind-ticket",
        method = "post",
        operation_id = "createWechatBindTicket"
    )]
    async fn mint_bind_ticket(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
    ) -> ApiResult<BindTicketMinted> {
        let ticket = wechat_bind::mint(&state, auth.id()).await?;
        Ok(BindTicketMinted::Created(Json(WechatBindTicket {
            qr_image_url: ticket.qr.image_url(),
            qr_url: ticket.qr.url,
            scene: ticket.scene,
            expires_in: ticket.expires_in.as_secs(),
            expires_at: ticket.expires_at.into(),
        })))
    }

    /// Like an article (idempotent)
    #[oai(
        path = "/articles/:id/like",
        method = "put",
        operation_id = "likeArticle"
    )]
    async fn like(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Like, true).await
    }

    /// Take a like back (idempotent)
    #[oai(
        path = "/articles/:id/like",
        method = "delete",
        operation_id = "unlikeArticle"
    )]
    async fn unlike(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Like, false).await
    }

    /// Add an article to my favourites (idempotent)
    #[oai(
        path = "/articles/:id/favorite",
        method = "put",
        operation_id = "favoriteArticle"
    )]
    async fn favorite(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ReactionResult>> {
        react(&state, auth, id.0, ReactionKind::Favorite, true).await
    }

    /// Remove an article from my favourites (idempotent)
    #[oai(
        path = "/articles/:id/favorite",
        method = "delete",
        operation_id = "unfavoriteArticle"
    )]
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
        reactions::add(&state.db, &state.read_cache, auth.id(), article_id, kind).await?
    } else {
        reactions::remove(&state.db, &state.read_cache, auth.id(), article_id, kind).await?
    };
    Ok(Json(ReactionResult {
        article_id,
        active: result.active,
        count: result.count,
    }))
}
