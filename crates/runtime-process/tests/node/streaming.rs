//! Responses stream chunk by chunk; one instance serves many requests at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::{Project, arrivals, call, get, node_available, spawn};

fn assert_streamed(seen: &[(Duration, String)]) {
    let text: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "one\ntwo\n", "{seen:?}");
    let first = seen
        .iter()
        .find(|(_, t)| t.contains("one"))
        .map(|(at, _)| *at);
    let second = seen
        .iter()
        .find(|(_, t)| t.contains("two"))
        .map(|(at, _)| *at);
    let (Some(first), Some(second)) = (first, second) else {
        panic!("chunks missing: {seen:?}");
    };
    // The handler waits 600 ms between its writes; buffering would deliver both at once.
    assert!(second - first >= Duration::from_millis(300), "{seen:?}");
}

#[tokio::test]
async fn res_write_chunks_arrive_as_they_are_written() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/stream.js",
        r#"
module.exports = async (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.write('one\n');
  await new Promise((r) => setTimeout(r, 600));
  res.end('two\n');
};
"#,
    );
    let instance = spawn(&project, "stream-node", "api/stream.js").await;
    assert_streamed(&arrivals(&instance, "/api/stream").await);
}

#[tokio::test]
async fn web_response_streams_arrive_as_they_are_enqueued() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/stream.mjs",
        r#"
export function GET() {
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async start(controller) {
      controller.enqueue(encoder.encode('one\n'));
      await new Promise((r) => setTimeout(r, 600));
      controller.enqueue(encoder.encode('two\n'));
      controller.close();
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' } });
}
"#,
    );
    let instance = spawn(&project, "stream-web", "api/stream.mjs").await;
    assert_streamed(&arrivals(&instance, "/api/stream").await);
}

#[tokio::test]
async fn one_instance_serves_many_requests_concurrently() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/slow.js",
        "module.exports = async (req, res) => { await new Promise((r) => setTimeout(r, 500)); res.send(`${process.pid} ${req.socket.remotePort}`); };",
    );
    let instance = spawn(&project, "stream-concurrent", "api/slow.js").await;
    let started = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let instance = instance.clone();
            tokio::spawn(async move { call(&instance, get("/api/slow")).await.text() })
        })
        .collect();
    let mut pids = HashSet::new();
    let mut connections = HashSet::new();
    for handle in calls {
        let text = handle.await.unwrap();
        let (pid, port) = text.split_once(' ').unwrap();
        pids.insert(pid.to_string());
        connections.insert(port.to_string());
    }
    let took = started.elapsed();
    assert_eq!(pids.len(), 1, "one process served all");
    assert_eq!(
        connections.len(),
        20,
        "each concurrent request had its own connection"
    );
    // Serially this would take 10 s.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}
