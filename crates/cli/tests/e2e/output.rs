//! `eddy build` and `eddy serve --output`: a project built into a Build Output tree, the project
//! deleted and the tree moved, then served; it must answer the fixture's probes as `eddy dev`
//! does. Also a tree written by the real `vercel build` (npm `vercel`, installed by `./x setup`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::fixtures::{build_request, check, truncate};
use super::support::{Eddy, copy_fixture, fixture, repo_root};

fn eddy_build(project: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("build")
        .arg(project)
        .arg("--output")
        .arg(out)
        .env("EDDY_LOG", "info")
        .output()
        .expect("the eddy binary runs")
}

/// Builds a copy of `fixtures/<name>`, deletes the copy and moves the output to another folder:
/// what is served afterwards can only come from the tree itself.
fn build_elsewhere(name: &str) -> (tempfile::TempDir, PathBuf) {
    let copy = copy_fixture(name);
    let place = tempfile::tempdir().expect("temp dir");
    let built = place.path().join("built");
    let output = eddy_build(copy.path(), &built);
    assert!(
        output.status.success(),
        "eddy build {name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    drop(copy);
    let moved = place.path().join("moved");
    std::fs::rename(&built, &moved).expect("the output moves");
    (place, moved)
}

/// Sends every probe of `fixtures/<name>/expect.json` (log assertions aside) and lists failures.
async fn failed_probes(eddy: &Eddy, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture(name).join("expect.json")).expect("expect.json");
    let expect: Value = serde_json::from_str(&text).expect("expect.json is JSON");
    let probes = expect["probes"].as_array().cloned().unwrap_or_default();
    assert!(!probes.is_empty(), "{name} has no probes");
    let mut failures = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        if let Some(ms) = probe["delayMs"].as_u64() {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let reply = eddy.send(build_request(eddy, probe)).await;
        if let Err(error) = check(probe, &reply) {
            failures.push(format!(
                "{name} probe {i} ({}): {error}\n  status {} body: {}",
                probe["path"].as_str().unwrap_or(""),
                reply.status,
                truncate(&reply.text())
            ));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_outputs_answer_like_eddy_dev_after_the_project_is_gone() {
    let mut failures = Vec::new();
    // Fixtures whose answers do not depend on being in development (VERCEL_ENV) or on files
    // beside a Go binary (Vercel ships Go functions as the binary plus includeFiles).
    for name in [
        "node-shapes",
        "node-routing",
        "bun-basic",
        "edge-basic",
        "edge-webapi",
        "edge-middleware",
        "python-handler",
        "python-asgi",
        "ruby-gems",
        "output-include-files",
    ] {
        let (_place, out) = build_elsewhere(name);
        let eddy = Eddy::serve_output(&out);
        failures.extend(failed_probes(&eddy, name).await);
        if !failures.is_empty() {
            failures.push(format!(
                "logs of eddy serve --output ({name}):\n{}",
                eddy.logs()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_files_reach_the_function_and_exclude_files_stay_out() {
    let (_place, out) = build_elsewhere("output-include-files");
    // The Go function folder holds only its binary, unless includeFiles adds more.
    assert!(
        out.join("functions/api/read.func/data/message.txt")
            .is_file()
    );
    let eddy = Eddy::serve_output(&out);
    let read = eddy.get("/api/read").await;
    assert_eq!(
        read.text(),
        "included next to the function",
        "{}",
        eddy.logs()
    );
    let files = eddy.get("/api/files").await.json();
    assert_eq!(files["data/message.txt"], true, "{files}");
    assert_eq!(files["data/draft.secret"], false, "{files}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_from_a_parent_node_modules_travel_with_node_functions() {
    // The fixture imports @vercel/functions from the repository's node_modules, above it.
    if !repo_root().join("node_modules/@vercel/nft").is_dir() {
        println!("skipped: @vercel/nft is not installed (run ./x setup)");
        return;
    }
    let (_place, out) = build_elsewhere("node-vercel-functions");
    let package = "functions/api/context.func/node_modules/@vercel/functions/package.json";
    assert!(out.join(package).is_file(), "{package} was not traced");
    let eddy = Eddy::serve_output(&out);
    let context = eddy.get("/api/context").await;
    assert_eq!(context.status, 200, "{}\n{}", context.text(), eddy.logs());
    // A served output is a production deployment.
    assert_eq!(context.json()["env"], "production", "{}", context.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendored_python_dependencies_travel_in_the_function_folder() {
    let (_place, out) = build_elsewhere("python-wsgi");
    let func = out.join("functions/api/flask_app.func");
    assert!(
        func.join("_vendor/flask/__init__.py").is_file(),
        "flask was not vendored"
    );
    let eddy = Eddy::serve_output(&out);
    let hello = eddy.get("/api/flask_app?name=ada").await;
    assert_eq!(hello.text(), "flask says hi to ada", "{}", eddy.logs());
    let flask = eddy.get("/api/flask_app/where").await.text();
    // The function's own `_vendor/` (its root may be mounted elsewhere, e.g. /var/task), not
    // the project's build cache.
    assert!(
        flask.ends_with("/_vendor/flask/__init__.py") && !flask.contains(".vercel/eddy"),
        "flask loaded from {flask}"
    );
}

#[test]
fn a_failing_function_fails_the_build_and_writes_nothing() {
    let project = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(project.path().join("api")).expect("mkdir");
    std::fs::write(
        project.path().join("api/ok.js"),
        "module.exports = () => {};",
    )
    .expect("write");
    std::fs::write(
        project.path().join("api/bad.js"),
        "export const config = { maxDuration: 'soon' };",
    )
    .expect("write");
    let out = project.path().join("out");
    let output = eddy_build(project.path(), &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build must fail:\n{stderr}");
    assert!(stderr.contains("function api/bad"), "{stderr}");
    assert!(stderr.contains("maxDuration"), "{stderr}");
    assert!(!out.exists(), "nothing is written when a function fails");
}

#[test]
fn serve_without_an_output_says_what_to_pass() {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("the eddy binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--output DIR"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_function_in_a_tree_answers_500_while_the_rest_serves() {
    let (_place, out) = build_elsewhere("node-shapes");
    std::fs::write(
        out.join("functions/api/cjs.func/.vc-config.json"),
        "{ not json",
    )
    .expect("write");
    let eddy = Eddy::serve_output(&out);
    let broken = eddy.get("/api/cjs").await;
    assert_eq!(broken.status, 500, "{}", broken.text());
    let fine = eddy.get("/api/web").await;
    assert_eq!(fine.text(), "web GET /api/web");
    assert!(eddy.logs().contains(".vc-config.json"), "{}", eddy.logs());
}

/// The `vercel` CLI from the repository's `node_modules` (`./x setup` installs it).
fn vercel_cli() -> Option<PathBuf> {
    let cli = repo_root().join("node_modules/.bin/vercel");
    cli.is_file().then_some(cli)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_written_by_vercel_build_serves_the_same_answers() {
    let Some(vercel) = vercel_cli() else {
        println!("skipped: the vercel CLI is not installed (run ./x setup)");
        return;
    };
    let copy = copy_fixture("output-vercel-node");
    // What `vercel link` would write; with it `vercel build` runs offline, without a token.
    std::fs::create_dir_all(copy.path().join(".vercel")).expect("mkdir");
    std::fs::write(
        copy.path().join(".vercel/project.json"),
        r#"{"projectId":"eddy-fixture","orgId":"eddy","settings":{"framework":null}}"#,
    )
    .expect("write");
    let output = Command::new(&vercel)
        .args(["build", "--yes"])
        .current_dir(copy.path())
        .env("VERCEL_TELEMETRY_DISABLED", "1")
        .output()
        .expect("vercel runs");
    assert!(
        output.status.success(),
        "vercel build failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let place = tempfile::tempdir().expect("temp dir");
    let out = place.path().join("output");
    std::fs::rename(copy.path().join(".vercel/output"), &out).expect("the output moves");
    drop(copy);
    let eddy = Eddy::serve_output(&out);
    let failures = failed_probes(&eddy, "output-vercel-node").await;
    assert!(
        failures.is_empty(),
        "{}\nlogs:\n{}",
        failures.join("\n\n"),
        eddy.logs()
    );
}
