//! Edge Config rows of the SQLite store. A patch reads, edits and writes the items in one
//! transaction, so concurrent patches never lose each other's edits.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::sqlite::{SqliteStore, from_millis, millis, parse_json, parse_text, to_json};
use super::{EdgeConfigOp, StoreError};
use crate::edge_config::{self, PatchError};
use crate::model::{EdgeConfigRecord, ProjectName};

const COLUMNS: &str = "id, project, token, items, digest, version, updated_at";

fn row(row: &Row<'_>) -> rusqlite::Result<EdgeConfigRecord> {
    Ok(EdgeConfigRecord {
        id: row.get(0)?,
        project: parse_text("project name", &row.get::<_, String>(1)?)?,
        token: row.get(2)?,
        items: parse_json("edge config items", &row.get::<_, String>(3)?)?,
        digest: row.get(4)?,
        version: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
        updated_at: from_millis(row.get(6)?)?,
    })
}

pub(super) fn create(store: &SqliteStore, record: &EdgeConfigRecord) -> Result<(), StoreError> {
    let inserted = store.write_sql(|tx| {
        tx.execute(
            &format!(
                "INSERT OR IGNORE INTO edge_configs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                record.id,
                record.project.as_str(),
                record.token,
                to_json(&record.items),
                record.digest,
                i64::try_from(record.version).unwrap_or(i64::MAX),
                millis(record.updated_at),
            ],
        )
    })?;
    if inserted == 0 {
        return Err(StoreError::Conflict {
            what: "edge config",
            name: record.id.clone(),
        });
    }
    Ok(())
}

pub(super) fn get(store: &SqliteStore, id: &str) -> Result<Option<EdgeConfigRecord>, StoreError> {
    store.read(|conn| {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM edge_configs WHERE id = ?1"),
            [id],
            row,
        )
        .optional()
    })
}

pub(super) fn list(
    store: &SqliteStore,
    project: Option<&ProjectName>,
) -> Result<Vec<EdgeConfigRecord>, StoreError> {
    store.read(|conn| {
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM edge_configs WHERE ?1 IS NULL OR project = ?1 ORDER BY id"
        ))?;
        stmt.query_map([project.map(ProjectName::as_str)], row)?
            .collect()
    })
}

pub(super) fn patch(
    store: &SqliteStore,
    id: &str,
    ops: &[EdgeConfigOp],
    now: DateTime<Utc>,
) -> Result<EdgeConfigRecord, PatchError> {
    store.write(|tx| {
        let sql = |e| PatchError::Store(store.sqlite_error(e));
        let current = tx
            .query_row(&format!("SELECT {COLUMNS} FROM edge_configs WHERE id = ?1"), [id], row)
            .optional()
            .map_err(sql)?
            .ok_or_else(|| PatchError::NotFound(id.to_owned()))?;
        let items = edge_config::apply(current.items, ops)?;
        let next = EdgeConfigRecord {
            digest: edge_config::digest(&items),
            items,
            version: current.version + 1,
            updated_at: now,
            ..current
        };
        tx.execute(
            "UPDATE edge_configs SET items = ?2, digest = ?3, version = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, to_json(&next.items), next.digest, i64::try_from(next.version).unwrap_or(i64::MAX), millis(now)],
        )
        .map_err(sql)?;
        Ok(next)
    })
}
