//! [`SqliteStore`]: the embedded store, one SQLite file in WAL mode under the data dir.
//! Every call runs in one `BEGIN IMMEDIATE` transaction, so a failed write (a full disk, a
//! constraint) rolls back and leaves the previous state. Several `SqliteStore`s (threads or
//! processes) may open the same file: SQLite serialises writers, the busy timeout waits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::schema::{self, Migrated};
use super::{CronClaim, EdgeConfigOp, Store, StoreError, UsageEntry, UsageScope};
use crate::edge_config::PatchError;
use crate::model::{
    CronRun, CronSpec, DeploymentId, DeploymentRecord, DeploymentState, EdgeConfigRecord,
    EnvSnapshot, EnvTarget, EnvType, EnvVar, LogQuery, LogRecord, Project, ProjectName, UsageCap,
    UsageRow,
};

/// The SQLite [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// The file name under the data dir.
    pub const FILE: &'static str = "eddy.sqlite";

    /// Opens (creating if needed) the store at `path`, turns on WAL and runs migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let error = |source| StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(error)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(error)?;
        match schema::migrate(&mut conn).map_err(error)? {
            Migrated::Ok => {}
            Migrated::TooNew(found) => {
                return Err(StoreError::SchemaTooNew {
                    path: path.display().to_string(),
                    found,
                    known: schema::VERSION,
                });
            }
        }
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// Opens `<data_dir>/eddy.sqlite`.
    pub fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&data_dir.join(Self::FILE))
    }

    pub(super) fn sqlite_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Runs `work` in one immediate transaction; commits on `Ok`, rolls back otherwise.
    pub(super) fn write<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| E::from(self.sqlite_error(e)))?;
        let value = work(&tx)?;
        tx.commit().map_err(|e| E::from(self.sqlite_error(e)))?;
        Ok(value)
    }

    /// Runs read-only `work` on a consistent snapshot.
    pub(super) fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&conn).map_err(|e| self.sqlite_error(e))
    }

    /// [`SqliteStore::write`] for work that only fails with SQLite errors.
    pub(super) fn write_sql<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.write(|tx| work(tx).map_err(|e| self.sqlite_error(e)))
    }
}

pub(super) fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt("timestamp", format!("{ms} is out of range")))
}

/// A conversion error for a row that cannot be read back (hand-edited or corrupt file).
pub(super) fn corrupt(what: &str, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what}: {reason}").into(),
    )
}

pub(super) fn parse_text<T: std::str::FromStr>(what: &str, text: &str) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| corrupt(what, e.to_string()))
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e.to_string()))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("control-plane models serialise to JSON")
}

fn project_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    let cap: Option<String> = row.get(2)?;
    Ok(Project {
        name: parse_text("project name", &row.get::<_, String>(0)?)?,
        created_at: from_millis(row.get(1)?)?,
        usage_cap: cap
            .map(|text| parse_json::<UsageCap>("usage cap", &text))
            .transpose()?,
        paused: row.get(3)?,
    })
}

const DEPLOYMENT_COLUMNS: &str = "id, project, target, state, created_at, output_dir, crons";

fn deployment_row(row: &Row<'_>) -> rusqlite::Result<DeploymentRecord> {
    let id: String = row.get(0)?;
    Ok(DeploymentRecord {
        id: DeploymentId::parse(&id).ok_or_else(|| corrupt("deployment id", id.clone()))?,
        project: parse_text("project name", &row.get::<_, String>(1)?)?,
        target: parse_text("target", &row.get::<_, String>(2)?)?,
        state: parse_text("state", &row.get::<_, String>(3)?)?,
        created_at: from_millis(row.get(4)?)?,
        output_dir: PathBuf::from(row.get::<_, String>(5)?),
        crons: parse_json::<Vec<CronSpec>>("crons", &row.get::<_, String>(6)?)?,
    })
}

fn cron_run_row(row: &Row<'_>) -> rusqlite::Result<CronRun> {
    let deployment: String = row.get(2)?;
    Ok(CronRun {
        id: row.get(0)?,
        project: parse_text("project name", &row.get::<_, String>(1)?)?,
        deployment: DeploymentId::parse(&deployment)
            .ok_or_else(|| corrupt("deployment id", deployment.clone()))?,
        path: row.get(3)?,
        schedule: row.get(4)?,
        tick: from_millis(row.get(5)?)?,
        trigger: parse_text("trigger", &row.get::<_, String>(6)?)?,
        started_at: from_millis(row.get(7)?)?,
        status: row.get(8)?,
        error: row.get(9)?,
        duration_ms: row
            .get::<_, Option<i64>>(10)?
            .map(|ms| u64::try_from(ms).unwrap_or(0)),
    })
}

