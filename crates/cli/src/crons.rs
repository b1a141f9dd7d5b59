//! `eddy crons ls|run`: the cron jobs of a project's production deployment and their runs.

use std::path::Path;

use clap::{Args, Subcommand};

use crate::deploy::{Connection, project};

#[derive(Debug, Args)]
pub struct CronsArgs {
    #[command(subcommand)]
    command: CronsCommand,
    /// The project. Default: the current directory's name.
    #[arg(long, global = true)]
    project: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum CronsCommand {
    /// List the cron jobs and their latest runs.
    Ls,
    /// Run a cron job now (as its schedule would) and print the result.
    Run {
        /// The cron's path, as in vercel.json (`/api/cron`).
        path: String,
    },
}

pub async fn run(args: CronsArgs) -> anyhow::Result<()> {
    let project = project(args.project.as_deref(), Path::new("."))?;
    let client = args.connection.client()?;
    match args.command {
        CronsCommand::Ls => {
            let list = client.crons(&project).await?;
            match &list.deployment {
                Some(id) => println!("Crons of {project} (production deployment {id}):"),
                None => println!("{project} has no production deployment, so no crons run"),
            }
            for cron in &list.crons {
                println!("  {:<20} {}", cron.schedule, cron.path);
            }
            if !list.runs.is_empty() {
                println!("Runs:");
            }
            for run in &list.runs {
                println!(
                    "  {} {:<9} {:<24} {} {}",
                    run.started_at.format("%Y-%m-%d %H:%M:%S"),
                    run.trigger,
                    run.path,
                    run.status.map_or("-".to_owned(), |s| s.to_string()),
                    run.error.as_deref().unwrap_or(""),
                );
            }
        }
        CronsCommand::Run { path } => {
            let run = client.run_cron(&project, &path).await?;
            match (run.status, run.error) {
                (Some(status), _) => println!(
                    "Ran {path} of {project}: {status} in {} ms",
                    run.duration_ms.unwrap_or(0)
                ),
                (None, error) => anyhow::bail!(
                    "cron {path} of {project} could not run: {}",
                    error.unwrap_or_default()
                ),
            }
        }
    }
    Ok(())
}
