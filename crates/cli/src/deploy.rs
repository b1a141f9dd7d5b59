//! `eddy deploy`, `ls`, `promote`, `rollback`, `rm`, and the connection every control-plane
//! verb uses: the admin API of a running `eddy serve --data` (only through
//! [`eddy_control::admin::Client`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use eddy_control::admin::Client;
use eddy_control::{ProjectName, Target};

use crate::serve_data::{TOKEN_FILE, URL_FILE};

/// Where the admin API is and the token for it.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The admin API of `eddy serve --data` (also `EDDY_SERVER`). Default: the URL the server
    /// wrote into its data dir on this machine.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// The admin token (also `EDDY_TOKEN`). Default: the token file in the data dir.
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// The data dir of a server on this machine (also `EDDY_DATA`; default `.eddy`), read for
    /// the admin URL and token when they are not given.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl Connection {
    pub fn client(&self) -> anyhow::Result<Client> {
        let data = self
            .data
            .clone()
            .or_else(|| std::env::var_os("EDDY_DATA").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".eddy"));
        let from_file = |name: &str| {
            std::fs::read_to_string(data.join(name))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        let server = self
            .server
            .clone()
            .or_else(|| std::env::var("EDDY_SERVER").ok())
            .or_else(|| from_file(URL_FILE));
        let Some(server) = server else {
            bail!(
                "no eddy server to talk to: pass --server URL (or set EDDY_SERVER), or run this where `eddy serve --data {}` runs",
                data.display()
            );
        };
        let token = self
            .token
            .clone()
            .or_else(|| std::env::var("EDDY_TOKEN").ok())
            .or_else(|| from_file(TOKEN_FILE));
        let Some(token) = token else {
            bail!(
                "no admin token: pass --token (or set EDDY_TOKEN) with the token `eddy serve` printed at its first start"
            );
        };
        Ok(Client::new(server, token))
    }
}

/// The project a verb acts on: `--project`, else the current directory's name.
pub fn project(name: Option<&str>, dir: &Path) -> anyhow::Result<ProjectName> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            dir.file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default()
        }
    };
    name.parse::<ProjectName>()
        .map_err(|error| anyhow::anyhow!("project name {name:?}: {error} (pass --project NAME)"))
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The project directory (built with `eddy build` first), or with --prebuilt the
    /// directory holding `.vercel/output` (or the output tree itself).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Deploy to production: the project's production alias points here once it is ready.
    #[arg(long)]
    prod: bool,
    /// The project name. Default: the directory's name.
    #[arg(long)]
    project: Option<String>,
    /// Upload the existing `.vercel/output` instead of building.
    #[arg(long)]
    prebuilt: bool,
    #[command(flatten)]
    connection: Connection,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("project directory {} does not exist", args.dir.display()))?;
    let project = project(args.project.as_deref(), &dir)?;
    let client = args.connection.client()?;
    let output = if dir.join("config.json").is_file() {
        dir.clone()
    } else {
        dir.join(".vercel").join("output")
    };
    if !args.prebuilt {
        let exe = std::env::current_exe().context("finding the eddy binary")?;
        let status = tokio::process::Command::new(exe)
            .arg("build")
            .arg(&dir)
            .status()
            .await
            .context("running eddy build")?;
        if !status.success() {
            bail!("the build failed; nothing was deployed");
        }
    }
    if !output.join("config.json").is_file() {
        bail!(
            "{} is not a Build Output tree (run `eddy build` first, or drop --prebuilt)",
            output.display()
        );
    }
    let tar = tokio::task::spawn_blocking(move || eddy_control::deploy::pack_dir(&output))
        .await
        .context("packing the output")?
        .context("packing the output")?;
    let target = if args.prod {
        Target::Production
    } else {
        Target::Preview
    };
    let view = client.deploy(&project, target, tar).await?;
    println!("Deployed {} ({target}) of {project}", view.record.id);
    if args.prod {
        let alias = view
            .url
            .replacen(view.record.id.as_str(), project.as_str(), 1);
        println!("Production: {alias}");
    }
    println!("{}", view.url);
    Ok(())
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only this project's deployments.
    #[arg(long)]
    project: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let client = args.connection.client()?;
    let project = match &args.project {
        Some(name) => Some(project(Some(name), Path::new("."))?),
        None => None,
    };
    let deployments = client.deployments(project.as_ref()).await?;
    println!(
        "{:<30} {:<20} {:<11} {:<9} {:<20} URL",
        "ID", "PROJECT", "TARGET", "STATE", "CREATED"
    );
    for view in deployments {
        let record = &view.record;
        println!(
            "{:<30} {:<20} {:<11} {:<9} {:<20} {}",
            record.id,
            record.project,
            record.target,
            record.state,
            record.created_at.format("%Y-%m-%d %H:%M:%S"),
            view.url
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// A deployment id (`dpl_…`, as `eddy ls` prints it).
    id: String,
    #[command(flatten)]
    connection: Connection,
}

pub async fn promote(args: IdArgs) -> anyhow::Result<()> {
    let view = args.connection.client()?.promote(&args.id).await?;
    println!(
        "Promoted {}: {} serves it now",
        view.record.id, view.record.project
    );
    Ok(())
}

pub async fn rm(args: IdArgs) -> anyhow::Result<()> {
    let view = args.connection.client()?.remove(&args.id).await?;
    println!("Removed {}", view.record.id);
    Ok(())
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The project. Default: the current directory's name.
    #[arg(long)]
    project: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let project = project(args.project.as_deref(), Path::new("."))?;
    let view = args.connection.client()?.rollback(&project).await?;
    println!(
        "Rolled back {project}: production is {} again",
        view.record.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_defaults_to_the_directory_name_in_lowercase() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project_dir = dir.path().join("My-Shop");
        std::fs::create_dir(&project_dir).expect("mkdir");
        assert_eq!(
            project(None, &project_dir).expect("valid").as_str(),
            "my-shop"
        );
        assert_eq!(
            project(Some("other"), &project_dir)
                .expect("valid")
                .as_str(),
            "other"
        );
    }

    #[test]
    fn a_client_without_a_server_says_how_to_name_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection = Connection {
            server: None,
            token: Some("t".into()),
            data: Some(dir.path().to_owned()),
        };
        // EDDY_SERVER is not set by the test runner.
        if std::env::var_os("EDDY_SERVER").is_none() {
            let error = connection.client().expect_err("no server");
            assert!(error.to_string().contains("--server URL"), "{error}");
        }
    }
}