fn production_of(
    conn: &Connection,
    project: &ProjectName,
) -> rusqlite::Result<Option<(DeploymentId, DateTime<Utc>)>> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT deployment, since FROM production_history WHERE project = ?1 ORDER BY seq DESC LIMIT 1",
            [project.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    row.map(|(id, since)| {
        let id = DeploymentId::parse(&id).ok_or_else(|| corrupt("deployment id", id.clone()))?;
        Ok((id, from_millis(since)?))
    })
    .transpose()
}

impl Store for SqliteStore {
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    fn set_meta_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        self.write_sql(|tx| {
            Ok(tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )? == 1)
        })
    }

    fn ensure_project(
        &self,
        name: &ProjectName,
        now: DateTime<Utc>,
    ) -> Result<Project, StoreError> {
        self.write_sql(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO projects (name, created_at) VALUES (?1, ?2)",
                params![name.as_str(), millis(now)],
            )?;
            tx.query_row(
                "SELECT name, created_at, usage_cap, paused FROM projects WHERE name = ?1",
                [name.as_str()],
                project_row,
            )
        })
    }

    fn project(&self, name: &ProjectName) -> Result<Option<Project>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT name, created_at, usage_cap, paused FROM projects WHERE name = ?1",
                [name.as_str()],
                project_row,
            )
            .optional()
        })
    }

    fn projects(&self) -> Result<Vec<Project>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, created_at, usage_cap, paused FROM projects ORDER BY name",
            )?;
            stmt.query_map([], project_row)?.collect()
        })
    }

    fn set_usage_cap(&self, name: &ProjectName, cap: Option<UsageCap>) -> Result<(), StoreError> {
        let changed = self.write_sql(|tx| {
            tx.execute(
                "UPDATE projects SET usage_cap = ?2 WHERE name = ?1",
                params![name.as_str(), cap.as_ref().map(to_json)],
            )
        })?;
        not_found_if_zero(changed, "project", name.as_str())
    }

    fn set_paused(&self, name: &ProjectName, paused: bool) -> Result<(), StoreError> {
        let changed = self.write_sql(|tx| {
            tx.execute(
                "UPDATE projects SET paused = ?2 WHERE name = ?1",
                params![name.as_str(), paused],
            )
        })?;
        not_found_if_zero(changed, "project", name.as_str())
    }

    fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        env: &EnvSnapshot,
    ) -> Result<(), StoreError> {
        let inserted = self.write_sql(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO deployments (id, project, target, state, created_at, output_dir, crons, env)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.id.as_str(),
                    record.project.as_str(),
                    record.target.as_str(),
                    record.state.as_str(),
                    millis(record.created_at),
                    record.output_dir.to_string_lossy(),
                    to_json(&record.crons),
                    to_json(env),
                ],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::Conflict {
                what: "deployment",
                name: record.id.to_string(),
            });
        }
        Ok(())
    }

    fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"),
                [id.as_str()],
                deployment_row,
            )
            .optional()
        })
    }

    fn deployments(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE ?1 IS NULL OR project = ?1
                 ORDER BY created_at DESC, id"
            ))?;
            stmt.query_map([project.map(ProjectName::as_str)], deployment_row)?
                .collect()
        })
    }

    fn deployment_env(&self, id: &DeploymentId) -> Result<EnvSnapshot, StoreError> {
        let text: Option<String> = self.read(|conn| {
            conn.query_row(
                "SELECT env FROM deployments WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()
        })?;
        let text = text.ok_or_else(|| StoreError::NotFound {
            what: "deployment",
            name: id.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            what: "deployment env",
            reason: e.to_string(),
        })
    }

    fn set_deployment_state(
        &self,
        id: &DeploymentId,
        state: DeploymentState,
    ) -> Result<(), StoreError> {
        let changed = self.write_sql(|tx| {
            tx.execute(
                "UPDATE deployments SET state = ?2 WHERE id = ?1",
                params![id.as_str(), state.as_str()],
            )
        })?;
        not_found_if_zero(changed, "deployment", id.as_str())
    }

    fn promote(
        &self,
        project: &ProjectName,
        id: &DeploymentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_sql(|tx| {
            tx.execute(
                "INSERT INTO production_history (project, deployment, since) VALUES (?1, ?2, ?3)",
                params![project.as_str(), id.as_str(), millis(now)],
            )
            .map(drop)
        })
    }

    fn rollback(
        &self,
        project: &ProjectName,
        now: DateTime<Utc>,
    ) -> Result<Option<DeploymentId>, StoreError> {
        self.write_sql(|tx| {
            let seqs: Vec<(i64, String)> = {
                let mut stmt = tx.prepare(
                    "SELECT h.seq, h.deployment FROM production_history h JOIN deployments d ON d.id = h.deployment
                     WHERE h.project = ?1 AND d.state != 'removed' ORDER BY h.seq DESC LIMIT 2",
                )?;
                stmt.query_map([project.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
            };
            let [(current, _), (previous, deployment)] = seqs.as_slice() else {
                return Ok(None);
            };
            // Entries above `previous` go, removed deployments in between included; the
            // restored alias counts as production from now on (for cron catch-up).
            tx.execute(
                "DELETE FROM production_history WHERE project = ?1 AND seq > ?2 AND seq <= ?3",
                params![project.as_str(), previous, current],
            )?;
            tx.execute("UPDATE production_history SET since = ?2 WHERE seq = ?1", params![previous, millis(now)])?;
            Ok(DeploymentId::parse(deployment))
        })
    }

    fn production(
        &self,
        project: &ProjectName,
    ) -> Result<Option<(DeploymentId, DateTime<Utc>)>, StoreError> {
        self.read(|conn| production_of(conn, project))
    }

    fn put_env(&self, project: &ProjectName, var: &EnvVar) -> Result<(), StoreError> {
        let Some(value) = &var.value else {
            return Err(StoreError::Corrupt {
                what: "env var",
                reason: format!("{} has no value to store", var.key),
            });
        };
        self.write_sql(|tx| {
            for target in &var.targets {
                tx.execute(
                    "INSERT INTO env_vars (project, key, target, value, kind) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (project, key, target) DO UPDATE SET value = excluded.value, kind = excluded.kind",
                    params![project.as_str(), var.key, target.as_str(), value, var.kind.as_str()],
                )?;
            }
            Ok(())
        })
    }

    fn remove_env(
        &self,
        project: &ProjectName,
        key: &str,
        targets: &[EnvTarget],
    ) -> Result<usize, StoreError> {
        let targets = if targets.is_empty() {
            EnvTarget::ALL
        } else {
            targets
        };
        self.write_sql(|tx| {
            let mut removed = 0;
            for target in targets {
                removed += tx.execute(
                    "DELETE FROM env_vars WHERE project = ?1 AND key = ?2 AND target = ?3",
                    params![project.as_str(), key, target.as_str()],
                )?;
            }
            Ok(removed)
        })
    }

    fn list_env(&self, project: &ProjectName) -> Result<Vec<EnvVar>, StoreError> {
        let rows: Vec<(String, String, String, String)> = self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT key, target, value, kind FROM env_vars WHERE project = ?1 ORDER BY key, target")?;
            stmt.query_map([project.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
        })?;
        let mut vars: Vec<EnvVar> = Vec::new();
        for (key, target, value, kind) in rows {
            let target: EnvTarget = target.parse().map_err(|reason| StoreError::Corrupt {
                what: "env target",
                reason,
            })?;
            let kind: EnvType = kind.parse().map_err(|reason| StoreError::Corrupt {
                what: "env type",
                reason,
            })?;
            let value = (kind == EnvType::Plain).then_some(value);
            match vars.last_mut() {
                Some(last) if last.key == key && last.value == value && last.kind == kind => {
                    last.targets.push(target)
                }
                _ => vars.push(EnvVar {
                    key,
                    value,
                    targets: vec![target],
                    kind,
                }),
            }
        }
        Ok(vars)
    }

    fn resolve_env(
        &self,
        project: &ProjectName,
        target: EnvTarget,
    ) -> Result<EnvSnapshot, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT key, value FROM env_vars WHERE project = ?1 AND target = ?2")?;
            stmt.query_map([project.as_str(), target.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
    }

    fn claim_cron_run(&self, claim: &CronClaim) -> Result<Option<i64>, StoreError> {
        self.write_sql(|tx| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO cron_runs (project, deployment, path, schedule, tick, trigger, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    claim.project.as_str(),
                    claim.deployment.as_str(),
                    claim.path,
                    claim.schedule,
                    millis(claim.tick),
                    claim.trigger.as_str(),
                    millis(claim.started_at),
                ],
            )?;
            Ok((inserted == 1).then(|| tx.last_insert_rowid()))
        })
    }

    fn finish_cron_run(
        &self,
        run: i64,
        status: Option<u16>,
        error: Option<&str>,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        let duration = i64::try_from(duration_ms).unwrap_or(i64::MAX);
        let changed = self.write_sql(|tx| {
            tx.execute(
                "UPDATE cron_runs SET status = ?2, error = ?3, duration_ms = ?4 WHERE id = ?1",
                params![run, status, error, duration],
            )
        })?;
        not_found_if_zero(changed, "cron run", &run.to_string())
    }

    fn cron_runs(&self, project: &ProjectName, limit: u32) -> Result<Vec<CronRun>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, project, deployment, path, schedule, tick, trigger, started_at, status, error, duration_ms
                 FROM cron_runs WHERE project = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![project.as_str(), limit], cron_run_row)?.collect()
        })
    }

    fn create_edge_config(&self, record: &EdgeConfigRecord) -> Result<(), StoreError> {
        super::edge_configs::create(self, record)
    }

    fn edge_config(&self, id: &str) -> Result<Option<EdgeConfigRecord>, StoreError> {
        super::edge_configs::get(self, id)
    }

    fn edge_configs(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<EdgeConfigRecord>, StoreError> {
        super::edge_configs::list(self, project)
    }

    fn patch_edge_config(
        &self,
        id: &str,
        ops: &[EdgeConfigOp],
        now: DateTime<Utc>,
    ) -> Result<EdgeConfigRecord, PatchError> {
        super::edge_configs::patch(self, id, ops, now)
    }

    fn record_usage(&self, entries: &[UsageEntry]) -> Result<(), StoreError> {
        super::telemetry::record_usage(self, entries)
    }

    fn last_usage(&self, deployment: &DeploymentId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let ms: Option<i64> = self.read(|conn| {
            conn.query_row(
                "SELECT MAX(bucket) FROM usage WHERE deployment = ?1",
                [deployment.as_str()],
                |r| r.get(0),
            )
        })?;
        ms.map(from_millis)
            .transpose()
            .map_err(|e| self.sqlite_error(e))
    }

    fn usage(
        &self,
        scope: &UsageScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        super::telemetry::usage(self, scope, from, to)
    }

    fn append_logs(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        super::telemetry::append_logs(self, records)
    }

    fn logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        super::telemetry::logs(self, query)
    }

    fn prune_logs(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write_sql(|tx| tx.execute("DELETE FROM logs WHERE time < ?1", [millis(before)]))
    }
}

