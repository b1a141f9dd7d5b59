//! The sandbox's cold-start cost: spawn to ready of a Python hello, with and without it (a
//! measurement, not a check; run with
//! `cargo test -p eddy-runtime-process --test sandbox cold_start -- --ignored --nocapture`).

use std::time::{Duration, Instant};

use eddy_runtime_process::{ProcessRuntime, PythonConfig, SandboxConfig};

use crate::harness::{Project, must_spawn, spec};
use crate::sandbox_possible;

const STARTS: usize = 20;

async fn starts(runtime: &ProcessRuntime, project: &Project) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..STARTS {
        let started = Instant::now();
        let instance = must_spawn(
            runtime,
            spec(
                project.dir.path(),
                "python3.11",
                "sandbox-cold",
                "api/hello.py",
            ),
        )
        .await;
        times.push(started.elapsed());
        instance.kill();
    }
    times.sort();
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn cold_start_with_and_without_the_sandbox() {
    if !sandbox_possible() {
        return;
    }
    let project = Project::in_target_dir("sandbox-cold-");
    project.file(
        "api/hello.py",
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n",
    );
    let plain = ProcessRuntime::python(PythonConfig::default());
    let sandboxed =
        ProcessRuntime::python(PythonConfig::default()).with_sandbox(SandboxConfig::default());
    // Warm both (launcher assets written, interpreter resolved, page cache).
    starts(&plain, &project).await;
    starts(&sandboxed, &project).await;
    let plain = starts(&plain, &project).await;
    let sandboxed = starts(&sandboxed, &project).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p50 = |times: &[Duration]| ms(times[times.len() / 2]);
    let p90 = |times: &[Duration]| ms(times[times.len() * 9 / 10]);
    println!(
        "python cold start, {STARTS} starts each: unsandboxed p50 {:.1} ms p90 {:.1} ms; sandboxed p50 {:.1} ms p90 {:.1} ms",
        p50(&plain),
        p90(&plain),
        p50(&sandboxed),
        p90(&sandboxed)
    );
}
