//! Soak (issue 7 item 5): mixed load across runtimes (Node, Python, Edge) for a bounded time
//! with faults injected — instances killed with SIGKILL, requests that throw, clients that
//! leave mid-request — then a graceful stop, and checks that nothing leaked: no instance
//! process, no cgroup, no IPC temp dir, and eddy's memory and open descriptors within bounds.
//!
//! Minutes long, so not part of `./x test`: run it with
//! `SOAK_SECONDS=180 cargo test --release -p eddy --test e2e -- --ignored soak --nocapture`
//! (results and the last run's figures: docs/reliability.md).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::support::Eddy;

/// Resident memory (KiB) of a process, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// `eddy-ipc-*` directories in the temp dir (one per starting instance, removed once it runs).
fn ipc_dirs() -> BTreeSet<String> {
    std::fs::read_dir(std::env::temp_dir())
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with("eddy-ipc-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every cgroup directory eddy made for process `pid` (in any v1 hierarchy or v2).
fn cgroup_dirs(pid: u32) -> Vec<std::path::PathBuf> {
    let name = format!("eddy-{pid}");
    walkdir_find(std::path::Path::new("/sys/fs/cgroup"), &name, 6)
}

fn walkdir_find(dir: &std::path::Path, name: &str, depth: usize) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if entry.file_name() == name {
            found.push(path);
        } else if depth > 0 {
            found.extend(walkdir_find(&path, name, depth - 1));
        }
    }
    found
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// 500s with FUNCTION_INVOCATION_FAILED: a thrown request, or one in flight on a killed
    /// instance.
    failed_by_fault: AtomicU64,
    /// Anything else: what must not happen.
    unexpected: AtomicU64,
    abandoned: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run explicitly (see the module docs)"]
async fn soak_mixed_runtimes_with_faults_leaks_nothing() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let ipc_before = ipc_dirs();
    let eddy = Eddy::dev_fixture("soak-mixed");
    let eddy_pid = eddy.process_id();
    let eddy = Arc::new(tokio::sync::Mutex::new(Some(eddy)));
    let base = eddy.lock().await.as_ref().unwrap().base.clone();

    // Warm every runtime, then take the baseline.
    for path in ["/api/node?ms=1", "/api/py?ms=1", "/api/edge?ms=1"] {
        let reply = get(&base, path, Duration::from_secs(30)).await;
        assert_eq!(reply.map(|r| r.0), Ok(200), "{path} warms up");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = rss_kib(eddy_pid);
    let fds_start = open_fds(eddy_pid);

    let tally = Arc::new(Tally::default());
    let pids = Arc::new(std::sync::Mutex::new(BTreeSet::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..16u64 {
        let (base, tally, pids, stop) = (base.clone(), tally.clone(), pids.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += 16;
                let path = match n % 20 {
                    0 => "/api/node?ms=50&throw=1",
                    1..=7 => "/api/node?ms=20",
                    8..=13 => "/api/py?ms=20",
                    _ => "/api/edge?ms=20",
                };
                // One request in 25 is abandoned by its client mid-way.
                let patience = if n % 25 == 3 {
                    Duration::from_millis(5)
                } else {
                    Duration::from_secs(30)
                };
                match get(&base, path, patience).await {
                    Err(NoReply::GaveUp) if patience < Duration::from_secs(1) => {
                        tally.abandoned.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(no_reply) => {
                        eprintln!("no reply for {path}: {no_reply:?}");
                        tally.unexpected.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok((200, body)) => {
                        if let Some(pid) = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["pid"].as_u64())
                        {
                            pids.lock().unwrap().insert(pid);
                        }
                        tally.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok((500, body)) if body.contains("FUNCTION_INVOCATION_FAILED") => {
                        tally.failed_by_fault.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok((status, body)) => {
                        eprintln!("unexpected {status} for {path}: {body}");
                        tally.unexpected.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    // The killer: every 3 s, SIGKILL one instance process seen so far.
    let mut killed = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let victim = pids.lock().unwrap().iter().rev().nth(killed % 3).copied();
        if let Some(pid) = victim {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            killed += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let rss_end = rss_kib(eddy_pid);
    let fds_end = open_fds(eddy_pid);
    let alive_after_load = get(&base, "/api/node?ms=1", Duration::from_secs(30)).await;

    // Graceful stop.
    let mut eddy = eddy.lock().await.take().unwrap();
    eddy.terminate();
    let status = eddy.wait_exit(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<u64> = pids.lock().unwrap().iter().copied().collect();
    let leaked: Vec<u64> = seen
        .iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        })
        .collect();
    let ipc_leaked: Vec<String> = ipc_dirs().difference(&ipc_before).cloned().collect();
    let cgroups_left = cgroup_dirs(eddy_pid)
        .into_iter()
        .filter(|dir| {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            })
        })
        .collect::<Vec<_>>();

    let ok = tally.ok.load(Ordering::Relaxed);
    let by_fault = tally.failed_by_fault.load(Ordering::Relaxed);
    let unexpected = tally.unexpected.load(Ordering::Relaxed);
    let abandoned = tally.abandoned.load(Ordering::Relaxed);
    println!(
        "soak: {seconds} s, 16 clients; {ok} ok, {by_fault} failed by injected faults, \
         {abandoned} abandoned by their client, {unexpected} unexpected; {killed} instances \
         killed; {} instance processes seen; eddy RSS {} -> {} MiB, open fds {fds_start} -> \
         {fds_end}; leaked: {} processes, {} IPC dirs, {} cgroups",
        seen.len(),
        rss_start / 1024,
        rss_end / 1024,
        leaked.len(),
        ipc_leaked.len(),
        cgroups_left.len(),
    );
    assert_eq!(
        alive_after_load.map(|r| r.0),
        Ok(200),
        "eddy serves after the soak"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "eddy stops cleanly: {status:?}"
    );
    assert_eq!(unexpected, 0, "only injected faults fail requests");
    assert!(
        ok > by_fault * 5,
        "faults stay the exception: {ok} ok, {by_fault} failed"
    );
    assert!(
        leaked.is_empty(),
        "instance processes outlived eddy: {leaked:?}"
    );
    assert!(ipc_leaked.is_empty(), "IPC temp dirs left: {ipc_leaked:?}");
    assert!(cgroups_left.is_empty(), "cgroups left: {cgroups_left:?}");
    assert!(
        rss_end < rss_start + 64 * 1024,
        "eddy's memory grew by more than 64 MiB: {rss_start} -> {rss_end} KiB"
    );
    assert!(
        fds_end < fds_start + 64,
        "descriptors leaked: {fds_start} -> {fds_end}"
    );
}

/// Why a request got no response.
#[derive(Debug, PartialEq)]
enum NoReply {
    /// The client gave up after its patience (deliberately, or eddy is stuck).
    GaveUp,
    /// The connection failed.
    Broken,
}

/// One GET on a fresh connection.
async fn get(base: &str, path: &str, patience: Duration) -> Result<(u16, String), NoReply> {
    let url: http::Uri = format!("{base}{path}").parse().unwrap();
    let authority = url.authority().unwrap().to_string();
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&authority).await.ok()?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header("host", &authority)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .ok()?;
        Some((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    };
    match tokio::time::timeout(patience, exchange).await {
        Ok(Some(reply)) => Ok(reply),
        Ok(None) => Err(NoReply::Broken),
        Err(_) => Err(NoReply::GaveUp),
    }
}
