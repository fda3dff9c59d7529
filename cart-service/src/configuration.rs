//! Typed settings from `CART_*` environment variables.
//!
//! Every setting has a default that works for a local run (`make run`). A malformed value, or
//! a `CART_*` variable this service does not know (a typo would otherwise be ignored
//! silently), stops start-up with one line naming the variable. Secret values are held as
//! `SecretString` and never echoed, not even in errors.
use crate::upstream::Target;
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

pub const ENV_PREFIX: &str = "CART_";
const LOCAL_REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// Address both listeners bind to.
    pub listen_host: IpAddr,
    pub http_port: u16,
    pub redis: RedisSettings,
    pub upstream: UpstreamSettings,
    pub kafka: KafkaSettings,
    pub auth: AuthSettings,
    pub carts: CartSettings,
    /// An `EnvFilter` directive such as `info` or `cart_service=debug,info`.
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
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`; may carry a password, hence secret.
    pub url: SecretString,
    /// Bound on connecting and on each command.
    pub timeout: Duration,
}

/// Where the services cart calls are, and how long a call may take.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Comma-separated `https://host:port` list; each host is resolved to every replica.
    /// `https://` is mutual TLS with cart's identity (`tls_dir`); `http://`, plain text, is
    /// for a local run against plain-text servers only (production refuses it).
    pub product_grpc_url: String,
    pub payment_grpc_url: String,
    /// auth's gRPC port, asked at checkout whether the shopper's session is still active
    /// (`VerifyToken`).
    pub auth_grpc_url: String,
    /// cart's workload identity, presented on every call: a folder with `tls.crt`, `tls.key`
    /// and `ca.crt` (a cert-manager Secret mounted as files).
    pub tls_dir: PathBuf,
    /// `/readyz` fails once that certificate expires within this.
    pub tls_expiry_margin: Duration,
    pub timeout: Duration,
    /// How often the replicas behind each target are looked up again (a new one gets calls
    /// within this), besides whenever a call finds one gone.
    pub resolve_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` bootstrap list.
    pub brokers: String,
    /// How the clients authenticate to the brokers (SASL, TLS).
    pub security: KafkaSecurity,
    /// Bound on a metadata request (readiness).
    pub timeout: Duration,
    pub product_events_topic: String,
    pub payment_events_topic: String,
    pub auth_events_topic: String,
    /// The consumer group shared by cart's replicas.
    pub group_id: String,
    /// Low in tests: a group's first join takes about half of it.
    pub session_timeout: Duration,
    /// Static group membership (`group.instance.id`): a replica restarted under the same id takes
    /// its partitions back at once instead of waiting out its dead predecessor's session. Only
    /// for an identity that survives a restart and is never shared by two live replicas.
    pub group_instance_id: Option<String>,
}

/// auth-service's REST side: its public keys for local token checks (its session check at
/// checkout is gRPC: `UpstreamSettings::auth_grpc_url`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// auth's REST root; the JWKS path is appended.
    pub base_url: String,
    pub jwks_max_age: Duration,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct CartSettings {
    /// A cart untouched this long disappears.
    pub idle_ttl: Duration,
    /// How long a checkout's outcome is kept for a retry with the same Idempotency-Key.
    pub checkout_record_ttl: Duration,
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
            http_port: env.parse("HTTP_PORT", 8083, "a TCP port (0-65535)"),
            redis: RedisSettings {
                url: env.secret("REDIS_URL", LOCAL_REDIS_URL, |url| {
                    url.starts_with("redis://") || url.starts_with("rediss://")
                }),
                timeout: millis(env.parse("REDIS_TIMEOUT_MS", 1000, "milliseconds")),
            },
            upstream: UpstreamSettings {
                product_grpc_url: env.parse_with(
                    "PRODUCT_GRPC_URL",
                    "https://127.0.0.1:50052".to_owned(),
                    "a comma-separated list of https://host:port",
                    |url: &String| Target::parse_list(url).is_ok(),
                ),
                payment_grpc_url: env.parse_with(
                    "PAYMENT_GRPC_URL",
                    "https://127.0.0.1:50054".to_owned(),
                    "a comma-separated list of https://host:port",
                    |url: &String| Target::parse_list(url).is_ok(),
                ),
                auth_grpc_url: env.parse_with(
                    "AUTH_GRPC_URL",
                    "https://127.0.0.1:50051".to_owned(),
                    "a comma-separated list of https://host:port",
                    |url: &String| Target::parse_list(url).is_ok(),
                ),
                tls_dir: env.parse("TLS_DIR", PathBuf::from("/etc/shop/tls"), "a folder path"),
                tls_expiry_margin: Duration::from_secs(env.parse_with(
                    "TLS_EXPIRY_MARGIN_SECS",
                    600,
                    "0 to 2592000 seconds",
                    |s| (0..=2_592_000).contains(s),
                )),
                timeout: millis(env.parse("UPSTREAM_TIMEOUT_MS", 3000, "milliseconds")),
                resolve_interval: millis(env.parse_with(
                    "UPSTREAM_RESOLVE_INTERVAL_MS",
                    5000,
                    "100 to 300000 milliseconds",
                    |m| (100..=300_000).contains(m),
                )),
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
                product_events_topic: env.parse_with(
                    "KAFKA_PRODUCT_EVENTS_TOPIC",
                    "product.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
                payment_events_topic: env.parse_with(
                    "KAFKA_PAYMENT_EVENTS_TOPIC",
                    "payment.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
                auth_events_topic: env.parse_with(
                    "KAFKA_AUTH_EVENTS_TOPIC",
                    "auth.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
                group_id: env
                    .parse_with("KAFKA_GROUP_ID", "cart-service".to_owned(), "a group id", |t: &String| is_topic(t)),
                session_timeout: millis(env.parse_with(
                    "KAFKA_SESSION_TIMEOUT_MS",
                    10_000,
                    "6000 to 300000 milliseconds",
                    |m| (6000..=300_000).contains(m),
                )),
                group_instance_id: Some(env.parse_with(
                    "KAFKA_GROUP_INSTANCE_ID",
                    String::new(),
                    "letters, digits, '.', '_' and '-'",
                    |id: &String| id.is_empty() || is_topic(id),
                ))
                .filter(|id| !id.is_empty()),
            },
            auth: AuthSettings {
                base_url: env.parse_with(
                    "AUTH_URL",
                    "http://127.0.0.1:8081".to_owned(),
                    "an http:// or https:// URL",
                    |url: &String| is_http_url(url),
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
            carts: CartSettings {
                idle_ttl: Duration::from_secs(env.parse_with(
                    "IDLE_TTL_SECS",
                    30 * 24 * 3600,
                    "60 to 31536000 seconds",
                    |s| (60..=31_536_000).contains(s),
                )),
                checkout_record_ttl: Duration::from_secs(env.parse_with(
                    "CHECKOUT_RECORD_TTL_SECS",
                    24 * 3600,
                    "60 to 604800 seconds",
                    |s| (60..=604_800).contains(s),
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
        if environment == Environment::Production && settings.redis.url.expose_secret() == LOCAL_REDIS_URL {
            env.errors.push(format!(
                "{ENV_PREFIX}REDIS_URL must be set in production (the local default, with no password, is refused)"
            ));
        }
        for (key, list) in [
            ("PRODUCT_GRPC_URL", &settings.upstream.product_grpc_url),
            ("PAYMENT_GRPC_URL", &settings.upstream.payment_grpc_url),
            ("AUTH_GRPC_URL", &settings.upstream.auth_grpc_url),
        ] {
            let plain = Target::parse_list(list).is_ok_and(|targets| targets.iter().any(|t| !t.tls));
            if environment == Environment::Production && plain {
                env.errors.push(format!(
                    "{ENV_PREFIX}{key} must list only https:// in production (internal calls are mutual TLS)"
                ));
            }
        }
        if environment == Environment::Production {
            env.refuse_loopback(&[
                ("REDIS_URL", settings.redis.url.expose_secret()),
                ("KAFKA_BROKERS", &settings.kafka.brokers),
                ("PRODUCT_GRPC_URL", &settings.upstream.product_grpc_url),
                ("PAYMENT_GRPC_URL", &settings.upstream.payment_grpc_url),
                ("AUTH_GRPC_URL", &settings.upstream.auth_grpc_url),
                ("AUTH_URL", &settings.auth.base_url),
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

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
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
                self.errors.push(format!("{name} is not valid (value hidden): expected a redis:// or rediss:// URL"));
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
        assert_eq!(s.http_port, 8083);
        assert_eq!(s.upstream.product_grpc_url, "https://127.0.0.1:50052");
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.environment, Environment::Local);
    }

    #[test]
    fn static_group_membership_is_off_unless_an_instance_id_is_given() {
        let s = Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.kafka.group_instance_id, None);
        let s = Settings::from_vars(vars(&[("CART_KAFKA_GROUP_INSTANCE_ID", "cart-service-0")])).unwrap();
        assert_eq!(s.kafka.group_instance_id.as_deref(), Some("cart-service-0"));
        let err = Settings::from_vars(vars(&[("CART_KAFKA_GROUP_INSTANCE_ID", "cart 0")])).unwrap_err();
        assert!(err.to_string().contains("CART_KAFKA_GROUP_INSTANCE_ID"), "{err}");
    }

    #[test]
    fn a_malformed_value_is_named_in_the_error() {
        let err = Settings::from_vars(vars(&[("CART_HTTP_PORT", "eighty")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("CART_HTTP_PORT=\"eighty\""), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let err = Settings::from_vars(vars(&[("CART_HTTP_PORT", "x"), ("CART_REDIS_TIMEOUT_MS", "-1")])).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn an_unknown_prefixed_variable_is_refused() {
        let err = Settings::from_vars(vars(&[("CART_HTTP_PROT", "8083")])).unwrap_err();
        assert!(err.to_string().contains("CART_HTTP_PROT is not a setting"), "{err}");
    }

    #[test]
    fn a_bad_secret_is_not_echoed() {
        let err = Settings::from_vars(vars(&[("CART_REDIS_URL", "postgres://u:hunter2@db/x")])).unwrap_err();
        assert!(err.to_string().contains("CART_REDIS_URL"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn production_refuses_the_local_default_credentials() {
        let err = Settings::from_vars(vars(&[("CART_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("CART_REDIS_URL must be set"), "{err}");
        let ok = Settings::from_vars(vars(&[
            ("CART_ENV", "production"),
            ("CART_REDIS_URL", "redis://:s3cret@redis:6379"),
            ("CART_KAFKA_BROKERS", "kafka:9092"),
            ("CART_PRODUCT_GRPC_URL", "https://product-service:50052"),
            ("CART_PAYMENT_GRPC_URL", "https://payment-service:50054"),
            ("CART_AUTH_GRPC_URL", "https://auth-service:50051"),
            ("CART_AUTH_URL", "http://auth-service:8081"),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
        let plain = Settings::from_vars(vars(&[
            ("CART_ENV", "production"),
            ("CART_PAYMENT_GRPC_URL", "https://payment-a:50054,http://payment-b:50054"),
            ("CART_AUTH_GRPC_URL", "http://auth-service:50051"),
        ]))
        .unwrap_err();
        assert!(plain.to_string().contains("CART_PAYMENT_GRPC_URL must list only https://"), "{plain}");
        assert!(plain.to_string().contains("CART_AUTH_GRPC_URL must list only https://"), "{plain}");
    }

    #[test]
    fn production_refuses_a_remote_dependency_left_at_loopback() {
        let err = Settings::from_vars(vars(&[
            ("CART_ENV", "production"),
            ("CART_REDIS_URL", "redis://:hunter2@localhost:6379"),
        ]))
        .unwrap_err()
        .to_string();
        for key in ["REDIS_URL", "KAFKA_BROKERS", "PRODUCT_GRPC_URL", "PAYMENT_GRPC_URL", "AUTH_GRPC_URL", "AUTH_URL"] {
            assert!(err.contains(&format!("CART_{key} points at")), "{key} not named: {err}");
        }
        assert!(err.contains("CART_REDIS_URL points at localhost"), "{err}");
        assert!(!err.contains("hunter2"), "a password reached the error: {err}");
        // A local run keeps its loopback defaults.
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).is_ok());
    }

    #[test]
    fn a_grpc_target_may_list_replicas_and_production_checks_every_entry() {
        let list = "http://product-a:50052, http://product-service-headless:50052";
        let s =
            Settings::from_vars(vars(&[("CART_PRODUCT_GRPC_URL", list), ("CART_UPSTREAM_RESOLVE_INTERVAL_MS", "250")]))
                .unwrap();
        assert_eq!(s.upstream.product_grpc_url, list);
        assert_eq!(s.upstream.resolve_interval, Duration::from_millis(250));
        for (key, bad) in [
            ("CART_PRODUCT_GRPC_URL", "http://product:50052,ftp://product:21"),
            ("CART_PAYMENT_GRPC_URL", "http://payment"),
            ("CART_UPSTREAM_RESOLVE_INTERVAL_MS", "10"),
        ] {
            let err = Settings::from_vars(vars(&[(key, bad)])).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={bad}: {err}");
        }
        // Production: a loopback address anywhere in the list is refused, not just the first.
        let err = Settings::from_vars(vars(&[
            ("CART_ENV", "production"),
            ("CART_PRODUCT_GRPC_URL", "http://product-service-headless:50052,http://[::1]:50052"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("CART_PRODUCT_GRPC_URL points at ::1"), "{err}");
    }

    #[test]
    fn the_settings_debug_output_hides_the_redis_url() {
        let s = Settings::from_vars(vars(&[("CART_REDIS_URL", "redis://:hunter2@redis:6379")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn kafka_sasl_settings_are_read_and_incomplete_ones_refused() {
        let s = Settings::from_vars(vars(&[
            ("CART_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("CART_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("CART_KAFKA_SASL_USERNAME", "svc"),
            ("CART_KAFKA_SASL_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(s.kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.kafka.security.sasl_mechanism, Some(SaslMechanism::ScramSha256));
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Settings::from_vars(vars(&[("CART_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")])).unwrap_err();
        assert!(err.to_string().contains("CART_KAFKA_SASL_PASSWORD must be set"), "{err}");
        let err = Settings::from_vars(vars(&[("CART_KAFKA_SASL_PASSWORD", "")])).unwrap_err();
        assert!(err.to_string().contains("CART_KAFKA_SASL_PASSWORD is not valid (value hidden)"), "{err}");
    }
}
