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
