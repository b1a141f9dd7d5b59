//! Runtime logs: lines of every deployment's functions (IPC `log` messages, stdout/stderr,
//! request lines) with deployment, function, request id, level and time; queried by any of
//! them; pruned after a retention period.
//!
//! On the request path lines go to a [`LogSink`]: buffered in memory and broadcast at once to
//! followers (`eddy logs --follow`); [`ControlPlane::flush_logs`] stores the buffer in one
//! transaction.

use crate::periodic::{Extra, run_every};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::model::{LogQuery, LogRecord};
use crate::plane::ControlPlane;
use crate::store::StoreError;

/// How long lines are kept unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Lines a follower may fall behind by before it skips some.
const FOLLOW_BUFFER: usize = 4096;

/// Most lines a sink holds between flushes; beyond it (flushes failing for a long time,
/// e.g. on a full disk) the oldest are dropped, so memory stays bounded.
pub const MAX_PENDING_LINES: usize = 100_000;

/// Where runtime log lines go first. Cheap to call from the request path.
#[derive(Debug)]
pub struct LogSink {
    pending: Mutex<Pending>,
    live: broadcast::Sender<LogRecord>,
}

#[derive(Debug, Default)]
struct Pending {
    lines: Vec<LogRecord>,
    dropped: u64,
}

impl Pending {
    fn trim(&mut self) {
        if self.lines.len() > MAX_PENDING_LINES {
            let excess = self.lines.len() - MAX_PENDING_LINES;
            self.lines.drain(..excess);
            self.dropped += excess as u64;
        }
    }
}

impl Default for LogSink {
    fn default() -> Self {
        Self {
            pending: Mutex::new(Pending::default()),
            live: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }
}

impl LogSink {
    /// Buffers a line for the next flush and hands it to current followers.
    pub fn push(&self, record: LogRecord) {
        // No followers is the normal case: the send error only says so.
        let _ = self.live.send(record.clone());
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.lines.push(record);
        pending.trim();
    }

    /// How many lines were dropped because flushes could not keep up (see
    /// [`MAX_PENDING_LINES`]).
    pub fn dropped(&self) -> u64 {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    }

    /// Lines pushed from now on (a follower that falls more than 4096 lines behind is told
    /// how many it missed by `RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<LogRecord> {
        self.live.subscribe()
    }

    fn take(&self) -> Vec<LogRecord> {
        std::mem::take(
            &mut self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .lines,
        )
    }

    /// Puts lines back in front after a failed flush.
    fn restore(&self, mut taken: Vec<LogRecord>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        taken.append(&mut pending.lines);
        pending.lines = taken;
        pending.trim();
    }
}

impl LogQuery {
    /// Whether a line passes this filter (`limit` aside): what followers see.
    pub fn matches(&self, record: &LogRecord) -> bool {
        self.deployment
            .as_ref()
            .is_none_or(|d| *d == record.deployment)
            && self
                .function
                .as_ref()
                .is_none_or(|f| record.function.as_ref() == Some(f))
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| record.request_id.as_ref() == Some(r))
            && self
                .level
                .is_none_or(|l| record.level.severity() >= l.severity())
            && self.since.is_none_or(|since| record.time >= since)
    }
}

impl ControlPlane {
    /// Stores a batch of lines in one transaction (all or none).
    pub fn append_logs(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        self.store().append_logs(records)
    }

    /// Stores what `sink` buffered since the last flush, in one transaction; on an error the
    /// lines stay in the sink for the next flush. Returns how many were stored.
    pub fn flush_logs(&self, sink: &LogSink) -> Result<usize, StoreError> {
        let taken = sink.take();
        if taken.is_empty() {
            return Ok(0);
        }
        match self.store().append_logs(&taken) {
            Ok(()) => Ok(taken.len()),
            Err(error) => {
                sink.restore(taken);
                Err(error)
            }
        }
    }

    /// Flushes `sink` every `every` until `shutdown` ends, and once more then.
    pub async fn run_log_flush(
        self: Arc<Self>,
        sink: Arc<LogSink>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        run_every(every, shutdown, Extra::AtStop, || {
            if let Err(error) = self.flush_logs(&sink) {
                tracing::warn!(%error, "log flush failed; the lines are kept for the next one");
            }
        })
        .await;
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
        run_every(every, shutdown, Extra::AtStart, || {
            match self.prune_logs(retention) {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "pruned old log lines"),
                Err(error) => tracing::warn!(%error, "log retention failed"),
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeploymentId, Level};

    fn line(n: usize) -> LogRecord {
        LogRecord {
            deployment: DeploymentId::from_digest(&[3; 32]),
            function: None,
            request_id: None,
            level: Level::Info,
            time: chrono::Utc::now(),
            message: n.to_string(),
        }
    }

    #[test]
    fn a_sink_that_cannot_flush_keeps_the_newest_lines_and_counts_the_rest() {
        let sink = LogSink::default();
        for n in 0..MAX_PENDING_LINES + 5 {
            sink.push(line(n));
        }
        assert_eq!(sink.dropped(), 5);
        let taken = sink.take();
        assert_eq!(taken.len(), MAX_PENDING_LINES);
        assert_eq!(taken[0].message, "5", "the oldest lines went first");
        sink.push(line(0));
        sink.restore(taken);
        assert_eq!(
            sink.dropped(),
            6,
            "restoring over the cap drops the oldest again"
        );
        assert_eq!(
            sink.take().last().map(|l| l.message.as_str()),
            Some("0"),
            "newer lines stay last"
        );
    }
}
