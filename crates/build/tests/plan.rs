//! `plan` on real directories: detection, conflicts, config errors, statics, TypeScript.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_build::{BuildError, FunctionError, Plan, PlanOptions, plan};

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        // Written "a while ago", as a project is when `eddy dev` starts.
        let past = std::time::SystemTime::now() - Duration::from_secs(10);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(past))
            .expect("set mtime");
    }
    dir
}

fn plan_ok(dir: &Path) -> Plan {
    plan(dir, &PlanOptions::new(dir)).expect("plans")
}

fn paths(plan: &Plan) -> Vec<&str> {
    plan.deployment
        .functions
        .keys()
        .map(String::as_str)
        .collect()
}

const HANDLER: &str = "export default (req, res) => res.end('ok');\n";

#[test]
fn detects_node_functions_with_paths_handlers_and_defaults() {
    let dir = project(&[
        ("api/index.js", HANDLER),
        ("api/hello.mjs", HANDLER),
        ("api/users/[id].cjs", HANDLER),
    ]);
    let plan = plan_ok(dir.path());
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(paths(&plan), ["api/hello", "api/index", "api/users/[id]"]);
    let user = &plan.deployment.functions["api/users/[id]"];
    assert_eq!(user.handler, "api/users/[id].cjs");
    assert_eq!(user.runtime, "nodejs20.x");
    assert_eq!(user.root, fs::canonicalize(dir.path()).expect("canonical"));
    assert_eq!(user.memory_mb, 2048);
    assert_eq!(user.max_duration, Duration::from_secs(300));
    assert!(user.fluid && user.should_add_helpers);
}

#[test]
fn ignores_private_hidden_vendored_declaration_and_test_files() {
    let dir = project(&[
        ("api/ok.js", HANDLER),
        ("api/_lib/db.js", HANDLER),
        ("api/_helper.js", HANDLER),
        ("api/.hidden.js", HANDLER),
        ("api/.cache/x.js", HANDLER),
        ("api/node_modules/pkg/index.js", HANDLER),
        ("api/types.d.ts", "export type A = 1;"),
        ("api/handler_test.go", "package api"),
        ("api/readme.md", "# docs"),
    ]);
    assert_eq!(paths(&plan_ok(dir.path())), ["api/ok"]);
}

#[test]
fn detects_other_languages_by_extension() {
    let dir = project(&[
        (
            "api/go.go",
            "package handler\nimport \"net/http\"\nfunc H(w http.ResponseWriter, r *http.Request) {}\n",
        ),
        (
            "api/flask.py",
            "from flask import Flask\napp = Flask(__name__)\n",
        ),
        ("api/helpers.py", "def helper():\n    return 1\n"),
        ("api/ruby.rb", "Handler = Proc.new {}"),
        ("api/rust.rs", "fn main() {}"),
        // A Rust function is a bin of the project's crate (built here with cargo: no deps).
        (
            "Cargo.toml",
            "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n[[bin]]\nname = \"rust\"\npath = \"api/rust.rs\"\n",
        ),
    ]);
    let plan = plan_ok(dir.path());
    let runtimes: BTreeMap<&str, &str> = plan
        .deployment
        .functions
        .iter()
        .map(|(path, spec)| (path.as_str(), spec.runtime.as_str()))
        .collect();
    assert_eq!(
        runtimes,
        BTreeMap::from([
            ("api/flask", "python3.11"),
            ("api/go", "go1.x"),
            ("api/ruby", "ruby3.1"),
            ("api/rust", "rust"),
        ])
    );
    assert!(!plan.deployment.functions["api/flask"].should_add_helpers);
}

