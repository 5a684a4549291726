//! Demo content for a fresh database: what a new user sees on the first `cargo run`.
//! The texts are our own short introductions; each names its (fictional-path) source page.

use chrono::Duration;
use entity::{
    app_release::Platform,
    article::{self, ArticleStatus},
    category, device,
    resource::DownloadLink,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use super::{
    app_releases::{self, ReleaseInput},
    article_admin::{self, NewArticle, default_copyright_notice},
    audit::Actor,
    resources::{self, ResourceInput},
    sync,
    taxonomy::{self, CategoryInput, TagInput},
};
use crate::{cache::read_through::ReadCache, db, error::AppResult, time};

/// True when the database holds no catalogue at all.
pub async fn is_empty(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(article::Entity::find().count(db).await? == 0
        && category::Entity::find().count(db).await? == 0)
}

struct DemoArticle {
    title: &'static str,
    summary: &'static str,
    content: &'static str,
    author: &'static str,
    source_name: &'static str,
    source_url: &'static str,
    category: &'static str,
    tags: &'static [&'static str],
    featured: bool,
}

const CATEGORIES: &[(&str, &str, &str)] = &[
    ("backend", "后端开发", "服务端、数据库与分布式系统"),
    ("frontend", "前端与移动", "Web、小程序与 App 开发"),
    ("devops", "运维与云原生", "部署、监控与基础设施"),
    ("ai", "人工智能", "机器学习与大模型工程"),
];

const TAGS: &[(&str, &str)] = &[
    ("rust", "Rust"),
    ("database", "数据库"),
    ("cache", "缓存"),
    ("wechat", "微信生态"),
    ("linux", "Linux"),
    ("performance", "性能优化"),
    ("kubernetes", "Kubernetes"),
    ("llm", "大模型"),
];

