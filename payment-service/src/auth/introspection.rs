//! auth's token introspection (RFC 7662): the online check that a token's session is still
//! active, so that a token of a session the user logged out of (or that auth revoked) is
//! refused here although it has not expired. The call carries the request's trace context.
use crate::telemetry;
use anyhow::Context;
use serde::Deserialize;
use std::time::Duration;

pub struct Introspection {
    client: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
}

impl Introspection {
    pub fn new(url: String, timeout: Duration) -> anyhow::Result<Self> {
        let client =
            reqwest::Client::builder().timeout(timeout).build().context("building the introspection client")?;
        Ok(Self { client, url })
    }

    /// Whether auth still considers the token active. An error means auth could not say.
    pub async fn is_active(&self, token: &str) -> anyhow::Result<bool> {
        let mut headers = reqwest::header::HeaderMap::new();
        telemetry::inject_current(&mut HeaderCarrier(&mut headers));
        let response = self
            .client
            .post(&self.url)
            .headers(headers)
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .context("asking auth to introspect the token")?;
        anyhow::ensure!(response.status().is_success(), "auth's introspection answered {}", response.status());
        Ok(response.json::<Answer>().await.context("reading auth's introspection answer")?.active)
    }
}

struct HeaderCarrier<'a>(&'a mut reqwest::header::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (reqwest::header::HeaderName::from_bytes(key.as_bytes()), reqwest::header::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}
