//! Typed settings from `PRODUCT_*` environment variables.
//!
//! Every setting has a default that works for a local run (`make run`). A malformed value, or
//! a `PRODUCT_*` variable this service does not know (a typo would otherwise be ignored
//! silently), stops start-up with one line naming the variable. Secret values are held as
//! `SecretString` and never echoed, not even in errors.
use secrecy::{ExposeSecret, SecretString};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::IpAddr,
    path::PathBuf,
    str::FromStr,
    time::Duration,
};

mod kafka_security;
mod loopback;

pub use kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};

pub const ENV_PREFIX: &str = "PRODUCT_";
const LOCAL_DATABASE_URL: &str = "postgres://product:product@127.0.0.1:5432/product";

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// Address both listeners bind to.
    pub listen_host: IpAddr,
    pub http_port: u16,
    pub grpc_port: u16,
    /// gRPC server reflection: on by default in a local run, off in production.
    pub grpc_reflection: bool,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub reservations: ReservationSettings,
    pub auth: AuthSettings,
    /// The gRPC port's mutual TLS.
    pub tls: TlsSettings,
    /// An `EnvFilter` directive such as `info` or `product_service=debug,info`.
    pub log_filter: String,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    /// Refuses the local default credentials.
    Production,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: usize,
    /// Bound on waiting for a pooled connection and on opening a new one.
    pub timeout: Duration,
    /// Apply pending migrations at start-up (the Helm chart runs `migrate` as a hook instead).
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` bootstrap list.
    pub brokers: String,
    /// How the clients authenticate to the brokers (SASL, TLS).
    pub security: KafkaSecurity,
    /// Bound on a metadata request (readiness).
    pub timeout: Duration,
    /// Where product and stock events go.
    pub events_topic: String,
}

#[derive(Debug, Clone)]
pub struct ReservationSettings {
    /// A reservation not committed within this expires and returns its stock.
    pub ttl: Duration,
    /// How often expired reservations are looked for.
    pub expiry_interval: Duration,
}

/// How admin tokens are verified: auth-service's public keys and the claims it issues.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// auth-service's JWK Set (`/.well-known/jwks.json`).
    pub jwks_url: String,
    /// auth's gRPC endpoint, asked (`VerifyToken`) whether a token's session is still active.
    /// `https://` is mutual TLS with this service's identity (`TlsSettings::dir`); `http://`,
    /// plain text, is for a local run against a plain-text stand-in only (production refuses it).
    pub grpc_url: String,
    /// Fetched keys are refetched after this long (and at once for an unknown key id).
    pub jwks_max_age: Duration,
    pub issuer: String,
    pub audience: String,
}

/// This service's workload identity for mutual TLS on the gRPC port.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// A folder with `tls.crt`, `tls.key` and `ca.crt`: a cert-manager Secret mounted as files.
    pub dir: PathBuf,
    /// How often the files are looked at for a rotation.
    pub reload_interval: Duration,
    /// `/readyz` fails once the certificate expires within this: a replica whose renewal did not
    /// arrive leaves the rotation, with the reason, before its handshakes fail.
    pub expiry_margin: Duration,
}

