//! The `eddy` binary: a thin layer of verbs over the library crates.

mod build;
mod crons;
mod deploy;
mod dev;
mod edge_config;
mod env;
mod logging;
mod logs;
mod serve;
mod serve_data;
mod usage;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// eddy: serve projects written for Vercel Functions on your own machines.
#[derive(Debug, Parser)]
#[command(name = "eddy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a project locally like `vercel dev`: detect functions, watch files, reload on save.
    Dev(dev::DevArgs),
    /// Write the project as a Build Output API v3 tree (`.vercel/output`) that serves on its own.
    Build(build::BuildArgs),
    /// Serve a Build Output API v3 tree (`--output DIR`) as one deployment, without rebuilding.
    Serve(serve::ServeArgs),
    /// Build a project (or take its `.vercel/output` with --prebuilt) and upload it to a
    /// running `eddy serve --data`; prints the deployment URL.
    Deploy(deploy::DeployArgs),
    /// List deployments.
    Ls(deploy::LsArgs),
    /// Point a project's production alias at a deployment.
    Promote(deploy::IdArgs),
    /// Point a project's production alias back at its previous production deployment.
    Rollback(deploy::RollbackArgs),
    /// Remove a deployment (not the production one).
    Rm(deploy::IdArgs),
    /// A project's environment variables.
    Env(env::EnvArgs),
    /// A project's cron jobs.
    Crons(crons::CronsArgs),
    /// Edge Config stores.
    EdgeConfig(edge_config::EdgeConfigArgs),
    /// Usage of deployments over a period.
    Usage(usage::UsageArgs),
    /// Runtime logs of deployments.
    Logs(logs::LogsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => dev::run(args).await,
            Command::Build(args) => build::run(args),
            Command::Serve(args) => serve::run(args).await,
            Command::Deploy(args) => deploy::deploy(args).await,
            Command::Ls(args) => deploy::ls(args).await,
            Command::Promote(args) => deploy::promote(args).await,
            Command::Rollback(args) => deploy::rollback(args).await,
            Command::Rm(args) => deploy::rm(args).await,
            Command::Env(args) => env::run(args).await,
            Command::Crons(args) => crons::run(args).await,
            Command::EdgeConfig(args) => edge_config::run(args).await,
            Command::Usage(args) => usage::run(args).await,
            Command::Logs(args) => logs::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(eddy_control::admin::ClientError::Unreachable { .. }) = error.downcast_ref()
            {
                eprintln!(
                    "hint: start the server with `eddy serve --data DIR`, or point --server (or EDDY_SERVER) at a running one"
                );
            }
            ExitCode::FAILURE
        }
    }
}
