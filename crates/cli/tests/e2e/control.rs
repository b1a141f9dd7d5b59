//! `eddy serve --data` with the control-plane verbs, end to end: the real binary as the
//! server and as the CLI, a real Node project (`fixtures/control-app`), HTTP on loopback with
//! `Host:` headers naming deployments.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::support::copy_fixture;

/// A running `eddy serve --data DIR`; stopped (SIGTERM) on drop.
struct Server {
    child: Child,
    /// `127.0.0.1:<port>` of the gateway.
    addr: String,
    logs: Arc<Mutex<String>>,
}

impl Server {
    fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("EDDY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the eddy binary starts");
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Ready! Available at http://") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "eddy serve did not print Ready; logs:\n{}",
                logs.lock().unwrap()
            );
        };
        Server { child, addr, logs }
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap()
    }

    /// What the server logged, without terminal colours.
    fn logs(&self) -> String {
        let logs = self.logs.lock().unwrap().clone();
        regex::Regex::new("\x1b\\[[0-9;]*m")
            .unwrap()
            .replace_all(&logs, "")
            .into_owned()
    }

    /// GET `path` with `Host: <host>.localhost:<port>`: body and status, and `x-vercel-id`.
    async fn get(&self, host: &str, path: &str) -> (u16, String, Option<String>) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let request = http::Request::get(format!("http://{}{path}", self.addr))
            .header("host", format!("{host}.localhost:{}", self.port()))
            .body(Full::default())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
            .await
            .expect("an answer within 60 s")
            .expect("eddy answers");
        let status = response.status().as_u16();
        let id = response
            .headers()
            .get("x-vercel-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), id)
    }

    /// GETs until the body contains `expected` (at most `within`); returns the last body.
    async fn get_until(&self, host: &str, path: &str, expected: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let (_, body, _) = self.get(host, path).await;
            if body.contains(expected) || Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        super::support::stop(&mut self.child);
    }
}

/// Runs an `eddy` verb against the server of `data` (found through the data dir's files).
fn eddy(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .env("EDDY_DATA", data)
        .env_remove("EDDY_SERVER")
        .env_remove("EDDY_TOKEN")
        .output()
        .expect("the eddy binary runs")
}

