//! Integration tests of the filesystem sandbox (`ProcessRuntime::with_sandbox`): real
//! instances, mostly Python (quickest to start), probing what they can see and write; then a
//! hello for every toolchain present, sandboxed. The machine must allow the sandbox (root and
//! namespaces); where it does not, the tests say so and check nothing.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

#[path = "../support/harness.rs"]
mod harness;

mod cold_start;
mod toolchains;

use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Health, Instance};
use eddy_runtime_process::{ProcessRuntime, PythonConfig, SandboxConfig};

use harness::{Project, call, call_as, eventually, get, must_spawn, spec, wait_health};

/// A Python function answering `?op=...` probes of its surroundings.
const PROBE: &str = r#"
import errno, json, os
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

def run(op, q):
    if op == "cwd":
        return os.getcwd()
    if op == "write":
        try:
            with open(q["path"], "w") as f:
                f.write(q.get("text", "x"))
            return "ok"
        except OSError as e:
            return errno.errorcode[e.errno]
    if op == "read":
        try:
            with open(q["path"]) as f:
                return f.read()
        except OSError as e:
            return errno.errorcode[e.errno]
    if op == "exists":
        return "yes" if os.path.exists(q["path"]) else "no"
    if op == "fill":
        mb = int(q["mb"])
        chunk = b"\0" * (1 << 20)
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(mb):
                    f.write(chunk)
            return "ok"
        except OSError as e:
            return errno.errorcode[e.errno]
        finally:
            if os.path.exists("/tmp/fill"):
                os.remove("/tmp/fill")
    if op == "pids":
        return json.dumps(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    if op == "die":
        os.kill(os.getpid(), 9)
    if op == "caps":
        for line in open("/proc/self/status"):
            if line.startswith("CapEff:"):
                return line.split()[1]
    if op == "signal":
        try:
            os.kill(int(q["pid"]), 0)
            return "reachable"
        except OSError as e:
            return errno.errorcode[e.errno]
    return "unknown op"

class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        body = run(q.get("op", ""), q).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
"#;

/// Whether this machine runs sandboxed instances; prints why not when it does not.
pub fn sandbox_possible() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("note: not root; the sandbox is not available here, skipping");
    }
    root && harness::tool_runs("python3", &["--version"], "python3 is not installed")
}

fn python() -> ProcessRuntime {
    ProcessRuntime::python(PythonConfig::default()).with_sandbox(SandboxConfig::default())
}

async fn probe_instance(project: &Project, function: &str) -> Arc<dyn Instance> {
    project.file("api/probe.py", PROBE);
    must_spawn(
        &python(),
        spec(project.dir.path(), "python3.11", function, "api/probe.py"),
    )
    .await
}

async fn probe(instance: &Arc<dyn Instance>, query: &str) -> String {
    call(instance, get(&format!("/api/probe?{query}")))
        .await
        .text()
}

#[tokio::test]
async fn the_function_runs_in_var_task_which_is_read_only() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-task-");
    let instance = probe_instance(&project, "sandbox-task").await;
    assert_eq!(probe(&instance, "op=cwd").await, "/var/task");
    assert_eq!(
        probe(&instance, "op=read&path=/var/task/api/probe.py").await,
        PROBE
    );
    assert_eq!(
        probe(&instance, "op=write&path=/var/task/api/probe.py").await,
        "EROFS"
    );
    assert_eq!(probe(&instance, "op=write&path=/new-file").await, "EROFS");
    assert_eq!(
        probe(&instance, "op=write&path=/usr/new-file").await,
        "EROFS"
    );
    // Landlock, under the read-only mounts: no write outside /tmp, even where a mount allows
    // it (procfs); the devices stay writable.
    assert_eq!(
        probe(&instance, "op=write&path=/proc/self/comm&text=renamed").await,
        "EACCES"
    );
    assert_eq!(
        probe(&instance, "op=write&path=/dev/null&text=gone").await,
        "ok"
    );
    // The host file is untouched.
    assert_eq!(
        std::fs::read_to_string(project.path("api/probe.py")).unwrap(),
        PROBE
    );
}

#[tokio::test]
async fn tmp_is_writable_up_to_its_size_and_the_instance_keeps_serving() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-tmp-");
    let instance = probe_instance(&project, "sandbox-tmp").await;
    assert_eq!(
        probe(&instance, "op=write&path=/tmp/a.txt&text=hello").await,
        "ok"
    );
    assert_eq!(probe(&instance, "op=read&path=/tmp/a.txt").await, "hello");
    assert_eq!(probe(&instance, "op=fill&mb=600").await, "ENOSPC");
    assert_eq!(*instance.health().borrow(), Health::Ready);
    assert_eq!(probe(&instance, "op=fill&mb=400").await, "ok");
    assert_eq!(probe(&instance, "op=read&path=/tmp/a.txt").await, "hello");
}

