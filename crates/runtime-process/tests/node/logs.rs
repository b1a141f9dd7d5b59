//! Function output becomes tracing events tagged with function, instance and request id.

use crate::harness::{Project, call_as, get, log_containing, logs_of, node_available, spawn};

#[tokio::test]
async fn output_inside_a_request_carries_its_request_id() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/log.js",
        r#"
console.log('booting outside any request');
module.exports = (req, res) => {
  console.log('hello from', req.query.who);
  console.error('something went', 'wrong');
  process.stdout.write('raw stdout write\n');
  setTimeout(() => console.warn('later, after the response'), 100);
  res.end('logged');
};
"#,
    );
    let instance = spawn(&project, "logs-tagged", "api/log.js").await;
    let reply = call_as(&instance, get("/api/log?who=alice"), "dev1::req-42")
        .await
        .unwrap();
    assert_eq!(reply.text(), "logged");

    let hello = log_containing("logs-tagged", "hello from alice").await;
    assert_eq!(hello.field("request_id"), Some("dev1::req-42"));
    assert_eq!(hello.field("level"), Some("info"));
    assert_eq!(
        hello.field("instance"),
        Some(instance.id().to_string().as_str())
    );

    let error = log_containing("logs-tagged", "something went wrong").await;
    assert_eq!(
        (error.field("level"), error.level),
        (Some("error"), tracing::Level::ERROR)
    );
    assert_eq!(error.field("request_id"), Some("dev1::req-42"));

    let raw = log_containing("logs-tagged", "raw stdout write").await;
    assert_eq!(
        (raw.field("level"), raw.field("request_id")),
        (Some("stdout"), Some("dev1::req-42"))
    );

    // Output of work the request scheduled keeps its tag after the response.
    let later = log_containing("logs-tagged", "later, after the response").await;
    assert_eq!(
        (later.field("level"), later.field("request_id")),
        (Some("warn"), Some("dev1::req-42"))
    );

    let boot = log_containing("logs-tagged", "booting outside any request").await;
    assert_eq!(boot.field("request_id"), None);
}

#[tokio::test]
async fn a_thrown_error_is_logged_as_error_from_api_route_with_its_stack() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/throws.js",
        "module.exports = () => { throw new Error('boom from throws.js'); };",
    );
    let instance = spawn(&project, "logs-throws", "api/throws.js").await;
    let _ = call_as(&instance, get("/api/throws?x=1"), "req-throws").await;
    let report = log_containing("logs-throws", "Error from API Route /api/throws?x=1").await;
    assert!(report.message().contains("boom from throws.js"));
    assert!(
        report.message().contains("throws.js:1"),
        "stack missing: {}",
        report.message()
    );
    assert_eq!(report.field("request_id"), Some("req-throws"));
    assert!(
        logs_of("logs-throws")
            .iter()
            .all(|c| c.field("level") != Some("fatal"))
    );
}
