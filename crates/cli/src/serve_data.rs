//! `eddy serve --data DIR`: the production server. The control plane (`eddy-control`) over
//! the data dir, the gateway serving every deployment by `Host` ([`sites::Deployments`]), the
//! admin API and the Edge Config read endpoints on a second, loopback listener, and what runs
//! beside the traffic: usage and log flushes, log retention, cron jobs, archiving.
//!
//! Files in the data dir besides the control plane's: `eddy.lock` (the pid of the server
//! using it; a second server refuses to start), `admin-token` (the admin token, readable by
//! the owner only, so the verbs on this machine work without `--token`) and `admin-url`.

mod metering;
mod sites;

use std::fs::{self, File};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;

use eddy_config::Deployment;
use eddy_control::{
    ControlPlane, CronEngine, GatewayInvoker, LogSink, Settings, UsageMeter, admin, edge_config,
    logs,
};
use eddy_gateway::{App, Gateway, GatewayOptions, PoolDefaults, Runtimes};
use eddy_scheduler::InstanceIds;

use crate::dev::{bind, display_addr, parse_listen, serve_until_stopped};
pub(crate) use metering::ControlLayer;

/// The file holding the admin token for the verbs on this machine.
pub(crate) const TOKEN_FILE: &str = "admin-token";
/// The file holding the admin API's URL for the verbs on this machine.
pub(crate) const URL_FILE: &str = "admin-url";

/// What `eddy serve --data` runs with.
pub(crate) struct DataOptions {
    pub(crate) data: PathBuf,
    pub(crate) listen: String,
    pub(crate) admin_listen: Option<String>,
    pub(crate) idle_timeout: Duration,
    pub(crate) runtimes: Runtimes,
    /// Uninvoked this long, a preview deployment is archived.
    pub(crate) preview_idle: Duration,
    /// Uninvoked this long, a production deployment is archived.
    pub(crate) production_idle: Duration,
}

pub(crate) async fn run(options: DataOptions) -> anyhow::Result<()> {
    fs::create_dir_all(&options.data).with_context(|| {
        format!(
            "cannot create the data dir {} (pass a writable directory with --data)",
            options.data.display()
        )
    })?;
    let data = fs::canonicalize(&options.data)
        .with_context(|| format!("data dir {}", options.data.display()))?;
    let _lock = lock_data_dir(&data)?;

    let requested = parse_listen(&options.listen)?;
    let listener = bind(requested).await?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let admin_addr = match &options.admin_listen {
        Some(listen) => parse_listen(listen)?,
        None if requested.port() == 0 => SocketAddr::from(([127, 0, 0, 1], 0)),
        None => SocketAddr::from(([127, 0, 0, 1], local.port().saturating_add(1))),
    };
    let admin_listener = bind(admin_addr).await?;
    let admin_local = admin_listener
        .local_addr()
        .context("reading the admin listening address")?;
    let admin_url = format!("http://{}", loopback(admin_local));

    let settings = Settings {
        edge_config_base: Some(format!("{admin_url}/edge-config")),
        ..Settings::new(&data, local.port())
    };
    let plane = tokio::task::spawn_blocking(move || ControlPlane::open(settings))
        .await
        .context("opening the control plane")??;
    let plane = Arc::new(plane);
    if let Some(token) = plane.init_admin_token()? {
        let path = write_private(&data.join(TOKEN_FILE), &token)?;
        println!(
            "Admin token (shown once; kept for the eddy CLI on this machine in {}):",
            path.display()
        );
        println!("  {token}");
    }
    write_private(&data.join(URL_FILE), &admin_url)?;

    let tags = Arc::new(metering::Tags::default());
    let sink = Arc::new(LogSink::default());
    let meter = Arc::new(UsageMeter::default());
    metering::forward_to(metering::Forward {
        tags: tags.clone(),
        sink: sink.clone(),
        meter: meter.clone(),
    });
    let deployments = Arc::new(sites::Deployments::new(
        plane.clone(),
        tagged(options.runtimes, &tags),
        PoolDefaults {
            idle_timeout: options.idle_timeout,
            ..PoolDefaults::default()
        },
    ));
    let empty = App::new(
        &Deployment::default(),
        Default::default(),
        &Runtimes::default(),
        &PoolDefaults::default(),
        &Arc::new(InstanceIds::default()),
    )?;
    let gateway = Gateway::new(
        empty,
        GatewayOptions {
            // The pool view and metrics are the admin listener's business, not any host's.
            admin_routes: false,
            ..GatewayOptions::default()
        },
    );
    gateway.serve_sites(deployments.clone());

    let crons = Arc::new(CronEngine::new(
        plane.store().clone(),
        plane.clock().clone(),
        Arc::new(GatewayInvoker::new(SocketAddr::from((
            [127, 0, 0, 1],
            local.port(),
        )))),
    ));
    let (stop, stopped) = watch::channel(false);
    let until = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let flushes = [
        tokio::spawn(
            plane
                .clone()
                .run_usage_flush(meter.clone(), Duration::from_secs(1), until()),
        ),
        tokio::spawn(plane.clone().run_log_flush(
            sink.clone(),
            Duration::from_millis(500),
            until(),
        )),
    ];
    tokio::spawn(plane.clone().run_log_retention(
        logs::DEFAULT_RETENTION,
        Duration::from_secs(3600),
        until(),
    ));
    tokio::spawn(
        plane
            .clone()
            .run_host_refresh(Duration::from_secs(5), until()),
    );
    tokio::spawn(plane.edge_config_replica().clone().run_reload(
        plane.store().clone(),
        Duration::from_secs(1),
        until(),
    ));
    tokio::spawn(crons.clone().run(until()));
    tokio::spawn(sample_usage(tags, meter, until()));
    tokio::spawn(keep_deployments(
        deployments.clone(),
        (options.production_idle, options.preview_idle),
        until(),
    ));

    let admin = axum::Router::new()
        .nest(
            "/edge-config",
            edge_config::router(plane.edge_config_replica().clone()),
        )
        .merge(admin::router(admin::AdminState {
            plane: plane.clone(),
            crons: Some(crons),
            logs: Some(sink),
        }));
    let admin_server = tokio::spawn(async move {
        let served = axum::serve(admin_listener, admin)
            .with_graceful_shutdown(until())
            .await;
        if let Err(error) = served {
            tracing::error!(target: "eddy::serve", "admin api stopped: {error}");
        }
    });

    deployments.reconcile().await;
    println!("Admin API at {admin_url}");
    println!("Ready! Available at http://{}", display_addr(local));
    serve_until_stopped(&gateway, listener).await;
    tracing::info!(target: "eddy::serve", "shutting down: draining instances");
    let _ = stop.send(true);
    deployments.retire_all().await;
    for flush in flushes {
        let _ = flush.await;
    }
    let _ = admin_server.await;
    Ok(())
}

