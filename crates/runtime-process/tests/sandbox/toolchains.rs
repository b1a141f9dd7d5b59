//! Every toolchain present serves a hello from inside the sandbox, from `/var/task`.

use std::path::Path;

use eddy_runtime_process::{
    BunConfig, GoConfig, NodeConfig, ProcessRuntime, PythonConfig, RubyConfig, RustConfig,
    SandboxConfig,
};

use crate::harness::{Project, call, get, must_spawn, spec, tool_runs};
use crate::sandbox_possible;

/// Spawns `handler` of `root` sandboxed with `runtime` and checks its hello says `/var/task`.
async fn hello(
    runtime: ProcessRuntime,
    root: &Path,
    runtime_id: &str,
    function: &str,
    handler: &str,
) {
    let runtime = runtime.with_sandbox(SandboxConfig::default());
    let instance = must_spawn(&runtime, spec(root, runtime_id, function, handler)).await;
    let reply = call(&instance, get("/api/hello")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("hello from /var/task"),
        "{function}: {}",
        reply.text()
    );
}

#[tokio::test]
async fn node_serves_sandboxed() {
    if !sandbox_possible() || !tool_runs("node", &["--version"], "node is not installed") {
        return;
    }
    let project = Project::in_target_dir("sandbox-node-");
    project.file(
        "api/hello.js",
        "module.exports = (req, res) => res.end('hello from ' + process.cwd());",
    );
    let runtime = ProcessRuntime::node(NodeConfig::default());
    hello(
        runtime,
        project.dir.path(),
        "nodejs20.x",
        "sandbox-node",
        "api/hello.js",
    )
    .await;
}

#[tokio::test]
async fn python_serves_sandboxed() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-python-");
    project.file(
        "api/hello.py",
        r#"
import os

def app(environ, start_response):
    start_response("200 OK", [])
    return [("hello from " + os.getcwd()).encode()]
"#,
    );
    let runtime = ProcessRuntime::python(PythonConfig::default());
    hello(
        runtime,
        project.dir.path(),
        "python3.11",
        "sandbox-python",
        "api/hello.py",
    )
    .await;
}

#[tokio::test]
async fn ruby_serves_sandboxed() {
    if !sandbox_possible() || !tool_runs("ruby", &["--version"], "ruby is not installed") {
        return;
    }
    let project = Project::in_target_dir("sandbox-ruby-");
    project.file(
        "api/hello.rb",
        r#"
Handler = Proc.new do |request, response|
  response.status = 200
  response.body = "hello from #{Dir.pwd}"
end
"#,
    );
    let runtime = ProcessRuntime::ruby(RubyConfig::default());
    hello(
        runtime,
        project.dir.path(),
        "ruby3.3",
        "sandbox-ruby",
        "api/hello.rb",
    )
    .await;
}

#[tokio::test]
async fn go_serves_sandboxed() {
    if !sandbox_possible() || !tool_runs("go", &["version"], "go is not installed") {
        return;
    }
    let project = Project::in_target_dir("sandbox-go-");
    project.file(
        "api/hello.go",
        r#"package handler

import (
	"fmt"
	"net/http"
	"os"
)

func Hello(w http.ResponseWriter, r *http.Request) {
	cwd, _ := os.Getwd()
	fmt.Fprintf(w, "hello from %s", cwd)
}
"#,
    );
    let root = std::fs::canonicalize(project.dir.path()).unwrap();
    let options = eddy_build::PlanOptions::new(&root);
    let plan = eddy_build::plan(&root, &options).unwrap();
    assert!(plan.errors.is_empty(), "build failed: {:?}", plan.errors);
    let handler = plan.deployment.functions["api/hello"].handler.clone();
    let runtime = ProcessRuntime::go(GoConfig::default());
    hello(runtime, &root, "go1.x", "sandbox-go", &handler).await;
}

#[tokio::test]
async fn rust_serves_sandboxed_when_the_fixture_is_built() {
    if !sandbox_possible() {
        return;
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/rust-basic")
        .canonicalize()
        .unwrap();
    let binary = fixture.join(".vercel/eddy/rust/target/release/hello");
    if !binary.is_file() {
        eprintln!("note: the rust-basic fixture is not built (the rust tests build it); skipping");
        return;
    }
    let runtime =
        ProcessRuntime::rust(RustConfig::default()).with_sandbox(SandboxConfig::default());
    let instance = must_spawn(
        &runtime,
        spec(
            &fixture,
            "rust",
            "sandbox-rust",
            &binary.display().to_string(),
        ),
    )
    .await;
    let reply = call(&instance, get("/api/hello?name=sandbox")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["message"], "Hello, sandbox!");
    assert_eq!(json["cwdHasCargoToml"], true, "cwd is the function root");
}

#[tokio::test]
async fn bun_serves_sandboxed() {
    let bun = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/bun");
    if !sandbox_possible() || !bun.is_file() {
        eprintln!("note: the repository's node_modules/.bin/bun is missing; skipping");
        return;
    }
    let project = Project::in_target_dir("sandbox-bun-");
    project.file(
        "api/hello.js",
        "module.exports = (req, res) => res.end('hello from ' + process.cwd());",
    );
    let runtime = ProcessRuntime::bun(BunConfig::default());
    hello(
        runtime,
        project.dir.path(),
        "bun1.x",
        "sandbox-bun",
        "api/hello.js",
    )
    .await;
}
