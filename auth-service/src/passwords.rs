//! argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1), off the async
//! runtime on the blocking pool, with a bound on how many run at once so that a login storm
//! queues instead of starving the runtime or exhausting memory.
use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tracing::Span;

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub valid: bool,
    /// The stored hash uses older parameters: store a new hash now that the password is known.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified when the e-mail is unknown so that a login for
    /// a non-existent account costs the same as one with a wrong password.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // Argon2::default() is argon2id v0x13 with m=19456 KiB, t=2, p=1; named here so a change
    // of the crate's default cannot silently change ours.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2()
            .hash_password(dummy.as_str().as_bytes(), &SaltString::generate(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("hashing the dummy password: {e}"))?
            .to_string();
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency)), dummy_hash: dummy_hash.into() })
    }

    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        self.on_blocking_pool(move || {
            argon2()
                .hash_password(password.expose_secret().as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// account (the answer is then always invalid, after the same amount of work).
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> anyhow::Result<Verified> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        self.on_blocking_pool(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("a stored hash is malformed: {e}"))?;
            let valid = argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok() && known;
            let current = argon2();
            let needs_rehash = valid
                && (parsed.algorithm.as_str() != "argon2id"
                    || Params::try_from(&parsed).map_or(true, |p| {
                        let want = current.params();
                        p.m_cost() != want.m_cost() || p.t_cost() != want.t_cost() || p.p_cost() != want.p_cost()
                    }));
            Ok(Verified { valid, needs_rehash })
        })
        .await
    }

    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("the hashing semaphore was closed")?;
        let span = Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work)).await.context("the hashing task died")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let ok = hasher.verify(SecretString::from("correct horse"), Some(hash.clone())).await.unwrap();
        assert_eq!(ok, Verified { valid: true, needs_rehash: false });
        let bad = hasher.verify(SecretString::from("wrong horse"), Some(hash)).await.unwrap();
        assert!(!bad.valid);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(1).unwrap();
        assert!(!hasher.verify(SecretString::from("anything"), None).await.unwrap().valid);
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let old = weak.hash_password(b"correct horse", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        let hasher = PasswordHasher::new(1).unwrap();
        let verified = hasher.verify(SecretString::from("correct horse"), Some(old)).await.unwrap();
        assert_eq!(verified, Verified { valid: true, needs_rehash: true });
    }
}
