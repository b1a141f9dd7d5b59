//! Rack apps from `*.ru` files, through eddy's WEBrick adapter: the env, headers, and bodies
//! that stream as the app yields them.

use std::time::Duration;

use crate::harness::{Project, arrivals, call, get, request, ruby_available, spawn};
use eddy_runtime::full_body;

#[tokio::test]
async fn a_rack_app_gets_a_complete_env_and_sets_repeated_headers() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/app.ru",
        r#"
require 'json'

class Echo
  def call(env)
    req = Rack::Request.new(env)
    body = JSON.generate(
      method: env['REQUEST_METHOD'],
      path: env['PATH_INFO'],
      query: env['QUERY_STRING'],
      params: req.params,
      host: req.host,
      scheme: req.scheme,
      content_type: env['CONTENT_TYPE'],
      dup: env['HTTP_X_DUP'],
      internal: env.keys.grep(/VERCEL_INTERNAL/),
      input: env['rack.input'].read,
      multithread: env['rack.multithread']
    )
    [200, { 'content-type' => 'application/json', 'set-cookie' => "a=1\nb=2" }, [body]]
  end
end

use Rack::ContentLength
run Echo.new
"#,
    );
    let instance = spawn(&project, "rack-env", "api/app.ru").await;
    let reply = call(
        &instance,
        request("POST", "/api/app/sub%20path?x=1&y=%C3%A9")
            .header("x-dup", "1")
            .header("x-dup", "2")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(full_body("z=3"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let json = reply.json();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["path"], "/api/app/sub%20path");
    assert_eq!(json["query"], "x=1&y=%C3%A9");
    assert_eq!(
        json["params"],
        serde_json::json!({"x": "1", "y": "é", "z": "3"})
    );
    assert_eq!(json["host"], "app.example");
    assert_eq!(json["scheme"], "https");
    assert_eq!(json["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(json["dup"], "1, 2");
    assert_eq!(json["internal"], serde_json::json!([]));
    assert_eq!(json["input"], "z=3", "rack.input is rewindable");
    assert_eq!(json["multithread"], true);
}

#[tokio::test]
async fn a_rack_body_streams_chunk_by_chunk() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/stream.ru",
        r#"
class Slow
  def each
    yield "one\n"
    sleep 0.6
    yield "two\n"
  end
end
run ->(env) { [200, { 'content-type' => 'text/plain' }, Slow.new] }
"#,
    );
    let instance = spawn(&project, "rack-stream", "api/stream.ru").await;
    let seen = arrivals(&instance, "/api/stream").await;
    let text: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "one\ntwo\n", "{seen:?}");
    let first = seen.iter().find(|(_, t)| t.contains("one")).unwrap().0;
    let second = seen.iter().find(|(_, t)| t.contains("two")).unwrap().0;
    assert!(second - first >= Duration::from_millis(300), "{seen:?}");
}

#[tokio::test]
async fn a_rack_3_callable_body_and_array_headers_work() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/callable.ru",
        r#"
body = proc { |stream| stream.write("streamed "); stream << "body"; stream.close }
run ->(env) { [200, { 'set-cookie' => ['c=3', 'd=4'], 'x-list' => ['p', 'q'] }, body] }
"#,
    );
    let instance = spawn(&project, "rack-callable", "api/callable.ru").await;
    let reply = call(&instance, get("/api/callable")).await;
    assert_eq!(reply.text(), "streamed body");
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["c=3", "d=4"]);
    assert_eq!(reply.header("x-list"), Some("p, q"));
}
