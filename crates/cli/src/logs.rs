//! `eddy logs`: runtime logs of deployments (function output and request lines), filtered,
//! optionally followed as they come.

use clap::Args;
use futures_util::StreamExt;

use eddy_control::admin::FollowEvent;
use eddy_control::admin::types::LogsQuery;
use eddy_control::{Level, LogRecord};

use crate::deploy::Connection;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this deployment's lines (`dpl_…`).
    deployment: Option<String>,
    /// Keep printing new lines as they come.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only this function's lines (`api/hello.js`, or `api/hello`).
    #[arg(long)]
    function: Option<String>,
    /// Only the lines of one request (its `x-vercel-id`).
    #[arg(long = "request-id", value_name = "ID")]
    request_id: Option<String>,
    /// Lines at this level or more severe (debug, info, warn, error).
    #[arg(long)]
    level: Option<Level>,
    /// At most this many of the stored lines (the newest).
    #[arg(long, short = 'n', default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let client = args.connection.client()?;
    let query = LogsQuery {
        deployment: args.deployment,
        function: args.function,
        request_id: args.request_id,
        level: args.level,
        since: None,
        limit: Some(args.limit),
        follow: args.follow,
    };
    if !args.follow {
        for record in client.logs(&query).await? {
            println!("{}", line(&record));
        }
        return Ok(());
    }
    let mut events = Box::pin(client.follow_logs(&query).await?);
    while let Some(event) = events.next().await {
        match event? {
            FollowEvent::Line(record) => println!("{}", line(&record)),
            FollowEvent::Skipped(count) => {
                eprintln!("({count} lines skipped: printing too slowly)")
            }
        }
    }
    Ok(())
}

/// One log line as printed: time, level, deployment, function, request id, message.
fn line(record: &LogRecord) -> String {
    format!(
        "{} {:<5} {} {} {} {}",
        record.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.level,
        record.deployment,
        record.function.as_deref().unwrap_or("-"),
        record.request_id.as_deref().unwrap_or("-"),
        record.message
    )
}
