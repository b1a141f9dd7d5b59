//! `eddy edge-config create|get|set|ls`: a project's Edge Config stores, which its functions
//! read through `@vercel/edge-config` (eddy sets `EDGE_CONFIG` on new deployments).

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};

use eddy_control::EdgeConfigOp;

use crate::deploy::{Connection, project};

#[derive(Debug, Args)]
pub struct EdgeConfigArgs {
    #[command(subcommand)]
    command: EdgeConfigCommand,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum EdgeConfigCommand {
    /// Create an Edge Config for a project, with initial items (a JSON object).
    Create {
        /// The project. Default: the current directory's name.
        #[arg(long)]
        project: Option<String>,
        /// Initial items, e.g. '{"greeting":"hello"}'.
        #[arg(long, default_value = "{}")]
        items: String,
    },
    /// List the Edge Configs (of one project with --project).
    Ls {
        #[arg(long)]
        project: Option<String>,
    },
    /// Print an Edge Config's items, or one item.
    Get { id: String, key: Option<String> },
    /// Set an item (VALUE is JSON; a bare word is taken as a string).
    Set {
        id: String,
        key: String,
        value: String,
    },
    /// Delete an item.
    Rm { id: String, key: String },
}

pub async fn run(args: EdgeConfigArgs) -> anyhow::Result<()> {
    let client = args.connection.client()?;
    match args.command {
        EdgeConfigCommand::Create {
            project: name,
            items,
        } => {
            let project = project(name.as_deref(), Path::new("."))?;
            let items: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&items)
                .context("--items must be a JSON object, e.g. '{\"greeting\":\"hello\"}'")?;
            let view = client.edge_config_create(&project, items).await?;
            println!(
                "Created {} for {project} (digest {})",
                view.record.id, view.record.digest
            );
            if let Some(connection) = view.connection_string {
                println!("EDGE_CONFIG={connection}");
            }
            println!("Deployments made from now on read it through EDGE_CONFIG.");
        }
        EdgeConfigCommand::Ls { project: name } => {
            let project = name
                .map(|name| project(Some(&name), Path::new(".")))
                .transpose()?;
            for view in client.edge_configs(project.as_ref()).await? {
                let record = &view.record;
                println!(
                    "{}  {:<20} v{:<4} {} item(s)",
                    record.id,
                    record.project,
                    record.version,
                    record.items.len()
                );
            }
        }
        EdgeConfigCommand::Get { id, key } => {
            let view = client.edge_config(&id).await?;
            let value = match key {
                Some(key) => view
                    .record
                    .items
                    .get(&key)
                    .cloned()
                    .with_context(|| format!("edge config {id} has no item {key:?}"))?,
                None => serde_json::Value::Object(view.record.items),
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        EdgeConfigCommand::Set { id, key, value } => {
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let view = client
                .edge_config_patch(
                    &id,
                    vec![EdgeConfigOp::Upsert {
                        key: key.clone(),
                        value,
                    }],
                )
                .await?;
            println!("Set {key} in {id} (version {})", view.record.version);
        }
        EdgeConfigCommand::Rm { id, key } => {
            let view = client
                .edge_config_patch(&id, vec![EdgeConfigOp::Delete { key: key.clone() }])
                .await?;
            println!("Removed {key} from {id} (version {})", view.record.version);
        }
    }
    Ok(())
}
