//! The qshare command line: `serve` (the default), `migrate`, `seed-demo`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use qshare::{Application, Settings, db, service::demo_content, telemetry};

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
    /// Seed demo content into an empty database (or bulk articles for measurements).
    SeedDemo {
        /// Instead of the demo set, add this many generated published articles.
        #[arg(long)]
        bulk: Option<usize>,
    },
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
        Command::SeedDemo { bulk } => {
            let database = db::connect(&settings.database).await?;
            db::migrate(&database).await?;
            match bulk {
                Some(count) => {
                    demo_content::seed_bulk(&database, count).await?;
                    tracing::info!(count, "bulk articles added");
                }
                None if demo_content::is_empty(&database).await? => {
                    demo_content::seed(&database).await?;
                    tracing::info!("demo content seeded");
                }
                None => tracing::warn!("the database already has content; nothing seeded"),
            }
        }
    }
    Ok(())
}
