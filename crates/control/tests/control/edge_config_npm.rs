//! The real npm `@vercel/edge-config` client, unchanged, against `edge_config::router`:
//! `get`, `getAll`, `has`, `digest`, a missing key, a wrong token, and an update seen by the
//! next read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use eddy_control::edge_config;
use eddy_control::{ControlPlane, EdgeConfigOp};
use serde_json::{Value, json};

use super::support::{plane_at, project, t};

/// Installs the client once per target dir; `None` (with the reason printed) without npm.
fn client_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vercel-edge-config-client");
    if dir
        .join("node_modules/@vercel/edge-config/package.json")
        .is_file()
    {
        return Some(dir);
    }
    if Command::new("node").arg("--version").output().is_err() {
        println!("skipped: node is not installed");
        return None;
    }
    std::fs::create_dir_all(&dir).expect("mkdir client dir");
    let install = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&dir)
        .arg("@vercel/edge-config@1")
        .output();
    match install {
        Err(error) => {
            println!("skipped: npm is not available ({error})");
            None
        }
        Ok(out) if !out.status.success() => {
            println!(
                "skipped: npm could not install @vercel/edge-config: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Ok(_) => Some(dir),
    }
}

const SCRIPT: &str = r#"
const { createClient } = require('@vercel/edge-config');
(async () => {
  const client = createClient(process.env.EDGE_CONFIG);
  const out = {};
  out.get = await client.get('greeting');
  out.missing = (await client.get('nope')) === undefined;
  out.has = await client.has('greeting');
  out.hasMissing = await client.has('nope');
  out.getAll = await client.getAll();
  out.some = await client.getAll(['greeting', 'nope']);
  out.digest = await client.digest();
  try {
    await createClient(process.env.EDGE_CONFIG.replace(/token=[^&]*/, 'token=wrong')).get('greeting');
    out.wrongToken = 'accepted';
  } catch (e) { out.wrongToken = e.message; }
  try {
    await createClient(process.env.EDGE_CONFIG.replace(/ecfg_[0-9a-f]+/g, 'ecfg_000000000000000000000000')).get('greeting');
    out.unknown = 'accepted';
  } catch (e) { out.unknown = e.message; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

async fn run_client(dir: &Path, connection: &str) -> Value {
    let output = tokio::process::Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .current_dir(dir)
        .env("EDGE_CONFIG", connection)
        .env("NODE_ENV", "production")
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("client prints JSON")
}

async fn serve(plane: &Arc<ControlPlane>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().nest(
        "/edge-config",
        edge_config::router(plane.edge_config_replica().clone()),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}/edge-config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_client_reads_items_through_the_replica_and_sees_updates() {
    let Some(dir) = client_dir() else { return };
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let items = json!({"greeting": "hello", "limits": {"max": 3}});
    let Value::Object(items) = items else {
        unreachable!("a JSON object literal")
    };
    let record = plane
        .create_edge_config(&project("app"), items)
        .expect("create");
    let base = serve(&plane).await;
    let connection = edge_config::connection_string(&base, &record.id, &record.token);

    let out = run_client(&dir, &connection).await;
    assert_eq!(out["get"], "hello");
    assert_eq!(out["missing"], true);
    assert_eq!(out["has"], true);
    assert_eq!(out["hasMissing"], false);
    assert_eq!(
        out["getAll"],
        json!({"greeting": "hello", "limits": {"max": 3}})
    );
    assert_eq!(out["some"], json!({"greeting": "hello"}));
    assert_eq!(out["digest"], record.digest.as_str());
    assert_eq!(out["wrongToken"], "@vercel/edge-config: Unauthorized");
    assert_eq!(out["unknown"], "@vercel/edge-config: Edge Config not found");

    let op = EdgeConfigOp::Update {
        key: "greeting".into(),
        value: json!("bonjour"),
    };
    let updated = plane.patch_edge_config(&record.id, &[op]).expect("patch");
    let out = run_client(&dir, &connection).await;
    assert_eq!(out["get"], "bonjour");
    assert_eq!(out["digest"], updated.digest.as_str());
    assert_ne!(updated.digest, record.digest);
}
