//! `Handler` files as Vercel's Ruby runtime mounts them: a Proc taking WEBrick's request and
//! response, or a WEBrick servlet class.

use crate::harness::{Project, call, get, request, ruby_available, spawn, with_body};
use eddy_runtime::full_body;

const ECHO: &str = r#"
require 'json'

Handler = Proc.new do |req, res|
  case req.query['mode']
  when 'binary'
    res['Content-Type'] = 'application/octet-stream'
    res.body = (0..255).map(&:chr).join.b
  when 'unicode'
    res['Content-Type'] = 'text/plain; charset=utf-8'
    # WEBrick's query values are binary strings, as on Vercel.
    res.body = "héllo #{req.query['name'].dup.force_encoding('UTF-8')} ✓ 日本"
  else
    res.status = 201
    res['Content-Type'] = 'application/json'
    res['X-Custom'] = 'yes'
    res.cookies << WEBrick::Cookie.new('first', '1')
    res.cookies << WEBrick::Cookie.new('second', '2')
    res.body = JSON.generate(
      method: req.request_method,
      path: req.path,
      query: req.query,
      query_string: req.query_string,
      host: req['host'],
      dup: req['x-dup'],
      internal: req.header.keys.grep(/x-vercel-internal/),
      body: req.body,
      env: ENV['EDDY_TEST_VAR'],
      rack_env: ENV['RACK_ENV'],
      cwd: Dir.pwd
    )
  end
end
"#;

#[tokio::test]
async fn a_proc_handler_sees_the_request_and_sets_status_headers_and_cookies() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/echo.rb", ECHO);
    let instance = spawn(&project, "handler-proc", "api/echo.rb").await;
    let reply = call(
        &instance,
        request("POST", "/api/echo?name=w%C3%B6rld&id=7")
            .header("x-dup", "a")
            .header("x-dup", "b")
            .header("content-type", "text/plain")
            .body(full_body("posted body"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("x-custom"), Some("yes"));
    let cookies: Vec<_> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, ["first=1", "second=2"]);
    let json = reply.json();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["path"], "/api/echo");
    // WEBrick parses the body of a POST as its query (here: not a form, so nothing).
    assert_eq!(json["query"], serde_json::json!({}));
    assert_eq!(json["query_string"], "name=w%C3%B6rld&id=7");
    assert_eq!(
        json["host"], "app.example",
        "host comes from x-forwarded-host"
    );
    assert_eq!(json["dup"], "a, b");
    assert_eq!(json["internal"], serde_json::json!([]));
    assert_eq!(json["body"], "posted body");
    assert_eq!(json["env"], "from spec");
    assert_eq!(json["rack_env"], "production");
    assert_eq!(
        json["cwd"].as_str(),
        project.dir.path().canonicalize().unwrap().to_str()
    );
}

#[tokio::test]
async fn binary_and_unicode_bodies_arrive_byte_for_byte() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/echo.rb", ECHO);
    let instance = spawn(&project, "handler-bytes", "api/echo.rb").await;
    let binary = call(&instance, get("/api/echo?mode=binary")).await;
    assert_eq!(binary.body.as_ref(), (0..=255u8).collect::<Vec<_>>());
    let unicode = call(&instance, get("/api/echo?mode=unicode&name=w%C3%B6rld")).await;
    assert_eq!(unicode.text(), "héllo wörld ✓ 日本");
}

#[tokio::test]
async fn a_servlet_class_handler_dispatches_by_method() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/servlet.rb",
        r#"
class Handler < WEBrick::HTTPServlet::AbstractServlet
  def do_GET(req, res)
    res['Content-Type'] = 'text/plain'
    res.body = "got #{req.query['q']}"
  end

  def do_POST(req, res)
    res.status = 202
    res.body = "posted #{req.body}"
  end
end
"#,
    );
    let instance = spawn(&project, "handler-servlet", "api/servlet.rb").await;
    assert_eq!(
        call(&instance, get("/api/servlet?q=1")).await.text(),
        "got 1"
    );
    let posted = call(
        &instance,
        with_body("POST", "/api/servlet", "text/plain", "data"),
    )
    .await;
    assert_eq!(
        (posted.status.as_u16(), posted.text()),
        (202, "posted data".into())
    );
    // WEBrick answers methods the servlet lacks, as on Vercel.
    let deleted = call(
        &instance,
        request("DELETE", "/api/servlet")
            .body(full_body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 405);
}

#[tokio::test]
async fn a_chunked_proc_body_streams_from_a_handler() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/chunks.rb",
        r#"
Handler = Proc.new do |req, res|
  res.chunked = true
  res.body = proc { |out| out.write("a"); out.write("b") }
end
"#,
    );
    let instance = spawn(&project, "handler-chunks", "api/chunks.rb").await;
    let reply = call(&instance, get("/api/chunks")).await;
    assert_eq!((reply.status.as_u16(), reply.text()), (200, "ab".into()));
}
