use poem_openapi::Tags;

/// OpenAPI tags, one per API module.
#[derive(Tags)]
pub enum ApiTags {
    /// The article catalogue: feed, featured, article pages.
    Articles,
    /// Categories and tags.
    Taxonomy,
    /// Software resources (资源下载).
    Resources,
    /// App update check.
    App,
    /// Admin: articles.
    AdminArticles,
    /// Admin: categories and tags.
    AdminTaxonomy,
    /// Admin: software resources.
    AdminResources,
    /// Admin: app releases.
    AdminReleases,
}
