//! Runtime logs: lines of every deployment's functions (IPC `log` messages, stdout/stderr,
//! request lines) with deployment, function, request id, level and time; queried by any of
//! them; pruned after a retention period.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{LogQuery, LogRecord};
use crate::plane::ControlPlane;
use crate::store::StoreError;

/// How long lines are kept unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl ControlPlane {
    /// Stores a batch of lines in one transaction (all or none).
    pub fn append_logs(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        self.store().append_logs(records)
    }

    /// Lines matching `query`, oldest first.
    pub fn logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        self.store().logs(query)
    }

    /// Deletes lines older than `retention`; returns how many went.
    pub fn prune_logs(&self, retention: Duration) -> Result<usize, StoreError> {
        let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
        let before = self
            .clock()
            .now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        self.store().prune_logs(before)
    }

    /// Prunes every `every` until `shutdown` ends.
    pub async fn run_log_retention(
        self: Arc<Self>,
        retention: Duration,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.prune_logs(retention) {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "pruned old log lines"),
                Err(error) => tracing::warn!(%error, "log retention failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut shutdown => return,
            }
        }
    }
}
