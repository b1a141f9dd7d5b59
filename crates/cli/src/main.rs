//! The `eddy` binary: a thin layer of verbs over the library crates.

mod build;
mod dev;
mod logging;
mod serve;
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
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