/// Every runtime wrapped so its instances are tagged with their deployment.
fn tagged(runtimes: Runtimes, tags: &Arc<metering::Tags>) -> Runtimes {
    const FAMILIES: &[&str] = &[
        "node", "bun", "python", "ruby", "go", "rust", "edge", "wasm",
    ];
    FAMILIES
        .iter()
        .fold(Runtimes::default(), |wrapped, family| {
            match runtimes.for_id(family) {
                Some(inner) => wrapped.with(
                    family,
                    Arc::new(metering::Tagged {
                        inner,
                        tags: tags.clone(),
                    }),
                ),
                None => wrapped,
            }
        })
}

/// Adds instances' CPU time and GB-seconds to the meter every second.
async fn sample_usage(
    tags: Arc<metering::Tags>,
    meter: Arc<UsageMeter>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => tags.sample(&meter),
            () = &mut shutdown => {
                tags.sample(&meter);
                return;
            }
        }
    }
}

/// Keeps the loaded apps in line with the control plane (removed and archived deployments
/// stop, production ones warm up) every 2 s, and archives idle deployments every minute
/// (or every 2 s when a limit is shorter than a minute).
async fn keep_deployments(
    deployments: Arc<sites::Deployments>,
    (production_idle, preview_idle): (Duration, Duration),
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let every = if production_idle.min(preview_idle) < Duration::from_secs(60) {
        1
    } else {
        30
    };
    let mut round = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = &mut shutdown => return,
        }
        deployments.reconcile().await;
        round += 1;
        if round.is_multiple_of(every) {
            deployments
                .archive_idle(production_idle, preview_idle)
                .await;
        }
    }
}

/// `90s`, `30m`, `48h`, `14d`.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let amount: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a duration (use e.g. 90s, 30m, 48h, 14d)"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{text:?}: the unit is one of s, m, h, d (e.g. 48h)"),
    };
    Ok(Duration::from_secs(amount.saturating_mul(seconds)))
}

/// Holds `DIR/eddy.lock` (with this pid) for as long as the returned file lives.
fn lock_data_dir(data: &Path) -> anyhow::Result<File> {
    let path = data.join("eddy.lock");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if let Err(error) = file.try_lock() {
        let holder = fs::read_to_string(&path).unwrap_or_default();
        match error {
            fs::TryLockError::WouldBlock => bail!(
                "data dir {} is used by another eddy serve (pid {}); stop it or pass another --data",
                data.display(),
                holder.trim()
            ),
            fs::TryLockError::Error(error) => {
                bail!("cannot lock {}: {error}", path.display())
            }
        }
    }
    file.set_len(0)
        .and_then(|()| write!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, content: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_owned())
}

/// An address the CLI on this machine can connect to (`0.0.0.0` → `127.0.0.1`).
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_data_dir_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = lock_data_dir(dir.path()).expect("first lock");
        let error = lock_data_dir(dir.path()).expect_err("second lock refused");
        let message = error.to_string();
        assert!(message.contains("used by another eddy serve"), "{message}");
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
        drop(held);
        assert!(lock_data_dir(dir.path()).is_ok());
    }

    #[test]
    fn archive_limits_parse_as_durations_with_a_unit() {
        assert_eq!(
            parse_duration("48h").expect("ok"),
            Duration::from_secs(48 * 3600)
        );
        assert_eq!(
            parse_duration("14d").expect("ok"),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(parse_duration("3s").expect("ok"), Duration::from_secs(3));
        assert!(parse_duration("48").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn the_token_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_private(&dir.path().join(TOKEN_FILE), "eddy_x").expect("written");
        let mode = fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read_to_string(path).expect("reads"), "eddy_x");
    }
}
