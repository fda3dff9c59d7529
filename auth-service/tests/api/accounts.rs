//! Sign-up, login, refresh, logout, me: success paths and every documented error.
use crate::helpers::{count, spawn_app, spawn_app_with, unique_email};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn signup_creates_an_account_with_a_normalised_email() {
    let app = spawn_app().await;
    let local = format!("Ada.{}", uuid::Uuid::now_v7().simple());
    let response = app.signup(&format!("  {local}@Example.COM "), PASSWORD).await;
    assert_eq!(response.status(), 201);
    let user_id = response.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_owned();

    let tokens = app.login(&format!("{local}@example.com"), PASSWORD).await.json::<Value>().await.unwrap();
    let me: Value =
        app.get_with_token("/v1/auth/me", tokens["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["email"], format!("{local}@example.com"));
    assert_eq!(me["roles"], json!(["customer"]));
}

#[tokio::test]
async fn a_duplicate_email_in_any_case_is_409_email_taken() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    assert_eq!(error_code(app.signup(&email.to_uppercase(), PASSWORD).await).await, (409, "email_taken".into()));
}

#[tokio::test]
async fn invalid_signups_are_400_invalid_request_naming_the_field() {
    let app = spawn_app().await;
    let email = unique_email();
    for (body, field) in [
        (json!({ "email": "not-an-address", "password": PASSWORD }), "email"),
        (json!({ "email": email, "password": "short" }), "password"),
        (json!({ "email": email, "password": "x".repeat(129) }), "password"),
        (json!({ "email": email, "password": email }), "password"),
    ] {
        let response = app.post_json("/v1/auth/signup", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
}

#[tokio::test]
async fn login_returns_a_bearer_token_pair() {
    let app = spawn_app().await;
    let email = unique_email();
    let tokens = app.signed_in(&email, PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["access_token"].as_str().unwrap().split('.').count(), 3);
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);

    let wrong_password = app.login(&email, "not the password").await;
    let unknown_email = app.login(&unique_email(), PASSWORD).await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let (a, b) = (wrong_password.bytes().await.unwrap(), unknown_email.bytes().await.unwrap());
    assert_eq!(a, b);
    assert!(String::from_utf8_lossy(&a).contains("invalid_credentials"));
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_spends_the_old_token() {
    let app = spawn_app().await;
    let first = app.signed_in(&unique_email(), PASSWORD).await;
    let refreshed = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": first["refresh_token"] })).await;
    assert_eq!(refreshed.status(), 200);
    let second: Value = refreshed.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(app.get_with_token("/v1/auth/me", second["access_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let stolen = app.signed_in(&unique_email(), PASSWORD).await;
    // The victim refreshes first; the attacker then replays the stolen (now spent) token.
    let victim: Value = app
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": stolen["refresh_token"] }))
        .await
        .json()
        .await
        .unwrap();
    let replay = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": stolen["refresh_token"] })).await;
    assert_eq!(error_code(replay).await, (401, "refresh_token_reused".into()));

    // The victim's newer token is dead too, and so are the family's access tokens.
    let victim_refresh = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": victim["refresh_token"] })).await;
    assert_eq!(error_code(victim_refresh).await, (401, "invalid_refresh_token".into()));
    let me = app.get_with_token("/v1/auth/me", victim["access_token"].as_str().unwrap()).await;
    assert_eq!(error_code(me).await, (401, "invalid_token".into()));
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let response = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": "not-a-token" })).await;
    assert_eq!(error_code(response).await, (401, "invalid_refresh_token".into()));
}

#[tokio::test]
async fn logout_revokes_the_session_by_refresh_token_or_bearer() {
    let app = spawn_app().await;
    let email = unique_email();
    let tokens = app.signed_in(&email, PASSWORD).await;
    let response = app.post_json("/v1/auth/logout", &json!({ "refresh_token": tokens["refresh_token"] })).await;
    assert_eq!(response.status(), 204);
    let refresh = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": tokens["refresh_token"] })).await;
    assert_eq!(refresh.status(), 401);
    assert_eq!(app.get_with_token("/v1/auth/me", tokens["access_token"].as_str().unwrap()).await.status(), 401);

    let second: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let access = second["access_token"].as_str().unwrap();
    let response = app.client.post(format!("{}/v1/auth/logout", app.address)).bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.get_with_token("/v1/auth/me", access).await.status(), 401);

    let anonymous = app.client.post(format!("{}/v1/auth/logout", app.address)).send().await.unwrap();
    assert_eq!(error_code(anonymous).await, (401, "missing_token".into()));
}

#[tokio::test]
async fn me_needs_a_bearer_token() {
    let app = spawn_app().await;
    let response = app.get("/v1/auth/me").await;
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(error_code(response).await, (401, "missing_token".into()));
    let response =
        app.client.get(format!("{}/v1/auth/me", app.address)).header("Authorization", "Basic abc").send().await;
    assert_eq!(error_code(response.unwrap()).await, (401, "invalid_token".into()));
}

#[tokio::test]
async fn a_hundred_concurrent_signups_of_one_email_create_exactly_one_account() {
    let app = spawn_app().await;
    let email = unique_email();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let request = app
            .client
            .post(format!("{}/v1/auth/signup", app.address))
            .json(&json!({ "email": email, "password": PASSWORD }));
        attempts.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = attempts.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 99, "{statuses:?}");
    let sql = format!("SELECT count(*)::bigint AS n FROM users WHERE lower(email) = '{}'", email.to_lowercase());
    assert_eq!(count(&app.database_url, &sql).await, 1);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.login.max_failures = 3;
        s.login.lockout_base = Duration::from_secs(2);
    })
    .await;
    let email = unique_email();
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    // 401: the password was checked and is wrong; 429: it was not checked at all.
    for _ in 0..3 {
        assert_eq!(app.login(&email, "wrong password").await.status(), 401);
    }
    let locked = app.login(&email, "wrong password").await;
    assert_eq!(locked.status(), 429);
    assert_eq!(locked.headers()["retry-after"], "2");
    // Even the right password is refused while locked...
    let refused = app.login(&email, PASSWORD).await;
    assert_eq!(error_code(refused).await, (429, "too_many_attempts".into()));
    // ...and accepted once the delay has passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn malformed_bodies_get_4xx_with_a_code_never_500() {
    let app = spawn_app().await;
    let url = format!("{}/v1/auth/signup", app.address);
    let cases = [
        (app.client.post(&url).header("content-type", "application/json").body("{not json"), 400, "invalid_request"),
        (app.client.post(&url).json(&json!({ "email": "a@example.com" })), 400, "invalid_request"),
        (app.client.post(&url).json(&json!({ "email": 5, "password": [] })), 400, "invalid_request"),
        (app.client.post(&url).header("content-type", "text/plain").body("{}"), 415, "unsupported_media_type"),
        (
            app.client.post(&url).json(&json!({ "email": "a@example.com", "password": "x".repeat(70_000) })),
            413,
            "payload_too_large",
        ),
    ];
    for (request, status, code) in cases {
        assert_eq!(error_code(request.send().await.unwrap()).await, (status, code.into()));
    }
    let logout = format!("{}/v1/auth/logout", app.address);
    let huge = app.client.post(&logout).json(&json!({ "refresh_token": "x".repeat(70_000) })).send().await.unwrap();
    assert_eq!(error_code(huge).await, (413, "payload_too_large".into()));
    let broken =
        app.client.post(&logout).header("content-type", "application/json").body("{oops").send().await.unwrap();
    assert_eq!(error_code(broken).await, (400, "invalid_request".into()));
    // PostgreSQL refuses NUL in text: a login with one is a wrong login, not a failed query.
    let login =
        app.post_json("/v1/auth/login", &json!({ "email": "a\u{0}b@example.com", "password": "whatever" })).await;
    assert_eq!(error_code(login).await, (401, "invalid_credentials".into()));
    let signup =
        app.post_json("/v1/auth/signup", &json!({ "email": "a@exa\u{0}mple.com", "password": PASSWORD })).await;
    assert_eq!(error_code(signup).await.0, 400);
}

#[tokio::test]
async fn the_throttle_is_shared_by_replicas_on_one_database() {
    let strict = |s: &mut auth_service::configuration::Settings| {
        s.login.max_failures = 2;
        s.login.lockout_base = Duration::from_secs(30);
    };
    let first = spawn_app_with(strict).await;
    let database_url = first.database_url.clone();
    let second = spawn_app_with(|s| {
        strict(s);
        s.database.url = secrecy::SecretString::from(database_url);
    })
    .await;
    let email = unique_email();
    assert_eq!(first.signup(&email, PASSWORD).await.status(), 201);
    assert_eq!(first.login(&email, "wrong password").await.status(), 401);
    assert_eq!(second.login(&email, "wrong password").await.status(), 401);
    assert_eq!(first.login(&email, PASSWORD).await.status(), 429);
    assert_eq!(second.login(&email, PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn a_database_outage_is_503_unavailable_with_retry_after() {
    let port = crate::helpers::closed_port();
    let app = spawn_app_with(|s| {
        s.database.url = secrecy::SecretString::from(format!("postgres://auth:auth@127.0.0.1:{port}/auth"));
    })
    .await;
    let response = app.signup(&unique_email(), PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, code) = error_code(response).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    let body = app.login(&unique_email(), PASSWORD).await.text().await.unwrap();
    assert!(!body.contains("127.0.0.1") && !body.contains("postgres"), "internal detail in {body}");
}

#[tokio::test]
async fn logout_with_an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let response = app.post_json("/v1/auth/logout", &json!({ "refresh_token": "never-issued" })).await;
    assert_eq!(error_code(response).await, (401, "invalid_refresh_token".into()));
}

/// A hash made with older parameters is replaced at the next right password, in the login's
/// own transaction, and the new one verifies: the next login works.
#[tokio::test]
async fn a_login_replaces_a_hash_of_older_parameters() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher as _, SaltString};
    use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let weak = argon2::Params::new(4096, 1, 1, None).unwrap();
    let old = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, weak)
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let mut conn = diesel_async::AsyncPgConnection::establish(&app.database_url).await.unwrap();
    diesel::sql_query("UPDATE users SET password_hash = $1 WHERE email = $2")
        .bind::<diesel::sql_types::Text, _>(&old)
        .bind::<diesel::sql_types::Text, _>(&email)
        .execute(&mut conn)
        .await
        .unwrap();

    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    let current = "$argon2id$v=19$m=19456,t=2,p=1$";
    let rehashed =
        format!("SELECT count(*)::bigint AS n FROM users WHERE email = '{email}' AND password_hash LIKE '{current}%'");
    assert_eq!(count(&app.database_url, &rehashed).await, 1);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    assert_eq!(app.login(&email, "wrong horse battery").await.status(), 401);
}
