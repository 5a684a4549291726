//! The relevance suite: a fixed corpus of Chinese and English tech articles and labelled
//! queries (graded 1..3), run through `GET /api/search`. Exact-title queries must find their
//! article in the top 10 (recall@10 = 1), and the mean nDCG@10 must reach 0.8. The figures
//! are printed (`cargo test --test api search_relevance -- --nocapture`).

use std::collections::HashMap;

use serde_json::json;

use crate::{
    helpers::spawn_app,
    search::{hit_ids, search},
};

struct Doc {
    key: &'static str,
    title: &'static str,
    summary: &'static str,
    body: &'static str,
    tags: &'static [&'static str],
    category: &'static str,
}

const fn doc(
    key: &'static str,
    title: &'static str,
    summary: &'static str,
    body: &'static str,
    tags: &'static [&'static str],
    category: &'static str,
) -> Doc {
    Doc {
        key,
        title,
        summary,
        body,
        tags,
        category,
    }
}

const CORPUS: &[Doc] = &[
    doc(
        "redis-cache",
        "Redis 缓存失效策略详解",
        "讲解 Redis 的过期删除与内存淘汰",
        "LRU 与 LFU 的取舍，cache invalidation 的常见做法。",
        &["Redis", "缓存"],
        "后端",
    ),
    doc(
        "redis-cluster",
        "Redis Cluster 集群搭建实战",
        "分片与主从复制",
        "16384 个 hash slot 如何分配到节点。",
        &["Redis"],
        "后端",
    ),
    doc(
        "cache-penetration",
        "缓存穿透、击穿与雪崩",
        "高并发下的三个缓存问题",
        "用布隆过滤器挡住不存在的 key，热点 key 加互斥锁。",
        &["缓存"],
        "后端",
    ),
    doc(
        "rust-async",
        "Rust 异步编程入门",
        "Future、async/await 与运行时",
        "executor 轮询 future，waker 负责唤醒。",
        &["Rust"],
        "编程语言",
    ),
    doc(
        "rust-ownership",
        "理解 Rust 的所有权与借用检查",
        "内存安全而无需垃圾回收",
        "The borrow checker enforces lifetimes at compile time.",
        &["Rust"],
        "编程语言",
    ),
    doc(
        "tokio-runtime",
        "Tokio runtime internals",
        "How the scheduler steals work",
        "Work stealing, the reactor and epoll readiness events.",
        &["Rust"],
        "编程语言",
    ),
    doc(
        "aliyun-oss",
        "阿里云 OSS 对象存储上手",
        "上传下载与权限配置",
        "Bucket 策略与 STS 临时凭证。",
        &["阿里云", "存储"],
        "云计算",
    ),
    doc(
        "aliyun-slb",
        "阿里云负载均衡 SLB 配置指南",
        "四层与七层转发",
        "健康检查与会话保持的设置。",
        &["阿里云", "网络"],
        "云计算",
    ),
    doc(
        "nginx-lb",
        "Nginx 负载均衡与反向代理",
        "upstream 配置详解",
        "轮询、加权与 ip_hash 三种方式。",
        &["Nginx"],
        "运维",
    ),
    doc(
        "microservice-arch",
        "微服务架构设计原则",
        "拆分、治理与注册中心",
        "服务发现与熔断 circuit breaker 的位置。",
        &["微服务", "架构"],
        "架构",
    ),
    doc(
        "spring-cloud",
        "Spring Cloud 微服务实战",
        "Eureka、Feign 与 Gateway",
        "用 Java 搭一套完整的服务。",
        &["Java", "微服务"],
        "架构",
    ),
    doc(
        "service-mesh",
        "Service Mesh 与 Istio 入门",
        "sidecar 模式的代价",
        "Envoy 组成的服务网格接管流量。",
        &["Kubernetes", "微服务"],
        "架构",
    ),
    doc(
        "kafka-mq",
        "Kafka 消息队列原理",
        "分区、副本与消费者组",
        "高吞吐来自顺序写与零拷贝。",
        &["Kafka", "消息队列"],
        "后端",
    ),
    doc(
        "rabbitmq",
        "RabbitMQ 消息可靠投递",
        "确认机制与死信队列",
        "exchange 与 binding 的路由规则。",
        &["消息队列"],
        "后端",
    ),
    doc(
        "mq-compare",
        "Message queues compared: Kafka vs RabbitMQ vs Pulsar",
        "Throughput and delivery semantics",
        "Exactly once delivery is rarely what you get.",
        &["Kafka", "消息队列"],
        "后端",
    ),
    doc(
        "miniprogram-login",
        "微信小程序登录流程",
        "code2session 与 unionid",
        "openid 与 session_key 的保存。",
        &["小程序", "微信"],
        "移动端",
    ),
    doc(
        "miniprogram-perf",
        "小程序性能优化实践",
        "首屏渲染与分包加载",
        "减少 setData 的频率与数据量。",
        &["小程序", "性能"],
        "移动端",
    ),
    doc(
        "java-security",
        "Java 安全编码规范",
        "防止 SQL 注入与反序列化漏洞",
        "参数化查询与白名单校验。",
        &["Java", "安全"],
        "编程语言",
    ),
    doc(
        "java-gc",
        "Java 垃圾回收器对比：G1 与 ZGC",
        "停顿时间与吞吐的平衡",
        "The G1 garbage collector splits the heap into regions.",
        &["Java", "JVM"],
        "编程语言",
    ),
    doc(
        "k8s-deploy",
        "Kubernetes deployment strategies",
        "Rolling updates, blue-green and canary",
        "kubectl rollout undo saves the day.",
        &["Kubernetes"],
        "运维",
    ),
    doc(
        "k8s-hpa",
        "Kubernetes 弹性伸缩 HPA",
        "基于 CPU 与自定义指标",
        "metrics-server 提供资源指标。",
        &["Kubernetes"],
        "运维",
    ),
    doc(
        "docker-image",
        "Docker 镜像瘦身技巧",
        "多阶段构建",
        "alpine 与 distroless 基础镜像。",
        &["Docker", "容器"],
        "运维",
    ),
    doc(
        "postgres-index",
        "PostgreSQL 索引优化",
        "B-tree、GIN 与部分索引",
        "EXPLAIN ANALYZE 读执行计划。",
        &["PostgreSQL", "数据库"],
        "数据库",
    ),
    doc(
        "mysql-tx",
        "MySQL 事务隔离级别",
        "脏读、幻读与 MVCC",
        "可重复读下的 gap lock。",
        &["MySQL", "数据库"],
        "数据库",
    ),
    doc(
        "sql-tuning",
        "Slow query tuning in MySQL",
        "Reading the execution plan",
        "A covering index avoids the table lookup.",
        &["MySQL"],
        "数据库",
    ),
    doc(
        "llm-eval",
        "大模型评测方法",
        "如何评估大语言模型",
        "benchmark 的数据泄漏问题。",
        &["AI"],
        "人工智能",
    ),
    doc(
        "rag",
        "RAG: retrieval augmented generation explained",
        "Vector databases and chunking",
        "Embeddings go into 向量检索 before generation.",
        &["AI"],
        "人工智能",
    ),
    doc(
        "vector-db",
        "向量数据库选型",
        "Milvus、Qdrant 与 pgvector",
        "召回率与延迟的权衡。",
        &["AI", "数据库"],
        "人工智能",
    ),
    doc(
        "chinese-seg",
        "中文分词与全文检索",
        "词典与统计方法",
        "jieba 的词典，倒排索引的结构。",
        &["搜索"],
        "后端",
    ),
    doc(
        "elasticsearch",
        "Elasticsearch 集群调优",
        "分片数量与刷新间隔",
        "refresh_interval 与 translog。",
        &["搜索"],
        "后端",
    ),
    doc(
        "go-concurrency",
        "Go 并发模式",
        "goroutine 与 channel",
        "fan-in、fan-out 与 context 取消。",
        &["Go"],
        "编程语言",
    ),
    doc(
        "go-gc",
        "Go memory model and garbage collector",
        "Tri-color marking",
        "Write barriers keep the marking correct.",
        &["Go"],
        "编程语言",
    ),
    doc(
        "frontend-react",
        "React 状态管理方案对比",
        "Redux、Zustand 与 Context",
        "选择取决于团队规模。",
        &["前端"],
        "前端",
    ),
    doc(
        "vue3",
        "Vue 3 响应式原理",
        "Proxy 与依赖收集",
        "effect 与 track、trigger。",
        &["前端"],
        "前端",
    ),
    doc(
        "distributed-lock",
        "基于 Redis 的分布式锁",
        "SETNX 与 Redlock",
        "锁的过期时间与续约。",
        &["Redis", "分布式"],
        "后端",
    ),
    doc(
        "distributed-tx",
        "分布式事务：2PC、TCC 与 Saga",
        "一致性的取舍",
        "补偿操作要幂等。",
        &["分布式"],
        "后端",
    ),
    doc(
        "tencent-scf",
        "腾讯云函数 SCF 部署 Node.js",
        "无服务器实践",
        "冷启动与预置并发。",
        &["Serverless"],
        "云计算",
    ),
    doc(
        "traditional",
        "雲原生應用的可觀測性",
        "日誌、指標與鏈路追蹤",
        "OpenTelemetry 統一三種信號。",
        &["云原生"],
        "云计算",
    ),
    doc(
        "fullwidth",
        "ＧｉｔＨｕｂ Ａｃｔｉｏｎｓ 持续集成",
        "自动化测试与部署",
        "workflow 写在 yaml 里。",
        &["CI"],
        "运维",
    ),
    doc(
        "body-only",
        "一次线上故障复盘",
        "凌晨三点的告警",
        "根因是数据库连接池配置过小，HikariCP 的 maximumPoolSize 只有 10。",
        &["运维"],
        "运维",
    ),
    doc(
        "body-only-2",
        "Weekly notes #42",
        "Odds and ends",
        "A deep dive into epoll edge-triggered mode.",
        &[],
        "后端",
    ),
    doc(
        "grpc",
        "gRPC 与 Protobuf 入门",
        "接口定义与代码生成",
        "HTTP/2 上的双向流。",
        &["RPC"],
        "后端",
    ),
];

