//! The fixture runner: every `fixtures/<runtime>-<behaviour>/` project is served by the real
//! binary and checked against the probes in its `expect.json`. A fixture folder without an
//! `expect.json` (or with no probes) fails the suite.
//!
//! Probe fields (after Vercel's own runtime tests): `path`, `method`, `headers`, `body` (a string
//! sent as is, or JSON sent with `content-type: application/json`), and assertions `status`,
//! `mustContain`, `mustNotContain`, `bodyMustBe`, `responseHeaders` (`{name: value | [values] |
//! "/regex/" | null}`; `null` = must be absent), `logMustContain`; `delayMs` waits before sending.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

use super::support::{Eddy, Reply, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_passes_its_probes() {
    let root = repo_root().join("fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures/ exists")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "node_modules")
        .map(|e| e.path())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures found in {}", root.display());
    let mut failures = Vec::new();
    let mut probes_run = 0;
    for dir in &dirs {
        match run_fixture(dir).await {
            Ok(n) => probes_run += n,
            Err(e) => failures.push(e),
        }
    }
    eprintln!("fixtures: {} folders, {probes_run} probes", dirs.len());
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

async fn run_fixture(dir: &Path) -> Result<usize, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expect_path = dir.join("expect.json");
    let text = std::fs::read_to_string(&expect_path)
        .map_err(|e| format!("{name}: no expect.json ({e})"))?;
    let expect: Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: expect.json is invalid: {e}"))?;
    let probes = expect["probes"].as_array().cloned().unwrap_or_default();
    if probes.is_empty() {
        return Err(format!("{name}: expect.json has no probes"));
    }
    let eddy = Eddy::dev(dir, &["--no-watch"]);
    let mut errors = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        if let Some(ms) = probe["delayMs"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let reply = eddy.send(build_request(&eddy, probe)).await;
        let label = format!(
            "{name} probe {i} ({} {})",
            probe["method"].as_str().unwrap_or("GET"),
            probe["path"].as_str().unwrap_or("")
        );
        if let Err(e) = check(probe, &reply) {
            errors.push(format!(
                "{label}: {e}\n  status {} body: {}",
                reply.status,
                truncate(&reply.text())
            ));
        }
    }
    // Log assertions after all requests, giving output a moment to arrive.
    let wanted: Vec<&str> = probes
        .iter()
        .filter_map(|p| p["logMustContain"].as_str())
        .collect();
    if !wanted.is_empty() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logs = eddy.logs();
        for w in wanted {
            if !logs.contains(w) {
                errors.push(format!(
                    "{name}: log must contain {w:?}; logs:\n{}",
                    truncate(&logs)
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(probes.len())
    } else {
        Err(errors.join("\n"))
    }
}

pub fn build_request(eddy: &Eddy, probe: &Value) -> http::Request<Full<Bytes>> {
    let method = probe["method"].as_str().unwrap_or("GET");
    let mut builder = eddy.request(method, probe["path"].as_str().expect("probe has a path"));
    if let Some(headers) = probe["headers"].as_object() {
        for (k, v) in headers {
            match v {
                Value::Array(values) => {
                    for v in values {
                        builder = builder.header(k, v.as_str().unwrap_or_default());
                    }
                }
                v => builder = builder.header(k, v.as_str().unwrap_or_default()),
            }
        }
    }
    let body = match &probe["body"] {
        Value::Null => Bytes::new(),
        Value::String(s) => Bytes::from(s.clone()),
        other => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(other.to_string())
        }
    };
    builder.body(Full::new(body)).expect("valid probe request")
}

pub fn check(probe: &Value, reply: &Reply) -> Result<(), String> {
    let body = reply.text();
    if let Some(status) = probe["status"].as_u64()
        && u64::from(reply.status) != status
    {
        return Err(format!("status {} != expected {status}", reply.status));
    }
    if let Some(s) = probe["mustContain"].as_str()
        && !body.contains(s)
    {
        return Err(format!("body must contain {s:?}"));
    }
    if let Some(s) = probe["mustNotContain"].as_str()
        && body.contains(s)
    {
        return Err(format!("body must not contain {s:?}"));
    }
    if let Some(s) = probe["bodyMustBe"].as_str()
        && body.trim() != s.trim()
    {
        return Err(format!("body must be {s:?}"));
    }
    if let Some(headers) = probe["responseHeaders"].as_object() {
        for (name, expected) in headers {
            let actual: Vec<&str> = reply
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            match expected {
                Value::Null if !actual.is_empty() => {
                    return Err(format!("header {name} must be absent, got {actual:?}"));
                }
                Value::Null => {}
                Value::Array(values) => {
                    for v in values {
                        let v = v.as_str().unwrap_or_default();
                        if !actual.iter().any(|a| header_matches(a, v)) {
                            return Err(format!(
                                "header {name} must include {v:?}, got {actual:?}"
                            ));
                        }
                    }
                }
                v => {
                    let v = v.as_str().unwrap_or_default();
                    if !actual.iter().any(|a| header_matches(a, v)) {
                        return Err(format!("header {name} must be {v:?}, got {actual:?}"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn header_matches(actual: &str, expected: &str) -> bool {
    match expected.strip_prefix('/').and_then(|e| e.strip_suffix('/')) {
        Some(pattern) => regex::Regex::new(pattern).is_ok_and(|re| re.is_match(actual)),
        None => actual == expected,
    }
}

pub fn truncate(s: &str) -> String {
    if s.len() > 2000 {
        format!("{}…", &s[..s.floor_char_boundary(2000)])
    } else {
        s.to_string()
    }
}
