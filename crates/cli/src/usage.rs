//! `eddy usage`: what deployments used in a period (invocations, active CPU, GB-seconds,
//! edge units, wall time), per deployment and function.

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;

use eddy_control::UsageCap;
use eddy_control::admin::types::UsageQuery;

use crate::deploy::Connection;

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Start of the period: an RFC 3339 time or a duration back from now (`24h`, `7d`, `30m`).
    /// Default: the start of the current month.
    #[arg(long)]
    since: Option<String>,
    /// Only this project.
    #[arg(long)]
    project: Option<String>,
    /// Only this deployment.
    #[arg(long)]
    deployment: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Set the project's monthly cap on invocations (with --project); reaching any cap
    /// pauses the project (503 DEPLOYMENT_PAUSED) until it is raised or cleared.
    #[arg(long, value_name = "N", requires = "project")]
    cap_invocations: Option<u64>,
    /// Set the project's monthly cap on active CPU milliseconds (with --project).
    #[arg(long, value_name = "MS", requires = "project")]
    cap_cpu_ms: Option<u64>,
    /// Set the project's monthly cap on GB-seconds (with --project).
    #[arg(long, value_name = "GBS", requires = "project")]
    cap_gb_seconds: Option<f64>,
    /// Remove the project's cap (with --project); a paused project serves again.
    #[arg(long, requires = "project", conflicts_with_all = ["cap_invocations", "cap_cpu_ms", "cap_gb_seconds"])]
    clear_cap: bool,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(args: UsageArgs) -> anyhow::Result<()> {
    let client = args.connection.client()?;
    let capped = args.cap_invocations.is_some()
        || args.cap_cpu_ms.is_some()
        || args.cap_gb_seconds.is_some();
    if let (Some(name), true) = (&args.project, capped || args.clear_cap) {
        let project = crate::deploy::project(Some(name), std::path::Path::new("."))?;
        let cap = capped.then_some(UsageCap {
            invocations: args.cap_invocations,
            active_cpu_ms: args.cap_cpu_ms,
            gb_seconds: args.cap_gb_seconds,
        });
        let paused = client.set_usage_cap(&project, cap).await?;
        let state = if paused {
            "paused (cap reached)"
        } else {
            "serving"
        };
        println!("Usage cap of {project} updated: {state}");
        return Ok(());
    }
    let from = args
        .since
        .as_deref()
        .map(|since| parse_since(since, Utc::now()))
        .transpose()?;
    let report = client
        .usage(&UsageQuery {
            project: args.project,
            deployment: args.deployment,
            from,
            to: None,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "Usage from {} to {}",
        report.from.format("%Y-%m-%d %H:%M"),
        report.to.format("%Y-%m-%d %H:%M")
    );
    println!(
        "{:<30} {:<28} {:>11} {:>12} {:>10} {:>10} {:>10}",
        "DEPLOYMENT", "FUNCTION", "INVOCATIONS", "ACTIVE CPU", "GB-S", "EDGE UNITS", "WALL"
    );
    for row in &report.rows {
        let u = &row.usage;
        println!(
            "{:<30} {:<28} {:>11} {:>10}ms {:>10.3} {:>10} {:>8}ms",
            row.deployment,
            row.function,
            u.invocations,
            u.active_cpu_ms,
            u.gb_seconds,
            u.edge_units,
            u.wall_ms
        );
    }
    let t = &report.total;
    println!(
        "{:<30} {:<28} {:>11} {:>10}ms {:>10.3} {:>10} {:>8}ms",
        "total", "", t.invocations, t.active_cpu_ms, t.gb_seconds, t.edge_units, t.wall_ms
    );
    Ok(())
}

/// `24h`, `7d`, `30m`, `90s` back from `now`, or an RFC 3339 time.
fn parse_since(since: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(since) {
        return Ok(at.with_timezone(&Utc));
    }
    let (number, unit) = since.split_at(since.len().saturating_sub(1));
    let amount: i64 = number.parse().map_err(|_| {
        anyhow::anyhow!("--since {since:?}: use a duration (24h, 7d, 30m) or an RFC 3339 time")
    })?;
    let back = match unit {
        "s" => TimeDelta::seconds(amount),
        "m" => TimeDelta::minutes(amount),
        "h" => TimeDelta::hours(amount),
        "d" => TimeDelta::days(amount),
        _ => anyhow::bail!("--since {since:?}: the unit is one of s, m, h, d"),
    };
    Ok(now - back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_back_from_now_and_rfc3339_times() {
        let now = DateTime::parse_from_rfc3339("2026-05-10T12:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("2h", now).expect("ok"),
            now - TimeDelta::hours(2)
        );
        assert_eq!(
            parse_since("7d", now).expect("ok"),
            now - TimeDelta::days(7)
        );
        assert_eq!(
            parse_since("2026-05-01T00:00:00Z", now)
                .expect("ok")
                .to_rfc3339(),
            "2026-05-01T00:00:00+00:00"
        );
        assert!(parse_since("2w", now).is_err());
        assert!(parse_since("soon", now).is_err());
    }
}