/// (query, exact title?, [(doc key, grade)]).
type Labelled = (&'static str, bool, &'static [(&'static str, u8)]);

const QUERIES: &[Labelled] = &[
    // Exact titles.
    ("Redis 缓存失效策略详解", true, &[("redis-cache", 3)]),
    (
        "Kafka 消息队列原理",
        true,
        &[("kafka-mq", 3), ("mq-compare", 1), ("rabbitmq", 1)],
    ),
    ("微服务架构设计原则", true, &[("microservice-arch", 3)]),
    ("阿里云负载均衡 SLB 配置指南", true, &[("aliyun-slb", 3)]),
    ("Tokio runtime internals", true, &[("tokio-runtime", 3)]),
    ("微信小程序登录流程", true, &[("miniprogram-login", 3)]),
    ("Java 安全编码规范", true, &[("java-security", 3)]),
    (
        "Kubernetes deployment strategies",
        true,
        &[("k8s-deploy", 3)],
    ),
    ("中文分词与全文检索", true, &[("chinese-seg", 3)]),
    (
        "分布式事务：2PC、TCC 与 Saga",
        true,
        &[("distributed-tx", 3)],
    ),
    ("雲原生應用的可觀測性", true, &[("traditional", 3)]),
    ("GitHub Actions 持续集成", true, &[("fullwidth", 3)]),
    ("Slow query tuning in MySQL", true, &[("sql-tuning", 3)]),
    ("向量数据库选型", true, &[("vector-db", 3)]),
    // Mixed scripts and several words.
    ("redis cache", false, &[("redis-cache", 3)]),
    ("java 安全", false, &[("java-security", 3)]),
    ("Rust 异步", false, &[("rust-async", 3)]),
    (
        "redis 缓存失效",
        false,
        &[("redis-cache", 3), ("cache-penetration", 1)],
    ),
    ("Go 并发", false, &[("go-concurrency", 3)]),
    ("Vue 响应式原理", false, &[("vue3", 3)]),
    ("小程序 登录", false, &[("miniprogram-login", 3)]),
    ("docker 镜像", false, &[("docker-image", 3)]),
    ("postgresql 索引", false, &[("postgres-index", 3)]),
    (
        "Kafka vs RabbitMQ",
        false,
        &[("mq-compare", 3), ("kafka-mq", 1), ("rabbitmq", 1)],
    ),
    // Vocabulary words and two-character words.
    ("阿里云", false, &[("aliyun-oss", 2), ("aliyun-slb", 2)]),
    ("负载均衡", false, &[("aliyun-slb", 3), ("nginx-lb", 3)]),
    (
        "微服务",
        false,
        &[
            ("microservice-arch", 3),
            ("spring-cloud", 2),
            ("service-mesh", 2),
        ],
    ),
    (
        "消息队列",
        false,
        &[("kafka-mq", 3), ("rabbitmq", 3), ("mq-compare", 2)],
    ),
    (
        "小程序",
        false,
        &[("miniprogram-login", 2), ("miniprogram-perf", 2)],
    ),
    ("分布式锁", false, &[("distributed-lock", 3)]),
    (
        "分布式",
        false,
        &[("distributed-lock", 2), ("distributed-tx", 2)],
    ),
    ("事务", false, &[("mysql-tx", 3), ("distributed-tx", 3)]),
    ("性能", false, &[("miniprogram-perf", 3)]),
    ("集群", false, &[("redis-cluster", 3), ("elasticsearch", 3)]),
    ("镜像", false, &[("docker-image", 3)]),
    ("大模型", false, &[("llm-eval", 3)]),
    ("腾讯云", false, &[("tencent-scf", 3)]),
    ("弹性伸缩", false, &[("k8s-hpa", 3)]),
    ("缓存穿透", false, &[("cache-penetration", 3)]),
    ("所有权", false, &[("rust-ownership", 3)]),
    ("垃圾回收", false, &[("java-gc", 3), ("rust-ownership", 1)]),
    ("反向代理", false, &[("nginx-lb", 3)]),
    ("死信队列", false, &[("rabbitmq", 3)]),
    ("响应式", false, &[("vue3", 3)]),
    ("云原生", false, &[("traditional", 3)]),
    ("可观测性", false, &[("traditional", 3)]),
    // Traditional forms and full width.
    ("阿里雲", false, &[("aliyun-oss", 2), ("aliyun-slb", 2)]),
    ("負載均衡", false, &[("aliyun-slb", 3), ("nginx-lb", 3)]),
    (
        "微服務",
        false,
        &[
            ("microservice-arch", 3),
            ("spring-cloud", 2),
            ("service-mesh", 2),
        ],
    ),
    (
        "ｒｅｄｉｓ",
        false,
        &[
            ("redis-cache", 2),
            ("redis-cluster", 2),
            ("distributed-lock", 2),
        ],
    ),
    ("ＧｉｔＨｕｂ", false, &[("fullwidth", 3)]),
    ("鏈路追蹤", false, &[("traditional", 3)]),
    // Matches only in the body.
    ("连接池", false, &[("body-only", 3)]),
    ("hikaricp", false, &[("body-only", 3)]),
    ("epoll", false, &[("body-only-2", 2), ("tokio-runtime", 2)]),
    ("布隆过滤器", false, &[("cache-penetration", 3)]),
    ("服务网格", false, &[("service-mesh", 3)]),
    ("borrow checker", false, &[("rust-ownership", 3)]),
    ("garbage collector", false, &[("go-gc", 3), ("java-gc", 2)]),
    // Tag matches.
    (
        "redis",
        false,
        &[
            ("redis-cache", 2),
            ("redis-cluster", 2),
            ("distributed-lock", 2),
        ],
    ),
    (
        "kubernetes",
        false,
        &[("k8s-deploy", 2), ("k8s-hpa", 2), ("service-mesh", 1)],
    ),
    ("serverless", false, &[("tencent-scf", 3)]),
    ("jvm", false, &[("java-gc", 3)]),
    (
        "数据库",
        false,
        &[
            ("postgres-index", 2),
            ("mysql-tx", 2),
            ("vector-db", 2),
            ("body-only", 1),
        ],
    ),
    // English stems and prefixes (the reader is still typing).
    ("deployments", false, &[("k8s-deploy", 3)]),
    ("queue", false, &[("mq-compare", 3)]),
    (
        "kube",
        false,
        &[("k8s-deploy", 2), ("k8s-hpa", 2), ("service-mesh", 1)],
    ),
    ("elastic", false, &[("elasticsearch", 3)]),
    (
        "微服",
        false,
        &[
            ("microservice-arch", 3),
            ("spring-cloud", 2),
            ("service-mesh", 2),
        ],
    ),
    // Other single terms.
    ("goroutine", false, &[("go-concurrency", 3)]),
    ("grpc", false, &[("grpc", 3)]),
    ("protobuf", false, &[("grpc", 3)]),
    ("istio", false, &[("service-mesh", 3)]),
    ("mvcc", false, &[("mysql-tx", 3)]),
    ("redlock", false, &[("distributed-lock", 3)]),
    ("retrieval", false, &[("rag", 3)]),
    ("code2session", false, &[("miniprogram-login", 3)]),
    ("canary", false, &[("k8s-deploy", 3)]),
];

fn ndcg_at_10(ranked: &[&str], grades: &HashMap<&str, u8>) -> f64 {
    let gain = |g: u8| f64::from((1u32 << g) - 1);
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, key)| gain(grades.get(key).copied().unwrap_or(0)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u8> = grades.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| gain(*g) / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_queries_reach_full_title_recall_and_ndcg_of_at_least_0_8() {
    assert!(
        QUERIES.len() >= 60,
        "the suite has {} queries",
        QUERIES.len()
    );
    let app = spawn_app().await;
    let mut categories: HashMap<&str, i64> = HashMap::new();
    let mut tags: HashMap<&str, i64> = HashMap::new();
    let mut ids: HashMap<i64, &str> = HashMap::new();
    for d in CORPUS {
        let n = categories.len();
        let category = match categories.get(d.category) {
            Some(id) => *id,
            None => {
                let id = app.create_category(&format!("c{n}"), d.category).await;
                categories.insert(d.category, id);
                id
            }
        };
        let mut tag_ids = Vec::new();
        for t in d.tags {
            let n = tags.len();
            let id = match tags.get(t) {
                Some(id) => *id,
                None => {
                    let id = app.create_tag(&format!("t{n}"), t).await;
                    tags.insert(t, id);
                    id
                }
            };
            tag_ids.push(id);
        }
        let id = app
            .published_article(
                d.title,
                json!({
                    "summary": d.summary,
                    "content": d.body,
                    "category_id": category,
                    "tag_ids": tag_ids,
                    "source_name": "Example",
                }),
            )
            .await;
        ids.insert(id, d.key);
    }

    let mut total = 0.0;
    let mut failures = Vec::new();
    let mut title_queries = 0;
    for (q, exact_title, labels) in QUERIES {
        let page = search(&app, q).await;
        let ranked: Vec<&str> = hit_ids(&page).iter().map(|id| ids[id]).collect();
        let grades: HashMap<&str, u8> = labels.iter().copied().collect();
        let ndcg = ndcg_at_10(&ranked, &grades);
        total += ndcg;
        if *exact_title {
            title_queries += 1;
            let wanted = labels[0].0;
            if !ranked.iter().take(10).any(|k| *k == wanted) {
                failures.push(format!("{q:?}: {wanted} not in the top 10 ({ranked:?})"));
            }
        }
        println!(
            "nDCG@10 {ndcg:.3}  {q:?} -> {:?}",
            &ranked[..ranked.len().min(5)]
        );
    }
    let mean = total / QUERIES.len() as f64;
    println!(
        "relevance: {} queries, {} exact-title queries, recall@10 on titles {}/{}, mean nDCG@10 {mean:.3}",
        QUERIES.len(),
        title_queries,
        title_queries - failures.len(),
        title_queries
    );
    assert!(failures.is_empty(), "exact titles missed: {failures:#?}");
    assert!(mean >= 0.8, "mean nDCG@10 {mean:.3} < 0.8");
}
