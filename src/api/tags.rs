use poem_openapi::Tags;

/// OpenAPI tags, one per API module.
#[derive(Tags)]
pub enum ApiTags {
    /// The article catalogue: feed, featured, article pages.
    Articles,
    /// Full-text search and suggestions.
    Search,
    /// Categories and tags.
    Taxonomy,
    /// Software resources (资源下载).
    Resources,
    /// App update check.
    App,
    /// Accounts and tokens.
    Auth,
    /// The current user (我的): profile, likes, favourites, notifications.
    Me,
    /// Devices that receive pushes (APNs, FCM, HarmonyOS), with or without an account.
    Devices,
    /// Comments on articles.
    Comments,
    /// The guestbook (留言).
    Guestbook,
    /// Admin: articles.
    AdminArticles,
    /// Admin: categories and tags.
    AdminTaxonomy,
    /// Admin: software resources.
    AdminResources,
    /// Admin: app releases.
    AdminReleases,
    /// Admin: comment and guestbook moderation.
    AdminModeration,
    /// Admin: scheduled jobs (cron configuration) and their runs.
    AdminJobs,
    /// Admin: WeChat Official Account followers.
    AdminFollowers,
    /// Admin: push campaigns and their deliveries.
    AdminPush,
    /// Admin: the audit log of administrative changes.
    AdminAudit,
    /// Admin: feed sources imported as drafts.
    AdminSources,
    /// Admin: devices registered for push.
    AdminDevices,
}
