//! One instance serves many requests at once; output is tagged with its request; the health
//! check and SIGTERM behave as the protocol says.

use std::time::{Duration, Instant};

use crate::harness::{Project, call, call_as, get, log_containing, ruby_available, spawn};

const SLOW: &str = r#"
puts 'booting outside any request'
Handler = Proc.new do |req, res|
  puts "hello from #{req.query['who']}"
  $stderr.puts 'something went wrong'
  warn 'a warning'
  sleep req.query.fetch('ms', '0').to_f / 1000
  res.body = "pid #{Process.pid}"
end
"#;

#[tokio::test]
async fn one_instance_serves_concurrent_requests_at_the_same_time() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/slow.rb", SLOW);
    let instance = spawn(&project, "ruby-concurrent", "api/slow.rb").await;
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let instance = instance.clone();
        calls.spawn(async move { call(&instance, get("/api/slow?ms=700")).await });
    }
    let replies = calls.join_all().await;
    let elapsed = started.elapsed();
    assert_eq!(replies.len(), 20);
    assert!(replies.iter().all(|r| r.status == 200));
    // One process served them all.
    assert!(replies.iter().all(|r| r.text() == replies[0].text()));
    // Served one after another they would take 14 s.
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
}

#[tokio::test]
async fn output_inside_a_request_carries_its_request_id() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/slow.rb", SLOW);
    let instance = spawn(&project, "ruby-logs", "api/slow.rb").await;
    let reply = call_as(&instance, get("/api/slow?who=alice"), "dev1::req-42")
        .await
        .unwrap();
    assert!(reply.text().starts_with("pid "));
    let hello = log_containing("ruby-logs", "hello from alice").await;
    assert_eq!(hello.field("request_id"), Some("dev1::req-42"));
    assert_eq!(hello.field("level"), Some("stdout"));
    let error = log_containing("ruby-logs", "something went wrong").await;
    assert_eq!(
        (error.field("level"), error.field("request_id")),
        (Some("stderr"), Some("dev1::req-42"))
    );
    let warning = log_containing("ruby-logs", "a warning").await;
    assert_eq!(warning.field("request_id"), Some("dev1::req-42"));
    let boot = log_containing("ruby-logs", "booting outside any request").await;
    assert_eq!(boot.field("request_id"), None);
}

#[tokio::test]
async fn answers_the_health_check_without_user_code() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/slow.rb", SLOW);
    let instance = spawn(&project, "ruby-ping", "api/slow.rb").await;
    let reply = call(&instance, get("/_vercel/ping")).await;
    assert_eq!((reply.status.as_u16(), reply.text()), (200, "OK".into()));
    assert!(
        crate::harness::logs_of("ruby-ping")
            .iter()
            .all(|log| !log.message().contains("hello from")),
        "user code ran for the health check"
    );
}

#[tokio::test]
async fn drain_finishes_the_request_in_flight_then_the_process_exits() {
    if !ruby_available() {
        return;
    }
    let project = Project::new();
    project.file("api/slow.rb", SLOW);
    let instance = spawn(&project, "ruby-drain", "api/slow.rb").await;
    let in_flight = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/slow?ms=800")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    instance.drain(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drain waited for the grace period: {:?}",
        started.elapsed()
    );
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        *instance.health().borrow(),
        eddy_runtime::Health::Exited {
            reason: "exited with code 0".into()
        }
    );
}
