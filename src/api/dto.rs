//! Response and request bodies shared by the public and admin APIs. Names are globally
//! unique because they become OpenAPI schema names.

use entity::{app_release, article, category, resource, tag};
use poem_openapi::{Enum, Object};

use super::types::Timestamp;
use crate::{
    pagination::Page,
    service::{
        articles::{ArticleCard, ArticleView, CardView},
        taxonomy::Counted,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ArticleStatus {
    Draft,
    Scheduled,
    Published,
}

impl From<article::ArticleStatus> for ArticleStatus {
    fn from(value: article::ArticleStatus) -> Self {
        match value {
            article::ArticleStatus::Draft => Self::Draft,
            article::ArticleStatus::Scheduled => Self::Scheduled,
            article::ArticleStatus::Published => Self::Published,
        }
    }
}

impl From<ArticleStatus> for article::ArticleStatus {
    fn from(value: ArticleStatus) -> Self {
        match value {
            ArticleStatus::Draft => Self::Draft,
            ArticleStatus::Scheduled => Self::Scheduled,
            ArticleStatus::Published => Self::Published,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct CategoryRef {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Object)]
pub struct TagRef {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

impl From<category::Model> for CategoryRef {
    fn from(c: category::Model) -> Self {
        Self {
            id: c.id,
            slug: c.slug,
            name: c.name,
        }
    }
}

impl From<tag::Model> for TagRef {
    fn from(t: tag::Model) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
        }
    }
}

/// An article as lists show it (no body).
#[derive(Debug, Clone, Object)]
pub struct ArticleSummary {
    pub id: i64,
    pub title: String,
    pub summary: String,
    #[oai(nullable)]
    pub cover_url: Option<String>,
    pub author: String,
    pub source_name: String,
    #[oai(nullable)]
    pub category: Option<CategoryRef>,
    pub tags: Vec<TagRef>,
    pub status: ArticleStatus,
    #[oai(nullable)]
    pub published_at: Option<Timestamp>,
    pub featured: bool,
    #[oai(nullable)]
    pub featured_at: Option<Timestamp>,
    pub view_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
}

impl From<CardView> for ArticleSummary {
    fn from(view: CardView) -> Self {
        let a: ArticleCard = view.article;
        Self {
            id: a.id,
            title: a.title,
            summary: a.summary,
            cover_url: a.cover_url,
            author: a.author,
            source_name: a.source_name,
            category: view.category.map(Into::into),
            tags: view.tags.into_iter().map(Into::into).collect(),
            status: a.status.into(),
            published_at: a.published_at.map(Into::into),
            featured: a.featured,
            featured_at: a.featured_at.map(Into::into),
            view_count: a.view_count,
            like_count: a.like_count,
            comment_count: a.comment_count,
            favorite_count: a.favorite_count,
        }
    }
}

/// A full article: the Markdown body, its original source and the copyright notice.
#[derive(Debug, Clone, Object)]
pub struct ArticleDetail {
    pub id: i64,
    pub title: String,
    pub summary: String,
    /// Markdown.
    pub content: String,
    #[oai(nullable)]
    pub cover_url: Option<String>,
    pub author: String,
    /// Link to the original article.
    pub source_url: String,
    pub source_name: String,
    pub copyright_notice: String,
    #[oai(nullable)]
    pub category: Option<CategoryRef>,
    pub tags: Vec<TagRef>,
    pub status: ArticleStatus,
    #[oai(nullable)]
    pub published_at: Option<Timestamp>,
    pub featured: bool,
    #[oai(nullable)]
    pub featured_at: Option<Timestamp>,
    pub view_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<ArticleView> for ArticleDetail {
    fn from(view: ArticleView) -> Self {
        let a = view.article;
        Self {
            id: a.id,
            title: a.title,
            summary: a.summary,
            content: a.content,
            cover_url: a.cover_url,
            author: a.author,
            source_url: a.source_url,
            source_name: a.source_name,
            copyright_notice: a.copyright_notice,
            category: view.category.map(Into::into),
            tags: view.tags.into_iter().map(Into::into).collect(),
            status: a.status.into(),
            published_at: a.published_at.map(Into::into),
            featured: a.featured,
            featured_at: a.featured_at.map(Into::into),
            view_count: a.view_count,
            like_count: a.like_count,
            comment_count: a.comment_count,
            favorite_count: a.favorite_count,
            created_at: a.created_at.into(),
            updated_at: a.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ArticlePage {
    pub items: Vec<ArticleSummary>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<Page<CardView>> for ArticlePage {
    fn from(page: Page<CardView>) -> Self {
        let page = page.map(ArticleSummary::from);
        Self {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ArticleList {
    pub items: Vec<ArticleSummary>,
}

#[derive(Debug, Clone, Object)]
pub struct Category {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub sort_order: i32,
    /// Published articles in this category.
    pub article_count: i64,
}

impl From<Counted<category::Model>> for Category {
    fn from(c: Counted<category::Model>) -> Self {
        let article_count = c.article_count;
        Self::with_count(c.item, article_count)
    }
}

impl Category {
    pub fn with_count(c: category::Model, article_count: i64) -> Self {
        Self {
            id: c.id,
            slug: c.slug,
            name: c.name,
            description: c.description,
            sort_order: c.sort_order,
            article_count,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct CategoryList {
    pub items: Vec<Category>,
}

#[derive(Debug, Clone, Object)]
pub struct Tag {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// Published articles with this tag.
    pub article_count: i64,
}

impl Tag {
    pub fn with_count(t: tag::Model, article_count: i64) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            article_count,
        }
    }
}

impl From<Counted<tag::Model>> for Tag {
    fn from(t: Counted<tag::Model>) -> Self {
        let article_count = t.article_count;
        Self::with_count(t.item, article_count)
    }
}

#[derive(Debug, Clone, Object)]
pub struct TagList {
    pub items: Vec<Tag>,
}

#[derive(Debug, Clone, Object)]
pub struct DownloadLink {
    /// e.g. `windows`, `macos`, `linux`, `android`, `source`.
    pub platform: String,
    pub url: String,
    #[oai(nullable)]
    pub label: Option<String>,
}

impl From<resource::DownloadLink> for DownloadLink {
    fn from(l: resource::DownloadLink) -> Self {
        Self {
            platform: l.platform,
            url: l.url,
            label: l.label,
        }
    }
}

/// A curated software download (资源下载).
#[derive(Debug, Clone, Object)]
pub struct Resource {
    pub id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub homepage: String,
    pub download_links: Vec<DownloadLink>,
    pub version: String,
    pub license: String,
    pub category: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<resource::Model> for Resource {
    fn from(r: resource::Model) -> Self {
        Self {
            id: r.id,
            name: r.name,
            summary: r.summary,
            description: r.description,
            homepage: r.homepage,
            download_links: r.download_links.0.into_iter().map(Into::into).collect(),
            version: r.version,
            license: r.license,
            category: r.category,
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ResourcePage {
    pub items: Vec<Resource>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<Page<resource::Model>> for ResourcePage {
    fn from(page: Page<resource::Model>) -> Self {
        let page = page.map(Resource::from);
        Self {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Harmony,
}

impl From<Platform> for app_release::Platform {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Android => Self::Android,
            Platform::Ios => Self::Ios,
            Platform::Harmony => Self::Harmony,
        }
    }
}

impl From<app_release::Platform> for Platform {
    fn from(p: app_release::Platform) -> Self {
        match p {
            app_release::Platform::Android => Self::Android,
            app_release::Platform::Ios => Self::Ios,
            app_release::Platform::Harmony => Self::Harmony,
        }
    }
}

/// Where the app was installed from (closed set; anything else is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Channel {
    Official,
    Appstore,
    Huawei,
    Xiaomi,
    Oppo,
    Vivo,
    Honor,
}

impl From<Channel> for app_release::Channel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Official => Self::Official,
            Channel::Appstore => Self::Appstore,
            Channel::Huawei => Self::Huawei,
            Channel::Xiaomi => Self::Xiaomi,
            Channel::Oppo => Self::Oppo,
            Channel::Vivo => Self::Vivo,
            Channel::Honor => Self::Honor,
        }
    }
}

impl From<app_release::Channel> for Channel {
    fn from(c: app_release::Channel) -> Self {
        match c {
            app_release::Channel::Official => Self::Official,
            app_release::Channel::Appstore => Self::Appstore,
            app_release::Channel::Huawei => Self::Huawei,
            app_release::Channel::Xiaomi => Self::Xiaomi,
            app_release::Channel::Oppo => Self::Oppo,
            app_release::Channel::Vivo => Self::Vivo,
            app_release::Channel::Honor => Self::Honor,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AppRelease {
    pub id: i64,
    pub platform: Platform,
    pub channel: Channel,
    pub version: String,
    pub build: i64,
    pub min_supported_version: String,
    /// The share of devices offered this release, 0..=10000.
    pub rollout_basis_points: i32,
    /// A halted release is offered to nobody.
    pub halted: bool,
    pub size_bytes: i64,
    pub download_url: String,
    /// Lowercase hex SHA-256 of the package, when known.
    #[oai(nullable)]
    pub sha256: Option<String>,
    /// Release notes in zh-CN.
    pub notes: String,
    /// Release notes in English.
    pub notes_en: String,
    pub created_at: Timestamp,
}

impl From<app_release::Model> for AppRelease {
    fn from(r: app_release::Model) -> Self {
        Self {
            id: r.id,
            platform: r.platform.into(),
            channel: r.channel.into(),
            version: r.version,
            build: r.build,
            min_supported_version: r.min_supported_version,
            rollout_basis_points: r.rollout_basis_points,
            halted: r.halted,
            size_bytes: r.size_bytes,
            download_url: r.download_url,
            sha256: r.sha256,
            notes: r.notes,
            notes_en: r.notes_en,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AppReleaseList {
    pub items: Vec<AppRelease>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

/// A user's own profile (我的).
#[derive(Debug, Clone, Object)]
pub struct UserProfile {
    pub id: i64,
    pub username: String,
    pub nickname: String,
    #[oai(nullable)]
    pub avatar_url: Option<String>,
    pub bio: String,
    pub role: Role,
    pub created_at: Timestamp,
}

impl From<entity::user::Model> for UserProfile {
    fn from(u: entity::user::Model) -> Self {
        Self {
            id: u.id,
            username: u.username,
            nickname: u.nickname,
            avatar_url: u.avatar_url,
            bio: u.bio,
            role: u.role.into(),
            created_at: u.created_at.into(),
        }
    }
}

/// Another user as the public sees them.
#[derive(Debug, Clone, Object)]
pub struct UserBrief {
    pub id: i64,
    pub nickname: String,
    #[oai(nullable)]
    pub avatar_url: Option<String>,
}

impl From<entity::user::Model> for UserBrief {
    fn from(u: entity::user::Model) -> Self {
        Self {
            id: u.id,
            nickname: u.nickname,
            avatar_url: u.avatar_url,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ModerationState {
    Pending,
    Published,
    Hidden,
    Deleted,
}

impl From<entity::moderation::ModerationStatus> for ModerationState {
    fn from(s: entity::moderation::ModerationStatus) -> Self {
        use entity::moderation::ModerationStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::Published => Self::Published,
            S::Hidden => Self::Hidden,
            S::Deleted => Self::Deleted,
        }
    }
}

impl From<ModerationState> for entity::moderation::ModerationStatus {
    fn from(s: ModerationState) -> Self {
        match s {
            ModerationState::Pending => Self::Pending,
            ModerationState::Published => Self::Published,
            ModerationState::Hidden => Self::Hidden,
            ModerationState::Deleted => Self::Deleted,
        }
    }
}