const ARTICLES: &[DemoArticle] = &[
    DemoArticle {
        title: "用 Rust 写 Web 服务：从零到上线",
        summary: "一篇面向后端工程师的 Rust Web 入门：框架选择、错误处理、配置与测试。",
        content: "## 为什么是 Rust\n\n内存安全与零成本抽象让服务在高并发下依然稳定。\n\n## 项目结构\n\n把业务规则放进 service 层，HTTP 层只做提取参数、调用服务和映射错误。\n\n## 测试\n\n用真实的数据库和 HTTP 跑集成测试，比模拟对象更可靠。",
        author: "李明",
        source_name: "Rust 中文社区",
        source_url: "https://rustcc.cn/article?id=rust-web-from-zero",
        category: "backend",
        tags: &["rust", "performance"],
        featured: true,
    },
    DemoArticle {
        title: "Keyset pagination: why OFFSET gets slow",
        summary: "OFFSET scans and throws away rows; a keyset cursor seeks straight to the next page.",
        content: "## The problem\n\n`OFFSET 100000` makes the database read 100,000 rows only to discard them.\n\n## The fix\n\nRemember the sort key of the last row and ask for rows *after* it: `WHERE (published_at, id) < ($1, $2)`. With a matching index every page costs the same.",
        author: "Dana Whitfield",
        source_name: "Use The Index, Luke",
        source_url: "https://use-the-index-luke.com/no-offset",
        category: "backend",
        tags: &["database", "performance"],
        featured: true,
    },
    DemoArticle {
        title: "Redis 缓存失效的三种策略",
        summary: "主动失效、过期时间与版本号：在一致性和性能之间找到平衡。",
        content: "## 主动失效\n\n写操作之后立刻删除受影响的键，并通过发布订阅通知其他实例。\n\n## 过期时间\n\n为所有缓存设置 TTL，作为最后的兜底。\n\n## 防击穿\n\n缓存缺失时只允许一个请求回源重建，其余请求等待或使用旧值。",
        author: "王芳",
        source_name: "掘金",
        source_url: "https://juejin.cn/post/redis-cache-invalidation",
        category: "backend",
        tags: &["cache", "performance"],
        featured: true,
    },
    DemoArticle {
        title: "微信公众号消息加解密详解",
        summary: "安全模式下的 AES-256-CBC、32 字节 PKCS#7 填充与签名校验，一次讲清楚。",
        content: "## 签名\n\n把 token、timestamp、nonce 排序后拼接再做 SHA1。\n\n## 加密\n\n随机 16 字节 + 消息长度 + 明文 + AppID，按 32 字节块填充后用 AES-256-CBC 加密。\n\n## 常见坑\n\n43 位 EncodingAESKey 解码时要容忍末尾的多余比特。",
        author: "陈晓",
        source_name: "微信开放社区",
        source_url: "https://developers.weixin.qq.com/community/develop/article/aes-explained",
        category: "frontend",
        tags: &["wechat"],
        featured: false,
    },
    DemoArticle {
        title: "小程序登录流程：code2Session 实战",
        summary: "从 wx.login 到服务端换取 openid 与 unionid，再签发自己的令牌。",
        content: "## 流程\n\n1. 小程序调用 wx.login 拿到 code；\n2. 服务端调用 jscode2session 换取 openid、unionid；\n3. 服务端签发自己的访问令牌，绝不把 session_key 返回给前端。",
        author: "陈晓",
        source_name: "微信开放社区",
        source_url: "https://developers.weixin.qq.com/community/develop/article/code2session",
        category: "frontend",
        tags: &["wechat"],
        featured: false,
    },
    DemoArticle {
        title: "Graceful shutdown for async services",
        summary: "Stop accepting, drain in-flight requests, finish background work, exit cleanly.",
        content: "## Signals\n\nListen for SIGTERM and SIGINT.\n\n## Draining\n\nStop the listener first, then wait for in-flight requests with a deadline.\n\n## Background work\n\nGive workers a bounded time to finish their current item.",
        author: "Priya Raman",
        source_name: "The Ops Notebook",
        source_url: "https://opsnotebook.example.org/graceful-shutdown",
        category: "devops",
        tags: &["rust", "kubernetes"],
        featured: false,
    },
    DemoArticle {
        title: "Kubernetes 探针：liveness 与 readiness 的区别",
        summary: "存活探针决定是否重启，就绪探针决定是否接流量，别把数据库检查放进存活探针。",
        content: "## liveness\n\n只回答进程是否还活着，越简单越好。\n\n## readiness\n\n检查数据库和缓存是否可用，不可用时摘掉流量而不是重启。",
        author: "赵磊",
        source_name: "云原生实验室",
        source_url: "https://cloudnative.example.cn/k8s-probes",
        category: "devops",
        tags: &["kubernetes"],
        featured: true,
    },
    DemoArticle {
        title: "Reading Linux load average correctly",
        summary: "Load average counts runnable and uninterruptible tasks; it is not CPU usage.",
        content: "## What it counts\n\nTasks running, waiting for CPU, and in uninterruptible sleep (often disk I/O).\n\n## How to read it\n\nCompare with the number of cores, and look at the trend of the 1, 5 and 15 minute values.",
        author: "Tom Becker",
        source_name: "Linux Journal",
        source_url: "https://www.linuxjournal.com/content/load-average-explained",
        category: "devops",
        tags: &["linux", "performance"],
        featured: false,
    },
    DemoArticle {
        title: "大模型应用的缓存设计",
        summary: "语义缓存、提示词模板缓存与结果去重，降低延迟和成本。",
        content: "## 精确缓存\n\n相同输入直接返回结果。\n\n## 语义缓存\n\n向量相似度超过阈值时复用答案，需要谨慎设置阈值。",
        author: "孙悦",
        source_name: "InfoQ 中文",
        source_url: "https://www.infoq.cn/article/llm-cache-design",
        category: "ai",
        tags: &["llm", "cache"],
        featured: false,
    },
    DemoArticle {
        title: "Evaluating LLM outputs without fooling yourself",
        summary: "Hold-out sets, blind comparisons and tracking regressions across prompt changes.",
        content: "## Hold out\n\nKeep an evaluation set you never tune on.\n\n## Compare blind\n\nShow graders two answers without telling them which system produced which.",
        author: "Maya Lindqvist",
        source_name: "ML Engineering Weekly",
        source_url: "https://mlweekly.example.com/evaluating-llm-outputs",
        category: "ai",
        tags: &["llm"],
        featured: false,
    },
    DemoArticle {
        title: "PostgreSQL 中的 FOR UPDATE SKIP LOCKED",
        summary: "用数据库做任务队列：多个工作进程并发领取任务而不互相阻塞。",
        content: "## 用法\n\n`SELECT ... FOR UPDATE SKIP LOCKED LIMIT 100` 让每个工作进程领取不同的行。\n\n## 注意\n\n领取后尽快提交事务，并记录状态以便崩溃后恢复。",
        author: "刘洋",
        source_name: "PostgreSQL 中文社区",
        source_url: "https://www.postgres.cn/articles/skip-locked-queue",
        category: "backend",
        tags: &["database"],
        featured: false,
    },
    DemoArticle {
        title: "Designing idempotent push notifications",
        summary: "A unique row per (campaign, channel, recipient) and a de-duplication key per send.",
        content: "## Uniqueness in the database\n\nLet a unique constraint, not hope, prevent double sends.\n\n## Unknown outcomes\n\nWhen a crash leaves a send in doubt, resend only through a channel that de-duplicates by key.",
        author: "Lucas Moreau",
        source_name: "Backend Patterns",
        source_url: "https://backendpatterns.example.net/idempotent-push",
        category: "backend",
        tags: &["wechat", "database"],
        featured: true,
    },
];

