//! Vercel's request and response helpers (vercel-compat 1.3) and the request the function sees.

use crate::harness::{Project, call, get, node_available, request, spawn, with_body};
use eddy_runtime::{Health, empty_body, full_body};

const ECHO: &str = r#"
module.exports = (req, res) => {
  const body = req.body;
  res.status(201).json({
    query: req.query,
    cookies: req.cookies,
    body: Buffer.isBuffer(body) ? { buffer: body.toString() } : body ?? null,
  });
};
"#;

#[tokio::test]
async fn parses_query_cookies_and_json_body() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/echo.js", ECHO);
    let instance = spawn(&project, "helpers-echo", "api/echo.js").await;
    let post = request("POST", "/api/echo?a=1&b=2&b=3")
        .header(
            "cookie",
            "session=abc; theme=dark; enc=a%20b; session=ignored",
        )
        .header("content-type", "application/json; charset=utf-8")
        .body(full_body(r#"{"hello":"world"}"#))
        .unwrap();
    let reply = call(&instance, post).await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "query": { "a": "1", "b": ["2", "3"] },
            "cookies": { "session": "abc", "theme": "dark", "enc": "a b" },
            "body": { "hello": "world" }
        })
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test]
async fn parses_bodies_by_content_type() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/echo.js", ECHO);
    let instance = spawn(&project, "helpers-body-types", "api/echo.js").await;
    let cases = [
        (
            "application/x-www-form-urlencoded",
            "a=1&a=2&b=x",
            serde_json::json!({ "a": ["1", "2"], "b": "x" }),
        ),
        ("text/plain", "just text", serde_json::json!("just text")),
        (
            "application/octet-stream",
            "raw",
            serde_json::json!({ "buffer": "raw" }),
        ),
        ("application/json", "", serde_json::json!({})),
        ("image/png", "png?", serde_json::Value::Null),
    ];
    for (content_type, body, expected) in cases {
        let reply = call(
            &instance,
            with_body("POST", "/api/echo", content_type, body),
        )
        .await;
        assert_eq!(
            reply.json()["body"],
            expected,
            "content-type {content_type}"
        );
    }
    let untyped = request("POST", "/api/echo")
        .body(full_body("no type"))
        .unwrap();
    assert_eq!(
        call(&instance, untyped).await.json()["body"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn invalid_json_is_a_400_and_not_an_instance_failure() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/echo.js", ECHO);
    let instance = spawn(&project, "helpers-invalid-json", "api/echo.js").await;
    let reply = call(
        &instance,
        with_body("POST", "/api/echo", "application/json", "{not json"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.text(), "Invalid JSON");
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn the_raw_body_stays_readable_after_req_body() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/raw.js",
        r#"
module.exports = (req, res) => {
  const parsed = req.body;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => res.json({ parsed, raw: Buffer.concat(chunks).length }));
};
"#,
    );
    let instance = spawn(&project, "helpers-raw-body", "api/raw.js").await;
    // Large enough to arrive in many chunks and exceed the stream's high-water mark.
    let text = "x".repeat(3 << 20);
    let reply = call(
        &instance,
        with_body("POST", "/api/raw", "text/plain", &text),
    )
    .await;
    let json = reply.json();
    assert_eq!(json["raw"], text.len());
    assert_eq!(json["parsed"].as_str().map(str::len), Some(text.len()));
}

#[tokio::test]
async fn send_sets_type_length_and_weak_etag() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/send.js",
        r#"
module.exports = (req, res) => {
  const kind = req.query.kind;
  if (kind === 'string') return res.send('héllo');
  if (kind === 'buffer') return res.send(Buffer.from([1, 2, 3]));
  if (kind === 'object') return res.send({ ok: true });
  if (kind === 'empty') return res.status(204).send('dropped');
  if (kind === 'redirect') return res.redirect('/elsewhere');
  if (kind === 'redirect301') return res.redirect(301, '/moved');
  res.status(418).send('teapot');
};
"#,
    );
    let instance = spawn(&project, "helpers-send", "api/send.js").await;

    let string = call(&instance, get("/api/send?kind=string")).await;
    assert_eq!(
        string.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(string.header("content-length"), Some("6"));
    assert_eq!(string.text(), "héllo");
    let etag = string.header("etag").unwrap_or_default();
    assert!(etag.starts_with("W/\"6-") && etag.ends_with('"'), "{etag}");

    let buffer = call(&instance, get("/api/send?kind=buffer")).await;
    assert_eq!(
        buffer.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(buffer.body.as_ref(), [1, 2, 3]);

    let object = call(&instance, get("/api/send?kind=object")).await;
    assert_eq!(
        object.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(object.text(), r#"{"ok":true}"#);

    let empty = call(&instance, get("/api/send?kind=empty")).await;
    assert_eq!(empty.status, 204);
    assert!(empty.body.is_empty());
    assert_eq!(empty.header("content-type"), None);

    let redirect = call(&instance, get("/api/send?kind=redirect")).await;
    assert_eq!(redirect.status, 307);
    assert_eq!(redirect.header("location"), Some("/elsewhere"));
    let moved = call(&instance, get("/api/send?kind=redirect301")).await;
    assert_eq!(
        (moved.status.as_u16(), moved.header("location")),
        (301, Some("/moved"))
    );

    let teapot = call(&instance, get("/api/send")).await;
    assert_eq!(
        (teapot.status.as_u16(), teapot.text().as_str()),
        (418, "teapot")
    );

    let head = request("HEAD", "/api/send?kind=string")
        .body(empty_body())
        .unwrap();
    let head = call(&instance, head).await;
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("6"));
}

#[tokio::test]
async fn helpers_can_be_turned_off() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/plain.js",
        "module.exports = (req, res) => res.end(`${typeof res.send} ${typeof req.query}`);",
    );
    let mut spec = project.spec("helpers-off", "api/plain.js");
    spec.options = serde_json::json!({ "shouldAddHelpers": false });
    let instance = crate::harness::spawn_spec(spec).await.unwrap();
    assert_eq!(
        call(&instance, get("/api/plain")).await.text(),
        "undefined undefined"
    );
}

#[tokio::test]
async fn strips_internal_headers_and_takes_host_from_x_forwarded_host() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/headers.js",
        r#"
module.exports = (req, res) => {
  const raw = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) raw.push(req.rawHeaders[i].toLowerCase());
  res.json({ names: Object.keys(req.headers), raw, host: req.headers.host, oidc: req.headers['x-vercel-oidc-token'] ?? null });
};
"#,
    );
    let instance = spawn(&project, "helpers-headers", "api/headers.js").await;
    let spoofed = request("GET", "/api/headers")
        .header("x-vercel-internal-request-id", "999")
        .header("x-vercel-internal-oidc-token", "tok")
        .header("x-kept", "1")
        .body(empty_body())
        .unwrap();
    let json = call(&instance, spoofed).await.json();
    let names = json["names"].as_array().unwrap();
    let raw = json["raw"].as_array().unwrap();
    for list in [names, raw] {
        assert!(
            list.iter()
                .all(|n| !n.as_str().unwrap_or("").starts_with("x-vercel-internal-")),
            "{json}"
        );
        assert!(list.iter().any(|n| n == "x-kept"), "{json}");
    }
    assert_eq!(json["host"], "app.example");
    // A client cannot smuggle platform headers: eddy drops them before adding its own (which
    // the launcher strips in turn).
    assert_eq!(json["oidc"], serde_json::Value::Null);
}
