//! How the Kafka clients authenticate to a cluster's brokers: `KAFKA_SECURITY_PROTOCOL`
//! (`plaintext`, the local broker; `ssl`; `sasl_plaintext`; `sasl_ssl`), SASL's mechanism,
//! username and password, and the CA that signed the brokers' certificates. Mapped to
//! librdkafka's own properties in one place, so the producer and the consumer agree.
use secrecy::{ExposeSecret, SecretString};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    fn librdkafka_name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }
}

impl FromStr for SecurityProtocol {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "plaintext" => Ok(Self::Plaintext),
            "ssl" => Ok(Self::Ssl),
            "sasl_plaintext" => Ok(Self::SaslPlaintext),
            "sasl_ssl" => Ok(Self::SaslSsl),
            _ => Err(()),
        }
    }
}

/// The SASL mechanisms this build of librdkafka has (OAUTHBEARER's OIDC flow would need
/// libcurl, which the images leave out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl FromStr for SaslMechanism {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            _ => Err(()),
        }
    }
}

impl SaslMechanism {
    fn librdkafka_name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Debug, Clone)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<SecretString>,
    /// A PEM file; unset, the system's CA bundle.
    pub ca_location: Option<String>,
}

impl Default for KafkaSecurity {
    fn default() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ca_location: None,
        }
    }
}

impl KafkaSecurity {
    /// What is missing for the chosen protocol, as setting names without the prefix.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                missing.push("KAFKA_SASL_MECHANISM");
            }
            if self.sasl_username.is_none() {
                missing.push("KAFKA_SASL_USERNAME");
            }
            if self.sasl_password.is_none() {
                missing.push("KAFKA_SASL_PASSWORD");
            }
        }
        missing
    }

    /// librdkafka's properties for these settings. The password is in there: hand the pairs
    /// to a `ClientConfig` and nothing else.
    pub fn client_properties(&self) -> Vec<(&'static str, String)> {
        let mut properties = vec![("security.protocol", self.protocol.librdkafka_name().to_owned())];
        if self.protocol.uses_sasl() {
            if let Some(mechanism) = self.sasl_mechanism {
                properties.push(("sasl.mechanism", mechanism.librdkafka_name().to_owned()));
            }
            if let Some(username) = &self.sasl_username {
                properties.push(("sasl.username", username.clone()));
            }
            if let Some(password) = &self.sasl_password {
                properties.push(("sasl.password", password.expose_secret().to_owned()));
            }
        }
        if self.protocol.uses_tls() {
            // "probe": the usual system locations, the images' /etc/ssl/certs bundle among them.
            properties.push(("ssl.ca.location", self.ca_location.clone().unwrap_or_else(|| "probe".to_owned())));
            properties.push(("ssl.endpoint.identification.algorithm", "https".to_owned()));
        }
        properties
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_sets_only_the_protocol() {
        assert_eq!(KafkaSecurity::default().client_properties(), [("security.protocol", "plaintext".to_owned())]);
        assert!(KafkaSecurity::default().missing().is_empty());
    }

    #[test]
    fn sasl_ssl_maps_every_setting_and_checks_the_brokers_names() {
        let security = KafkaSecurity {
            protocol: "SASL_SSL".parse().unwrap(),
            sasl_mechanism: Some("scram-sha-512".parse().unwrap()),
            sasl_username: Some("cart".to_owned()),
            sasl_password: Some(SecretString::from("s3cret")),
            ca_location: Some("/etc/kafka/ca.pem".to_owned()),
        };
        let properties = security.client_properties();
        for expected in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "cart"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/kafka/ca.pem"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            assert!(properties.contains(&(expected.0, expected.1.to_owned())), "{expected:?} in {properties:?}");
        }
        assert!(!format!("{security:?}").contains("s3cret"), "the password reached Debug output");
    }

    #[test]
    fn sasl_without_its_credentials_names_what_is_missing() {
        let security = KafkaSecurity { protocol: SecurityProtocol::SaslPlaintext, ..KafkaSecurity::default() };
        assert_eq!(security.missing(), ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]);
        assert!("OAUTHBEARER".parse::<SaslMechanism>().is_err());
        assert!("sasl".parse::<SecurityProtocol>().is_err());
    }
}
