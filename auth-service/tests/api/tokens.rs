//! Access-token verification: only genuine, current EdDSA tokens of a live session pass.
use crate::{
    helpers::{spawn_app, spawn_app_with, unique_email},
    pki::Caller,
};
use auth_service::configuration::LOCAL_JWT_KEYS;
use auth_service::proto::shop::auth::v1::{auth_service_client::AuthServiceClient, TokenClaims, VerifyTokenRequest};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};
use tonic_types::StatusExt;

const PASSWORD: &str = "correct horse battery";
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/// A second key, for rotation and for tokens signed by a stranger.
const OTHER_SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

fn local_seed() -> &'static str {
    LOCAL_JWT_KEYS.split_once(':').unwrap().1
}

fn ed_key(seed: &str) -> EncodingKey {
    let seed = URL_SAFE_NO_PAD.decode(seed).unwrap();
    EncodingKey::from_ed_der(&[PKCS8_ED25519_PREFIX.as_slice(), &seed].concat())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Signs `claims` with the given key as `kid`, like the service would.
fn forge(kid: &str, seed: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &ed_key(seed)).unwrap()
}

/// Claims copied from a genuine token, so only the field under test differs.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The session check the services make: `VerifyToken` as cart-service. The claims of an active
/// token; `None` for one auth refuses as INVALID_TOKEN (bad, expired, or of an ended session).
async fn verify(app: &crate::helpers::TestApp, token: &str) -> Option<TokenClaims> {
    let mut client = AuthServiceClient::new(app.grpc_channel_as(Caller::Workload("cart-service")).await);
    match client.verify_token(VerifyTokenRequest { access_token: token.to_owned() }).await {
        Ok(response) => Some(response.into_inner().claims.expect("an accepted token comes with its claims")),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
            assert_eq!(status.get_details_error_info().unwrap().reason, "INVALID_TOKEN", "{status:?}");
            None
        }
    }
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_signs_tokens() {
    let app = spawn_app().await;
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "local-1");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert!(jwks["keys"][0].get("d").is_none(), "private material in the JWKS");
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let header = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some("local-1"));
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    for claim in ["sub", "jti", "roles", "iss", "aud", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "{claim} missing from {claims}");
    }
}

#[tokio::test]
async fn forged_altered_and_stale_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let genuine = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_with_token("/v1/auth/me", &genuine).await.status(), 200);
    let claims = claims_of(&genuine);
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };

    let (header, _, signature) = {
        let mut parts = genuine.split('.');
        (parts.next().unwrap().to_owned(), parts.next().unwrap(), parts.next().unwrap().to_owned())
    };
    let admin_payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&with("roles", json!(["customer", "admin"]))).unwrap());
    let tampered = format!("{header}.{admin_payload}.{signature}");

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"local-1"}"#);
    let alg_none = format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()));

    // HS256 "signed" with the public key, the classic algorithm-confusion attack.
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let public = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("local-1".into());
    let hs256 = encode(&hs_header, &claims, &EncodingKey::from_secret(&public)).unwrap();

    let cases = [
        ("tampered payload", tampered),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("expired", forge("local-1", local_seed(), &with("exp", json!(now() - 60)))),
        ("not yet valid", forge("local-1", local_seed(), &with("nbf", json!(now() + 600)))),
        ("unknown kid", forge("stranger", OTHER_SEED, &claims)),
        ("known kid, wrong key", forge("local-1", OTHER_SEED, &claims)),
        ("wrong issuer", forge("local-1", local_seed(), &with("iss", json!("evil")))),
        ("wrong audience", forge("local-1", local_seed(), &with("aud", json!("another-app")))),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (case, token) in cases {
        let response = app.get_with_token("/v1/auth/me", &token).await;
        assert_eq!(response.status(), 401, "{case} was accepted");
        assert!(verify(&app, &token).await.is_none(), "{case} was accepted by VerifyToken");
    }
}

