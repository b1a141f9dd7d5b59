//! `eddy env add|ls|rm|pull`: a project's environment variables, per target. Changes apply
//! to deployments made after them.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use eddy_control::{EnvTarget, EnvType};

use crate::deploy::{Connection, project};

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    command: EnvCommand,
    /// The project. Default: the current directory's name.
    #[arg(long, global = true)]
    project: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// Add or replace a variable (the value is read from stdin when not given).
    Add {
        key: String,
        value: Option<String>,
        /// Targets (production, preview, development); default: all three.
        #[arg(long = "target", value_name = "TARGET")]
        targets: Vec<EnvTarget>,
        /// A secret: never shown by `ls` nor written by `pull`.
        #[arg(long)]
        secret: bool,
    },
    /// List the variables (secret values hidden).
    Ls,
    /// Remove a variable from one target, or from all.
    Rm {
        key: String,
        #[arg(long)]
        target: Option<EnvTarget>,
    },
    /// Write a target's variables to a dotenv file (default `.env.local`).
    Pull {
        #[arg(default_value = ".env.local")]
        file: PathBuf,
        #[arg(long, default_value = "development")]
        target: EnvTarget,
    },
}

pub async fn run(args: EnvArgs) -> anyhow::Result<()> {
    let project = project(args.project.as_deref(), Path::new("."))?;
    let client = args.connection.client()?;
    match args.command {
        EnvCommand::Add {
            key,
            value,
            targets,
            secret,
        } => {
            let value = match value {
                Some(value) => value,
                None => {
                    let mut value = String::new();
                    std::io::stdin()
                        .read_to_string(&mut value)
                        .context("reading the value from stdin")?;
                    value.trim_end_matches('\n').to_owned()
                }
            };
            let targets = if targets.is_empty() {
                EnvTarget::ALL.to_vec()
            } else {
                targets
            };
            let kind = if secret {
                EnvType::Secret
            } else {
                EnvType::Plain
            };
            client
                .env_add(&project, &key, &value, &targets, kind)
                .await?;
            let names: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
            println!("Added {key} to {project} ({})", names.join(", "));
        }
        EnvCommand::Ls => {
            println!("{:<32} {:<8} {:<36} VALUE", "NAME", "TYPE", "TARGETS");
            for var in client.env_ls(&project).await? {
                let names: Vec<&str> = var.targets.iter().map(|t| t.as_str()).collect();
                let value = match (var.kind, var.value) {
                    (EnvType::Secret, _) | (_, None) => "(secret)".to_owned(),
                    (EnvType::Plain, Some(value)) => value,
                };
                println!(
                    "{:<32} {:<8} {:<36} {value}",
                    var.key,
                    var.kind,
                    names.join(",")
                );
            }
        }
        EnvCommand::Rm { key, target } => {
            let removed = client.env_rm(&project, &key, target).await?;
            println!("Removed {key} from {project} ({removed} target(s))");
        }
        EnvCommand::Pull { file, target } => {
            let vars = client.env_pull(&project, target).await?;
            let mut text = String::new();
            for (key, value) in &vars {
                text.push_str(&format!("{key}={}\n", dotenv_quote(value)));
            }
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!("Wrote {} variable(s) to {}", vars.len(), file.display());
        }
    }
    Ok(())
}

/// A dotenv value in double quotes, as `vercel env pull` writes them.
fn dotenv_quote(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_values_are_quoted_with_newlines_escaped() {
        assert_eq!(dotenv_quote("a\"b\nc"), "\"a\\\"b\\nc\"");
    }
}