#[test]
fn bun_version_and_functions_runtime_choose_the_runtime() {
    let dir = project(&[
        ("api/a.js", HANDLER),
        ("api/b.js", HANDLER),
        (
            "vercel.json",
            r#"{"bunVersion": "1.x", "functions": {"api/b.js": {"runtime": "nodejs22.x"}}}"#,
        ),
    ]);
    let plan = plan_ok(dir.path());
    assert_eq!(plan.deployment.functions["api/a"].runtime, "bun1.x");
    assert_eq!(plan.deployment.functions["api/b"].runtime, "nodejs22.x");
}

#[test]
fn in_code_config_and_vercel_json_globs_are_applied() {
    let dir = project(&[
        (
            "api/edge.js",
            "export const config = { runtime: 'edge' };\nexport default () => new Response('hi');\n",
        ),
        (
            "api/slow.js",
            "export const maxDuration = 60;\nexport default () => {};\n",
        ),
        ("api/big.js", HANDLER),
        (
            "vercel.json",
            r#"{"functions": {"api/big.js": {"memory": 3009}, "api/*.js": {"memory": 1024, "maxDuration": 10}}}"#,
        ),
    ]);
    // Edge functions are bundled by esbuild.
    let mut options = PlanOptions::new(dir.path());
    options.esbuild = esbuild();
    let plan = plan(dir.path(), &options).expect("plans");
    let functions = &plan.deployment.functions;
    assert_eq!(functions["api/edge"].runtime, "edge");
    assert!(functions["api/edge"].handler.ends_with(".edge.js"));
    assert_eq!(functions["api/slow"].max_duration, Duration::from_secs(60));
    assert_eq!(functions["api/slow"].memory_mb, 1024);
    assert_eq!(functions["api/big"].memory_mb, 3009);
    assert_eq!(functions["api/big"].max_duration, Duration::from_secs(300));
}

#[test]
fn env_comes_from_options_and_vercel_json_but_not_build_env() {
    let dir = project(&[
        ("api/a.js", HANDLER),
        (
            "vercel.json",
            r#"{"env": {"RUNTIME_ONLY": "yes"}, "build": {"env": {"BUILD_ONLY": "yes"}}}"#,
        ),
    ]);
    let mut options = PlanOptions::new(dir.path());
    options.env.insert("VERCEL".into(), "1".into());
    options.env.insert("VERCEL_REGION".into(), "dev1".into());
    let plan = plan(dir.path(), &options).expect("plans");
    let env = &plan.deployment.functions["api/a"].env;
    assert_eq!(env.get("VERCEL").map(String::as_str), Some("1"));
    assert_eq!(env.get("VERCEL_REGION").map(String::as_str), Some("dev1"));
    assert_eq!(env.get("RUNTIME_ONLY").map(String::as_str), Some("yes"));
    assert!(!env.contains_key("BUILD_ONLY"));
}

#[test]
fn conflicting_files_fail_only_their_path() {
    let dir = project(&[
        ("api/a.js", HANDLER),
        ("api/a.ts", HANDLER),
        ("api/b.js", HANDLER),
    ]);
    let plan = plan_ok(dir.path());
    assert_eq!(paths(&plan), ["api/b"]);
    assert_eq!(plan.errors.len(), 1);
    let error = &plan.errors[0];
    assert_eq!(error.function, "api/a");
    assert_eq!(error.error.code(), Some("conflicting_file_path"));
    let message = error.to_string();
    assert!(
        message.contains("a.js") && message.contains("a.ts"),
        "{message}"
    );
}

#[test]
fn repeated_dynamic_segments_are_an_error() {
    let dir = project(&[
        ("api/[id]/[id].js", HANDLER),
        ("api/[team]/[id].js", HANDLER),
    ]);
    let plan = plan_ok(dir.path());
    assert_eq!(paths(&plan), ["api/[team]/[id]"]);
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(
        plan.errors[0].error.code(),
        Some("conflicting_path_segment")
    );
    assert!(plan.errors[0].to_string().contains("[id]"));
}

