//! Prints the Edge runtime's cold start (new isolate to first response byte, server side) and
//! warm throughput of one isolate, for a hello-world handler. A measurement, not a test:
//! `cargo run --release -p eddy-runtime-edge --example cold_start`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::{Instance, InstanceId, InstanceSpec, Invocation, InvocationId, Runtime};
use eddy_runtime_edge::{EdgeOptions, EdgeRuntime};

const HELLO: &str = "var __eddy_edge = { default: () => new Response('hello') };";

fn request() -> http::Request<eddy_runtime::Body> {
    http::Request::builder()
        .uri("/")
        .header("host", "bench.test")
        .body(eddy_runtime::empty_body())
        .expect("valid request")
}

async fn first_byte(instance: &Arc<dyn Instance>) -> Duration {
    let started = Instant::now();
    let invocation = Invocation {
        id: InvocationId::random(),
        request_id: "bench".into(),
        request: request(),
    };
    instance.invoke(invocation).await.expect("responds");
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.js"), HELLO).expect("write");
    let spec = Arc::new(InstanceSpec {
        function: "api/hello".into(),
        runtime: "edge".into(),
        root: dir.path().to_path_buf(),
        handler: "hello.js".into(),
        source: dir.path().join("hello.js"),
        env: Default::default(),
        memory_mb: 128,
        max_duration: Duration::from_secs(25),
        options: serde_json::Value::Null,
    });
    let runtime = EdgeRuntime::new(EdgeOptions::default());
    // Warm the bytecode cache and the prelude once, as a running eddy has.
    let warm = runtime
        .spawn(spec.clone(), InstanceId(0))
        .await
        .expect("spawns");
    warm.kill();

    let mut colds = Vec::new();
    for i in 1..=200 {
        let started = Instant::now();
        let instance = runtime
            .spawn(spec.clone(), InstanceId(i))
            .await
            .expect("spawns");
        first_byte(&instance).await;
        colds.push(started.elapsed());
        instance.kill();
    }
    colds.sort();
    println!(
        "cold start (spawn to first byte, server side): p50 {:?}  p90 {:?}  p99 {:?}",
        percentile(&colds, 0.5),
        percentile(&colds, 0.9),
        percentile(&colds, 0.99)
    );

    let instance = runtime.spawn(spec, InstanceId(1000)).await.expect("spawns");
    let started = Instant::now();
    let total = 20_000;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let instance = instance.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..total / 8 {
                first_byte(&instance).await;
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("warm: {rate:.0} invocations/s on one isolate (8 concurrent callers, in process)");
}
