//! `eddy serve --output DIR`: serve one Build Output API v3 tree (written by `eddy build` or
//! `vercel build`) with the gateway and runtimes of `eddy dev`, without watching or rebuilding.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use eddy_config::read_output;
use eddy_gateway::{App, Gateway, GatewayOptions, PoolDefaults, Runtimes};
use eddy_runtime_edge::EdgeOptions;
use eddy_runtime_process::{BunConfig, SandboxConfig};
use eddy_scheduler::InstanceIds;

use crate::dev::{
    all_runtimes, bind, display_addr, parse_listen, process_runtimes, serve_until_stopped,
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A Build Output API v3 folder (`.vercel/output`, as `eddy build` or `vercel build` write
    /// it) to serve as one production deployment.
    #[arg(long, value_name = "DIR", conflicts_with = "data")]
    output: Option<PathBuf>,
    /// The production server: keep deployments, env vars, crons, Edge Config, usage and logs
    /// in DIR (created if missing; also `EDDY_DATA`) and serve every deployment by host.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// With --data: where the admin API (and the Edge Config endpoints functions read) listens.
    /// Default: 127.0.0.1 on the port after --listen's (a free port when --listen's is 0).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    /// With --data: how long a preview deployment may go uninvoked before it is archived
    /// (instances stopped; its next request brings it back): `48h`, `30m`, `90s`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "48h")]
    archive_preview_after: String,
    /// With --data: the same for a project's production deployment.
    #[arg(long, value_name = "DURATION", default_value = "14d")]
    archive_production_after: String,
    /// Where to listen: a port (`3000`) or `HOST:PORT` (`127.0.0.1:0` picks a free port).
    #[arg(long, short = 'l', default_value = "3000")]
    listen: String,
    /// Seconds an idle instance stays warm before it retires.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Run process instances without their filesystem sandbox (docs/security.md): functions
    /// then see the whole machine as eddy's user.
    #[arg(long)]
    no_sandbox: bool,
    /// Let Edge functions `fetch` any port, as in `eddy dev`, for upstreams on this machine
    /// (in production, Vercel rewrites ports other than 80 and 443 to the default port).
    #[arg(long)]
    edge_fetch_any_port: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data = args
        .data
        .clone()
        .or_else(|| std::env::var_os("EDDY_DATA").map(PathBuf::from));
    let Some(output) = args.output else {
        let Some(data) = data else {
            bail!(
                "eddy serve needs --output DIR (the folder of a Build Output tree: run `eddy build` first, it writes .vercel/output) or --data DIR (the production server keeping deployments there)"
            );
        };
        return crate::serve_data::run(crate::serve_data::DataOptions {
            data,
            listen: args.listen,
            admin_listen: args.admin_listen,
            idle_timeout: Duration::from_secs(args.idle_timeout),
            runtimes: serve_runtimes(
                (!args.no_sandbox).then(SandboxConfig::default),
                args.edge_fetch_any_port,
            ),
            preview_idle: crate::serve_data::parse_duration(&args.archive_preview_after)?,
            production_idle: crate::serve_data::parse_duration(&args.archive_production_after)?,
        })
        .await;
    };
    let dir = std::fs::canonicalize(&output)
        .with_context(|| format!("output directory {} does not exist", output.display()))?;
    let started = Instant::now();
    let mut read = read_output(&dir)?;
    for note in &read.notes {
        tracing::debug!(target: "eddy::serve", "{note}");
    }
    let mut broken = BTreeMap::new();
    for error in &read.errors {
        tracing::error!(target: "eddy::serve", "{error}");
        broken.insert(error.function.clone(), error.to_string());
    }
    if !read.crons.is_empty() {
        tracing::info!(target: "eddy::serve", crons = read.crons.len(), "cron jobs are kept but not run by `eddy serve --output`");
    }
    let listener = bind(parse_listen(&args.listen)?).await?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let deployment = &mut read.deployment;
    let system_env = [
        ("VERCEL", "1".to_owned()),
        ("VERCEL_ENV", "production".to_owned()),
        ("VERCEL_REGION", "dev1".to_owned()),
        ("VERCEL_URL", display_addr(local)),
        ("VERCEL_DEPLOYMENT_ID", deployment.id.clone()),
    ];
    for spec in deployment.functions.values_mut() {
        // The platform's variables win over the function's own, as on Vercel.
        for (key, value) in &system_env {
            spec.env.insert((*key).to_owned(), value.clone());
        }
        // A default only: a function may set its own.
        spec.env
            .entry("NODE_ENV".to_owned())
            .or_insert_with(|| "production".to_owned());
    }
    let defaults = PoolDefaults {
        idle_timeout: Duration::from_secs(args.idle_timeout),
        ..PoolDefaults::default()
    };
    let app = App::new(
        deployment,
        broken,
        &serve_runtimes(
            (!args.no_sandbox).then(SandboxConfig::default),
            args.edge_fetch_any_port,
        ),
        &defaults,
        &Arc::new(InstanceIds::default()),
    )?;
    let functions = app.pools().count();
    let gateway = Gateway::new(app, GatewayOptions::default());
    tracing::info!(target: "eddy::serve", functions, "read {} in {:.0} ms", dir.display(), started.elapsed().as_secs_f64() * 1000.0);
    println!("Ready! Available at http://{}", display_addr(local));
    serve_until_stopped(&gateway, listener).await;
    tracing::info!(target: "eddy::serve", "shutting down: draining instances");
    gateway.retire().await;
    Ok(())
}

/// `eddy dev`'s runtimes, except that process instances are sandboxed (unless `sandbox` is
/// `None`), Edge functions may fetch only ports 80 and 443 as in production (unless
/// `edge_fetch_any_port`), and Bun is also
/// looked for beside eddy: in dev it comes from the project's `node_modules`, which an output
/// tree does not carry.
fn serve_runtimes(sandbox: Option<SandboxConfig>, edge_fetch_any_port: bool) -> Runtimes {
    let bun = BunConfig {
        bun: bun_beside_eddy(),
        ..BunConfig::default()
    };
    let process = process_runtimes(bun).map(|(family, runtime)| match &sandbox {
        Some(config) => (family, runtime.with_sandbox(config.clone())),
        None => (family, runtime),
    });
    let edge = EdgeOptions {
        restrict_fetch_ports: !edge_fetch_any_port,
        ..EdgeOptions::default()
    };
    all_runtimes(process, edge)
}

/// `node_modules/.bin/bun` in a parent of the eddy binary, unless `bun` is on `PATH`.
fn bun_beside_eddy() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bun").is_file()));
    if on_path {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .map(|dir| dir.join(Path::new("node_modules/.bin/bun")))
        .find(|bun| bun.is_file())
}
