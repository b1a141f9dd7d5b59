//! How figures are taken: processes started and awaited, cold starts timed, warm load generated
//! from this process, the dev reload loop timed. Knows nothing about particular runtimes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// A child process stopped on drop: SIGTERM, so `eddy dev` stops its instances (a killed eddy
/// leaves the Rust ones running), then SIGKILL if it is still there after 5 s.
pub struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a process and waits for a stdout line with `marker`, returning what follows it.
pub fn start(mut command: Command, marker: &str) -> anyhow::Result<(Guard, String)> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let stdout = child.stdout.take().context("stdout")?;
    let guard = Guard(child);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split_once(marker).map(|(_, r)| r.trim().to_string()) {
            std::thread::spawn(move || for _ in lines {});
            return Ok((guard, rest));
        }
    }
    bail!("{program} exited before printing {marker:?}")
}

/// Starts a process that prints nothing once up (workerd) and waits until a TCP connection to
/// `port` on 127.0.0.1 succeeds, polling every millisecond for at most 10 s.
pub fn start_listening(mut command: Command, port: u16) -> anyhow::Result<Guard> {
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(guard);
        }
        if let Some(status) = guard.0.try_wait()? {
            bail!("{program} exited ({status}) before listening on port {port}");
        }
        if Instant::now() > deadline {
            bail!("{program} did not listen on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The environment eddy gives its instances, for peers: inherited variables such as
/// NODE_EXTRA_CA_CERTS cost node tens of milliseconds at start-up.
pub fn clean_env(command: &mut Command) {
    command.env_clear();
    for key in ["PATH", "HOME", "LANG"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command.env("TZ", "UTC");
}

pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<Bytes> {
    let response = client.get(url.parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "{url}: status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(2000)])
        );
    }
    Ok(body)
}

/// `eddy dev` serving `project` on a free port, without file watching; returns its base URL.
pub fn eddy_dev(eddy: &Path, project: &Path) -> anyhow::Result<(Guard, String)> {
    let mut command = Command::new(eddy);
    command
        .args(["dev"])
        .arg(project)
        .args(["--listen", "127.0.0.1:0", "--no-watch"])
        .env("EDDY_LOG", "warn");
    start(command, "Ready! Available at ")
}

pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

/// eddy: the server is up (not timed); timed = first request to `path`, which spawns the
/// instance.
pub async fn cold_eddy(
    eddy: &Path,
    project: &Path,
    path: &str,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let (_guard, base) = eddy_dev(eddy, project)?;
        let client = client();
        let started = Instant::now();
        get(&client, &format!("{base}{path}")).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// eddy as `cold_eddy`, but each sample is what eddy itself logs for the new instance (the
/// scheduler's `cold_start_ms`, whole milliseconds): the server side of the same cold start.
pub async fn cold_eddy_logged(
    eddy: &Path,
    project: &Path,
    path: &str,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let mut command = Command::new(eddy);
        command
            .args(["dev"])
            .arg(project)
            .args(["--listen", "127.0.0.1:0", "--no-watch"])
            .env("EDDY_LOG", "info")
            .env("EDDY_LOG_FORMAT", "json")
            .stderr(Stdio::piped());
        let mut child = command
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting eddy dev")?;
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let _guard = Guard(child);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(ms) = logged_cold_start(&line) {
                    let _ = sender.send(ms);
                }
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let base = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("Ready! Available at ")
                    .map(|(_, rest)| rest.trim().to_string())
            })
            .context("eddy dev exited before it was ready")?;
        std::thread::spawn(move || for _ in lines {});
        get(&client(), &format!("{base}{path}")).await?;
        let ms = receiver
            .recv_timeout(Duration::from_secs(5))
            .context("eddy logged no cold_start_ms within 5 s of the first response")?;
        samples.push(ms);
    }
    Ok(samples)
}

/// The `cold_start_ms` of a JSON log line, if it has one.
fn logged_cold_start(line: &str) -> Option<f64> {
    let (_, rest) = line.split_once("\"cold_start_ms\":")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A peer: timed = spawn (by `launch`, which returns the base URL) until the first response.
pub async fn cold_peer(
    launch: impl Fn() -> anyhow::Result<(Guard, String)>,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let (_guard, base) = launch()?;
        get(&client(), &format!("{base}/")).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Requests/s over `seconds` with `connections` concurrent loops, after a 2 s warm-up.
pub async fn load(url: String, connections: usize, seconds: u64) -> anyhow::Result<f64> {
    let client = client();
    get(&client, &url)
        .await
        .with_context(|| format!("{url} does not answer before the load"))?;
    let mut rate = 0.0;
    // A warm-up, then the measured phase.
    for phase in [Duration::from_secs(2), Duration::from_secs(seconds)] {
        let count = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + phase;
        let started = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (client, url, count) = (client.clone(), url.clone(), count.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if get(&client, &url).await.is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    }
    Ok(rate)
}

/// Copies the node project to a temp dir under `work`, serves it with file watching on, and
/// times each save of `api/hello.js` until a response carries the new text.
pub async fn dev_reload(
    eddy: &Path,
    project: &Path,
    work: &Path,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let dir = work.join("reload");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("api"))?;
    std::fs::copy(project.join("api/hello.js"), dir.join("api/hello.js"))?;
    let mut command = Command::new(eddy);
    command
        .args(["dev"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("EDDY_LOG", "warn");
    let (_guard, base) = start(command, "Ready! Available at ")?;
    let client = client();
    let url = format!("{base}/api/hello");
    get(&client, &url).await?;
    let mut samples = Vec::new();
    for run in 0..runs {
        let marker = format!("version {run}");
        // Let the watcher settle between saves.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        std::fs::write(
            dir.join("api/hello.js"),
            format!("module.exports = (req, res) => res.end('{marker}');\n"),
        )?;
        loop {
            let response = client.get(url.parse()?).await?;
            let body = response.into_body().collect().await?.to_bytes();
            if body.as_ref() == marker.as_bytes() {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("new code did not serve within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cold_start_is_read_from_a_json_log_line_and_other_lines_are_skipped() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"instance ready","cold_start_ms":12},"target":"eddy_scheduler"}"#;
        assert_eq!(logged_cold_start(line), Some(12.0));
        assert_eq!(logged_cold_start(r#"{"cold_start_ms":3.25}"#), Some(3.25));
        assert_eq!(
            logged_cold_start(r#"{"fields":{"message":"listening"}}"#),
            None
        );
    }
}
