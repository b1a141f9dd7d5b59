//! Errors of user code fail only their invocation and drain the instance; load failures
//! explain themselves with the interpreter's message, the file and the line.

use std::sync::Arc;
use std::time::Duration;

use crate::harness::{
    Project, call, fails_then_drains, get, init_message, invocation, log_containing,
    ruby_available, spawn, spawn_spec, wait_health,
};
use eddy_runtime::{Health, InvokeError, Runtime, SpawnError};
use eddy_runtime_process::{ProcessRuntime, RubyConfig};
use http_body_util::BodyExt as _;

const MIXED: &str = r#"
Handler = Proc.new do |req, res|
  case req.query['mode']
  when 'raise'
    raise ArgumentError, 'boom from raise'
  when 'stream-raise'
    res.chunked = true
    res.body = proc { |out| out.write("partial\n"); raise 'boom mid-stream' }
  else
    sleep req.query.fetch('ms', '0').to_f / 1000
    res.body = 'slow done'
  end
end
"#;

#[tokio::test]
async fn a_raising_handler_fails_its_request_and_drains_while_others_finish() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.rb", MIXED);
    let instance = spawn(&project, "ruby-failures-isolation", "api/mixed.rb").await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/mixed?ms=1000")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = fails_then_drains(
        &instance,
        get("/api/mixed?mode=raise"),
        "req-raise",
        "boom from raise",
    )
    .await;
    assert!(
        format!("{health:?}").contains("boom from raise"),
        "{health:?}"
    );
    let slow = slow.await.unwrap();
    assert_eq!(
        (slow.status.as_u16(), slow.text().as_str()),
        (200, "slow done"),
        "the request in flight completes"
    );
    let logged = log_containing("ruby-failures-isolation", "boom from raise").await;
    assert_eq!(logged.field("request_id"), Some("req-raise"));
    assert!(
        logged.message().contains("api/mixed.rb:5"),
        "{}",
        logged.message()
    );
}

#[tokio::test]
async fn an_error_in_a_streamed_body_breaks_the_response_and_drains() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/mixed.rb", MIXED);
    let instance = spawn(&project, "ruby-failures-stream", "api/mixed.rb").await;
    let response = instance
        .invoke(invocation(
            get("/api/mixed?mode=stream-raise"),
            "req-stream",
        ))
        .await;
    match response {
        Ok(response) => assert!(
            response.into_body().collect().await.is_err(),
            "a broken stream must not end cleanly"
        ),
        Err(InvokeError::Failed { .. }) => {}
        Err(other) => panic!("expected a broken body, got {other:?}"),
    }
    wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await;
    log_containing("ruby-failures-stream", "boom mid-stream").await;
}

#[tokio::test]
async fn a_syntax_error_fails_the_spawn_naming_the_file_and_line() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/broken.rb",
        "Handler = Proc.new do |req, res|\n  res.body = 'x'\n",
    );
    project.file("api/broken.ru", "run ->(env) { [200, {}, ['x']\n");
    for handler in ["api/broken.rb", "api/broken.ru"] {
        let message = init_message(spawn_spec(project.spec("ruby-failures-syntax", handler)).await);
        assert!(message.contains("syntax error"), "{handler}: {message}");
        assert!(
            message.contains(&format!("{handler}:")),
            "{handler}: {message}"
        );
    }
}

#[tokio::test]
async fn a_file_without_handler_or_app_fails_the_spawn_saying_so() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/none.rb", "def handler(req, res); end\n");
    project.file("api/wrong.rb", "Handler = 42\n");
    project.file("api/raises.rb", "raise 'cannot boot'\n");
    project.file("api/empty.ru", "# no run\n");
    let cases = [
        ("api/none.rb", "Handler not defined in api/none.rb"),
        ("api/wrong.rb", "Handler in api/wrong.rb is a Integer"),
        ("api/raises.rb", "cannot boot"),
        ("api/empty.ru", "missing run or map statement"),
    ];
    for (handler, expected) in cases {
        let message = init_message(spawn_spec(project.spec("ruby-failures-load", handler)).await);
        assert!(message.contains(expected), "{handler}: {message}");
    }
}

#[tokio::test]
async fn a_missing_ruby_names_the_runtime_the_function_and_the_fix() {
    let project = Project::new();
    project.file("api/x.rb", "Handler = proc {}\n");
    let runtime = ProcessRuntime::ruby(RubyConfig {
        ruby: "eddy-no-such-ruby".into(),
        ..RubyConfig::default()
    });
    let result = runtime
        .spawn(
            Arc::new(project.spec("api/x", "api/x.rb")),
            eddy_runtime::InstanceId(1),
        )
        .await;
    match result {
        Err(error @ SpawnError::ToolchainMissing { .. }) => {
            let text = error.to_string();
            assert!(text.contains("function api/x"), "{text}");
            assert!(text.contains("ruby3.1"), "{text}");
            assert!(text.contains("apt-get install ruby"), "{text}");
        }
        Err(other) => panic!("expected ToolchainMissing, got {other}"),
        Ok(_) => panic!("expected ToolchainMissing, got an instance"),
    }
}
