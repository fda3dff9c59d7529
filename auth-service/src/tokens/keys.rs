use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::HashMap;

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): this fixed prefix, then the 32 bytes.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// Parses `kid:base64url-seed[,kid:base64url-seed...]`. Errors never contain key material.
pub fn parse_key_spec(spec: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    let mut keys = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kid, seed) = entry.split_once(':').ok_or("an entry has no `kid:`")?;
        if kid.is_empty() || !kid.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err("a kid may only use letters, digits, '.', '_' and '-'".to_owned());
        }
        let seed =
            URL_SAFE_NO_PAD.decode(seed.trim_end_matches('=')).map_err(|_| format!("key {kid} is not base64url"))?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| format!("key {kid} is not 32 bytes"))?;
        if keys.iter().any(|(k, _)| k == kid) {
            return Err(format!("kid {kid} appears twice"));
        }
        keys.push((kid.to_owned(), seed));
    }
    if keys.is_empty() {
        return Err("no key given".to_owned());
    }
    Ok(keys)
}

/// The service's Ed25519 keys: the first signs, every one verifies.
pub struct SigningKeys {
    active_kid: String,
    active: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    public: Vec<PublicKey>,
}

/// A verifying key as a JWK Set lists it (RFC 8037: `kty` OKP, `crv` Ed25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

impl SigningKeys {
    pub fn from_spec(spec: &str) -> anyhow::Result<Self> {
        let keys = parse_key_spec(spec).map_err(anyhow::Error::msg)?;
        let mut verifying = HashMap::new();
        let mut public_keys = Vec::new();
        let mut active = None;
        for (kid, seed) in keys {
            let public = Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|_| anyhow::anyhow!("key {kid} is not a valid Ed25519 seed"))?
                .public_key()
                .as_ref()
                .to_vec();
            let x = URL_SAFE_NO_PAD.encode(&public);
            verifying.insert(kid.clone(), DecodingKey::from_ed_components(&x)?);
            public_keys.push(PublicKey { kid: kid.clone(), x });
            if active.is_none() {
                let pkcs8 = [PKCS8_ED25519_PREFIX.as_slice(), &seed].concat();
                active = Some((kid, EncodingKey::from_ed_der(&pkcs8)));
            }
        }
        let (active_kid, active) = active.ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        Ok(Self { active_kid, active, verifying, public: public_keys })
    }

    pub fn active(&self) -> (&str, &EncodingKey) {
        (&self.active_kid, &self.active)
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }

    /// The public keys, the active one first, for the JWK Set (`/.well-known/jwks.json`).
    pub fn public_keys(&self) -> &[PublicKey] {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn the_first_key_signs_and_all_are_published() {
        let keys = SigningKeys::from_spec(&format!("new:{SEED_A}, old:{}", "A".repeat(43))).unwrap();
        assert_eq!(keys.active().0, "new");
        let kids: Vec<_> = keys.public_keys().iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["new", "old"]);
        assert!(keys.verifying_key("old").is_some());
        assert_eq!(keys.public_keys()[0].x.len(), 43, "32 bytes, base64url without padding");
    }

    #[test]
    fn malformed_specs_are_refused_without_the_key_in_the_message() {
        for spec in ["", "nokid", ":AAAA", "k:not base64!", "k:AAAA", &format!("a:{SEED_A},a:{SEED_A}")] {
            let err = parse_key_spec(spec).unwrap_err();
            assert!(!err.contains(SEED_A), "{err}");
        }
    }
}
