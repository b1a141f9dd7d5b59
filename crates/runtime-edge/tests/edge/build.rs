//! Edge functions planned by `eddy-build` (esbuild) and served from the bundle it writes:
//! TypeScript, npm packages with the `edge-light` condition, the allowed Node built-ins.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eddy_runtime::{InstanceId, InstanceSpec, Runtime};
use eddy_runtime_edge::EdgeRuntime;

use crate::harness::*;

/// The repository's esbuild (installed by `./x setup`).
fn esbuild() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/esbuild");
    assert!(
        path.is_file(),
        "these tests need esbuild at {} (run ./x setup)",
        path.display()
    );
    path
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn plan(root: &Path) -> eddy_build::Plan {
    let mut options = eddy_build::PlanOptions::new(root);
    options.esbuild = Some(esbuild());
    eddy_build::plan(root, &options).expect("plans")
}

#[tokio::test]
async fn a_typescript_edge_function_with_npm_and_node_builtins_is_bundled_and_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "package.json", r#"{"name":"p"}"#);
    write(
        root,
        "node_modules/flavour/package.json",
        r#"{"name":"flavour","exports":{"edge-light":"./edge.js","node":"./node.js","default":"./node.js"}}"#,
    );
    write(
        root,
        "node_modules/flavour/edge.js",
        "export const flavour = 'edge-light';",
    );
    write(
        root,
        "node_modules/flavour/node.js",
        "export const flavour = 'node';",
    );
    write(
        root,
        "api/hello.ts",
        "import { Buffer } from 'node:buffer';
         import { EventEmitter, once } from 'events';
         import assert from 'node:assert';
         import { format } from 'util';
         import { AsyncLocalStorage } from 'node:async_hooks';
         import { flavour } from 'flavour';
         export const config = { runtime: 'edge' };
         export default async function handler(req: Request): Promise<Response> {
           const e = new EventEmitter();
           const got = once(e, 'x');
           e.emit('x', 7);
           const [seven] = await got;
           assert.strictEqual(seven, 7);
           const als = new AsyncLocalStorage<string>();
           const stored = als.run('s', () => als.getStore());
           const b64 = Buffer.from('hi').toString('base64');
           return new Response(format('%s %s %d %s', flavour, b64, seven, stored));
         }",
    );
    let plan = plan(root);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let spec = plan.deployment.functions.get("api/hello").expect("planned");
    assert_eq!(spec.runtime, "edge");
    assert!(spec.handler.ends_with(".edge.js"), "{}", spec.handler);
    let instance_spec = Arc::new(InstanceSpec {
        function: "api/hello".into(),
        runtime: spec.runtime.clone(),
        root: spec.root.clone(),
        handler: spec.handler.clone(),
        source: spec.source.clone(),
        env: Default::default(),
        memory_mb: 128,
        max_duration: spec.max_duration,
        options: serde_json::Value::Null,
    });
    let runtime = EdgeRuntime::new(options());
    let instance = runtime
        .spawn(instance_spec, InstanceId(7000))
        .await
        .expect("starts");
    let reply = call(&instance, "GET", "/api/hello", None).await;
    assert_eq!(reply.body, "edge-light aGk= 7 s");
}

#[test]
fn importing_an_unsupported_node_builtin_fails_the_build_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "package.json", r#"{"name":"p"}"#);
    write(
        root,
        "api/fs.js",
        "import { readFileSync } from 'node:fs';
         export const config = { runtime: 'edge' };
         export default () => new Response(String(readFileSync));",
    );
    let plan = plan(root);
    let error = plan.errors.first().expect("a build error").to_string();
    assert!(
        error.contains("the edge runtime has no \"node:fs\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_thrown_error_names_the_typescript_line_through_the_source_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "package.json", r#"{"name":"p"}"#);
    write(
        root,
        "api/boom.ts",
        "export const config = { runtime: 'edge' };\n\
         interface Shape { size: number }\n\
         function explode(shape: Shape): never {\n\
         \x20 throw new Error(`boom ${shape.size}`);\n\
         }\n\
         export default (): Response => explode({ size: 3 });\n",
    );
    let plan = plan(root);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let spec = plan.deployment.functions.get("api/boom").expect("planned");
    let instance_spec = Arc::new(InstanceSpec {
        function: "api/boom".into(),
        runtime: spec.runtime.clone(),
        root: spec.root.clone(),
        handler: spec.handler.clone(),
        source: spec.source.clone(),
        env: Default::default(),
        memory_mb: 128,
        max_duration: spec.max_duration,
        options: serde_json::Value::Null,
    });
    let instance = EdgeRuntime::new(options())
        .spawn(instance_spec, InstanceId(7001))
        .await
        .expect("starts");
    let error = send(&instance, request("GET", "/api/boom", None))
        .await
        .expect_err("throws");
    let eddy_runtime::InvokeError::Failed { reason } = error else {
        panic!("expected Failed, got {error:?}");
    };
    assert!(reason.contains("boom 3"), "{reason}");
    assert!(
        reason.contains("api/boom.ts:4:"),
        "the frame points at the .ts line: {reason}"
    );
    assert!(!reason.contains(".edge.js"), "{reason}");
}

#[tokio::test]
async fn a_vercel_json_functions_entry_with_runtime_edge_selects_the_edge_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "vercel.json",
        r#"{"functions": {"api/glob.js": {"runtime": "edge"}}}"#,
    );
    write(root, "lib/answer.js", "export const answer = 42;");
    write(
        root,
        "api/glob.js",
        "import { answer } from '../lib/answer.js';\nexport default () => new Response(`${EdgeRuntime} ${answer}`);\n",
    );
    let plan = plan(root);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let spec = plan.deployment.functions.get("api/glob").expect("planned");
    assert_eq!(spec.runtime, "edge");
    let instance_spec = Arc::new(InstanceSpec {
        function: "api/glob".into(),
        runtime: spec.runtime.clone(),
        root: spec.root.clone(),
        handler: spec.handler.clone(),
        source: spec.source.clone(),
        env: Default::default(),
        memory_mb: 128,
        max_duration: spec.max_duration,
        options: serde_json::Value::Null,
    });
    let instance = EdgeRuntime::new(options())
        .spawn(instance_spec, InstanceId(7002))
        .await
        .expect("starts");
    assert_eq!(
        call(&instance, "GET", "/api/glob", None).await.body,
        "edge-runtime 42"
    );
}
