//! Integration tests: one binary (fast to link), one module per area. Every test starts the
//! real application on port 0 with the real migrations, on SQLite + in-process cache by
//! default, or on PostgreSQL + Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set.

mod admin_articles;
mod admin_catalogue;
mod architecture;
mod articles;
mod audit;
mod auth;
mod cache;
mod catalogue;
mod cli;
mod client_ip;
mod comments;
mod config;
mod errors;
mod fault_proxy;
mod guestbook;
mod hardening;
mod helpers;
mod job_timing;
mod jobs;
mod limits;
mod me;
mod metrics;
mod moderation_transition;
mod openapi;
mod ops;
mod push;
mod push_leases;
mod push_process;
mod read_path;
mod resilience;
mod search;
mod search_relevance;
mod shutdown;
mod slow_clients;
mod sql_fault;
mod stored_json;
mod token_rotation;
mod view_flush;
mod wechat_bind;
mod wechat_callback;
mod wechat_client;
mod wechat_login;
mod wechat_replay;
mod write_transactions;