#[test]
fn a_bad_in_code_config_fails_only_its_function() {
    let dir = project(&[
        (
            "api/bad.js",
            "export const config = makeConfig();\nexport default () => {};\n",
        ),
        ("api/good.js", HANDLER),
    ]);
    let plan = plan_ok(dir.path());
    assert_eq!(paths(&plan), ["api/good"]);
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(plan.errors[0].function, "api/bad");
    assert!(matches!(plan.errors[0].error, FunctionError::Config(_)));
    assert!(
        plan.errors[0].to_string().contains("bad.js:1"),
        "{}",
        plan.errors[0]
    );
}

#[test]
fn an_invalid_vercel_json_fails_the_plan() {
    let dir = project(&[
        ("api/a.js", HANDLER),
        (
            "vercel.json",
            r#"{"functions": {"api/*.js": {"memory": 1}}}"#,
        ),
    ]);
    let err = plan(dir.path(), &PlanOptions::new(dir.path())).expect_err("invalid");
    assert!(matches!(err, BuildError::Config(_)));
    assert!(err.to_string().contains("memory"), "{err}");
}

#[test]
fn directories_without_project_files_are_not_projects() {
    let empty = project(&[("notes.txt", "hi"), ("api/readme.md", "no functions")]);
    let err = plan(empty.path(), &PlanOptions::new(empty.path())).expect_err("not a project");
    assert!(matches!(err, BuildError::NotAProject { .. }));
    let message = err.to_string();
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("api/") && message.contains("vercel.json"),
        "{message}"
    );

    let file = empty.path().join("notes.txt");
    let err = plan(&file, &PlanOptions::new(&file)).expect_err("a file");
    assert!(matches!(err, BuildError::NotAProject { .. }));

    let static_site = project(&[("index.html", "<h1>hi</h1>")]);
    assert!(plan_ok(static_site.path()).deployment.functions.is_empty());
}

#[test]
fn static_files_come_from_public_or_the_filtered_root() {
    let with_public = project(&[("public/index.html", "hi"), ("api/a.js", HANDLER)]);
    let plan = plan_ok(with_public.path());
    let root = fs::canonicalize(with_public.path()).expect("canonical");
    assert_eq!(plan.deployment.static_root, Some(root.join("public")));
    assert!(plan.deployment.static_exclude.is_empty());

    let at_root = project(&[("index.html", "hi"), ("api/a.js", HANDLER)]);
    let deployment = plan_ok(at_root.path()).deployment;
    assert_eq!(
        deployment.static_root,
        Some(fs::canonicalize(at_root.path()).expect("canonical"))
    );
    for hidden in [
        "api/a.js",
        "vercel.json",
        "package.json",
        ".env",
        "node_modules/x/y.js",
        ".vercel/eddy/api/a.mjs",
        "yarn.lock",
        "tsconfig.json",
    ] {
        assert!(deployment.is_static_excluded(hidden), "{hidden}");
    }
    assert!(!deployment.is_static_excluded("index.html"));
}

