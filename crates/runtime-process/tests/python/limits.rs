//! Limits of an instance through its cgroups: memory (an OOM kill fails only that instance),
//! vCPUs, processes and threads, and CPU time accounted for every process of the instance.

use std::time::Duration;

use eddy_runtime::{Health, InstanceSpec, InvokeError};

use crate::harness::{
    Project, call, call_all, get, log_containing, must_spawn, python_available, runtime,
    wait_health,
};
/// Whether this machine has a cgroup memory controller eddy can use (v1 here; see
/// `src/cgroup.rs` for v2). Where it has none the limit is not enforced, and eddy says so.
fn memory_cgroup_present() -> bool {
    let membership = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v1 = membership.lines().any(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == "memory"))
    });
    if !v1 {
        eprintln!("no cgroup v1 memory controller here; skipping the memory limit test");
    }
    v1
}

const HOG: &str = r#"
from http.server import BaseHTTPRequestHandler

class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        kept = []
        if "hog=1" in self.path:
            # Written bytes, so the pages are really charged (not lazily zeroed).
            for _ in range(40):
                kept.append(b"x" * (10 << 20))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"alive")
"#;

#[tokio::test]
async fn a_function_past_its_memory_is_killed_alone_and_the_error_says_out_of_memory() {
    if !python_available() || !memory_cgroup_present() {
        return;
    }
    let project = Project::new();
    project.file("api/hog.py", HOG);
    let spec = InstanceSpec {
        memory_mb: 128,
        ..project.spec("fail-hog", "api/hog.py")
    };
    let hog = must_spawn(&runtime(), spec.clone()).await;
    let bystander = must_spawn(&runtime(), spec).await;

    let replies = call_all(&hog, vec![(get("/api/hog?hog=1"), "req-hog")]).await;
    match &replies[..] {
        [Err(InvokeError::Crashed { reason, .. })] => {
            assert!(reason.contains("ran out of memory"), "{reason}");
            assert!(reason.contains("limit 128 MB"), "{reason}");
        }
        other => panic!("expected the hog to be killed, got {other:?}"),
    }
    wait_health(&hog, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
    log_containing("fail-hog", "out of memory").await;

    // The other instance of the same function, under the same limit, is untouched, and a
    // request under the limit passes.
    let replies = call_all(&bystander, vec![(get("/api/hog"), "req-fine")]).await;
    assert!(
        matches!(&replies[..], [Ok(reply)] if reply.text() == "alive"),
        "{replies:?}"
    );
}

const LIMITS: &str = r#"
import json, os, subprocess, sys, threading, time

def own_cgroup(controller):
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if controller in controllers.split(","):
            return "/sys/fs/cgroup/%s%s" % (controller, path)

def read(controller, name):
    with open(os.path.join(own_cgroup(controller), name)) as f:
        return f.read().strip()

def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if "threads" in query:
        started = []
        try:
            while len(started) < 10000:
                t = threading.Thread(target=time.sleep, args=(3,), daemon=True)
                t.start()
                started.append(t)
        except RuntimeError:
            pass
        body = {"threads": len(started)}
    elif "child" in query:
        # CPU burnt by a child process: the cgroup counts it, the main process's /proc does not.
        subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"])
        body = {"done": True}
    else:
        body = {
            "memory": read("memory", "memory.limit_in_bytes"),
            "pids": read("pids", "pids.max"),
            "quota": read("cpu", "cpu.cfs_quota_us"),
            "period": read("cpu", "cpu.cfs_period_us"),
        }
    start_response("200 OK", [("content-type", "application/json")])
    return [json.dumps(body).encode()]
"#;

/// Whether every v1 controller eddy uses is mounted here.
fn v1_controllers_present() -> bool {
    let membership = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let present = ["memory", "pids", "cpu", "cpuacct"].iter().all(|name| {
        membership.lines().any(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == *name))
        })
    });
    if !present {
        eprintln!("not every cgroup v1 controller is mounted here; skipping");
    }
    present
}

#[tokio::test]
async fn an_instance_runs_under_its_sizes_memory_cpu_and_task_limits() {
    if !python_available() || !v1_controllers_present() {
        return;
    }
    let project = Project::new();
    project.file("api/limits.py", LIMITS);
    for (memory_mb, vcpus) in [(1024u64, 1u64), (3008, 2)] {
        let spec = InstanceSpec {
            memory_mb: memory_mb as u32,
            ..project.spec("limits-sizes", "api/limits.py")
        };
        let instance = must_spawn(&runtime(), spec).await;
        let seen = call(&instance, get("/api/limits")).await.json();
        assert_eq!(seen["memory"], (memory_mb << 20).to_string());
        assert_eq!(seen["pids"], "2048");
        let quota: u64 = seen["quota"].as_str().unwrap().parse().unwrap();
        let period: u64 = seen["period"].as_str().unwrap().parse().unwrap();
        assert_eq!(quota, vcpus * period, "{memory_mb} MB gets {vcpus} vCPU");
    }
}

#[tokio::test]
async fn a_thread_bomb_stops_at_the_task_limit_and_the_instance_serves_on() {
    if !python_available() || !v1_controllers_present() {
        return;
    }
    let project = Project::new();
    project.file("api/limits.py", LIMITS);
    let instance = must_spawn(&runtime(), project.spec("limits-bomb", "api/limits.py")).await;
    let seen = call(&instance, get("/api/limits?threads=1")).await.json();
    let threads = seen["threads"].as_u64().unwrap();
    assert!(
        (1000..2048).contains(&threads),
        "threads stop just short of the 2048-task limit: {threads}"
    );
    // The sleeping threads end after 3 s; then the instance has room again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(call(&instance, get("/api/limits")).await.json()["pids"] == "2048");
}

#[tokio::test]
async fn cpu_time_counts_every_process_of_the_instance() {
    if !python_available() || !v1_controllers_present() {
        return;
    }
    let project = Project::new();
    project.file("api/limits.py", LIMITS);
    let instance = must_spawn(&runtime(), project.spec("limits-cpu", "api/limits.py")).await;
    let before = instance.stats().cpu_time.expect("cpu time is measured");
    call(&instance, get("/api/limits?child=1")).await;
    let after = instance.stats().cpu_time.expect("cpu time is measured");
    assert!(
        after - before >= Duration::from_millis(550),
        "the child's 600 ms of CPU count: {before:?} -> {after:?}"
    );
}
