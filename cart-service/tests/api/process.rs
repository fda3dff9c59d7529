//! Tests of the real binary: configuration errors, structured logs carrying the caller's
//! trace id, and graceful shutdown on SIGTERM.
use crate::helpers::{kafka_brokers, redis_url};
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_cart-service");

fn command() -> Command {
    let mut command = Command::new(BIN);
    // Only what the test sets: no CART_* leaking in from the developer's shell.
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn a_malformed_variable_stops_start_up_with_one_line_naming_it_and_exit_code_1() {
    let output = command().env("CART_HTTP_PORT", "eighty").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CART_HTTP_PORT"), "{stderr}");
}

#[test]
fn a_missing_tls_identity_stops_start_up_naming_the_folder() {
    let output = command().env("CART_TLS_DIR", "/nonexistent/tls").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("TLS identity in /nonexistent/tls"), "{stderr}");
}

#[tokio::test]
async fn logs_are_json_with_the_callers_trace_id_and_sigterm_exits_0() {
    let mut child = command()
        .env("CART_HTTP_PORT", "0")
        .env("CART_REDIS_URL", redis_url())
        .env("CART_KAFKA_BROKERS", kafka_brokers())
        // Plain text to auth, product and payment (never called here): no identity files needed.
        .env("CART_PRODUCT_GRPC_URL", "http://127.0.0.1:50052")
        .env("CART_PAYMENT_GRPC_URL", "http://127.0.0.1:50054")
        .env("CART_AUTH_GRPC_URL", "http://127.0.0.1:50051")
        // Its own consumer group and topics: never a member of a running cart's group.
        .env("CART_KAFKA_GROUP_ID", format!("test-{}", uuid::Uuid::now_v7().simple()))
        .env("CART_KAFKA_PRODUCT_EVENTS_TOPIC", format!("test.{}.product", uuid::Uuid::now_v7().simple()))
        .env("CART_KAFKA_PAYMENT_EVENTS_TOPIC", format!("test.{}.payment", uuid::Uuid::now_v7().simple()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next_json = |wanted: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        loop {
            let line = lines.recv_timeout(Duration::from_secs(20)).expect("a log line");
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            if wanted(&json) {
                return json;
            }
        }
    };

    let listening = next_json(&|j| j["message"] == "listening");
    let http_port = listening["http_port"].as_u64().unwrap();

    let trace_id = "4bf92f3577b34ca9a2f1c6a3f8d2e0b1";
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{http_port}/v1/unknown"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let served = next_json(&|j| j["message"] == "request served");
    assert_eq!(served["span"]["trace_id"], trace_id, "{served}");
    assert_eq!(served["status"], 404);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sleep_pauses_for_the_seconds_given_and_refuses_anything_else() {
    // The chart's preStop hook runs this: the image has no `sleep` program.
    let started = std::time::Instant::now();
    assert!(command().args(["sleep", "1"]).status().unwrap().success());
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    for bad in [&["sleep"][..], &["sleep", "soon"], &["sleep", "-1"], &["sleep", "301"]] {
        let output = command().args(bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("sleep takes"), "{bad:?}");
    }
}
