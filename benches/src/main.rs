//! eddy's benchmarks. Each prints figures next to a peer measured side by side in the same run
//! (absolute times drift on shared machines; ratios hold better).
//!
//! node: cold start (spawn → first byte) of a Node function through eddy vs a bare `node` http
//! server serving the same handler; warm requests/s through eddy vs hitting that bare server.
//!
//! Run: `./x bench` (builds release first), or `cargo run --release -p eddy-bench -- --help`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, Parser)]
#[command(about = "eddy benchmarks: figures and ratios against a peer run side by side")]
struct Args {
    /// Cold starts to measure on each side.
    #[arg(long, default_value_t = 20)]
    cold_runs: usize,
    /// Seconds of warm load on each side (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections of the warm load.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The eddy binary (default: target/release/eddy).
    #[arg(long)]
    eddy: Option<PathBuf>,
    /// Only load this URL for `--seconds` and print requests/s (for ad-hoc comparisons).
    #[arg(long)]
    load_only: Option<String>,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process killed on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a process and waits for a stdout line with `marker`, returning what follows it.
fn start(mut command: Command, marker: &str) -> anyhow::Result<(Guard, String)> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()?;
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
    bail!("process exited before printing {marker:?}")
}

async fn get(client: &HttpClient, url: &str) -> anyhow::Result<()> {
    let response = client.get(url.parse()?).await?;
    if !response.status().is_success() {
        bail!("{url}: status {}", response.status());
    }
    response.into_body().collect().await?;
    Ok(())
}

fn eddy_dev(eddy: &Path, project: &Path) -> anyhow::Result<(Guard, String)> {
    let mut command = Command::new(eddy);
    command
        .args(["dev"])
        .arg(project)
        .args(["--listen", "127.0.0.1:0", "--no-watch"])
        .env("EDDY_LOG", "warn");
    start(command, "Ready! Available at ")
}

fn bare_node(project: &Path) -> anyhow::Result<(Guard, String)> {
    let mut command = Command::new("node");
    // The same clean environment eddy gives its instances: inherited variables such as
    // NODE_EXTRA_CA_CERTS cost node tens of milliseconds at start-up.
    command.arg("peer.js").current_dir(project).env_clear();
    for key in ["PATH", "HOME", "LANG"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command.env("TZ", "UTC");
    let (guard, port) = start(command, "listening ")?;
    Ok((guard, format!("http://127.0.0.1:{port}")))
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

/// eddy: the server is up (not timed); timed = first request, which spawns the instance.
async fn cold_eddy(eddy: &Path, project: &Path, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let (_guard, base) = eddy_dev(eddy, project)?;
        let client = client();
        let started = Instant::now();
        get(&client, &format!("{base}/api/hello")).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Bare node: timed = spawn until the first response.
async fn cold_node(project: &Path, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let (_guard, base) = bare_node(project)?;
        get(&client(), &format!("{base}/")).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Requests/s over `seconds` with `connections` concurrent loops, after a 2 s warm-up.
async fn load(url: String, connections: usize, seconds: u64) -> anyhow::Result<f64> {
    let client = client();
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
        if phase.as_secs() == seconds {
            return Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64());
        }
    }
    unreachable!("the loop returns in its second phase")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = args.load_only {
        let rate = load(url.clone(), args.connections, args.seconds).await?;
        println!("{url}: {rate:.0} req/s");
        return Ok(());
    }
    let eddy = args
        .eddy
        .clone()
        .unwrap_or_else(|| repo_root().join("target/release/eddy"));
    if !eddy.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p eddy` or pass --eddy",
            eddy.display()
        );
    }
    let project = repo_root().join("benches/node-hello");

    println!(
        "== node cold start (spawn → first byte), {} runs each",
        args.cold_runs
    );
    let node = stats(cold_node(&project, args.cold_runs).await?);
    let through = stats(cold_eddy(&eddy, &project, args.cold_runs).await?);
    println!(
        "bare node           p50 {:7.1} ms  (min {:.1}, max {:.1})",
        node.median, node.min, node.max
    );
    println!(
        "eddy (node runtime) p50 {:7.1} ms  (min {:.1}, max {:.1})",
        through.median, through.min, through.max
    );
    println!(
        "eddy − node         {:+.1} ms at p50 (target: ≤ +10 ms)",
        through.median - node.median
    );

    println!(
        "\n== node warm requests/s, {} connections, {} s",
        args.connections, args.seconds
    );
    let (_node_guard, node_base) = bare_node(&project)?;
    let direct = load(format!("{node_base}/"), args.connections, args.seconds).await?;
    drop(_node_guard);
    let (_eddy_guard, eddy_base) = eddy_dev(&eddy, &project)?;
    let proxied = load(
        format!("{eddy_base}/api/hello"),
        args.connections,
        args.seconds,
    )
    .await?;
    println!("bare node           {direct:9.0} req/s");
    println!("eddy (node runtime) {proxied:9.0} req/s");
    println!(
        "eddy ÷ node         {:.2}× (target: ≥ 0.75×)",
        proxied / direct
    );
    drop(_eddy_guard);

    let runs = args.cold_runs.min(10);
    println!("\n== dev loop: file saved → new code answering, {runs} runs");
    let reload = stats(dev_reload(&eddy, &project, runs).await?);
    println!(
        "eddy dev            p50 {:7.1} ms  (min {:.1}, max {:.1}) (target: ≤ 300 ms)",
        reload.median, reload.min, reload.max
    );
    Ok(())
}

/// Copies the project to a temp dir under `target/`, serves it with file watching on, and
/// times each save of `api/hello.js` until a response carries the new text.
async fn dev_reload(eddy: &Path, project: &Path, runs: usize) -> anyhow::Result<Vec<f64>> {
    let dir = repo_root().join("target/eddy-bench-reload");
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