#[tokio::test]
async fn verify_token_accepts_a_live_session_and_honours_logout() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();

    let claims = verify(&app, access).await.expect("a fresh token is active");
    assert_eq!(claims.sub, claims_of(access)["sub"]);
    assert_eq!(claims.roles, [auth_service::proto::shop::auth::v1::Role::Customer as i32]);
    assert!(claims.expires_at.unwrap().seconds > now() as i64);

    app.post_json("/v1/auth/logout", &json!({ "refresh_token": tokens["refresh_token"] })).await;
    assert!(verify(&app, access).await.is_none(), "a logged-out session's token is still active");
}

/// RFC 7662's REST introspection is gone: what it answered is the services' (gRPC, mutual TLS),
/// and a client holding only a token learns nothing from auth's REST port.
#[tokio::test]
async fn there_is_no_rest_introspection_to_ask() {
    let app = spawn_app().await;
    let access = app.signed_in(&unique_email(), PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/v1/auth/introspect", app.address);
    let answer = app.client.post(url).form(&[("token", access.as_str())]).send().await.unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test]
async fn a_rotated_in_key_signs_while_the_previous_one_still_verifies() {
    // Before rotation: tokens signed with local-1.
    let old_app = spawn_app().await;
    let email = unique_email();
    let old_token = old_app.signed_in(&email, PASSWORD).await["access_token"].as_str().unwrap().to_owned();

    // After rotation, on the same database: new-2 signs, local-1 still verifies.
    let database_url = old_app.database_url.clone();
    let app = spawn_app_with(|s| {
        s.database.url = SecretString::from(database_url);
        s.tokens.signing_keys = SecretString::from(format!("new-2:{OTHER_SEED},{LOCAL_JWT_KEYS}"));
    })
    .await;
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let kids: Vec<_> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["new-2", "local-1"]);
    assert_eq!(app.get_with_token("/v1/auth/me", &old_token).await.status(), 200);
    let new_token =
        app.login(&email, PASSWORD).await.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some("new-2"));
    assert_eq!(app.get_with_token("/v1/auth/me", &new_token).await.status(), 200);
}

#[tokio::test]
async fn a_token_whose_session_belongs_to_another_user_is_refused() {
    let app = spawn_app().await;
    let alice = claims_of(app.signed_in(&unique_email(), PASSWORD).await["access_token"].as_str().unwrap());
    let bob = app.signed_in(&unique_email(), PASSWORD).await;
    let bob_token = bob["access_token"].as_str().unwrap();
    assert!(verify(&app, bob_token).await.is_some());
    // Bob's claims with Alice's live session: signed by the real key, so only the binding of
    // `sid` to `sub` can refuse it.
    let mut crossed = claims_of(bob_token);
    crossed["sid"] = alice["sid"].clone();
    let crossed = forge("local-1", local_seed(), &crossed);
    assert_eq!(app.get_with_token("/v1/auth/me", &crossed).await.status(), 401);
    assert!(verify(&app, &crossed).await.is_none(), "a crossed session was accepted");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    use std::time::{Duration, Instant};
    const LIFETIME: Duration = Duration::from_secs(6);
    let app = spawn_app_with(|s| s.tokens.session_max_lifetime = LIFETIME).await;
    // The session's clock starts at its login, which ends before this: every deadline below is
    // measured from here, with 2 s to spare either side (a loaded CI machine once took a refresh
    // at a fixed 1 s sleep past a 3 s lifetime).
    let mut tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let logged_in = Instant::now();
    for at in [Duration::from_secs(2), Duration::from_secs(4) - Duration::from_millis(500)] {
        tokio::time::sleep_until((logged_in + at).into()).await;
        let refreshed = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": tokens["refresh_token"] })).await;
        assert_eq!(refreshed.status(), 200, "refreshed {:?} after login", logged_in.elapsed());
        tokens = refreshed.json().await.unwrap();
    }
    tokio::time::sleep_until((logged_in + LIFETIME + Duration::from_millis(500)).into()).await;
    let late = app.post_json("/v1/auth/refresh", &json!({ "refresh_token": tokens["refresh_token"] })).await;
    assert_eq!(late.status(), 401, "the session outlived its lifetime through rotation");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(verify(&app, access).await.is_none(), "the session outlived its lifetime");
}
