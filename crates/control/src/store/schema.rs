//! The SQLite schema, as an ordered list of migrations. `PRAGMA user_version` holds how many
//! ran; opening a store runs the rest in one transaction. Append, never edit, a migration.

use rusqlite::Connection;

/// Migration `n` (0-based) moves `user_version` from `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE projects (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    usage_cap  TEXT,
    paused     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,
    project    TEXT NOT NULL REFERENCES projects(name),
    target     TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    output_dir TEXT NOT NULL,
    crons      TEXT NOT NULL,
    env        TEXT NOT NULL
);
CREATE INDEX deployments_by_project ON deployments(project, created_at);
CREATE TABLE production_history (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    project    TEXT NOT NULL REFERENCES projects(name),
    deployment TEXT NOT NULL REFERENCES deployments(id),
    since      INTEGER NOT NULL
);
CREATE INDEX production_by_project ON production_history(project, seq);
CREATE TABLE env_vars (
    project TEXT NOT NULL REFERENCES projects(name),
    key     TEXT NOT NULL,
    target  TEXT NOT NULL,
    value   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (project, key, target)
);
CREATE TABLE cron_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project     TEXT NOT NULL,
    deployment  TEXT NOT NULL,
    path        TEXT NOT NULL,
    schedule    TEXT NOT NULL,
    tick        INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER,
    UNIQUE (project, path, schedule, tick, trigger)
);
CREATE TABLE edge_configs (
    id         TEXT PRIMARY KEY,
    project    TEXT NOT NULL REFERENCES projects(name),
    token      TEXT NOT NULL,
    items      TEXT NOT NULL,
    digest     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE usage (
    deployment    TEXT NOT NULL,
    function      TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    invocations   INTEGER NOT NULL,
    active_cpu_ms INTEGER NOT NULL,
    gb_seconds    REAL NOT NULL,
    edge_units    INTEGER NOT NULL,
    wall_ms       INTEGER NOT NULL,
    PRIMARY KEY (deployment, function, bucket)
);
CREATE INDEX usage_by_bucket ON usage(bucket);
CREATE TABLE logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL,
    function   TEXT,
    request_id TEXT,
    level      TEXT NOT NULL,
    severity   INTEGER NOT NULL,
    time       INTEGER NOT NULL,
    message    TEXT NOT NULL
);
CREATE INDEX logs_by_deployment ON logs(deployment, time);
CREATE INDEX logs_by_request ON logs(request_id);
CREATE INDEX logs_by_time ON logs(time);
"#];

/// The schema version this code writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Migrated {
    Ok,
    TooNew(i64),
}

/// Runs the migrations the database has not seen, all in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > VERSION {
        return Ok(Migrated::TooNew(found));
    }
    let tx = conn.transaction()?;
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(Migrated::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_records_the_version() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        assert_eq!(migrate(&mut conn).expect("first"), Migrated::Ok);
        assert_eq!(migrate(&mut conn).expect("second"), Migrated::Ok);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        conn.pragma_update(None, "user_version", VERSION + 1)
            .expect("set");
        assert_eq!(
            migrate(&mut conn).expect("migrate"),
            Migrated::TooNew(VERSION + 1)
        );
    }
}
