//! Tests of the real binary: configuration errors, structured logs carrying the caller's
//! trace id, and graceful shutdown on SIGTERM.
use crate::helpers::{create_database, kafka_brokers};
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");

fn command() -> Command {
    let mut command = Command::new(BIN);
    // Only what the test sets: no AUTH_* leaking in from the developer's shell.
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn a_malformed_variable_stops_start_up_with_one_line_naming_it_and_exit_code_1() {
    let output = command().env("AUTH_HTTP_PORT", "eighty").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AUTH_HTTP_PORT"), "{stderr}");
}

#[test]
fn a_missing_tls_identity_stops_start_up_naming_the_folder() {
    let output = command().env("AUTH_TLS_DIR", "/nonexistent/tls").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("TLS identity in /nonexistent/tls"), "{stderr}");
}

#[tokio::test]
async fn logs_are_json_with_the_callers_trace_id_and_sigterm_exits_0() {
    let database_url = create_database().await;
    let mut child = command()
        .env("AUTH_HTTP_PORT", "0")
        .env("AUTH_GRPC_PORT", "0")
        .env("AUTH_TLS_DIR", crate::pki::PKI.dir("auth-service"))
        .env("AUTH_DATABASE_URL", &database_url)
        .env("AUTH_KAFKA_BROKERS", kafka_brokers())
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

#[tokio::test]
async fn create_admin_makes_an_account_with_the_admin_role() {
    use std::io::Write;
    let database_url = create_database().await;
    let email = crate::helpers::unique_email();
    let mut child = command()
        .args(["create-admin", &email])
        .env("AUTH_DATABASE_URL", &database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"admin password 1\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.lines().any(|l| uuid::Uuid::parse_str(l.trim()).is_ok()), "{stdout}");
    assert!(
        !stdout.contains("admin password 1") && !String::from_utf8_lossy(&output.stderr).contains("admin password 1")
    );

    let app = crate::helpers::spawn_app_with(|s| s.database.url = secrecy::SecretString::from(database_url)).await;
    let tokens: serde_json::Value = app.login(&email, "admin password 1").await.json().await.unwrap();
    let me: serde_json::Value =
        app.get_with_token("/v1/auth/me", tokens["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["customer", "admin"]));
}

/// `create-admin` for an account that exists: the right password adds the admin role and
/// forgives the attempt, in one transaction; a wrong one adds nothing and is counted.
#[tokio::test]
async fn create_admin_gives_an_existing_account_the_admin_role_for_its_password() {
    use std::io::Write;
    let app = crate::helpers::spawn_app().await;
    let email = crate::helpers::unique_email();
    assert_eq!(app.signup(&email, "customer password 1").await.status(), 201);
    let create_admin = |password: &'static [u8]| {
        let mut child = command()
            .args(["create-admin", &email])
            .env("AUTH_DATABASE_URL", &app.database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password).unwrap();
        child.wait_with_output().unwrap().status.success()
    };
    let roles = || async {
        let tokens: serde_json::Value = app.login(&email, "customer password 1").await.json().await.unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let me: serde_json::Value = app.get_with_token("/v1/auth/me", &token).await.json().await.unwrap();
        me["roles"].clone()
    };
    // The account's own throttle key (the command has no client address): counted by a wrong
    // password, cleared by the right one with the role.
    let counted = "SELECT count(*)::bigint AS n FROM login_throttle WHERE throttle_key LIKE 'login:%' AND failures > 0";
    assert!(!create_admin(b"not the password 1\n"));
    assert_eq!(crate::helpers::count(&app.database_url, counted).await, 1);
    assert_eq!(roles().await, serde_json::json!(["customer"]));
    assert!(!create_admin(b"not the password 1\n"));
    assert!(create_admin(b"customer password 1\n"));
    assert_eq!(crate::helpers::count(&app.database_url, counted).await, 0);
    assert_eq!(roles().await, serde_json::json!(["customer", "admin"]));
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