/// Runs a verb that must succeed; returns its stdout.
fn ok(data: &Path, args: &[&str]) -> String {
    let output = eddy(data, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "eddy {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `eddy deploy` of `dir` to project `app`; returns the deployment id.
fn deploy(data: &Path, dir: &Path, prod: bool) -> String {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["deploy", dir, "--project", "app"];
    if prod {
        args.push("--prod");
    }
    let stdout = ok(data, &args);
    let url = stdout.lines().last().unwrap_or_default();
    let id = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_else(|| panic!("deploy printed no URL last:\n{stdout}"));
    assert!(id.starts_with("dpl_"), "{stdout}");
    id.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_promote_roll_back_and_survive_a_restart() {
    let project = copy_fixture("control-app");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());

    let first = deploy(data.path(), project.path(), true);
    assert_eq!(server.get(&first, "/api/version").await.1, "v1");
    assert_eq!(server.get("app", "/api/version").await.1, "v1");

    std::fs::write(
        project.path().join("api/version.js"),
        "module.exports = (req, res) => res.end('v2');\n",
    )
    .unwrap();
    let second = deploy(data.path(), project.path(), true);
    assert_ne!(first, second);
    assert_eq!(server.get(&second, "/api/version").await.1, "v2");
    assert_eq!(server.get(&first, "/api/version").await.1, "v1");
    assert_eq!(server.get("app", "/api/version").await.1, "v2");

    ok(data.path(), &["rollback", "--project", "app"]);
    assert_eq!(server.get("app", "/api/version").await.1, "v1");
    ok(data.path(), &["promote", &second]);
    assert_eq!(server.get("app", "/api/version").await.1, "v2");
    // The tree built last, uploaded as is to a preview: a new deployment, not the alias.
    let prebuilt = ok(
        data.path(),
        &[
            "deploy",
            project.path().to_str().unwrap(),
            "--prebuilt",
            "--project",
            "app",
        ],
    );
    let preview = prebuilt.lines().last().unwrap();
    let preview = preview
        .trim_start_matches("http://")
        .split('.')
        .next()
        .unwrap();
    assert!(preview != first && preview != second, "{prebuilt}");
    assert_eq!(server.get(preview, "/api/version").await.1, "v2");
    let listed = ok(data.path(), &["ls"]);
    assert!(
        listed.contains(&first) && listed.contains(&second),
        "{listed}"
    );

    let (status, body, _) = server.get("nothing-here", "/api/version").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("DEPLOYMENT_NOT_FOUND"), "{body}");

    // A second server on the same data dir is refused, naming the first.
    let second_server = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second_server.stderr);
    assert!(!second_server.status.success());
    assert!(stderr.contains("used by another eddy serve"), "{stderr}");

    // Restart: the same deployments and alias are served.
    drop(server);
    let server = Server::start(data.path());
    // The production deployment is loaded (and its warm instances started) before traffic.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .logs()
        .contains(&format!("deployment={second} production=true"))
    {
        assert!(
            Instant::now() < deadline,
            "production not loaded at start:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.get("app", "/api/version").await.1, "v2");
    assert_eq!(server.get(&first, "/api/version").await.1, "v1");
    assert_eq!(server.get(&second, "/api/version").await.1, "v2");

    ok(data.path(), &["rm", &first]);
    let (status, body, _) = server.get(&first, "/api/version").await;
    assert_eq!(status, 404, "{body}");

    // A bad token is refused with the API's message.
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["ls", "--token", "eddy_wrong"])
        .env("EDDY_DATA", data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("admin token is wrong"), "{stderr}");
    drop(server);

    // No server there: the error names the URL and how to start one.
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["ls", "--server", "http://127.0.0.1:9", "--token", "t"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("http://127.0.0.1:9") && stderr.contains("eddy serve --data"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_crons_edge_config_logs_and_usage_work_through_the_verbs() {
    let project = copy_fixture("control-app");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let d = data.path();

    ok(d, &["env", "add", "X", "hello", "--project", "app"]);
    ok(
        d,
        &[
            "env",
            "add",
            "CRON_SECRET",
            "s3cret",
            "--secret",
            "--project",
            "app",
        ],
    );
    let listed = ok(d, &["env", "ls", "--project", "app"]);
    assert!(
        listed.contains("hello") && !listed.contains("s3cret"),
        "{listed}"
    );
    let pulled = project.path().join(".env.production");
    ok(
        d,
        &[
            "env",
            "pull",
            pulled.to_str().unwrap(),
            "--target",
            "production",
            "--project",
            "app",
        ],
    );
    let pulled = std::fs::read_to_string(pulled).unwrap();
    assert!(pulled.contains("X=\"hello\""), "{pulled}");
    assert!(!pulled.contains("s3cret"), "{pulled}");
    let big = "y".repeat(70 * 1024);
    let refused = eddy(d, &["env", "add", "BIG", &big, "--project", "app"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("limit"), "{stderr}");

    let created = ok(
        d,
        &[
            "edge-config",
            "create",
            "--project",
            "app",
            "--items",
            r#"{"greeting":"hi"}"#,
        ],
    );
    let config = created
        .split_whitespace()
        .find(|word| word.starts_with("ecfg_"))
        .unwrap_or_else(|| panic!("no id in {created}"))
        .to_owned();

    let id = deploy(d, project.path(), true);
    let (_, body, _) = server.get("app", "/api/env").await;
    assert_eq!(body, "X=hello VERCEL_ENV=production");

    // Edge Config through the real @vercel/edge-config client, and an update seen.
    assert_eq!(server.get("app", "/api/edge-config").await.1, "greeting=hi");
    ok(
        d,
        &["edge-config", "set", &config, "greeting", "hello again"],
    );
    let body = server
        .get_until(
            "app",
            "/api/edge-config",
            "hello again",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(body, "greeting=hello again");

    // A cron run now, with the platform's headers.
    let ran = ok(d, &["crons", "run", "/api/cron", "--project", "app"]);
    assert!(ran.contains("200"), "{ran}");

    // A request's own log line, found by its id, and seen by a follower as it happens.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["logs", "--follow", &id])
        .env("EDDY_DATA", d)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (followed_tx, followed) = std::sync::mpsc::channel();
    let follower_out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(follower_out).lines().map_while(Result::ok) {
            let _ = followed_tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, request_id) = server.get("app", "/api/log").await;
    let request_id = request_id.expect("x-vercel-id");
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let found = ok(d, &["logs", "--request-id", &request_id]);
        if found.contains("a line for") || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        found.contains(&format!("a line for {request_id}")),
        "{found}\n{}",
        server.logs()
    );
    assert!(!found.contains("cron ran"), "{found}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut followed_lines = String::new();
    while !followed_lines.contains(&format!("a line for {request_id}")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match followed.recv_timeout(left) {
            Ok(line) => followed_lines.push_str(&(line + "\n")),
            Err(_) => panic!("the follower did not print the line:\n{followed_lines}"),
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let cron_lines = ok(d, &["logs", &id]);
    assert!(
        cron_lines.contains("cron ran ua=vercel-cron/1.0 auth=Bearer s3cret"),
        "{cron_lines}"
    );

    // Usage: the busy loop's CPU time, measured by eddy from the OS, within 10 %.
    let (status, body, _) = server.get("app", "/api/busy").await;
    assert_eq!(status, 200, "{body}");
    let measured: serde_json::Value = serde_json::from_str(&body).unwrap();
    let measured = measured["cpuMs"].as_f64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let report = ok(d, &["usage", "--deployment", &id, "--json"]);
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let row = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["function"].as_str().unwrap_or("").contains("busy"))
            .cloned();
        if let Some(row) = row.filter(|row| row["invocations"] == 1)
            && row["active_cpu_ms"].as_f64().unwrap_or(0.0) >= measured * 0.9
        {
            break row;
        }
        assert!(Instant::now() < deadline, "no usage row for busy: {report}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let cpu = busy["active_cpu_ms"].as_f64().unwrap();
    assert!(
        (cpu - measured).abs() <= measured * 0.1,
        "metered {cpu} ms of CPU, the function measured {measured} ms"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_preview_is_archived_and_its_next_request_brings_it_back() {
    let project = copy_fixture("control-app");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["--archive-preview-after", "2s"]);
    let preview = deploy(data.path(), project.path(), false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = ok(data.path(), &["ls"]);
        if listed
            .lines()
            .any(|l| l.contains(&preview) && l.contains("archived"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never archived:\n{listed}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(server.get(&preview, "/api/version").await.1, "v1");
    assert!(server.logs().contains("state=ready"), "{}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_every_minute_runs_on_its_schedule_with_the_platform_headers() {
    let project = copy_fixture("control-app");
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let server = Server::start(d);
    ok(
        d,
        &["env", "add", "CRON_SECRET", "tick", "--project", "app"],
    );
    let id = deploy(d, project.path(), true);
    // The next minute's tick runs it: at most about 60 s from now.
    let deadline = Instant::now() + Duration::from_secs(75);
    loop {
        let listed = ok(d, &["crons", "ls", "--project", "app"]);
        if listed
            .lines()
            .any(|l| l.contains("schedule") && l.contains(" 200"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run:\n{listed}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = ok(d, &["logs", &id]);
        if lines.contains("cron ran ua=vercel-cron/1.0 auth=Bearer tick") {
            break;
        }
        assert!(Instant::now() < deadline, "{lines}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_over_its_usage_cap_is_paused_until_the_cap_is_cleared() {
    let project = copy_fixture("control-app");
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let server = Server::start(d);
    deploy(d, project.path(), true);
    ok(d, &["usage", "--project", "app", "--cap-invocations", "2"]);
    for _ in 0..2 {
        assert_eq!(server.get("app", "/api/version").await.1, "v1");
    }
    // Usage is flushed (and the cap checked) every second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body, _) = server.get("app", "/api/version").await;
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("DEPLOYMENT_PAUSED"), "{body}");
    let cleared = ok(d, &["usage", "--project", "app", "--clear-cap"]);
    assert!(cleared.contains("serving"), "{cleared}");
    assert_eq!(server.get("app", "/api/version").await.1, "v1");
}