/// Seeds categories, tags, a dozen published articles (some featured), resources and app
/// releases, through the same services the admin API uses (so the audit log shows them as
/// the work of the `demo-seed` system actor).
pub async fn seed(db: &DatabaseConnection, read_cache: &ReadCache) -> AppResult<()> {
    let actor = &Actor::system("demo-seed");
    let mut category_ids = std::collections::HashMap::new();
    for (i, (slug, name, description)) in CATEGORIES.iter().enumerate() {
        let c = taxonomy::create_category(
            db,
            actor,
            CategoryInput {
                slug: Some(slug.to_string()),
                name: Some(name.to_string()),
                description: Some(description.to_string()),
                sort_order: Some(i as i32),
            },
        )
        .await?;
        category_ids.insert(*slug, c.id);
    }
    let mut tag_ids = std::collections::HashMap::new();
    for (slug, name) in TAGS {
        let t = taxonomy::create_tag(
            db,
            actor,
            TagInput {
                slug: Some(slug.to_string()),
                name: Some(name.to_string()),
            },
        )
        .await?;
        tag_ids.insert(*slug, t.id);
    }
    for demo in ARTICLES {
        let created = article_admin::create(
            db,
            actor,
            NewArticle {
                title: demo.title.into(),
                summary: demo.summary.into(),
                content: demo.content.into(),
                cover_url: None,
                author: demo.author.into(),
                source_url: demo.source_url.into(),
                source_name: demo.source_name.into(),
                copyright_notice: None,
                category_id: category_ids.get(demo.category).copied(),
                tag_ids: demo
                    .tags
                    .iter()
                    .filter_map(|t| tag_ids.get(t).copied())
                    .collect(),
            },
        )
        .await?;
        article_admin::publish(db, read_cache, actor, created.article.id).await?;
        if demo.featured {
            article_admin::set_featured(db, read_cache, actor, created.article.id, true).await?;
        }
    }

    let link = |platform: &str, url: &str| DownloadLink {
        platform: platform.into(),
        url: url.into(),
        label: None,
    };
    let demo_resources = [
        ResourceInput {
            name: Some("Nacos".into()),
            summary: Some("服务发现与配置管理中心".into()),
            description: Some("动态服务发现、配置管理和服务管理平台，适合微服务架构。".into()),
            homepage: Some("https://nacos.io".into()),
            download_links: Some(vec![link(
                "source",
                "https://github.com/alibaba/nacos/releases",
            )]),
            version: Some("2.4.3".into()),
            license: Some("Apache-2.0".into()),
            category: Some("service-discovery".into()),
        },
        ResourceInput {
            name: Some("Debian".into()),
            summary: Some("稳定可靠的 Linux 发行版".into()),
            description: Some("以稳定著称的通用操作系统，服务器与桌面皆宜。".into()),
            homepage: Some("https://www.debian.org".into()),
            download_links: Some(vec![
                link("amd64", "https://www.debian.org/distrib/netinst"),
                link("arm64", "https://www.debian.org/distrib/netinst#smallcd"),
            ]),
            version: Some("12.8".into()),
            license: Some("DFSG".into()),
            category: Some("os".into()),
        },
        ResourceInput {
            name: Some("Neovim".into()),
            summary: Some("可扩展的现代文本编辑器".into()),
            description: Some("Vim 的现代分支，内置 LSP 客户端与 Lua 插件体系。".into()),
            homepage: Some("https://neovim.io".into()),
            download_links: Some(vec![
                link("windows", "https://github.com/neovim/neovim/releases"),
                link("macos", "https://github.com/neovim/neovim/releases"),
                link("linux", "https://github.com/neovim/neovim/releases"),
            ]),
            version: Some("0.10.2".into()),
            license: Some("Apache-2.0".into()),
            category: Some("editor".into()),
        },
    ];
    for input in demo_resources {
        resources::create(db, actor, input).await?;
    }

    for (platform, url) in [
        (
            Platform::Android,
            "https://qshare.example.com/download/qshare-2.1.0.apk",
        ),
        (
            Platform::Ios,
            "https://apps.apple.com/app/qshare/id0000000000",
        ),
        (
            Platform::Harmony,
            "https://appgallery.huawei.com/app/qshare",
        ),
    ] {
        for (version, minimum, notes) in [
            ("2.0.0", "1.5.0", "全新首页与精选频道"),
            ("2.1.0", "1.8.0", "支持微信登录；修复若干问题"),
        ] {
            app_releases::create(
                db,
                actor,
                ReleaseInput {
                    platform: Some(platform),
                    version: Some(version.into()),
                    min_supported_version: Some(minimum.into()),
                    size_bytes: Some(24_117_248),
                    download_url: Some(url.into()),
                    notes: Some(notes.into()),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Inserts `count` generated published articles (for benchmarks and depth measurements),
/// one minute apart, in batches.
pub async fn seed_bulk(db: &DatabaseConnection, count: usize) -> AppResult<()> {
    seed_bulk_with(db, count, |i| {
        (
            format!("Bulk article {i}"),
            format!("Generated article number {i} for measurements."),
            format!("## Article {i}\n\nGenerated content."),
        )
    })
    .await
}

/// Like `seed_bulk`, with varied Chinese and English tech text (title, summary, a body of a
/// few hundred characters) for the search benchmark.
pub async fn seed_bulk_search_corpus(db: &DatabaseConnection, count: usize) -> AppResult<()> {
    const ZH: &[&str] = &[
        "微服务",
        "负载均衡",
        "消息队列",
        "阿里云",
        "小程序",
        "分布式锁",
        "缓存失效",
        "数据库",
        "容器编排",
        "性能优化",
        "异步编程",
        "垃圾回收",
        "全文检索",
        "中文分词",
        "高可用",
        "限流",
        "灰度发布",
        "监控告警",
        "链路追踪",
        "连接池",
        "事务",
        "索引",
        "向量检索",
        "大模型",
    ];
    const EN: &[&str] = &[
        "Redis",
        "Kafka",
        "Rust",
        "Tokio",
        "Kubernetes",
        "Docker",
        "PostgreSQL",
        "MySQL",
        "Nginx",
        "Java",
        "Go",
        "React",
        "Vue",
        "gRPC",
        "Elasticsearch",
        "Spring",
        "Istio",
        "Linux",
        "WebAssembly",
        "TypeScript",
        "Python",
        "Prometheus",
        "Terraform",
    ];
    const KIND: &[&str] = &[
        "实战",
        "入门",
        "原理",
        "踩坑记录",
        "最佳实践",
        "源码分析",
        "guide",
        "internals",
    ];
    seed_bulk_with(db, count, |i| {
        let zh = |k: usize| ZH[(i * 7 + k * 13) % ZH.len()];
        let en = |k: usize| EN[(i * 5 + k * 11) % EN.len()];
        let title = format!("{} {}{} #{i}", en(0), zh(0), KIND[i % KIND.len()]);
        let summary = format!("用 {} 和 {} 解决{}的问题", en(1), en(2), zh(1));
        let body = (0..6)
            .map(|k| {
                format!(
                    "在生产环境里，{}与{}经常一起出现。We tuned {} and {} for {} workloads. ",
                    zh(k + 2),
                    zh(k + 3),
                    en(k + 3),
                    en(k + 4),
                    zh(k + 5)
                )
            })
            .collect::<String>();
        (title, summary, body)
    })
    .await
}

async fn seed_bulk_with(
    db: &DatabaseConnection,
    count: usize,
    text: impl Fn(usize) -> (String, String, String),
) -> AppResult<()> {
    const BATCH: usize = 500;
    let start = time::now() - Duration::minutes(count as i64 + 1);
    let category_id = category::Entity::find().one(db).await?.map(|c| c.id);
    for chunk_start in (0..count).step_by(BATCH) {
        let models = (chunk_start..(chunk_start + BATCH).min(count)).map(|i| {
            let at = start + Duration::minutes(i as i64);
            let source_url = format!("https://bench.example.com/articles/{i}");
            let (title, summary, content) = text(i);
            article::ActiveModel {
                title: Set(title),
                summary: Set(summary),
                content: Set(content),
                cover_url: Set(None),
                author: Set("qshare bench".into()),
                copyright_notice: Set(default_copyright_notice("Bench", &source_url)),
                source_url: Set(source_url),
                source_name: Set("Bench".into()),
                category_id: Set(category_id),
                status: Set(ArticleStatus::Published),
                published_at: Set(Some(at)),
                featured: Set(i % 10 == 0),
                featured_at: Set((i % 10 == 0).then_some(at)),
                view_count: Set(0),
                like_count: Set(0),
                comment_count: Set(0),
                favorite_count: Set(0),
                created_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            }
        });
        // One transaction per batch, entered in the sync's change log like any publication.
        let urls: Vec<String> = (chunk_start..(chunk_start + BATCH).min(count))
            .map(|i| format!("https://bench.example.com/articles/{i}"))
            .collect();
        let txn = db::begin_write(db).await?;
        article::Entity::insert_many(models).exec(&txn).await?;
        let ids: Vec<i64> = article::Entity::find()
            .select_only()
            .column(article::Column::Id)
            .filter(article::Column::SourceUrl.is_in(urls))
            .into_tuple()
            .all(&txn)
            .await?;
        sync::record(&txn, &ids).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// The token of generated device `i` of `provider` (benchmarks): 64 hex digits for APNs, a
/// registration-token-like string otherwise. `scripts/bench-device-push.sh` sends its bare
/// loop to the same tokens.
pub fn bulk_device_token(provider: device::Provider, i: usize) -> String {
    match provider {
        device::Provider::Apns => format!("{:064x}", 0xbe4c_0000_0000_0000u64 + i as u64),
        device::Provider::Fcm => format!("bench-fcm:APA91b{i:09}"),
        device::Provider::Harmony => format!("bench-harmony-{i:09}"),
    }
}

/// Inserts `count` anonymous, valid devices of `provider` (benchmarks), in batches; a token
/// that already exists is left as it is, so running it twice adds nothing.
pub async fn seed_bulk_devices(
    db: &DatabaseConnection,
    provider: device::Provider,
    count: usize,
) -> AppResult<()> {
    use sea_orm::sea_query::OnConflict;
    const BATCH: usize = 1000;
    let now = time::now();
    for start in (0..count).step_by(BATCH) {
        let rows = (start..(start + BATCH).min(count)).map(|i| device::ActiveModel {
            provider: Set(provider),
            token: Set(bulk_device_token(provider, i)),
            user_id: Set(None),
            session_id: Set(None),
            secret_hash: Set(None),
            app_id: Set(None),
            environment: Set(device::Environment::Production),
            locale: Set(if i % 5 == 0 { "en-US" } else { "zh-CN" }.into()),
            timezone: Set("Asia/Shanghai".into()),
            app_version: Set(Some("1.0.0".into())),
            opted_out: Set(false),
            quiet_start_minute: Set(None),
            quiet_end_minute: Set(None),
            invalid_at: Set(None),
            invalid_reason: Set(None),
            registered_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        device::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([device::Column::Provider, device::Column::Token])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
