//! print, sys.stdout/stderr and logging become function logs tagged with their request.

use crate::harness::{Project, call_as, get, log_containing, python_available, spawn};

#[tokio::test]
async fn output_inside_a_request_carries_its_request_id() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/log.py",
        r#"
import logging, sys
print("booting outside any request")

def app(environ, start_response):
    print("hello from", environ["QUERY_STRING"])
    sys.stderr.write("to stderr\n")
    sys.stdout.write("partial line ")
    sys.stdout.write("completed\n")
    logging.getLogger("mine").warning("careful %s", "now")
    logging.info("an info record")
    start_response("200 OK", [])
    return [b"logged"]
"#,
    );
    let instance = spawn(&project, "logs-python", "api/log.py").await;
    let reply = call_as(&instance, get("/api/log?who=alice"), "dev1::req-42")
        .await
        .unwrap();
    assert_eq!(reply.text(), "logged");

    let hello = log_containing("logs-python", "hello from who=alice").await;
    assert_eq!(hello.field("request_id"), Some("dev1::req-42"));
    assert_eq!(hello.field("level"), Some("stdout"));
    let stderr = log_containing("logs-python", "to stderr").await;
    assert_eq!(
        (stderr.field("level"), stderr.field("request_id")),
        (Some("stderr"), Some("dev1::req-42"))
    );
    let line = log_containing("logs-python", "partial line completed").await;
    assert_eq!(line.field("request_id"), Some("dev1::req-42"));
    let warning = log_containing("logs-python", "careful now").await;
    assert_eq!(
        (warning.field("level"), warning.field("request_id")),
        (Some("warn"), Some("dev1::req-42"))
    );
    let info = log_containing("logs-python", "an info record").await;
    assert_eq!(info.field("level"), Some("info"));
    let boot = log_containing("logs-python", "booting outside any request").await;
    assert_eq!(boot.field("request_id"), None);
}

#[tokio::test]
async fn a_users_logging_basic_config_takes_effect() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/configured.py",
        r#"
import logging
logging.basicConfig(level=logging.DEBUG, format="custom|%(levelname)s|%(message)s")

def app(environ, start_response):
    logging.debug("debug detail")
    start_response("200 OK", [])
    return [b"ok"]
"#,
    );
    let instance = spawn(&project, "logs-configured", "api/configured.py").await;
    call_as(&instance, get("/api/configured"), "req-conf")
        .await
        .unwrap();
    let line = log_containing("logs-configured", "custom|DEBUG|debug detail").await;
    assert_eq!(line.field("request_id"), Some("req-conf"));
}
