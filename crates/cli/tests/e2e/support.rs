//! Test harness: start `eddy dev` on a free loopback port, talk HTTP to it, read its admin view,
//! and the checks every runtime's tests share (a burst on few instances, one failure among many,
//! streamed chunks arriving apart, a binary body echoed).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The repository root (fixtures, examples).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root exists")
}

/// The folder of one fixture project: `fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures").join(name)
}

/// A running `eddy dev`; killed on drop.
pub struct Eddy {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<String>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `pid` field of a JSON body: the process that served the request.
    pub fn pid(&self) -> u64 {
        self.json()["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("body has no numeric pid: {}", self.text()))
    }
}

impl Eddy {
    /// Starts `eddy dev DIR --listen 127.0.0.1:0` (plus `extra` arguments) and waits for Ready.
    pub fn dev(dir: &Path, extra: &[&str]) -> Eddy {
        let mut args = vec![OsStr::new("dev"), dir.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        Eddy::start(&args)
    }

    /// Starts `eddy serve --output DIR --listen 127.0.0.1:0` and waits for Ready.
    pub fn serve_output(dir: &Path) -> Eddy {
        // The edge fixtures fetch from servers on this machine's random ports.
        Eddy::start(&[
            OsStr::new("serve"),
            OsStr::new("--output"),
            dir.as_os_str(),
            OsStr::new("--edge-fetch-any-port"),
        ])
    }

    /// Starts `eddy ARGS --listen 127.0.0.1:0` and waits for its Ready line.
    fn start(args: &[&OsStr]) -> Eddy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("EDDY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the eddy binary starts");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = logs.clone();
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
                if let Some(url) = line.strip_prefix("Ready! Available at ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        // Generous: eddy plans before Ready, and a cold Rust build compiles its dependencies
        // (about two minutes on two cores); warm starts take well under a second.
        let base = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "eddy {:?} did not print Ready; logs:\n{}",
                    args,
                    logs.lock().unwrap()
                );
            }
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        Eddy {
            child,
            base,
            logs,
            client,
        }
    }

    /// Serves `fixtures/<name>` in place, without watching files.
    pub fn dev_fixture(name: &str) -> Eddy {
        Eddy::dev(&fixture(name), &["--no-watch"])
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(
            http::Request::get(self.url(path))
                .body(Full::default())
                .unwrap(),
        )
        .await
    }

    /// Sends `count` GETs of `path` at once and returns the replies in order.
    pub async fn get_many(&self, path: &str, count: usize) -> Vec<Reply> {
        join_all((0..count).map(|_| self.get(path))).await
    }

    /// GETs `path` after each `interval`, at most `attempts` times, until `done` holds for the
    /// reply; returns the last reply (the caller asserts on it).
    pub async fn poll(
        &self,
        path: &str,
        attempts: usize,
        interval: Duration,
        done: impl Fn(&Reply) -> bool,
    ) -> Reply {
        assert!(attempts > 0, "a poll makes at least one attempt");
        let mut left = attempts;
        loop {
            tokio::time::sleep(interval).await;
            let reply = self.get(path).await;
            left -= 1;
            if left == 0 || done(&reply) {
                return reply;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        http::Request::builder().method(method).uri(self.url(path))
    }

    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Reply {
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .expect("response within 60 s")
            .expect("eddy answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body reads").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request and returns the head plus each body chunk with the time it arrived.
    pub async fn stream(&self, path: &str) -> (u16, Vec<(Duration, Bytes)>) {
        let started = Instant::now();
        let request = http::Request::get(self.url(path))
            .body(Full::default())
            .unwrap();
        let response = self.client.request(request).await.expect("eddy answers");
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("stream frame").into_data() {
                chunks.push((started.elapsed(), data));
            }
        }
        (status, chunks)
    }

    /// Reads the first body chunk of a streamed response, then drops the connection.
    pub async fn stream_first_chunk(&self, path: &str) -> String {
        let request = http::Request::get(self.url(path))
            .body(Full::default())
            .unwrap();
        let response = self.client.request(request).await.expect("eddy answers");
        let mut body = response.into_body();
        loop {
            let frame = body.frame().await.expect("a chunk arrives").expect("frame");
            if let Ok(data) = frame.into_data() {
                return String::from_utf8_lossy(&data).into_owned();
            }
        }
    }

    /// Writes `raw` on a fresh TCP connection and returns the response head as text.
    pub async fn raw_head(&self, raw: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream
            .write_all(raw.as_bytes())
            .await
            .expect("writes the head");
        let mut buf = vec![0u8; 16 * 1024];
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf[got..]))
                .await
                .expect("answers within 10 s")
                .expect("reads");
            got += n;
            if n == 0 || buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&buf[..got]).into_owned()
    }

    /// The JSON admin view of pools and instances.
    pub async fn instances(&self) -> serde_json::Value {
        self.get("/_eddy/api/instances").await.json()
    }

    /// The pool snapshot of one function.
    pub async fn pool(&self, function: &str) -> serde_json::Value {
        let all = self.instances().await;
        all["functions"]
            .as_array()
            .and_then(|pools| pools.iter().find(|p| p["function"] == function).cloned())
            .unwrap_or_else(|| panic!("no pool for {function} in {all}"))
    }
}

impl Eddy {
    /// `kill -9` of eddy itself: no drain, no clean-up of its own.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The eddy process's id.
    pub fn process_id(&self) -> u32 {
        self.child.id()
    }

