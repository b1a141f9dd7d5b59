//! The Go build step on real projects with the real `go`: handler binaries are built, reused
//! while nothing changed, rebuilt after a change; go.mod projects, vendored modules and
//! `package main` follow Vercel's rules; compile errors name the user's file and line.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::path::Path;

use eddy_build::{FunctionError, Plan, PlanOptions, plan};

fn go_available() -> bool {
    let found = std::process::Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("note: `go` is not installed; skipping this test");
    }
    found
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }
    dir
}

fn plan_of(dir: &Path) -> Plan {
    plan(dir, &PlanOptions::new(dir)).unwrap()
}

/// The built binary of `function`, as an absolute path.
fn binary(dir: &Path, plan: &Plan, function: &str) -> std::path::PathBuf {
    let spec = plan
        .deployment
        .functions
        .get(function)
        .unwrap_or_else(|| panic!("{function} did not build: {:?}", plan.errors));
    fs::canonicalize(dir).unwrap().join(&spec.handler)
}

fn compile_output<'a>(plan: &'a Plan, function: &str) -> &'a str {
    let error = plan
        .errors
        .iter()
        .find(|e| e.function == function)
        .unwrap_or_else(|| panic!("{function} has no error: {:?}", plan.errors));
    match &error.error {
        FunctionError::Compile { output, .. } => output,
        other => panic!("expected a compile error, got {other}"),
    }
}

const HELLO: &str = "package handler\n\nimport (\n\t\"fmt\"\n\t\"net/http\"\n)\n\nfunc Hello(w http.ResponseWriter, r *http.Request) {\n\tfmt.Fprint(w, \"v1\")\n}\n";

#[test]
fn builds_once_and_rebuilds_only_after_an_input_changes() {
    if !go_available() {
        return;
    }
    let dir = project(&[("api/hello.go", HELLO)]);
    let first = plan_of(dir.path());
    let built = binary(dir.path(), &first, "api/hello");
    assert!(built.is_file());
    let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap());
    let before = inode(&built);
    let again = plan_of(dir.path());
    assert_eq!(binary(dir.path(), &again, "api/hello"), built);
    assert_eq!(inode(&built), before, "an unchanged function was rebuilt");
    fs::write(
        dir.path().join("api/hello.go"),
        HELLO.replace("\"v1\"", "\"v2\""),
    )
    .unwrap();
    plan_of(dir.path());
    assert_ne!(inode(&built), before, "a changed function was not rebuilt");
}

#[test]
fn compile_errors_name_the_users_file_and_line_and_stay_with_their_function() {
    if !go_available() {
        return;
    }
    let dir = project(&[
        (
            "api/[id].go",
            "package handler\n\nimport \"net/http\"\n\nfunc H(w http.ResponseWriter, r *http.Request) {\n\tundefinedCall()\n}\n",
        ),
        ("api/ok.go", HELLO),
    ]);
    let plan = plan_of(dir.path());
    let output = compile_output(&plan, "api/[id]");
    assert!(
        output.contains("api/[id].go:6:2: undefined: undefinedCall"),
        "{output}"
    );
    assert!(binary(dir.path(), &plan, "api/ok").is_file());
    // The failure is remembered: the next plan reports it again without a new build.
    let again = plan_of(dir.path());
    assert_eq!(compile_output(&again, "api/[id]"), output);
}

#[test]
fn a_file_without_a_handler_says_what_to_export() {
    if !go_available() {
        return;
    }
    let dir = project(&[(
        "api/util.go",
        "package handler\n\ntype S struct{}\n\nfunc (S) Method(w http.ResponseWriter, r *http.Request) {}\n",
    )]);
    let output = compile_output(&plan_of(dir.path()), "api/util").to_owned();
    assert!(output.contains("has no handler"), "{output}");
    assert!(output.contains("func Handler(w http.ResponseWriter, r *http.Request)"));
}

#[test]
fn with_a_go_mod_package_main_is_refused_with_the_fix() {
    if !go_available() {
        return;
    }
    let dir = project(&[
        ("go.mod", "module example.com/app\n\ngo 1.21\n"),
        (
            "api/index.go",
            &HELLO.replace("package handler", "package main"),
        ),
    ]);
    let output = compile_output(&plan_of(dir.path()), "api/index").to_owned();
    assert!(
        output.contains("change `package main` to `package handler`"),
        "{output}"
    );
}

#[test]
fn vendored_modules_build_without_the_network() {
    if !go_available() {
        return;
    }
    let dir = project(&[
        (
            "go.mod",
            "module example.com/app\n\ngo 1.21\n\nrequire example.com/greeting v1.0.0\n",
        ),
        (
            "vendor/modules.txt",
            "# example.com/greeting v1.0.0\n## explicit\nexample.com/greeting\n",
        ),
        (
            "vendor/example.com/greeting/greeting.go",
            "package greeting\n\nfunc Hello() string { return \"vendored\" }\n",
        ),
        (
            "api/index.go",
            "package handler\n\nimport (\n\t\"net/http\"\n\n\t\"example.com/greeting\"\n)\n\nfunc Handler(w http.ResponseWriter, r *http.Request) {\n\tw.Write([]byte(greeting.Hello()))\n}\n",
        ),
    ]);
    let plan = plan_of(dir.path());
    assert!(binary(dir.path(), &plan, "api/index").is_file());
}

#[test]
fn the_nearest_go_mod_wins_and_clashing_handler_names_build_side_by_side() {
    if !go_available() {
        return;
    }
    let dir = project(&[
        // Building in the outer module would fail: its requirement is unresolvable.
        (
            "go.mod",
            "module example.com/outer\n\ngo 1.21\n\nrequire unresolvable.invalid/x v1.0.0\n",
        ),
        ("api/v2/go.mod", "module example.com/inner\n\ngo 1.21\n"),
        (
            "api/v2/a.go",
            "package handler\n\nimport \"net/http\"\n\nfunc Handler(w http.ResponseWriter, r *http.Request) { w.Write([]byte(shared)) }\n",
        ),
        (
            "api/v2/b.go",
            "package handler\n\nimport \"net/http\"\n\nvar shared = \"b\"\n\nfunc Handler(w http.ResponseWriter, r *http.Request) { w.Write([]byte(shared)) }\n",
        ),
    ]);
    let plan = plan_of(dir.path());
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let a = binary(dir.path(), &plan, "api/v2/a");
    let b = binary(dir.path(), &plan, "api/v2/b");
    assert!(a.is_file() && b.is_file());
    assert_ne!(a, b);
    // Nothing was written into the user's module.
    let mut names: Vec<String> = fs::read_dir(dir.path().join("api/v2"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.go", "b.go", "go.mod"]);
}
