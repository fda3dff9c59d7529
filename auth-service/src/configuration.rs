//! Typed settings from `AUTH_*` environment variables.
//!
//! Every setting has a default that works for a local run (`make run`). A malformed value, or
//! an `AUTH_*` variable this service does not know (a typo would otherwise be ignored
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

use crate::tokens::parse_key_spec;

pub use crate::http::client_address::TrustedProxies;

pub const ENV_PREFIX: &str = "AUTH_";
const LOCAL_DATABASE_URL: &str = "postgres://auth:auth@127.0.0.1:5432/auth";
/// The signing key of local runs: 32 bytes, public in this repository, refused in production.
pub const LOCAL_JWT_KEYS: &str = "local-1:bG9jYWwtZGV2ZWxvcG1lbnQtand0LXNpZ25pbmctazE";

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
    pub tokens: TokenSettings,
    pub login: LoginSettings,
    /// The gRPC port's mutual TLS.
    pub tls: TlsSettings,
    /// An `EnvFilter` directive such as `info` or `auth_service=debug,info`.
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
    /// Where `UserRegistered` goes.
    pub events_topic: String,
    /// What the order history is built from.
    pub payment_events_topic: String,
    pub group_id: String,
    /// Low values make a consumer's first group join fast (tests), at the cost of slower
    /// detection of a dead consumer.
    pub session_timeout: Duration,
    /// Static group membership (`group.instance.id`): a replica restarted under the same id takes
    /// its partitions back at once instead of waiting out its dead predecessor's session. Only
    /// for an identity that survives a restart and is never shared by two live replicas.
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `kid:base64url(32-byte Ed25519 seed)` entries, comma-separated. The first signs; all
    /// verify and are published in the JWKS, so a new key is rolled out by putting it first
    /// and the old one is removed once its tokens have expired.
    pub signing_keys: SecretString,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A session ends this long after its login however often it is refreshed.
    pub session_max_lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// Failed logins for one e-mail before further attempts are refused.
    pub max_failures: u32,
    /// The first refusal lasts this long; each further failure doubles it, up to `lockout_max`.
    pub lockout_base: Duration,
    pub lockout_max: Duration,
    /// argon2 computations at once (each takes ~19 MiB and one core for ~30 ms).
    pub hash_concurrency: usize,
    /// Failed logins for one e-mail from all addresses together before each further one waits
    /// (`max_failures` counts one e-mail from one address).
    pub account_max_failures: u32,
    /// Logins from one client address (any e-mail) within an hour before each further one waits.
    pub client_max_failures: u32,
    /// Sign-ups from one client address within an hour before each further one waits.
    pub signup_max_per_client: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`http::client_address`).
    pub trusted_proxies: TrustedProxies,
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
            http_port: env.parse("HTTP_PORT", 8081, "a TCP port (0-65535)"),
            grpc_port: env.parse("GRPC_PORT", 50051, "a TCP port (0-65535)"),
            grpc_reflection: env.parse("GRPC_REFLECTION", environment == Environment::Local, "`true` or `false`"),
            database: DatabaseSettings {
                url: env.secret("DATABASE_URL", LOCAL_DATABASE_URL, "a postgres:// URL", |url| {
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
                    "auth.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
                payment_events_topic: env.parse_with(
                    "KAFKA_PAYMENT_EVENTS_TOPIC",
                    "payment.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic(t),
                ),
                group_id: env.parse_with(
                    "KAFKA_GROUP_ID",
                    "auth-service".to_owned(),
                    "a consumer group id",
                    |t: &String| is_topic(t),
                ),
                session_timeout: millis(env.parse("KAFKA_SESSION_TIMEOUT_MS", 10_000, "milliseconds")),
                group_instance_id: Some(env.parse_with(
                    "KAFKA_GROUP_INSTANCE_ID",
                    String::new(),
                    "letters, digits, '.', '_' and '-'",
                    |id: &String| id.is_empty() || is_topic(id),
                ))
                .filter(|id| !id.is_empty()),
            },
            tokens: TokenSettings {
                signing_keys: env.secret(
                    "JWT_SIGNING_KEYS",
                    LOCAL_JWT_KEYS,
                    "kid:base64url-32-byte-seed entries, comma-separated",
                    |spec| crate::tokens::parse_key_spec(spec).is_ok(),
                ),
                issuer: env.parse("JWT_ISSUER", "shop-auth".to_owned(), "a string"),
                audience: env.parse("JWT_AUDIENCE", "shop".to_owned(), "a string"),
                access_ttl: Duration::from_secs(env.parse_with(
                    "ACCESS_TOKEN_TTL_SECS",
                    900,
                    "1 to 86400 seconds",
                    |s| (1..=86_400).contains(s),
                )),
                refresh_ttl: Duration::from_secs(env.parse_with(
                    "REFRESH_TOKEN_TTL_SECS",
                    30 * 86_400,
                    "60 seconds to 365 days",
                    |s| (60..=365 * 86_400).contains(s),
                )),
                session_max_lifetime: Duration::from_secs(env.parse_with(
                    "SESSION_MAX_LIFETIME_SECS",
                    90 * 86_400,
                    "60 seconds to 365 days",
                    |s| (60..=365 * 86_400).contains(s),
                )),
            },
            login: LoginSettings {
                max_failures: env.parse_with("LOGIN_MAX_FAILURES", 5, "1 to 100", |n| (1..=100).contains(n)),
                // Bounded: 0 would switch the throttle off, and a delay past a day overflows
                // nothing useful (PostgreSQL's interval arithmetic would refuse it: a 500).
                lockout_base: millis(env.parse_with("LOGIN_LOCKOUT_BASE_MS", 1000, "1 to 3600000 milliseconds", |m| {
                    (1..=3_600_000).contains(m)
                })),
                lockout_max: Duration::from_secs(env.parse_with(
                    "LOGIN_LOCKOUT_MAX_SECS",
                    900,
                    "1 to 86400 seconds",
                    |s| (1..=86_400).contains(s),
                )),
                hash_concurrency: env.parse_with(
                    "PASSWORD_HASH_CONCURRENCY",
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                    "1 to 256",
                    |n| (1..=256).contains(n),
                ),
                account_max_failures: env
                    .parse_with("LOGIN_ACCOUNT_MAX_FAILURES", 50, "1 to 10000", |n| (1..=10_000).contains(n)),
                // A local run has one client, this machine, signing up the load generator's shoppers.
                client_max_failures: env.parse_with(
                    "LOGIN_CLIENT_MAX_FAILURES",
                    if environment == Environment::Production { 100 } else { 100_000 },
                    "1 to 100000",
                    |n| (1..=100_000).contains(n),
                ),
                signup_max_per_client: env.parse_with(
                    "SIGNUP_MAX_PER_CLIENT",
                    if environment == Environment::Production { 20 } else { 100_000 },
                    "1 to 100000",
                    |n| (1..=100_000).contains(n),
                ),
                trusted_proxies: env.parse(
                    "TRUSTED_PROXIES",
                    TrustedProxies::default(),
                    "a comma-separated list of IP addresses or CIDR ranges",
                ),
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
        if environment == Environment::Production && uses_the_local_key(settings.tokens.signing_keys.expose_secret()) {
            env.errors
                .push(format!("{ENV_PREFIX}JWT_SIGNING_KEYS must not contain the local development key in production"));
        }
        if environment == Environment::Production && settings.grpc_reflection {
            env.errors
                .push(format!("{ENV_PREFIX}GRPC_REFLECTION=true is refused in production (it lists the whole API)"));
        }
        if environment == Environment::Production {
            env.refuse_loopback(&[
                ("DATABASE_URL", settings.database.url.expose_secret()),
                ("KAFKA_BROKERS", &settings.kafka.brokers),
            ]);
        }
        env.finish().map(|()| settings)
    }
}

/// Whether any configured key is the development key's material, whatever its kid, spacing
/// or padding: a substring check on the spec would miss `prod:<the same seed>`.
fn uses_the_local_key(spec: &str) -> bool {
    let (Ok(configured), Ok(local)) = (parse_key_spec(spec), parse_key_spec(LOCAL_JWT_KEYS)) else {
        // A malformed spec is reported on its own; it holds no usable key.
        return false;
    };
    configured.iter().any(|(_, seed)| local.iter().any(|(_, local_seed)| seed == local_seed))
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

    fn secret(&mut self, key: &str, default: &str, expected: &str, valid: impl Fn(&str) -> bool) -> SecretString {
        let (name, value) = self.raw(key);
        match value {
            None => SecretString::from(default),
            Some(value) if valid(value.trim()) => SecretString::from(value.trim()),
            Some(_) => {
                self.errors.push(format!("{name} is not valid (value hidden): expected {expected}"));
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
        assert_eq!(s.http_port, 8081);
        assert_eq!(s.grpc_port, 50051);
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.environment, Environment::Local);
    }

    #[test]
    fn static_group_membership_is_off_unless_an_instance_id_is_given() {
        let s = Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.kafka.group_instance_id, None);
        let s = Settings::from_vars(vars(&[("AUTH_KAFKA_GROUP_INSTANCE_ID", "auth-service-0")])).unwrap();
        assert_eq!(s.kafka.group_instance_id.as_deref(), Some("auth-service-0"));
        let err = Settings::from_vars(vars(&[("AUTH_KAFKA_GROUP_INSTANCE_ID", "auth 0")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_KAFKA_GROUP_INSTANCE_ID"), "{err}");
    }

    #[test]
    fn a_malformed_value_is_named_in_the_error() {
        let err = Settings::from_vars(vars(&[("AUTH_HTTP_PORT", "eighty")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("AUTH_HTTP_PORT=\"eighty\""), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let err = Settings::from_vars(vars(&[("AUTH_HTTP_PORT", "x"), ("AUTH_GRPC_PORT", "70000")])).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn an_unknown_prefixed_variable_is_refused() {
        let err = Settings::from_vars(vars(&[("AUTH_HTTP_PROT", "8081")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_HTTP_PROT is not a setting"), "{err}");
    }

    #[test]
    fn a_bad_secret_is_not_echoed() {
        let err = Settings::from_vars(vars(&[("AUTH_DATABASE_URL", "mysql://u:hunter2@db/x")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_DATABASE_URL"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn malformed_signing_keys_are_refused_without_echoing_them() {
        let err = Settings::from_vars(vars(&[("AUTH_JWT_SIGNING_KEYS", "k1:tooshort-secret")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SIGNING_KEYS"), "{err}");
        assert!(!err.to_string().contains("tooshort-secret"));
    }

    #[test]
    fn production_refuses_the_development_key_under_any_kid_or_spelling() {
        let seed = LOCAL_JWT_KEYS.split_once(':').unwrap().1;
        for spec in [format!("prod-1:{seed}"), format!("new:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8, old:{seed}=")]
        {
            let err = Settings::from_vars(vars(&[("AUTH_ENV", "production"), ("AUTH_JWT_SIGNING_KEYS", &spec)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("AUTH_JWT_SIGNING_KEYS must not contain the local development key"), "{err}");
            assert!(!err.contains(seed), "the key reached the error: {err}");
        }
    }

    #[test]
    fn production_refuses_the_local_default_credentials() {
        let err = Settings::from_vars(vars(&[("AUTH_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_DATABASE_URL must be set"), "{err}");
        assert!(err.to_string().contains("AUTH_JWT_SIGNING_KEYS must not contain the local development key"), "{err}");
        let ok = Settings::from_vars(vars(&[
            ("AUTH_ENV", "production"),
            ("AUTH_KAFKA_BROKERS", "kafka-0.kafka:9092,kafka-1.kafka:9092"),
            ("AUTH_DATABASE_URL", "postgres://auth:s3cret@db:5432/auth"),
            ("AUTH_JWT_SIGNING_KEYS", "prod-2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn production_refuses_a_remote_dependency_left_at_loopback() {
        let err = Settings::from_vars(vars(&[
            ("AUTH_ENV", "production"),
            ("AUTH_DATABASE_URL", "postgres://auth:hunter2@localhost:5432/auth"),
        ]))
        .unwrap_err()
        .to_string();
        for key in ["DATABASE_URL", "KAFKA_BROKERS"] {
            assert!(err.contains(&format!("AUTH_{key} points at")), "{key} not named: {err}");
        }
        assert!(err.contains("AUTH_DATABASE_URL points at localhost"), "{err}");
        assert!(!err.contains("hunter2"), "a password reached the error: {err}");
        // A local run keeps its loopback defaults.
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).is_ok());
    }

    #[test]
    fn the_settings_debug_output_hides_the_database_url() {
        let s = Settings::from_vars(vars(&[("AUTH_DATABASE_URL", "postgres://auth:hunter2@db/auth")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn grpc_reflection_is_on_locally_and_refused_in_production() {
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap().grpc_reflection);
        assert!(!Settings::from_vars(vars(&[("AUTH_GRPC_REFLECTION", "false")])).unwrap().grpc_reflection);
        let err =
            Settings::from_vars(vars(&[("AUTH_ENV", "production"), ("AUTH_GRPC_REFLECTION", "true")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_GRPC_REFLECTION=true is refused in production"), "{err}");
    }

    #[test]
    fn kafka_sasl_settings_are_read_and_incomplete_ones_refused() {
        let s = Settings::from_vars(vars(&[
            ("AUTH_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("AUTH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("AUTH_KAFKA_SASL_USERNAME", "svc"),
            ("AUTH_KAFKA_SASL_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(s.kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.kafka.security.sasl_mechanism, Some(SaslMechanism::ScramSha256));
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Settings::from_vars(vars(&[("AUTH_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_KAFKA_SASL_PASSWORD must be set"), "{err}");
        let err = Settings::from_vars(vars(&[("AUTH_KAFKA_SASL_PASSWORD", "")])).unwrap_err();
        assert!(err.to_string().contains("AUTH_KAFKA_SASL_PASSWORD is not valid (value hidden)"), "{err}");
    }
}
