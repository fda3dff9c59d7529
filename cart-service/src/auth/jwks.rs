//! auth-service's public keys, fetched from its JWKS endpoint and cached. A token signed with
//! a key id not in the cache triggers one refetch (auth rotated its keys), at most once per
//! `min_refetch_gap` so that tokens with made-up key ids cannot turn into a flood of requests
//! to auth. When auth is unreachable the cached keys go on serving: they are public keys, and
//! a key auth dropped is dropped here at the next successful fetch.
use super::TokenError;
use anyhow::Context;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, RwLock};

/// A JWK Set larger than this is not auth's.
const MAX_JWKS_BYTES: usize = 64 * 1024;

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    /// Keys older than this are refetched on the next use.
    max_age: Duration,
    min_refetch_gap: Duration,
    cache: RwLock<Cached>,
    /// Held while fetching: one fetch at a time; holds when the last one started.
    last_fetch: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Cached {
    keys: Arc<HashMap<String, DecodingKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    x: String,
    #[serde(default)]
    kid: String,
}

impl Jwks {
    pub fn new(url: String, timeout: Duration, max_age: Duration, min_refetch_gap: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(timeout).build().context("building the JWKS HTTP client")?;
        Ok(Self {
            url,
            client,
            max_age,
            min_refetch_gap,
            cache: RwLock::new(Cached::default()),
            last_fetch: Mutex::new(None),
        })
    }

    /// The key `kid` names, fetching auth's keys if they are unknown, missing or old.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        let fresh = {
            let cache = self.cache.read().await;
            if let Some(key) = cache.keys.get(kid) {
                if cache.fetched_at.is_some_and(|at| at.elapsed() < self.max_age) {
                    return Ok(key.clone());
                }
            }
            cache.fetched_at.is_some_and(|at| at.elapsed() < self.min_refetch_gap)
        };
        let failure = if fresh { None } else { self.refetch().await.err() };
        let cache = self.cache.read().await;
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.keys.is_empty() => Err(TokenError::KeysUnavailable(
                failure.unwrap_or_else(|| anyhow::anyhow!("the last fetch of the JWKS failed moments ago")),
            )),
            None => Err(TokenError::UnknownKey),
        }
    }

    /// Fetches the keys unless another caller did within `min_refetch_gap`.
    async fn refetch(&self) -> anyhow::Result<()> {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refetch_gap) {
            // Someone fetched just now (maybe while this caller waited for the lock).
            return Ok(());
        }
        // Stamped once the fetch has ended: a request dropped mid-fetch (its client went
        // away) must not leave a stamp that makes every caller for the next gap skip fetching.
        let fetched = self.fetch().await;
        *last_fetch = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched auth's public keys");
                *self.cache.write().await = Cached { keys: Arc::new(keys), fetched_at: Some(Instant::now()) };
                Ok(())
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "fetching auth's public keys failed; using the cached ones"
                );
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let response = self.client.get(&self.url).send().await.context("requesting the JWKS")?;
        anyhow::ensure!(response.status().is_success(), "the JWKS endpoint answered {}", response.status());
        let body = response.bytes().await.context("reading the JWKS")?;
        anyhow::ensure!(body.len() <= MAX_JWKS_BYTES, "the JWKS is larger than {MAX_JWKS_BYTES} bytes");
        parse(&body)
    }
}

/// The Ed25519 keys of a JWK Set by key id; keys of other types are ignored.
fn parse(body: &[u8]) -> anyhow::Result<HashMap<String, DecodingKey>> {
    let set: JwkSet = serde_json::from_slice(body).context("the JWKS is not a JWK Set")?;
    let mut keys = HashMap::new();
    for jwk in set.keys.into_iter().filter(|k| k.kty == "OKP" && k.crv == "Ed25519" && !k.kid.is_empty()) {
        let key = DecodingKey::from_ed_components(&jwk.x).with_context(|| format!("key {} is malformed", jwk.kid))?;
        keys.insert(jwk.kid, key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWKS endpoint that answers after `delay`, on a port of its own.
    async fn slow_jwks(delay: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    tokio::time::sleep(delay).await;
                    let body = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        url
    }

    /// A request dropped while it fetched the keys (its client went away) must not keep the
    /// next callers from fetching them.
    #[tokio::test]
    async fn a_fetch_abandoned_midway_does_not_hold_back_the_next_one() {
        let url = slow_jwks(Duration::from_millis(300)).await;
        let jwks = Jwks::new(url, Duration::from_secs(2), Duration::from_secs(300), Duration::from_secs(10)).unwrap();
        let abandoned = tokio::time::timeout(Duration::from_millis(50), jwks.key("a")).await;
        assert!(abandoned.is_err(), "the first fetch was still running");
        assert!(jwks.key("a").await.is_ok(), "the next caller fetched the keys");
    }

    #[test]
    fn only_ed25519_keys_with_an_id_are_kept() {
        let body = br#"{"keys":[
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"},
            {"kty":"RSA","n":"xyz","e":"AQAB","kid":"r"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let keys = parse(body).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_set() {
        assert!(parse(b"<html>").is_err());
        assert!(parse(br#"{"nokeys":[]}"#).is_err());
    }
}