/// Why the settings could not be read: one entry per bad variable.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(vars);
        let environment = env.parse("ENV", Environment::Local, "`local` or `production`");
        let settings = Settings {
            environment,
            listen_host: env.parse("LISTEN_HOST", IpAddr::from([127, 0, 0, 1]), "an IP address"),
            http_port: env.parse("HTTP_PORT", 8082, "a TCP port (0-65535)"),
            grpc_port: env.parse("GRPC_PORT", 50052, "a TCP port (0-65535)"),
            grpc_reflection: env.parse("GRPC_REFLECTION", environment == Environment::Local, "`true` or `false`"),
            database: DatabaseSettings {
                url: env.secret("DATABASE_URL", LOCAL_DATABASE_URL, |url| {
                    url.starts_with("postgres://") || url.starts_with("postgresql://")
                }),
                pool_size: env
                    .parse_with("DATABASE_POOL_SIZE", 16, "a pool size of 1 to 1000", |n| (1..=1000).contains(n)),
                timeout: millis(env.parse("DATABASE_TIMEOUT_MS", 2000, "milliseconds")),
                migrate_on_start: env.parse("MIGRATE_ON_START", true, "`true` or `false`"),
            },
            kafka: KafkaSettings {
                brokers: env.parse_with(
                    "KAFKA_BROKERS",
                    "127.0.0.1:9092".to_owned(),
                    "a comma-separated host:port list",
                    |s: &String| {
                        s.split(',')
                            .all(|b| b.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()))
                    },
                ),
                security: env.kafka_security(),
                timeout: millis(env.parse("KAFKA_TIMEOUT_MS", 1000, "milliseconds")),
                events_topic: env.parse_with(
                    "KAFKA_EVENTS_TOPIC",
                    "product.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
            },
            reservations: ReservationSettings {
                ttl: Duration::from_secs(
                    env.parse_with("RESERVATION_TTL_SECS", 900, "1 to 86400 seconds", |s| (1..=86_400).contains(s)),
                ),
                expiry_interval: millis(env.parse_with("RESERVATION_EXPIRY_INTERVAL_MS", 1000, "10 to 3600000", |m| {
                    (10..=3_600_000).contains(m)
                })),
            },
            auth: AuthSettings {
                jwks_url: env.parse_with(
                    "AUTH_JWKS_URL",
                    "http://127.0.0.1:8081/.well-known/jwks.json".to_owned(),
                    "an http:// or https:// URL",
                    |u: &String| u.starts_with("http://") || u.starts_with("https://"),
                ),
                grpc_url: env.parse_with(
                    "AUTH_GRPC_URL",
                    "https://127.0.0.1:50051".to_owned(),
                    "an http:// or https:// URL",
                    |u: &String| u.starts_with("http://") || u.starts_with("https://"),
                ),
                jwks_max_age: Duration::from_secs(env.parse_with(
                    "JWKS_MAX_AGE_SECS",
                    300,
                    "1 to 86400 seconds",
                    |s| (1..=86_400).contains(s),
                )),
                issuer: env.parse("JWT_ISSUER", "shop-auth".to_owned(), "a string"),
                audience: env.parse("JWT_AUDIENCE", "shop".to_owned(), "a string"),
            },
            tls: TlsSettings {
                dir: env.parse("TLS_DIR", PathBuf::from("/etc/shop/tls"), "a folder path"),
                reload_interval: millis(
                    env.parse_with("TLS_RELOAD_INTERVAL_MS", 10_000, "100 to 3600000", |m| {
                        (100..=3_600_000).contains(m)
                    }),
                ),
                expiry_margin: Duration::from_secs(env.parse_with(
                    "TLS_EXPIRY_MARGIN_SECS",
                    600,
                    "0 to 2592000 seconds",
                    |s| (0..=2_592_000).contains(s),
                )),
            },
            log_filter: env.parse_with("LOG", "info".to_owned(), "a tracing filter such as `info`", |s: &String| {
                tracing_subscriber::EnvFilter::try_new(s).is_ok()
            }),
            shutdown_timeout: Duration::from_secs(env.parse("SHUTDOWN_TIMEOUT_SECS", 20, "seconds")),
        };
        for key in settings.kafka.security.missing() {
            env.errors
                .push(format!("{ENV_PREFIX}{key} must be set when {ENV_PREFIX}KAFKA_SECURITY_PROTOCOL uses SASL"));
        }
        if environment == Environment::Production && settings.database.url.expose_secret() == LOCAL_DATABASE_URL {
            env.errors.push(format!(
                "{ENV_PREFIX}DATABASE_URL must be set in production (the local default credentials are refused)"
            ));
        }
        if environment == Environment::Production && !settings.auth.grpc_url.starts_with("https://") {
            env.errors.push(format!(
                "{ENV_PREFIX}AUTH_GRPC_URL must be https:// in production (internal calls are mutual TLS)"
            ));
        }
        if environment == Environment::Production && settings.grpc_reflection {
            env.errors
                .push(format!("{ENV_PREFIX}GRPC_REFLECTION=true is refused in production (it lists the whole API)"));
        }
        if environment == Environment::Production {
            env.refuse_loopback(&[
                ("DATABASE_URL", settings.database.url.expose_secret()),
                ("KAFKA_BROKERS", &settings.kafka.brokers),
                ("AUTH_JWKS_URL", &settings.auth.jwks_url),
                ("AUTH_GRPC_URL", &settings.auth.grpc_url),
            ]);
        }
        env.finish().map(|()| settings)
    }
}

impl FromStr for Environment {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "local" => Ok(Self::Local),
            "production" => Ok(Self::Production),
            _ => Err(()),
        }
    }
}

