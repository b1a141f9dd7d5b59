//! Test harness: start `eddy dev` on a free loopback port, talk HTTP to it, read its admin view.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
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
}

impl Eddy {
    /// Starts `eddy dev DIR --listen 127.0.0.1:0` (plus `extra` arguments) and waits for Ready.
    pub fn dev(dir: &Path, extra: &[&str]) -> Eddy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .arg("dev")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
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
                    "eddy dev {} did not print Ready; logs:\n{}",
                    dir.display(),
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

impl Drop for Eddy {
    fn drop(&mut self) {
        // A graceful stop first (eddy drains its instances), then a hard kill if it lingers.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a fixture to a fresh temp dir (for tests that edit files). Symlinks node_modules of
/// the repo so `@vercel/*` packages resolve.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let src = repo_root().join("fixtures").join(name);
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
