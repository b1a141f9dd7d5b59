//! Usage and log rows of the SQLite store: the high-volume tables, written in batches.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rusqlite::{Row, params};

use super::sqlite::{SqliteStore, from_millis, millis, parse_text};
use super::{StoreError, UsageEntry, UsageScope};
use crate::model::{DeploymentId, LogQuery, LogRecord, UsageRow, UsageSample};

/// Start of the hour `at` falls in.
pub(crate) fn hour_bucket(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn record_usage(store: &SqliteStore, entries: &[UsageEntry]) -> Result<(), StoreError> {
    store.write_sql(|tx| {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO usage (deployment, function, bucket, invocations, active_cpu_ms, gb_seconds, edge_units, wall_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (deployment, function, bucket) DO UPDATE SET
                invocations = invocations + excluded.invocations,
                active_cpu_ms = active_cpu_ms + excluded.active_cpu_ms,
                gb_seconds = gb_seconds + excluded.gb_seconds,
                edge_units = edge_units + excluded.edge_units,
                wall_ms = wall_ms + excluded.wall_ms",
        )?;
        for entry in entries {
            let sample = &entry.sample;
            stmt.execute(params![
                entry.deployment.as_str(),
                entry.function,
                millis(hour_bucket(entry.at)),
                saturating_i64(sample.invocations),
                saturating_i64(sample.active_cpu_ms),
                sample.gb_seconds,
                saturating_i64(sample.edge_units),
                saturating_i64(sample.wall_ms),
            ])?;
        }
        Ok(())
    })
}

fn usage_row(row: &Row<'_>) -> rusqlite::Result<UsageRow> {
    let deployment: String = row.get(0)?;
    let count = |index| {
        row.get::<_, i64>(index)
            .map(|v| u64::try_from(v).unwrap_or(0))
    };
    Ok(UsageRow {
        deployment: DeploymentId::parse(&deployment)
            .ok_or_else(|| super::sqlite::corrupt("deployment id", deployment.clone()))?,
        function: row.get(1)?,
        bucket: from_millis(row.get(2)?)?,
        usage: UsageSample {
            invocations: count(3)?,
            active_cpu_ms: count(4)?,
            gb_seconds: row.get(5)?,
            edge_units: count(6)?,
            wall_ms: count(7)?,
        },
    })
}

pub(super) fn usage(
    store: &SqliteStore,
    scope: &UsageScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageRow>, StoreError> {
    let (filter, key) = match scope {
        UsageScope::Project(project) => (
            "u.deployment IN (SELECT id FROM deployments WHERE project = ?1)",
            project.as_str(),
        ),
        UsageScope::Deployment(id) => ("u.deployment = ?1", id.as_str()),
    };
    store.read(|conn| {
        let mut stmt = conn.prepare(&format!(
            "SELECT u.deployment, u.function, u.bucket, u.invocations, u.active_cpu_ms, u.gb_seconds, u.edge_units, u.wall_ms
             FROM usage u WHERE {filter} AND u.bucket >= ?2 AND u.bucket < ?3
             ORDER BY u.bucket, u.deployment, u.function"
        ))?;
        stmt.query_map(params![key, millis(from), millis(to)], usage_row)?.collect()
    })
}

pub(super) fn append_logs(store: &SqliteStore, records: &[LogRecord]) -> Result<(), StoreError> {
    store.write_sql(|tx| {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO logs (deployment, function, request_id, level, severity, time, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for record in records {
            stmt.execute(params![
                record.deployment.as_str(),
                record.function,
                record.request_id,
                record.level.as_str(),
                record.level.severity(),
                millis(record.time),
                record.message,
            ])?;
        }
        Ok(())
    })
}

fn log_row(row: &Row<'_>) -> rusqlite::Result<LogRecord> {
    let deployment: String = row.get(0)?;
    Ok(LogRecord {
        deployment: DeploymentId::parse(&deployment)
            .ok_or_else(|| super::sqlite::corrupt("deployment id", deployment.clone()))?,
        function: row.get(1)?,
        request_id: row.get(2)?,
        level: parse_text("log level", &row.get::<_, String>(3)?)?,
        time: from_millis(row.get(4)?)?,
        message: row.get(5)?,
    })
}

pub(super) fn logs(store: &SqliteStore, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
    let limit = query.limit.unwrap_or(1000);
    store.read(|conn| {
        // The newest `limit` lines, then returned oldest first.
        let mut stmt = conn.prepare_cached(
            "SELECT deployment, function, request_id, level, time, message FROM (
                SELECT id, deployment, function, request_id, level, time, message FROM logs
                WHERE (?1 IS NULL OR deployment = ?1) AND (?2 IS NULL OR function = ?2)
                  AND (?3 IS NULL OR request_id = ?3) AND (?4 IS NULL OR severity >= ?4)
                  AND (?5 IS NULL OR time >= ?5)
                ORDER BY time DESC, id DESC LIMIT ?6
             ) ORDER BY time, id",
        )?;
        stmt.query_map(
            params![
                query.deployment.as_ref().map(DeploymentId::as_str),
                query.function,
                query.request_id,
                query.level.map(|l| l.severity()),
                query.since.map(millis),
                limit,
            ],
            log_row,
        )?
        .collect()
    })
}
