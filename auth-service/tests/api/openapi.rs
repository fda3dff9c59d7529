//! The OpenAPI document the service serves is the one kept in the contracts.
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let contracts = std::env::var("CONTRACTS_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts").to_owned());
    let path = format!("{contracts}/openapi/auth-service.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        served == committed,
        "{path} differs from the document the service serves: run `make -C auth-service openapi` and commit it"
    );
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in ["/v1/auth/signup", "/v1/auth/login", "/.well-known/jwks.json"] {
        assert!(document["paths"].get(path).is_some(), "{path} is not documented");
    }
    // Checking a token's session is gRPC VerifyToken, for the platform's services only.
    assert!(document["paths"].get("/v1/auth/introspect").is_none(), "REST introspection is back");
}