#[tokio::test]
async fn two_instances_do_not_see_each_others_tmp() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-two-");
    let first = probe_instance(&project, "sandbox-two-a").await;
    let second = probe_instance(&project, "sandbox-two-b").await;
    assert_eq!(
        probe(&first, "op=write&path=/tmp/mine&text=first").await,
        "ok"
    );
    assert_eq!(probe(&second, "op=exists&path=/tmp/mine").await, "no");
    assert_eq!(
        probe(&second, "op=write&path=/tmp/mine&text=second").await,
        "ok"
    );
    assert_eq!(probe(&first, "op=read&path=/tmp/mine").await, "first");
}

#[tokio::test]
async fn host_paths_outside_the_function_are_invisible() {
    if !sandbox_possible() {
        return;
    }
    // Stands in for eddy's data dir and other deployments.
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("secret.txt");
    std::fs::write(&secret, "s3cr3t").unwrap();
    let sibling = Project::in_target_dir("sandbox-other-");
    sibling.file("api/other.py", "print('other deployment')");
    let project = Project::in_target_dir("sandbox-host-");
    let instance = probe_instance(&project, "sandbox-host").await;
    for path in [
        secret.to_str().unwrap(),
        secrets.path().to_str().unwrap(),
        sibling.path("api/other.py").to_str().unwrap(),
        project.path("api/probe.py").to_str().unwrap(),
        // (`/root` itself may hold the mount point of a pyenv interpreter.)
        "/root/.cargo",
        "/home",
        "/etc/shadow",
        "/sys/fs/cgroup",
    ] {
        assert_eq!(
            probe(&instance, &format!("op=exists&path={path}")).await,
            "no",
            "{path} is visible"
        );
    }
    assert_eq!(
        probe(&instance, "op=exists&path=/etc/resolv.conf").await,
        "yes"
    );
}

#[tokio::test]
async fn proc_lists_only_the_instances_processes_and_no_capability_is_left() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-proc-");
    let instance = probe_instance(&project, "sandbox-proc").await;
    let pids: Vec<u32> = serde_json::from_str(&probe(&instance, "op=pids").await).unwrap();
    assert_eq!(pids, vec![1, 2], "init and the function only");
    assert_eq!(probe(&instance, "op=caps").await, "0000000000000000");
    // eddy (and every other host process) is out of reach of kill(2).
    let eddy = std::process::id();
    assert_eq!(
        probe(&instance, &format!("op=signal&pid={eddy}")).await,
        "ESRCH"
    );
}

#[tokio::test]
async fn a_sandboxed_instance_drains_on_sigterm_and_exits_with_its_code() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-drain-");
    let instance = probe_instance(&project, "sandbox-drain").await;
    instance.drain(Duration::from_secs(10)).await;
    assert_eq!(
        *instance.health().borrow(),
        Health::Exited {
            reason: "exited with code 0".into()
        }
    );
}

/// Processes of this machine whose environment holds `marker`.
fn processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read(entry.path().join("environ"))
                .is_ok_and(|env| env.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .count()
}

#[tokio::test]
async fn a_killed_instance_leaves_no_process_and_its_exit_reads_as_unsandboxed() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-kill-");
    project.file("api/probe.py", PROBE);
    let marker = format!("EDDY_SANDBOX_MARKER=kill-{}", std::process::id());
    let mut spec = spec(
        project.dir.path(),
        "python3.11",
        "sandbox-kill",
        "api/probe.py",
    );
    let (key, value) = marker.split_once('=').unwrap();
    spec.env.insert(key.into(), value.into());
    let instance = must_spawn(&python(), spec).await;
    // The function (the keeper and init are eddy's forks, with eddy's environment).
    assert_eq!(processes_with(&marker), 1);
    // The function dies of a signal: eddy sees it die of that signal, as without a sandbox.
    let failed = call_as(&instance, get("/api/probe?op=die"), "req-die").await;
    assert!(failed.is_err(), "{failed:?}");
    let health = wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
    assert_eq!(
        health,
        Health::Exited {
            reason: "killed by signal 9 (SIGKILL)".into()
        }
    );
    assert!(eventually(Duration::from_secs(2), || processes_with(&marker) == 0).await);

    // eddy kills an instance: init and the function go with the keeper.
    let mut spec2 = crate::harness::spec(
        project.dir.path(),
        "python3.11",
        "sandbox-kill",
        "api/probe.py",
    );
    spec2.env.insert(key.into(), format!("{value}-2"));
    let instance = must_spawn(&python(), spec2).await;
    let marker = format!("{marker}-2");
    assert_eq!(processes_with(&marker), 1);
    instance.kill();
    wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
    assert!(
        eventually(Duration::from_secs(2), || processes_with(&marker) == 0).await,
        "a sandboxed process outlived its keeper"
    );
}
