//! Errors of user code fail only their invocation and drain the instance; crashes fail what
//! was in flight; start-up failures explain themselves.

use std::time::Duration;

use crate::harness::{
    Project, call, call_as, fails_then_drains, get, init_message, node_available, spawn,
    spawn_spec, wait_health,
};
use eddy_runtime::{Health, InvokeError, Runtime, SpawnError};
use eddy_runtime_process::{NodeConfig, ProcessRuntime};

const MIXED: &str = r#"
module.exports = async (req, res) => {
  if (req.query.mode === 'throw') throw new Error('boom from throw');
  if (req.query.mode === 'timer') {
    setTimeout(() => { throw new Error('boom from a timer'); }, 10);
    return;
  }
  if (req.query.mode === 'late') {
    res.end('ended');
    res.write('too late');
    return;
  }
  await new Promise((r) => setTimeout(r, Number(req.query.ms ?? 0)));
  res.send('slow done');
};
"#;

#[tokio::test]
async fn an_uncaught_exception_fails_its_request_and_drains_while_others_finish() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.js", MIXED);
    let instance = spawn(&project, "failures-isolation", "api/mixed.js").await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/mixed?ms=1000")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = fails_then_drains(
        &instance,
        get("/api/mixed?mode=throw"),
        "req-throw",
        "boom from throw",
    )
    .await;
    assert!(
        format!("{health:?}").contains("boom from throw"),
        "{health:?}"
    );
    // No new work reaches a draining instance...
    match call_as(&instance, get("/api/mixed"), "req-after").await {
        Err(InvokeError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // ...but the request already in flight completes normally.
    let slow = slow.await.unwrap();
    assert_eq!(
        (slow.status.as_u16(), slow.text().as_str()),
        (200, "slow done")
    );
}

#[tokio::test]
async fn an_exception_thrown_later_by_a_requests_callback_is_attributed_to_it() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.js", MIXED);
    let instance = spawn(&project, "failures-timer", "api/mixed.js").await;
    fails_then_drains(
        &instance,
        get("/api/mixed?mode=timer"),
        "req-timer",
        "boom from a timer",
    )
    .await;
    assert!(matches!(
        *instance.health().borrow(),
        Health::Draining { .. }
    ));
}

#[tokio::test]
async fn a_write_after_end_is_logged_and_harmless() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.js", MIXED);
    let instance = spawn(&project, "failures-write-after-end", "api/mixed.js").await;
    let reply = call(&instance, get("/api/mixed?mode=late")).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "ended")
    );
    crate::harness::log_containing("failures-write-after-end", "write after end").await;
    assert_eq!(*instance.health().borrow(), Health::Ready);
    assert_eq!(call(&instance, get("/api/mixed")).await.text(), "slow done");
}

#[tokio::test]
async fn an_error_outside_any_request_drains_the_instance() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/late.js",
        "setTimeout(() => { throw new Error('module timer failed'); }, 300);\nmodule.exports = (req, res) => res.end('ok');",
    );
    let instance = spawn(&project, "failures-fatal", "api/late.js").await;
    let health = wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await;
    assert!(
        format!("{health:?}").contains("module timer failed"),
        "{health:?}"
    );
}

