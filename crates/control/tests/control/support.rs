//! Shared helpers of the control-plane tests: output trees, tars and a control plane on a
//! temporary data dir with a manual clock.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eddy_control::{ControlPlane, ManualClock, ProjectName, Settings, SqliteStore};

pub const PORT: u16 = 4321;

pub fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("test timestamps are RFC 3339")
}

pub fn project(name: &str) -> ProjectName {
    name.parse().expect("test project names are valid")
}

/// Writes a small `.vercel/output` tree; `marker` changes its content (and so its id).
pub fn write_output(dir: &Path, marker: &str, crons: &str) {
    let write = |relative: &str, content: &str| {
        let path = dir.join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    };
    write(
        "config.json",
        &format!(r#"{{"version":3,"routes":[{{"handle":"filesystem"}}],"crons":{crons}}}"#),
    );
    write("static/index.html", &format!("<h1>{marker}</h1>"));
    write(
        "functions/api/hello.func/.vc-config.json",
        r#"{"runtime":"nodejs20.x","handler":"index.js","launcherType":"Nodejs","environment":{"FROM_BUILD":"1","MODE":"build"}}"#,
    );
    write(
        "functions/api/hello.func/index.js",
        "module.exports = (req, res) => res.end('hi');",
    );
}

/// A tar of an output tree written by [`write_output`].
pub fn output_tar(marker: &str, crons: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_output(dir.path(), marker, crons);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_dir_all(".", dir.path())
        .expect("tar the tree");
    builder.into_inner().expect("finish tar")
}

/// A control plane over `data_dir` with a manual clock set to `now`.
pub fn plane_at(data_dir: &Path, now: DateTime<Utc>) -> (Arc<ControlPlane>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let mut settings = Settings::new(data_dir, PORT);
    settings.edge_config_base = Some("http://127.0.0.1:9/edge-config".to_owned());
    fs::create_dir_all(settings.deployments_dir()).expect("mkdir deployments");
    let store = Arc::new(SqliteStore::open_in(data_dir).expect("open store"));
    let plane = ControlPlane::with_store(store, settings, clock.clone()).expect("control plane");
    (Arc::new(plane), clock)
}