#[test]
fn unmatched_function_globs_are_warned_about() {
    let dir = project(&[
        ("api/a.js", HANDLER),
        (
            "vercel.json",
            r#"{"functions": {"api/missing.js": {"memory": 1024}}}"#,
        ),
    ]);
    let plan = plan_ok(dir.path());
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].contains("api/missing.js"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn an_unusable_esbuild_fails_only_typescript_functions() {
    let dir = project(&[("api/a.ts", HANDLER), ("api/b.js", HANDLER)]);
    let mut options = PlanOptions::new(dir.path());
    options.esbuild = Some(dir.path().join("no-such-esbuild"));
    let plan = plan(dir.path(), &options).expect("plans");
    assert_eq!(paths(&plan), ["api/b"]);
    assert_eq!(plan.errors.len(), 1);
    assert!(
        plan.errors[0].to_string().contains("no-such-esbuild"),
        "{}",
        plan.errors[0]
    );
}

/// esbuild for the TypeScript tests: `$EDDY_ESBUILD`, the repository's `node_modules`, or `PATH`.
fn esbuild() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("EDDY_ESBUILD") {
        return Some(PathBuf::from(path));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/esbuild");
    if repo.is_file() {
        return Some(repo);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("esbuild"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn typescript_is_bundled_into_the_cache_and_reused_until_an_input_changes() {
    let Some(esbuild) = esbuild() else {
        println!("skipped: esbuild not found (run `npm install` at the repository root)");
        return;
    };
    let dir = project(&[
        (
            "api/hello.ts",
            "import { greet } from './_lib/greet';\n\
             export const config = { maxDuration: 20 };\n\
             export default function handler(req: unknown, res: { end(s: string): void }) {\n\
               res.end(greet('ts') + ' ' + __dirname);\n\
             }\n",
        ),
        (
            "api/_lib/greet.ts",
            "export const greet = (name: string): string => `hi ${name}`;\n",
        ),
        ("api/broken.ts", "export default function (: {\n"),
        ("api/plain.js", HANDLER),
    ]);
    let mut options = PlanOptions::new(dir.path());
    options.esbuild = Some(esbuild);
    let plan = plan(dir.path(), &options).expect("plans");

    assert_eq!(paths(&plan), ["api/hello", "api/plain"]);
    let hello = &plan.deployment.functions["api/hello"];
    assert_eq!(hello.handler, ".vercel/eddy/api/hello.mjs");
    assert!(hello.source.ends_with("api/hello.ts"));
    assert_eq!(hello.max_duration, Duration::from_secs(20));
    let module = hello.root.join(&hello.handler);
    let bundled = fs::read_to_string(&module).expect("output written");
    assert!(
        bundled.contains("hi ${name}"),
        "relative imports are bundled"
    );
    assert!(
        bundled.contains("const require = "),
        "banner defines require"
    );
    assert!(hello.root.join(".vercel/eddy/api/hello.mjs.map").is_file());

    assert_eq!(plan.errors.len(), 1);
    let broken = &plan.errors[0];
    assert_eq!(broken.function, "api/broken");
    assert!(matches!(broken.error, FunctionError::Transpile(_)));
    assert!(broken.to_string().contains("broken.ts"), "{broken}");
    assert!(
        broken.to_string().to_lowercase().contains("expected"),
        "carries esbuild's stderr: {broken}"
    );

    // Unchanged inputs: the module is reused, not rewritten.
    let written = fs::metadata(&module)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::thread::sleep(Duration::from_millis(20));
    let again = eddy_build::plan(dir.path(), &options).expect("plans again");
    assert_eq!(
        again.deployment.functions["api/hello"].handler,
        hello.handler
    );
    assert_eq!(
        fs::metadata(&module)
            .and_then(|m| m.modified())
            .expect("mtime"),
        written
    );

    // A changed import is rebuilt.
    fs::write(
        dir.path().join("api/_lib/greet.ts"),
        "export const greet = (name: string): string => `hello ${name}`;\n",
    )
    .expect("edit");
    eddy_build::plan(dir.path(), &options).expect("plans after edit");
    let rebuilt = fs::read_to_string(&module).expect("output");
    assert!(
        rebuilt.contains("hello ${name}"),
        "rebuilt after an input changed"
    );

    run_with_node(&module, &dir.path().join("api"));
}

/// Imports the bundle with Node, when present, and checks `__dirname` points at the source.
fn run_with_node(module: &Path, source_dir: &Path) {
    let script = format!(
        "import({:?}).then(m => m.default({{}}, {{ end: s => console.log(s) }}))",
        format!("file://{}", module.display())
    );
    let Ok(output) = std::process::Command::new("node")
        .args(["-e", &script])
        .output()
    else {
        println!("skipped running the bundle: node not found");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!(
        "hello ts {}",
        fs::canonicalize(source_dir).expect("canonical").display()
    );
    assert_eq!(
        stdout.trim(),
        expected,
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
