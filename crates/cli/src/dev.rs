//! `eddy dev`: plan the project, serve it, and re-plan on every file save. Old instances drain
//! while new requests go to the new code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use tokio::net::TcpListener;

use eddy_build::{PlanOptions, plan};
use eddy_gateway::{App, Gateway, GatewayOptions, PoolDefaults, Runtimes};
use eddy_runtime_edge::{EdgeOptions, EdgeRuntime};
use eddy_runtime_process::GoConfig;
use eddy_runtime_process::RubyConfig;
use eddy_runtime_process::{BunConfig, RustConfig};
use eddy_runtime_process::{NodeConfig, ProcessRuntime, PythonConfig};
use eddy_runtime_wasm::{WasmConfig, WasmRuntime};
use eddy_scheduler::InstanceIds;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The project directory (with an `api/` folder, `vercel.json`, `public/`...).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to listen: a port (`3000`) or `HOST:PORT` (`127.0.0.1:0` picks a free port).
    #[arg(long, short = 'l', default_value = "3000")]
    listen: String,
    /// Seconds an idle instance stays warm before it retires.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Do not watch files for changes.
    #[arg(long)]
    no_watch: bool,
}

/// Everything needed to turn the project into an [`App`] again after a change.
struct Planner {
    dir: PathBuf,
    options: PlanOptions,
    runtimes: Runtimes,
    defaults: PoolDefaults,
    ids: Arc<InstanceIds>,
}

impl Planner {
    fn app(&self) -> anyhow::Result<App> {
        let plan = plan(&self.dir, &self.options)?;
        for warning in &plan.warnings {
            tracing::warn!(target: "eddy::build", "{warning}");
        }
        let mut broken = BTreeMap::new();
        for error in &plan.errors {
            tracing::error!(target: "eddy::build", "{error}");
            broken.insert(error.function.clone(), error.to_string());
        }
        let app = App::new(
            &plan.deployment,
            broken,
            &self.runtimes,
            &self.defaults,
            &self.ids,
        )?;
        Ok(app)
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("project directory {} does not exist", args.dir.display()))?;
    if !dir.is_dir() {
        bail!(
            "{} is not a directory (pass the folder that holds api/ or vercel.json)",
            dir.display()
        );
    }
    let addr = parse_listen(&args.listen)?;
    let listener = bind(addr).await?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let planner = Planner {
        options: plan_options(&dir, local),
        dir,
        runtimes: runtimes(),
        defaults: PoolDefaults {
            idle_timeout: Duration::from_secs(args.idle_timeout),
            ..PoolDefaults::default()
        },
        ids: Arc::new(InstanceIds::default()),
    };
    let started = Instant::now();
    let app = planner.app()?;
    let functions = app.pools().count();
    let gateway = Gateway::new(app, GatewayOptions::default());
    tracing::info!(target: "eddy::dev", functions, "planned {} in {:.0} ms", planner.dir.display(), started.elapsed().as_secs_f64() * 1000.0);
    let url = format!("http://{}", display_addr(local));
    println!("Ready! Available at {url}");

    let _watcher = if args.no_watch {
        None
    } else {
        let gateway = gateway.clone();
        let planner = Arc::new(planner);
        let handle = tokio::runtime::Handle::current();
        Some(crate::watch::watch(&planner.dir.clone(), move || {
            let _runtime = handle.enter();
            reload(&planner, &gateway);
        })?)
    };
    serve_until_stopped(&gateway, listener).await;
    tracing::info!(target: "eddy::dev", "shutting down: draining instances");
    gateway.retire().await;
    Ok(())
}

/// Every runtime `eddy dev` has, with default settings.
pub(crate) fn runtimes() -> Runtimes {
    all_runtimes(process_runtimes(BunConfig::default()), dev_edge_options())
}

/// The process runtimes by family, with default settings; `bun` says where Bun is.
pub(crate) fn process_runtimes(bun: BunConfig) -> [(&'static str, ProcessRuntime); 6] {
    [
        ("node", ProcessRuntime::node(NodeConfig::default())),
        ("bun", ProcessRuntime::bun(bun)),
        ("ruby", ProcessRuntime::ruby(RubyConfig::default())),
        ("go", ProcessRuntime::go(GoConfig::default())),
        ("rust", ProcessRuntime::rust(RustConfig::default())),
        ("python", ProcessRuntime::python(PythonConfig::default())),
    ]
}

/// The given process runtimes, the Edge runtime with `edge` options, and Wasm (when its engine
/// starts; a warning otherwise).
pub(crate) fn all_runtimes(
    process: impl IntoIterator<Item = (&'static str, ProcessRuntime)>,
    edge: EdgeOptions,
) -> Runtimes {
    let runtimes = process
        .into_iter()
        .fold(Runtimes::default(), |runtimes, (family, runtime)| {
            runtimes.with(family, Arc::new(runtime))
        })
        .with("edge", Arc::new(EdgeRuntime::new(edge)));
    match WasmRuntime::new(WasmConfig::default()) {
        Ok(wasm) => runtimes.with("wasm", Arc::new(wasm)),
        Err(error) => {
            tracing::warn!(target: "eddy::dev", "{error}; WebAssembly functions will not run");
            runtimes
        }
    }
}

/// Edge limits as in production, except that `fetch` may reach any port: in development the
/// upstreams a function calls usually run on this machine on ports other than 80/443.
fn dev_edge_options() -> EdgeOptions {
    EdgeOptions {
        restrict_fetch_ports: false,
        ..EdgeOptions::default()
    }
}

fn reload(planner: &Planner, gateway: &Gateway) {
    let started = Instant::now();
    match planner.app() {
        Ok(app) => {
            gateway.replace_app(app);
            tracing::info!(target: "eddy::dev", "reloaded in {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
        }
        Err(error) => {
            tracing::error!(target: "eddy::dev", "reload failed, still serving the previous version: {error:#}")
        }
    }
}

fn plan_options(dir: &Path, local: SocketAddr) -> PlanOptions {
    let mut env = BTreeMap::new();
    let host = display_addr(local);
    for (k, v) in [
        ("VERCEL", "1"),
        ("VERCEL_ENV", "development"),
        ("VERCEL_REGION", "dev1"),
        ("NODE_ENV", "development"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert("VERCEL_URL".into(), host);
    PlanOptions {
        env,
        ..PlanOptions::new(dir)
    }
}

pub(crate) fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Listens on `addr`, saying what to do when the port is taken.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|error| match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            anyhow::anyhow!("{addr} is already in use (stop the other server or pass --listen with another port)")
        }
        _ => anyhow::anyhow!("cannot listen on {addr}: {error}"),
    })
}

/// A bare port listens on all interfaces, as `vercel dev` does; `HOST:PORT` is taken as is.
pub(crate) fn parse_listen(listen: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    listen.parse::<SocketAddr>().with_context(|| {
        format!("--listen {listen:?} is neither a port nor HOST:PORT (e.g. 3000 or 127.0.0.1:3000)")
    })
}

/// Serves `gateway` on `listener` until SIGTERM or Ctrl-C, then lets open connections finish
/// (at most 10 s). The caller drains the instances afterwards.
pub(crate) async fn serve_until_stopped(gateway: &Arc<Gateway>, listener: TcpListener) {
    eddy_gateway::server::serve(
        gateway.clone(),
        listener,
        shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
