//! The health check of a running instance: eddy asks `GET /_vercel/ping` every few seconds
//! (every launcher and the `vercel_runtime` crate answer it). An instance that has answered
//! nothing for longer than its threshold — a frozen process, a deadlocked server, an event loop
//! blocked for good — is killed; its in-flight requests fail and the pool replaces it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::Health;
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc::WeakUnboundedSender;

use crate::supervise::{FUNCTION_TARGET, Shared};

/// When and how eddy checks the instances of a [`crate::ProcessRuntime`].
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Time between two pings.
    pub interval: Duration,
    /// How long one ping may take before it counts as unanswered.
    pub timeout: Duration,
    /// How long an instance may go without answering before it is killed. Never less than
    /// the function's `maxDuration`: a handler may legitimately hold a single-threaded server
    /// that long, and by then every request it holds has timed out anyway.
    pub unhealthy_after: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            unhealthy_after: Duration::from_secs(30),
        }
    }
}

/// Pings the instance on `port` until it exits; kills it (through `signals`, the exit
/// watcher's channel) once it has not answered for the threshold. Holds only a weak sender,
/// so it never keeps a dropped instance alive.
pub(crate) async fn watch(
    check: HealthCheck,
    max_duration: Duration,
    port: u16,
    shared: Arc<Shared>,
    signals: WeakUnboundedSender<Signal>,
) {
    let threshold = check.unhealthy_after.max(max_duration);
    let mut health = shared.health();
    let mut last_answer = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(check.interval) => {}
            changed = health.changed() => {
                if changed.is_err() || matches!(*health.borrow(), Health::Exited { .. }) {
                    return;
                }
                continue;
            }
        }
        if ping(port, check.timeout).await {
            last_answer = Instant::now();
            continue;
        }
        let silent = last_answer.elapsed();
        if silent < threshold {
            continue;
        }
        let Some(signals) = signals.upgrade() else {
            return;
        };
        let reason = format!(
            "stopped answering its health check (GET /_vercel/ping) for {} s and was killed",
            silent.as_secs()
        );
        tracing::error!(target: FUNCTION_TARGET, function = %shared.function, instance = %shared.id, "{reason}");
        shared.kill_because(reason);
        let _ = signals.send(Signal::SIGKILL);
        return;
    }
}

/// One `GET /_vercel/ping` on a fresh connection: whether any HTTP response came back within
/// `timeout`.
async fn ping(port: u16, timeout: Duration) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                b"GET /_vercel/ping HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
            )
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<bool, std::io::Error>(head.starts_with(b"HTTP/1."))
    };
    matches!(tokio::time::timeout(timeout, exchange).await, Ok(Ok(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ping_needs_an_http_answer_in_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            // First connection answers, the second is accepted and never answered.
            let (mut answered, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = answered.read(&mut buf).await.unwrap();
            answered
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            let (silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(silent);
        });
        assert!(ping(port, Duration::from_secs(2)).await);
        assert!(!ping(port, Duration::from_millis(200)).await);
        server.abort();
        // Nobody listening at all.
        assert!(!ping(port, Duration::from_millis(200)).await);
    }
}