fn not_found_if_zero(changed: usize, what: &'static str, name: &str) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound {
            what,
            name: name.to_owned(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    fn line(message: &str) -> LogRecord {
        LogRecord {
            deployment: DeploymentId::from_digest(&[1; 32]),
            function: None,
            request_id: None,
            level: Level::Info,
            time: Utc::now(),
            message: message.to_owned(),
        }
    }

    #[test]
    fn a_full_disk_fails_the_write_and_keeps_the_previous_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_in(dir.path()).expect("open");
        store.append_logs(&[line("before")]).expect("append");
        {
            // Cap the file at its current size: the next page allocation fails with SQLITE_FULL,
            // as a full disk would.
            let conn = store.conn.lock().expect("lock");
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .expect("pages");
            conn.pragma_update(None, "max_page_count", pages)
                .expect("cap");
        }
        let batch: Vec<LogRecord> = (0..200)
            .map(|i| line(&format!("{i}{}", "x".repeat(4000))))
            .collect();
        let error = store.append_logs(&batch).expect_err("the file cannot grow");
        assert!(error.to_string().contains("disk is not full"), "{error}");
        let kept = store.logs(&LogQuery::default()).expect("read");
        assert_eq!(
            kept.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["before"],
            "half a batch was written"
        );
    }

    #[test]
    fn a_second_insert_of_a_deployment_id_is_a_conflict() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_in(dir.path()).expect("open");
        let project: ProjectName = "app".parse().expect("name");
        store.ensure_project(&project, Utc::now()).expect("project");
        let record = DeploymentRecord {
            id: DeploymentId::from_digest(&[2; 32]),
            project,
            target: crate::model::Target::Preview,
            state: DeploymentState::Ready,
            created_at: Utc::now(),
            output_dir: dir.path().join("x"),
            crons: Vec::new(),
        };
        store
            .insert_deployment(&record, &EnvSnapshot::new())
            .expect("first");
        let again = store
            .insert_deployment(&record, &EnvSnapshot::new())
            .expect_err("second");
        assert!(matches!(again, StoreError::Conflict { .. }), "{again}");
    }
}