    /// Sends eddy SIGTERM (what a service manager does to stop it) and returns at once.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits up to `within` for eddy to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Eddy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops an eddy process: a graceful stop first (SIGTERM; eddy drains its instances), then a
/// hard kill if it lingers past 5 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Asserts every reply is a 200, listing the ones that are not.
pub fn assert_all_ok(replies: &[Reply]) {
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| (r.status, r.text()))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// Sends `count` concurrent GETs of `path` (a handler that waits), asserts all succeed and that
/// the pool of `function` started at most two instances and counted `count` invocations.
/// Returns the replies for runtime-specific checks.
pub async fn assert_concurrent_requests_share_few_instances(
    eddy: &Eddy,
    path: &str,
    function: &str,
    count: usize,
) -> Vec<Reply> {
    let replies = eddy.get_many(path, count).await;
    assert_all_ok(&replies);
    let pool = eddy.pool(function).await;
    let started = pool["instances_started_total"].as_u64().unwrap();
    assert!(
        started <= 2,
        "{count} waiting requests needed {started} instances: {pool}"
    );
    assert_eq!(pool["invocations_total"], count as u64);
    replies
}

/// Warms one instance with `GET /api/slow?ms=1` (asserting a 200) so a burst lands on it, then
/// sends `count` concurrent requests: the middle one GETs `failing`, every other one `others`.
/// Asserts the failing request alone gets a 500 with `FUNCTION_INVOCATION_FAILED` and every
/// other request a 200. Returns the warm-up reply and the burst's replies, in order.
pub async fn assert_one_failure_among_many(
    eddy: &Eddy,
    count: usize,
    failing: &str,
    others: &str,
) -> (Reply, Vec<Reply>) {
    let warm = eddy.get("/api/slow?ms=1").await;
    assert_eq!(warm.status, 200, "warm-up: {}", warm.text());
    let failing_index = count / 2;
    let replies = join_all((0..count).map(|i| {
        let path = if i == failing_index { failing } else { others };
        eddy.get(path)
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i == failing_index {
            assert_eq!(
                reply.status,
                500,
                "the failing request {failing} fails: {}",
                reply.text()
            );
            assert_eq!(
                reply.header("x-vercel-error"),
                Some("FUNCTION_INVOCATION_FAILED")
            );
        } else {
            assert_eq!(
                reply.status,
                200,
                "request {i} must not be affected: {}",
                reply.text()
            );
        }
    }
    (warm, replies)
}

/// Streams `path` and asserts a 200 whose whole body is `expected`, delivered in at least three
/// chunks, the last arriving at least `min_spread` after the first: written apart, not buffered.
pub async fn assert_streams_chunks(eddy: &Eddy, path: &str, expected: &str, min_spread: Duration) {
    let (status, chunks) = eddy.stream(path).await;
    assert_eq!(status, 200);
    let text: String = chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(text, expected);
    assert!(
        chunks.len() >= 3,
        "chunks were buffered into {}: {chunks:?}",
        chunks.len()
    );
    let first = chunks.first().unwrap().0;
    let last = chunks.last().unwrap().0;
    assert!(last - first >= min_spread, "first {first:?}, last {last:?}");
}

/// POSTs 70,000 bytes of every value to `path` and asserts the reply is 200 with the same
/// bytes reversed (the `echo` handler of the bun and rust fixtures).
pub async fn assert_binary_body_comes_back_reversed(eddy: &Eddy, path: &str) {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let request = eddy
        .request("POST", path)
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(bytes.clone())))
        .unwrap();
    let reply = eddy.send(request).await;
    assert_eq!(reply.status, 200);
    let reversed: Vec<u8> = bytes.into_iter().rev().collect();
    assert!(reply.body.as_ref() == reversed.as_slice(), "body differs");
}

/// A source edit in a watched copy of a fixture: `path` first answers `before`; once `file` is
/// overwritten with `contents`, it must answer `after`.
pub struct SavedFile<'a> {
    pub fixture: &'a str,
    pub path: &'a str,
    pub before: &'a str,
    pub file: &'a str,
    pub contents: &'a str,
    pub after: &'a str,
}

/// Serves a copy of the fixture with watching on, checks the body before the save, saves the
/// file, and asserts the new body is served within 50 polls 100 ms apart.
pub async fn assert_a_saved_file_serves_new_code(edit: SavedFile<'_>) {
    let project = copy_fixture(edit.fixture);
    let eddy = Eddy::dev(project.path(), &[]);
    assert_eq!(eddy.get(edit.path).await.text(), edit.before);
    std::fs::write(project.path().join(edit.file), edit.contents).unwrap();
    let reply = eddy
        .poll(edit.path, 50, Duration::from_millis(100), |r| {
            r.text() == edit.after
        })
        .await;
    assert_eq!(reply.text(), edit.after, "logs:\n{}", eddy.logs());
}

/// Copies a fixture to a fresh temp dir (for tests that edit files). Symlinks node_modules of
/// the repo so `@vercel/*` packages resolve.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let src = fixture(name);
    // Inside the repo so node resolution finds the root node_modules (@vercel/functions).
    let parent = repo_root().join("target");
    std::fs::create_dir_all(&parent).unwrap();
    let dst = tempfile::Builder::new()
        .prefix("eddy-e2e-")
        .tempdir_in(parent)
        .expect("temp dir");
    copy_dir(&src, dst.path());
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}