#[tokio::test]
async fn a_killed_process_fails_in_flight_requests_as_crashed() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.js", MIXED);
    let instance = spawn(&project, "failures-kill", "api/mixed.js").await;
    let pid = instance.stats().pid.expect("a process has a pid");
    let in_flight = {
        let instance = instance.clone();
        tokio::spawn(
            async move { call_as(&instance, get("/api/mixed?ms=5000"), "req-killed").await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    match in_flight.await.unwrap() {
        Err(InvokeError::Crashed { reason, .. }) => {
            assert!(reason.contains("killed by signal 9 (SIGKILL)"), "{reason}")
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
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
    assert!(matches!(
        call_as(&instance, get("/api/mixed"), "req-dead").await,
        Err(InvokeError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_syntax_error_fails_the_spawn_naming_the_file_and_line() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/broken.mjs",
        "export default function (req, res) {\n  res.end('x'\n}\n",
    );
    project.file(
        "api/broken.js",
        "module.exports = (req, res) => {\n  res.send('x'\n};\n",
    );
    for handler in ["api/broken.mjs", "api/broken.js"] {
        let message = init_message(spawn_spec(project.spec("failures-syntax", handler)).await);
        assert!(
            message.contains(&format!("{handler}:2")),
            "{handler}: {message}"
        );
        assert!(message.contains("SyntaxError"), "{message}");
    }
}

#[tokio::test]
async fn a_module_without_a_handler_fails_the_spawn_with_a_clear_message() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/no-export.js", "exports.notAHandler = 42;");
    let message =
        init_message(spawn_spec(project.spec("failures-no-export", "api/no-export.js")).await);
    assert_eq!(
        message,
        "function api/no-export.js: handler export not found (export a default function, a fetch handler or named GET/POST/... exports)"
    );
}

#[tokio::test]
async fn a_module_that_never_finishes_loading_times_out() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/hang.mjs",
        "await new Promise(() => {});\nexport default () => {};",
    );
    let runtime = ProcessRuntime::node(NodeConfig {
        spawn_timeout: Duration::from_millis(1500),
        ..NodeConfig::default()
    });
    let spec = std::sync::Arc::new(project.spec("failures-hang", "api/hang.mjs"));
    match runtime.spawn(spec, eddy_runtime::InstanceId(9_000)).await {
        Err(SpawnError::Timeout { waited, .. }) => assert_eq!(waited, Duration::from_millis(1500)),
        Err(other) => panic!("expected Timeout, got {other}"),
        Ok(_) => panic!("expected Timeout, got an instance"),
    }
}

#[tokio::test]
async fn a_missing_node_binary_is_a_toolchain_error_saying_how_to_install() {
    let project = Project::new();
    project.file("api/ok.js", "module.exports = (req, res) => res.end('ok');");
    let runtime = ProcessRuntime::node(NodeConfig {
        node: "/nonexistent/eddy/node".into(),
        ..NodeConfig::default()
    });
    let spec = std::sync::Arc::new(project.spec("failures-no-node", "api/ok.js"));
    match runtime.spawn(spec, eddy_runtime::InstanceId(9_001)).await {
        Err(error @ SpawnError::ToolchainMissing { .. }) => {
            let text = error.to_string();
            assert!(text.contains("/nonexistent/eddy/node"), "{text}");
            assert!(text.contains("install Node.js"), "{text}");
        }
        Err(other) => panic!("expected ToolchainMissing, got {other}"),
        Ok(_) => panic!("expected ToolchainMissing, got an instance"),
    }
}

#[tokio::test]
async fn throwing_odd_values_fails_the_request_but_not_the_process() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/odd.js",
        r#"
module.exports = (req, res) => {
  if (req.query.kind === 'null') throw null;
  if (req.query.kind === 'bare') throw Object.create(null);
  setTimeout(() => { throw 10n; }, 5);
};
"#,
    );
    // A failed request drains its instance, so each kind gets its own.
    for kind in ["null", "bare", "bigint"] {
        let instance = spawn(&project, "failures-odd", "api/odd.js").await;
        match call_as(&instance, get(&format!("/api/odd?kind={kind}")), "req-odd").await {
            Err(InvokeError::Failed { reason }) => {
                assert!(reason.starts_with("Uncaught"), "{kind}: {reason}")
            }
            other => panic!("{kind}: expected Failed, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let health = instance.health().borrow().clone();
        assert!(
            matches!(health, Health::Draining { .. }),
            "{kind}: {health:?}"
        );
    }
}

/// A request body that sends one chunk, then fails like an upload cut off by the client.
struct BrokenUpload {
    sent: bool,
}

impl http_body::Body for BrokenUpload {
    type Data = bytes::Bytes;
    type Error = eddy_runtime::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Ready(Some(Err("upload broke off".into())));
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            b"part",
        )))))
    }
}

#[tokio::test]
async fn a_failed_request_body_is_no_response_and_leaves_the_instance_ready() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/upload.js",
        "module.exports = (req, res) => { req.on('data', () => {}); req.on('end', () => res.end('got it')); };",
    );
    let instance = spawn(&project, "failures-upload", "api/upload.js").await;
    let body = http_body_util::BodyExt::boxed_unsync(BrokenUpload { sent: false });
    let upload = crate::harness::request("POST", "/api/upload")
        .body(body)
        .unwrap();
    match call_as(&instance, upload, "req-upload").await {
        Err(InvokeError::NoResponse { reason }) => {
            assert!(reason.contains("upload broke off"), "{reason}")
        }
        other => panic!("expected NoResponse, got {other:?}"),
    }
    assert_eq!(*instance.health().borrow(), Health::Ready);
    assert_eq!(call(&instance, get("/api/upload")).await.text(), "got it");
}
