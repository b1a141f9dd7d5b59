//! The three entry shapes see the request Vercel's runtime gives them and answer with any
//! status, headers and bytes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use eddy_runtime::{BoxError, full_body};
use http_body::Frame;

use crate::harness::{Project, call, get, python_available, request, spawn};

const HANDLER: &str = r#"
from http.server import BaseHTTPRequestHandler
import json, os


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        data = bytes(range(256)) if "binary" in self.path else json.dumps({
            "path": self.path,
            "dup": self.headers.get_all("x-dup"),
            "host": self.headers.get("host"),
            "internal": [k for k in self.headers.keys() if k.lower().startswith("x-vercel-internal")],
            "env": os.environ.get("EDDY_TEST_VAR"),
            "cwd": os.getcwd(),
        }).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        data = self.rfile.read(int(self.headers["content-length"]))
        self.send_response(202)
        self.end_headers()
        self.wfile.write(data[::-1])
"#;

#[tokio::test]
async fn a_base_http_request_handler_sees_the_raw_path_and_duplicate_headers() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/index.py", HANDLER);
    let instance = spawn(&project, "shapes-handler", "api/index.py").await;
    let reply = call(
        &instance,
        request("GET", "/api/index?x=1&y=%C3%A9")
            .header("x-dup", "one")
            .header("x-dup", "two")
            .body(eddy_runtime::empty_body())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["path"], "/api/index?x=1&y=%C3%A9");
    assert_eq!(json["dup"], serde_json::json!(["one", "two"]));
    assert_eq!(
        json["host"], "app.example",
        "host comes from x-forwarded-host"
    );
    assert_eq!(json["internal"], serde_json::json!([]));
    assert_eq!(json["env"], "from spec");
    assert_eq!(
        json["cwd"].as_str().map(std::path::PathBuf::from),
        Some(project.dir.path().canonicalize().unwrap())
    );
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn binary_bodies_round_trip_byte_for_byte() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/index.py", HANDLER);
    let instance = spawn(&project, "shapes-binary", "api/index.py").await;
    let reply = call(&instance, get("/api/index?binary")).await;
    assert_eq!(reply.body, Bytes::from((0..=255u8).collect::<Vec<_>>()));
    let upload: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let reply = call(
        &instance,
        request("PUT", "/api/index")
            .body(full_body(upload.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 202);
    assert_eq!(
        reply.body.to_vec(),
        upload.into_iter().rev().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_missing_do_method_answers_501() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file("api/index.py", HANDLER);
    let instance = spawn(&project, "shapes-501", "api/index.py").await;
    let reply = call(
        &instance,
        request("DELETE", "/api/index")
            .body(eddy_runtime::empty_body())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 501);
    assert!(reply.text().contains("Unsupported method ('DELETE')"));
}

#[tokio::test]
async fn a_wsgi_app_gets_pep_3333_environ_and_a_chunked_upload_in_full() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/wsgi.py",
        r#"
import json

def application(environ, start_response):
    body = environ["wsgi.input"].read()
    keys = ["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH", "CONTENT_TYPE",
            "SERVER_NAME", "wsgi.url_scheme", "HTTP_COOKIE", "HTTP_X_DUP", "SCRIPT_NAME"]
    out = {k: environ.get(k) for k in keys}
    out["body"] = body.decode("utf-8")
    out["internal"] = [k for k in environ if k.startswith("HTTP_X_VERCEL_INTERNAL")]
    start_response("200 OK", [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    return [json.dumps(out).encode()]
"#,
    );
    let instance = spawn(&project, "shapes-wsgi", "api/wsgi.py").await;
    // A body of unknown length goes to the instance chunked.
    let body = Chunks(["hé", "llo ", "wörld"].map(Bytes::from).into());
    let request = request("POST", "/api/w%C3%A9si?a=1&a=2")
        .header("content-type", "text/plain")
        .header("cookie", "x=1")
        .header("cookie", "y=2")
        .header("x-dup", "one")
        .header("x-dup", "two")
        .body(http_body_util::BodyExt::boxed_unsync(body))
        .unwrap();
    let reply = call(&instance, request).await;
    let json = reply.json();
    assert_eq!(json["REQUEST_METHOD"], "POST");
    // PATH_INFO is decoded, as bytes read as latin-1 (PEP 3333).
    assert_eq!(json["PATH_INFO"], "/api/w\u{c3}\u{a9}si");
    assert_eq!(json["QUERY_STRING"], "a=1&a=2");
    assert_eq!(json["body"], "héllo wörld");
    assert_eq!(json["CONTENT_LENGTH"], "13");
    assert_eq!(json["CONTENT_TYPE"], "text/plain");
    assert_eq!(json["SERVER_NAME"], "app.example");
    assert_eq!(json["wsgi.url_scheme"], "https");
    assert_eq!(json["HTTP_COOKIE"], "x=1; y=2");
    assert_eq!(json["HTTP_X_DUP"], "one,two");
    assert_eq!(json["SCRIPT_NAME"], "");
    assert_eq!(json["internal"], serde_json::json!([]));
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn an_asgi_app_runs_its_lifespan_startup_before_the_first_request() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/asgi.py",
        r#"
import json

class App:
    def __init__(self):
        self.ready = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.ready = True
                    scope["state"]["db"] = "connected"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        message = await receive()
        body = json.dumps({
            "ready": self.ready,
            "state": scope["state"].get("db"),
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "scheme": scope["scheme"],
            "body": message["body"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"] if k.startswith(b"x-")],
        }).encode()
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]})
        await send({"type": "http.response.body", "body": body})

app = App()
"#,
    );
    let instance = spawn(&project, "shapes-asgi", "api/asgi.py").await;
    let reply = call(
        &instance,
        request("POST", "/api/a%20b?q=1")
            .header("x-dup", "one")
            .header("x-dup", "two")
            .body(full_body("payload"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 201);
    let json = reply.json();
    assert_eq!(json["ready"], true);
    assert_eq!(json["state"], "connected");
    assert_eq!(json["path"], "/api/a b");
    assert_eq!(json["raw_path"], "/api/a%20b");
    assert_eq!(json["query"], "q=1");
    assert_eq!(json["scheme"], "https");
    assert_eq!(json["body"], "payload");
    let headers = json["headers"].as_array().unwrap();
    assert!(headers.contains(&serde_json::json!(["x-dup", "one"])));
    assert!(headers.contains(&serde_json::json!(["x-dup", "two"])));
    assert!(
        headers
            .iter()
            .all(|h| !h[0].as_str().unwrap().starts_with("x-vercel-internal")),
        "{headers:?}"
    );
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn an_object_with_an_asgi_attribute_is_served_through_it() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/wrapped.py",
        r#"
class Framework:
    def __call__(self, environ, start_response):
        raise AssertionError("served as WSGI")

    async def asgi(self, scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"via .asgi"})

app = Framework()
"#,
    );
    let instance = spawn(&project, "shapes-asgi-attr", "api/wrapped.py").await;
    assert_eq!(
        call(&instance, get("/api/wrapped")).await.text(),
        "via .asgi"
    );
}

/// A request body of chunks with no declared length.
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}
