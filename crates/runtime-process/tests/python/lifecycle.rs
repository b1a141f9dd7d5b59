//! SIGTERM drains: in-flight requests finish, the ASGI lifespan shutdown runs, the process
//! exits 0; vendored dependencies from the build step are importable.

use std::time::{Duration, Instant};

use eddy_runtime::Health;

use crate::harness::{Project, call, get, python_available, spawn, spawn_spec};

#[tokio::test]
async fn drain_finishes_the_request_in_flight_then_exits_cleanly() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/slow.py",
        r#"
import time

def app(environ, start_response):
    time.sleep(0.8)
    start_response("200 OK", [])
    return [b"finished"]
"#,
    );
    let instance = spawn(&project, "life-drain", "api/slow.py").await;
    let slow = tokio::spawn({
        let instance = instance.clone();
        async move { call(&instance, get("/api/slow")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    instance.drain(Duration::from_secs(10)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(slow.await.unwrap().text(), "finished");
    assert_eq!(
        *instance.health().borrow(),
        Health::Exited {
            reason: "exited with code 0".into()
        }
    );
}

#[tokio::test]
async fn drain_runs_the_asgi_lifespan_shutdown() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/life.py",
        r#"
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                open("shutdown.txt", "w").write("closed")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"up"})
"#,
    );
    let instance = spawn(&project, "life-asgi", "api/life.py").await;
    assert_eq!(call(&instance, get("/api/life")).await.text(), "up");
    instance.drain(Duration::from_secs(10)).await;
    assert_eq!(
        std::fs::read_to_string(project.path("shutdown.txt")).unwrap(),
        "closed"
    );
    assert_eq!(
        *instance.health().borrow(),
        Health::Exited {
            reason: "exited with code 0".into()
        }
    );
}

#[tokio::test]
async fn a_vendor_dir_in_the_handler_string_is_importable_first() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("vendor/json_helper_pkg/__init__.py", "WHO = 'vendored'\n");
    project.file(
        "api/uses.py",
        r#"
import json_helper_pkg

def app(environ, start_response):
    start_response("200 OK", [])
    return [json_helper_pkg.WHO.encode()]
"#,
    );
    let handler = format!("{}::api/uses.py", project.path("vendor").display());
    let instance = spawn_spec(project.spec("life-vendor", &handler))
        .await
        .unwrap();
    assert_eq!(call(&instance, get("/api/uses")).await.text(), "vendored");
}

#[tokio::test]
async fn an_instance_may_hold_at_most_1024_open_files_and_dies_with_its_parent() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/limits.py",
        r#"
import ctypes, json, resource

PR_GET_PDEATHSIG = 2

# Read on the main thread while the module loads: the setting is per thread, and the kernel
# looks at the main thread's when the parent dies (request threads start with none).
signal = ctypes.c_int(0)
ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal))

def app(environ, start_response):
    start_response("200 OK", [("content-type", "application/json")])
    return [json.dumps({
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "pdeathsig": signal.value,
    }).encode()]
"#,
    );
    let instance = spawn(&project, "life-limits", "api/limits.py").await;
    let reply = call(&instance, get("/api/limits")).await.json();
    let own_hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))?
                .to_string();
            line.split_whitespace().nth(4)?.parse::<u64>().ok()
        })
        .unwrap_or(u64::MAX);
    let expected = 1024.min(own_hard);
    assert_eq!(reply["nofile"], serde_json::json!([expected, expected]));
    assert_eq!(reply["pdeathsig"], 9, "SIGKILL when eddy dies");
}

#[tokio::test]
async fn a_frozen_instance_fails_its_health_check_and_is_killed_while_a_live_one_is_not() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/ok.py",
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    );
    let runtime = crate::harness::runtime().with_health_check(eddy_runtime_process::HealthCheck {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(300),
        unhealthy_after: Duration::from_secs(1),
    });
    let spec = eddy_runtime::InstanceSpec {
        max_duration: Duration::from_secs(1),
        ..project.spec("life-frozen", "api/ok.py")
    };
    let frozen = crate::harness::must_spawn(&runtime, spec.clone()).await;
    let live = crate::harness::must_spawn(&runtime, spec).await;
    let pid = frozen.stats().pid.expect("a process instance has a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    crate::harness::wait_health(
        &frozen,
        Duration::from_secs(10),
        |h| matches!(h, Health::Exited { reason } if reason.contains("health check")),
    )
    .await;
    // Pinged as often for as long, the live one still serves.
    assert_eq!(*live.health().borrow(), Health::Ready);
    assert_eq!(call(&live, get("/api/ok")).await.text(), "ok");
}
