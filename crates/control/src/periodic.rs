//! The one loop behind the control plane's background tasks (flushes, retention, refreshes):
//! run a step every period until shutdown.

use std::future::Future;
use std::time::Duration;

/// Which runs a periodic task makes besides one per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    /// Only once per period.
    None,
    /// Also at once, before the first period.
    AtStart,
    /// Also once more when shutdown comes (a flush that must not lose the last batch).
    AtStop,
}

/// Runs `step` every `period` until `shutdown` resolves, plus the `extra` run.
pub(crate) async fn run_every(
    period: Duration,
    shutdown: impl Future<Output = ()>,
    extra: Extra,
    mut step: impl FnMut(),
) {
    tokio::pin!(shutdown);
    if extra == Extra::AtStart {
        step();
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => step(),
            () = &mut shutdown => {
                if extra == Extra::AtStop {
                    step();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn runs(extra: Extra) -> u32 {
        let mut count = 0;
        let stop = tokio::time::sleep(Duration::from_millis(2500));
        run_every(Duration::from_secs(1), stop, extra, || count += 1).await;
        count
    }

    #[tokio::test(start_paused = true)]
    async fn runs_once_per_period_plus_the_extra_run() {
        assert_eq!(runs(Extra::None).await, 2);
        assert_eq!(runs(Extra::AtStart).await, 3);
        assert_eq!(runs(Extra::AtStop).await, 3);
    }
}
