//! The qshare command line: `serve` (the default), `migrate`, `admin create`, `seed-demo`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use qshare::{
    Application, Settings,
    cache::{Cache, read_through::ReadCache},
    db,
    service::{
        accounts,
        audit::{self, Actor, Entry},
        demo_content,
    },
    telemetry,
};
use serde_json::json;

#[derive(Parser)]
#[command(name = "qshare", version, about = "qshare backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Seed demo content into an empty database (or bulk articles for measurements).
    SeedDemo {
        /// Instead of the demo set, add this many generated published articles.
        #[arg(long)]
        bulk: Option<usize>,
        /// With --bulk: varied Chinese and English tech text (the search benchmark).
        #[arg(long, requires = "bulk")]
        search_corpus: bool,
        /// Also add this many anonymous devices (the device push benchmark), of
        /// --device-provider.
        #[arg(long)]
        devices: Option<usize>,
        #[arg(long, value_enum, default_value = "apns", requires = "devices")]
        device_provider: DeviceProvider,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DeviceProvider {
    Apns,
    Fcm,
    Harmony,
}

impl From<DeviceProvider> for entity::device::Provider {
    fn from(p: DeviceProvider) -> Self {
        match p {
            DeviceProvider::Apns => Self::Apns,
            DeviceProvider::Fcm => Self::Fcm,
            DeviceProvider::Harmony => Self::Harmony,
        }
    }
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator (or promote the user with this name and password).
    Create {
        #[arg(long)]
        username: String,
        /// Read from standard input when omitted (keeps it out of the shell history).
        #[arg(long)]
        password: Option<String>,
    },
}

fn read_password_from_stdin() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load().context("configuration")?;
    telemetry::init(&settings.log);
    tracing::debug!(?settings, "settings loaded");

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let database = db::connect(&settings.database).await?;
            db::migrate(&database).await?;
            tracing::info!("migrations applied");
        }
        Command::Admin {
            command: AdminCommand::Create { username, password },
        } => {
            let password = match password {
                Some(p) => p,
                None => read_password_from_stdin()?,
            };
            let database = db::connect(&settings.database).await?;
            db::migrate(&database).await?;
            let admin = accounts::create_admin(&database, &username, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // After the fact: the account exists now whether or not the entry is written.
            let entry = Entry::new("user.create_admin", "user", admin.id)
                .after(json!({ "username": admin.username, "role": admin.role }));
            audit::record_after(&database, &Actor::cli(), entry).await;
            println!(
                "administrator {} (id {}) is ready",
                admin.username, admin.id
            );
        }
        Command::SeedDemo {
            bulk,
            search_corpus,
            devices,
            device_provider,
        } => {
            let database = db::connect(&settings.database).await?;
            db::migrate(&database).await?;
            if let Some(count) = devices {
                demo_content::seed_bulk_devices(&database, device_provider.into(), count).await?;
                tracing::info!(count, "bulk devices added");
            }
            // Through the configured cache, so that running servers see the new content.
            let read_cache = ReadCache::start(Cache::from_settings(&settings.cache)?).await;
            match bulk {
                Some(count) if search_corpus => {
                    demo_content::seed_bulk_search_corpus(&database, count).await?;
                    read_cache.invalidate().await;
                    tracing::info!(count, "bulk search corpus added");
                }
                Some(count) => {
                    demo_content::seed_bulk(&database, count).await?;
                    read_cache.invalidate().await;
                    tracing::info!(count, "bulk articles added");
                }
                None if demo_content::is_empty(&database).await? => {
                    demo_content::seed(&database, &read_cache).await?;
                    tracing::info!("demo content seeded");
                }
                None if devices.is_some() => {}
                None => tracing::warn!("the database already has content; nothing seeded"),
            }
        }
    }
    Ok(())
}
