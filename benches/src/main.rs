//! eddy's benchmarks. Each prints figures next to a peer measured side by side in the same run
//! (absolute times drift on shared machines; ratios hold better).
//!
//! Per runtime (node, python, go, ruby, rust, bun, wasm against `wasmtime serve`, and edge
//! against Vercel's edge-runtime emulator and Cloudflare's workerd): cold start (spawn → first byte) of
//! a hello function through eddy vs the same handler on the language's own server (the peer),
//! and warm requests/s through eddy vs hitting that peer. For node also the dev loop: file
//! saved → new code answering. One table of every runtime at the end.
//!
//! Run: `./x bench` (builds release first), or `cargo run --release -p eddy-bench -- --help`.

mod measure;
mod runtime;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;

use measure::{
    client, cold_eddy, cold_eddy_logged, cold_peer, dev_reload, eddy_dev, get, load, stats,
};
use runtime::Runtime;

#[derive(Debug, Parser)]
#[command(about = "eddy benchmarks: figures and ratios against a peer run side by side")]
struct Args {
    /// The runtime to measure, or all of them.
    #[arg(long, default_value = "all")]
    runtime: Selection,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Selection {
    All,
    Node,
    Python,
    Go,
    Ruby,
    Rust,
    Bun,
    Wasm,
    Edge,
}

impl Selection {
    fn runtimes(self) -> Vec<Runtime> {
        let one = match self {
            Selection::All => return Runtime::ALL.to_vec(),
            Selection::Node => Runtime::Node,
            Selection::Python => Runtime::Python,
            Selection::Go => Runtime::Go,
            Selection::Ruby => Runtime::Ruby,
            Selection::Rust => Runtime::Rust,
            Selection::Bun => Runtime::Bun,
            Selection::Wasm => Runtime::Wasm,
            Selection::Edge => Runtime::Edge,
        };
        vec![one]
    }
}

/// One row of the final table.
struct Row {
    runtime: Runtime,
    peer: &'static str,
    peer_cold: f64,
    eddy_cold: f64,
    peer_rate: f64,
    eddy_rate: f64,
}

const PATH: &str = "/api/hello";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = args.load_only {
        let rate = load(url.clone(), args.connections, args.seconds).await?;
        println!("{url}: {rate:.0} req/s");
        return Ok(());
    }
    if args.cold_runs == 0 {
        bail!("--cold-runs must be at least 1");
    }
    let root = repo_root();
    let eddy = args
        .eddy
        .clone()
        .unwrap_or_else(|| root.join("target/release/eddy"));
    if !eddy.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p eddy` or pass --eddy",
            eddy.display()
        );
    }
    let work = root.join("target/eddy-bench");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let mut rows = Vec::new();
    for runtime in args.runtime.runtimes() {
        let measured = measure(runtime, &args, &eddy, &root, &work)
            .await
            .with_context(|| format!("{} benchmark", runtime.name()))?;
        rows.extend(measured);
    }

    if args.runtime.runtimes().contains(&Runtime::Node) {
        let runs = args.cold_runs.min(10);
        println!("\n== dev loop: file saved → new code answering, {runs} runs");
        let project = Runtime::Node.project(&root);
        let reload = stats(dev_reload(&eddy, &project, &work, runs).await?);
        println!(
            "eddy dev            p50 {:7.1} ms  (min {:.1}, max {:.1}) (target: ≤ 300 ms)",
            reload.median, reload.min, reload.max
        );
    }

    println!(
        "\n== summary: cold start p50 over {} runs; warm load {} connections, {} s\n",
        args.cold_runs, args.connections, args.seconds
    );
    print!("{}", table(&rows));
    Ok(())
}

/// Cold starts and warm load of one runtime, each peer then eddy, printed as they are taken;
/// one row per peer.
async fn measure(
    runtime: Runtime,
    args: &Args,
    eddy: &Path,
    root: &Path,
    work: &Path,
) -> anyhow::Result<Vec<Row>> {
    let name = runtime.name();
    let project = runtime.project(root);
    let peers = runtime.peers(root, work)?;
    let names: Vec<_> = peers.iter().map(|(name, _)| *name).collect();
    println!("\n== {name}: peers = {}", names.join(", "));
    // Untimed: eddy builds what the project needs (Go, Rust) into its cache, and the hello
    // function answers at all.
    {
        let (_guard, base) = eddy_dev(eddy, &project)?;
        let body = get(&client(), &format!("{base}{PATH}")).await?;
        if body.as_ref() != b"hello" {
            bail!(
                "eddy answered {PATH} with {:?}, not \"hello\"",
                String::from_utf8_lossy(&body)
            );
        }
    }

    let mut peer_colds = Vec::new();
    for (peer_name, peer) in &peers {
        let cold = stats(cold_peer(|| peer.start(), args.cold_runs).await?);
        println!(
            "cold {peer_name:<34} p50 {:7.1} ms  (min {:.1}, max {:.1})",
            cold.median, cold.min, cold.max
        );
        peer_colds.push(cold.median);
    }
    let eddy_cold = stats(cold_eddy(eddy, &project, PATH, args.cold_runs).await?);
    println!(
        "cold {:<34} p50 {:7.1} ms  (min {:.1}, max {:.1})",
        "eddy", eddy_cold.median, eddy_cold.min, eddy_cold.max
    );
    if runtime == Runtime::Edge {
        let server = stats(cold_eddy_logged(eddy, &project, PATH, args.cold_runs).await?);
        println!(
            "cold {:<34} p50 {:7.1} ms  (min {:.1}, max {:.1})",
            "eddy, logged cold_start_ms", server.median, server.min, server.max
        );
    }

    let mut peer_rates = Vec::new();
    for (peer_name, peer) in &peers {
        let (_guard, base) = peer.start()?;
        let rate = load(format!("{base}/"), args.connections, args.seconds).await?;
        println!("warm {peer_name:<34} {rate:9.0} req/s");
        peer_rates.push(rate);
    }
    let eddy_rate = {
        let (_guard, base) = eddy_dev(eddy, &project)?;
        load(format!("{base}{PATH}"), args.connections, args.seconds).await?
    };
    println!("warm {:<34} {eddy_rate:9.0} req/s", "eddy");
    Ok(names
        .into_iter()
        .zip(peer_colds.into_iter().zip(peer_rates))
        .map(|(peer, (peer_cold, peer_rate))| Row {
            runtime,
            peer,
            peer_cold,
            eddy_cold: eddy_cold.median,
            peer_rate,
            eddy_rate,
        })
        .collect())
}

/// The summary as a Markdown table, one row per runtime.
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| runtime | peer | peer cold p50 | eddy cold p50 | Δ | peer req/s | eddy req/s | ratio |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:+.1} ms | {:.0} | {:.0} | {:.2}× |\n",
            row.runtime.name(),
            row.peer,
            row.peer_cold,
            row.eddy_cold,
            row.eddy_cold - row.peer_cold,
            row.peer_rate,
            row.eddy_rate,
            row.eddy_rate / row.peer_rate,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_one_row_per_runtime_with_delta_and_ratio() {
        let rows = [
            Row {
                runtime: Runtime::Go,
                peer: "go net/http",
                peer_cold: 4.0,
                eddy_cold: 30.5,
                peer_rate: 20000.0,
                eddy_rate: 10000.0,
            },
            Row {
                runtime: Runtime::Edge,
                peer: "workerd",
                peer_cold: 40.0,
                eddy_cold: 10.0,
                peer_rate: 5000.0,
                eddy_rate: 10000.0,
            },
        ];
        let text = table(&rows);
        assert_eq!(text.lines().count(), 4);
        assert_eq!(
            text.lines().nth(2),
            Some("| go | go net/http | 4.0 ms | 30.5 ms | +26.5 ms | 20000 | 10000 | 0.50× |")
        );
        assert_eq!(
            text.lines().nth(3),
            Some("| edge | workerd | 40.0 ms | 10.0 ms | -30.0 ms | 5000 | 10000 | 2.00× |")
        );
    }

    #[test]
    fn all_selects_every_runtime_and_a_name_selects_one() {
        assert_eq!(Selection::All.runtimes(), Runtime::ALL.to_vec());
        assert_eq!(Selection::Ruby.runtimes(), vec![Runtime::Ruby]);
        assert_eq!(Selection::Edge.runtimes(), vec![Runtime::Edge]);
        assert!(!Selection::All.runtimes().contains(&Runtime::Edge));
    }
}