fn is_topic(name: &str) -> bool {
    !name.is_empty() && name.len() <= 249 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Reads the prefixed variables once, records what was asked for and collects every error,
/// so a misconfigured deployment learns all of its mistakes in one start.
struct EnvReader {
    vars: BTreeMap<String, String>,
    known: BTreeSet<String>,
    errors: Vec<String>,
}

impl EnvReader {
    fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = vars.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        Self { vars, known: BTreeSet::new(), errors: Vec::new() }
    }

    fn raw(&mut self, key: &str) -> (String, Option<String>) {
        let name = format!("{ENV_PREFIX}{key}");
        self.known.insert(name.clone());
        let value = self.vars.get(&name).cloned();
        (name, value)
    }

    fn parse<T: FromStr>(&mut self, key: &str, default: T, expected: &str) -> T {
        self.parse_with(key, default, expected, |_| true)
    }

    fn parse_with<T: FromStr>(&mut self, key: &str, default: T, expected: &str, valid: impl Fn(&T) -> bool) -> T {
        let (name, value) = self.raw(key);
        let Some(value) = value else { return default };
        match value.trim().parse::<T>() {
            Ok(parsed) if valid(&parsed) => parsed,
            _ => {
                self.errors.push(format!("{name}={value:?} is not valid: expected {expected}"));
                default
            }
        }
    }

    fn secret(&mut self, key: &str, default: &str, valid: impl Fn(&str) -> bool) -> SecretString {
        let (name, value) = self.raw(key);
        match value {
            None => SecretString::from(default),
            Some(value) if valid(value.trim()) => SecretString::from(value.trim()),
            Some(_) => {
                self.errors.push(format!("{name} is not valid (value hidden): expected a postgres:// URL"));
                SecretString::from(default)
            }
        }
    }

    /// A setting with no default: `None` when unset.
    fn optional<T: FromStr>(&mut self, key: &str, expected: &str) -> Option<T> {
        let (name, value) = self.raw(key);
        let value = value?;
        match value.trim().parse::<T>() {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                self.errors.push(format!("{name}={value:?} is not valid: expected {expected}"));
                None
            }
        }
    }

    /// The Kafka clients' authentication (configuration/kafka_security.rs).
    fn kafka_security(&mut self) -> KafkaSecurity {
        KafkaSecurity {
            protocol: self.parse(
                "KAFKA_SECURITY_PROTOCOL",
                SecurityProtocol::Plaintext,
                "plaintext, ssl, sasl_plaintext or sasl_ssl",
            ),
            sasl_mechanism: self.optional("KAFKA_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            sasl_username: self.optional("KAFKA_SASL_USERNAME", "a user name"),
            sasl_password: self.optional_secret("KAFKA_SASL_PASSWORD", "a password", |p| !p.is_empty()),
            ca_location: self.optional("KAFKA_SSL_CA_LOCATION", "the path of a PEM file"),
        }
    }

    fn optional_secret(&mut self, key: &str, expected: &str, valid: impl Fn(&str) -> bool) -> Option<SecretString> {
        let (name, value) = self.raw(key);
        match value {
            None => None,
            Some(value) if valid(value.trim()) => Some(SecretString::from(value.trim())),
            Some(_) => {
                self.errors.push(format!("{name} is not valid (value hidden): expected {expected}"));
                None
            }
        }
    }

    /// Production: a remote dependency at a loopback address means the deployment forgot to set
    /// it. The error names the variable and the host, never the value (it may hold a password).
    fn refuse_loopback(&mut self, addresses: &[(&str, &str)]) {
        for (key, address) in addresses {
            if let Some(host) = loopback::loopback_host(address) {
                self.errors.push(format!(
                    "{ENV_PREFIX}{key} points at {host} (this machine) in production: set it to where it runs"
                ));
            }
        }
    }

    fn finish(mut self) -> Result<(), ConfigError> {
        let unknown: Vec<_> = self.vars.keys().filter(|k| !self.known.contains(*k)).cloned().collect();
        for name in unknown {
            self.errors.push(format!("{name} is not a setting of this service (known: {})", self.known_list()));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.errors))
        }
    }

    fn known_list(&self) -> String {
        self.known.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_work_for_a_local_run() {
        let s = Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.http_port, 8082);
        assert_eq!(s.grpc_port, 50052);
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.environment, Environment::Local);
    }

    #[test]
    fn a_malformed_value_is_named_in_the_error() {
        let err = Settings::from_vars(vars(&[("PRODUCT_HTTP_PORT", "eighty")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("PRODUCT_HTTP_PORT=\"eighty\""), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let err = Settings::from_vars(vars(&[("PRODUCT_HTTP_PORT", "x"), ("PRODUCT_GRPC_PORT", "70000")])).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn an_unknown_prefixed_variable_is_refused() {
        let err = Settings::from_vars(vars(&[("PRODUCT_HTTP_PROT", "8082")])).unwrap_err();
        assert!(err.to_string().contains("PRODUCT_HTTP_PROT is not a setting"), "{err}");
    }

    #[test]
    fn a_bad_secret_is_not_echoed() {
        let err = Settings::from_vars(vars(&[("PRODUCT_DATABASE_URL", "mysql://u:hunter2@db/x")])).unwrap_err();
        assert!(err.to_string().contains("PRODUCT_DATABASE_URL"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn production_refuses_the_local_default_credentials() {
        let err = Settings::from_vars(vars(&[("PRODUCT_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("PRODUCT_DATABASE_URL must be set"), "{err}");
        let ok = Settings::from_vars(vars(&[
            ("PRODUCT_ENV", "production"),
            ("PRODUCT_KAFKA_BROKERS", "kafka:9092"),
            ("PRODUCT_AUTH_JWKS_URL", "http://auth-service:8081/.well-known/jwks.json"),
            ("PRODUCT_AUTH_GRPC_URL", "https://auth-service:50051"),
            ("PRODUCT_DATABASE_URL", "postgres://product:s3cret@db:5432/product"),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
        let plain = Settings::from_vars(vars(&[
            ("PRODUCT_ENV", "production"),
            ("PRODUCT_AUTH_GRPC_URL", "http://auth-service:50051"),
        ]))
        .unwrap_err();
        assert!(plain.to_string().contains("PRODUCT_AUTH_GRPC_URL must be https://"), "{plain}");
    }

    #[test]
    fn production_refuses_a_remote_dependency_left_at_loopback() {
        let err = Settings::from_vars(vars(&[
            ("PRODUCT_ENV", "production"),
            ("PRODUCT_DATABASE_URL", "postgres://product:hunter2@localhost:5432/product"),
        ]))
        .unwrap_err()
        .to_string();
        for key in ["DATABASE_URL", "KAFKA_BROKERS", "AUTH_JWKS_URL", "AUTH_GRPC_URL"] {
            assert!(err.contains(&format!("PRODUCT_{key} points at")), "{key} not named: {err}");
        }
        assert!(err.contains("PRODUCT_DATABASE_URL points at localhost"), "{err}");
        assert!(!err.contains("hunter2"), "a password reached the error: {err}");
        // A local run keeps its loopback defaults.
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).is_ok());
    }

    #[test]
    fn the_settings_debug_output_hides_the_database_url() {
        let s =
            Settings::from_vars(vars(&[("PRODUCT_DATABASE_URL", "postgres://product:hunter2@db/product")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn grpc_reflection_is_on_locally_and_refused_in_production() {
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap().grpc_reflection);
        assert!(!Settings::from_vars(vars(&[("PRODUCT_GRPC_REFLECTION", "false")])).unwrap().grpc_reflection);
        let err = Settings::from_vars(vars(&[("PRODUCT_ENV", "production"), ("PRODUCT_GRPC_REFLECTION", "true")]))
            .unwrap_err();
        assert!(err.to_string().contains("PRODUCT_GRPC_REFLECTION=true is refused in production"), "{err}");
    }

    #[test]
    fn kafka_sasl_settings_are_read_and_incomplete_ones_refused() {
        let s = Settings::from_vars(vars(&[
            ("PRODUCT_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("PRODUCT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("PRODUCT_KAFKA_SASL_USERNAME", "svc"),
            ("PRODUCT_KAFKA_SASL_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(s.kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.kafka.security.sasl_mechanism, Some(SaslMechanism::ScramSha256));
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Settings::from_vars(vars(&[("PRODUCT_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")])).unwrap_err();
        assert!(err.to_string().contains("PRODUCT_KAFKA_SASL_PASSWORD must be set"), "{err}");
        let err = Settings::from_vars(vars(&[("PRODUCT_KAFKA_SASL_PASSWORD", "")])).unwrap_err();
        assert!(err.to_string().contains("PRODUCT_KAFKA_SASL_PASSWORD is not valid (value hidden)"), "{err}");
    }
}
