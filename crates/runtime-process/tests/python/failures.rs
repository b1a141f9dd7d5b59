//! Errors of user code: an import failure or a missing entry point fails the start with the
//! interpreter's message; an exception in a request fails only that request and drains the
//! instance.

use std::time::Duration;

use crate::harness::{
    Project, call_all, get, log_containing, python_available, spawn, spawn_spec, wait_health,
};
use eddy_runtime::{Health, InvokeError, SpawnError};

async fn start_error(project: &Project, function: &str, handler: &str) -> String {
    match spawn_spec(project.spec(function, handler)).await {
        Err(SpawnError::Init { message, .. }) => message,
        Err(other) => panic!("expected an init error, got {other}"),
        Ok(_) => panic!("{handler} started"),
    }
}

#[tokio::test]
async fn a_syntax_error_fails_the_start_with_file_line_and_message() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/bad.py", "def app(environ, start_response)\n    pass\n");
    let message = start_error(&project, "fail-syntax", "api/bad.py").await;
    assert!(message.contains("api/bad.py"), "{message}");
    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("SyntaxError"), "{message}");
}

#[tokio::test]
async fn an_import_error_shows_the_users_traceback_without_launcher_frames() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/imports.py",
        "import not_a_module_anywhere\napp = None\n",
    );
    let message = start_error(&project, "fail-import", "api/imports.py").await;
    assert!(
        message.contains("ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
        "{message}"
    );
    assert!(message.contains("imports.py\", line 1"), "{message}");
    assert!(!message.contains("eddy_launcher"), "{message}");
    assert!(!message.contains("<frozen"), "{message}");
}

#[tokio::test]
async fn a_module_without_an_entry_point_says_what_to_define() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/empty.py", "x = 1\n");
    let message = start_error(&project, "fail-no-entry", "api/empty.py").await;
    assert!(message.contains("no entry point found"), "{message}");
    assert!(message.contains("`handler`"), "{message}");
    project.file("api/odd.py", "app = 42\n");
    let message = start_error(&project, "fail-odd", "api/odd.py").await;
    assert!(
        message.contains("could not determine the application interface of `app`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_failed_asgi_lifespan_startup_fails_the_start() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/life.py",
        r#"
async def app(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
"#,
    );
    let message = start_error(&project, "fail-lifespan", "api/life.py").await;
    assert!(message.contains("database unreachable"), "{message}");
}

const FLAKY: &str = r#"
import time

def app(environ, start_response):
    if "throw" in environ["QUERY_STRING"]:
        time.sleep(0.2)
        raise ValueError("boom from flaky.py")
    time.sleep(0.6)
    start_response("200 OK", [])
    return [b"fine"]
"#;

#[tokio::test]
async fn an_exception_fails_only_its_own_request_and_drains_the_instance() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/flaky.py", FLAKY);
    let instance = spawn(&project, "fail-flaky", "api/flaky.py").await;
    let mut requests: Vec<_> = (0..5).map(|_| (get("/api/flaky"), "req-fine")).collect();
    requests.push((get("/api/flaky?throw=1"), "req-throw"));
    let replies = call_all(&instance, requests).await;
    let (failed, fine): (Vec<_>, Vec<_>) = replies.into_iter().partition(Result::is_err);
    assert_eq!(fine.len(), 5, "the other requests finish");
    assert!(fine.iter().all(|r| r.as_ref().unwrap().text() == "fine"));
    match &failed[..] {
        [Err(InvokeError::Failed { reason })] => {
            assert_eq!(reason, "ValueError: boom from flaky.py");
        }
        other => panic!("{other:?}"),
    }
    wait_health(&instance, Duration::from_secs(2), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await;
    let report = log_containing("fail-flaky", "Error from API Route /api/flaky?throw=1").await;
    assert!(
        report.message().contains("flaky.py\", line 7"),
        "{}",
        report.message()
    );
    assert_eq!(report.field("request_id"), Some("req-throw"));
}

#[tokio::test]
async fn an_exception_after_the_head_breaks_the_response() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/half.py",
        r#"
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def body():
        yield b"half"
        raise RuntimeError("mid-stream")
    return body()
"#,
    );
    let instance = spawn(&project, "fail-half", "api/half.py").await;
    let response = instance
        .invoke(crate::harness::invocation(get("/api/half"), "req-half"))
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body()).await;
    assert!(body.is_err(), "a broken stream must not look complete");
    log_containing("fail-half", "RuntimeError: mid-stream").await;
    // The instance keeps serving what is in flight but takes no new work.
    wait_health(&instance, Duration::from_secs(2), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await;
}
