//! The binary's own bad-input paths: each exits non-zero with a message that says what and
//! where, and `--help` exists on every verb.

use std::process::{Command, Output};

use super::support::{Eddy, repo_root};

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("eddy runs")
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let out = eddy(&["dev", "/definitely/not/here", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/definitely/not/here") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_directory_that_is_not_a_project_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = eddy(&[
        "dev",
        empty.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&*empty.path().to_string_lossy()),
        "names the directory: {stderr}"
    );
    assert!(
        stderr.contains("api/"),
        "says what eddy looks for: {stderr}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let first = Eddy::dev(&repo_root().join("fixtures/node-env"), &["--no-watch"]);
    let addr = first.base.trim_start_matches("http://").to_string();
    let out = eddy(&[
        "dev",
        repo_root().join("fixtures/node-env").to_str().unwrap(),
        "--listen",
        &addr,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("already in use"),
        "{stderr}"
    );
}

#[test]
fn a_bad_listen_value_is_a_clear_error() {
    let out = eddy(&["dev", ".", "--listen", "not-a-port"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn every_verb_has_help() {
    for args in [&["--help"][..], &["dev", "--help"][..]] {
        let out = eddy(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
