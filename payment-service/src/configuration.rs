//! Typed settings from `PAYMENT_*` environment variables.
//!
//! Every setting has a default that works for a local run (`make run`). A malformed value, or
//! a `PAYMENT_*` variable this service does not know (a typo would otherwise be ignored
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

pub const ENV_PREFIX: &str = "PAYMENT_";
const LOCAL_DATABASE_URL: &str = "mysql://payment:payment@127.0.0.1:3306/payment";

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
    pub gateway: GatewaySettings,
    pub sweep: SweepSettings,
    pub tls: TlsSettings,
    pub auth: AuthSettings,
    /// An `EnvFilter` directive such as `info` or `payment_service=debug,info`.
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
    /// Where payment events go.
    pub events_topic: String,
    /// product-service's events: `ReservationReleased` says a checkout will never be a sale.
    pub product_events_topic: String,
    /// This service's consumer group (replicas share the partitions).
    pub group_id: String,
    /// The consumer's session timeout: a dead replica's partitions move after this.
    pub session_timeout: Duration,
    /// Static group membership (`group.instance.id`): a replica restarted under the same id takes
    /// its partitions back at once instead of waiting out its dead predecessor's session. Only
    /// for an identity that survives a restart and is never shared by two live replicas.
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// Deterministic outcomes by test token; no network. Refused in production.
    Sandbox,
    Stripe,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub kind: GatewayKind,
    /// Stripe's API root (tests point it at a local mock server).
    pub stripe_api_base: String,
    pub stripe_secret_key: Option<SecretString>,
    /// The signing secret of the webhook endpoint (`whsec_...`); webhooks are refused without it.
    pub webhook_secret: Option<SecretString>,
    pub webhook_tolerance: Duration,
    /// Bound on one gateway call; no answer within it leaves the payment pending.
    pub timeout: Duration,
    /// How often pending payments and refunds are looked at.
    pub reconcile_interval: Duration,
    /// How long the reconciler follows a charge or refund without a final answer: below
    /// Stripe's 24 h idempotency window, after which a repeated call could charge or refund a
    /// second time. Then a charge is cancelled (or failed, `gateway_timeout`), never repeated.
    pub max_pending_age: Duration,
    /// PayPal, offered beside cards when a client id is set.
    pub paypal: Option<PayPalSettings>,
}

/// A PayPal REST app's credentials and where PayPal sends the buyer back.
#[derive(Debug, Clone)]
pub struct PayPalSettings {
    /// PayPal's API root: the sandbox (`https://api-m.sandbox.paypal.com`, the default) or
    /// live (`https://api-m.paypal.com`); tests point it at a local stand-in.
    pub api_base: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The id of the webhook PayPal delivers to `/v1/webhooks/paypal`; PayPal's webhooks are
    /// refused without it (the reconciler's look-ups still find approvals).
    pub webhook_id: Option<String>,
    /// Where PayPal sends the buyer after approving, and after cancelling (`{order_id}`: the
    /// checkout's id).
    pub return_url: String,
    pub cancel_url: String,
}

/// The sweeper (`sweeper.rs`): how it reaches product-service, how often it looks, and how long
/// a paid order may go without its sale before product is asked where it stands.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// product-service's gRPC endpoint (`GetReservation`): `https://` is mutual TLS with this
    /// service's identity (`tls`); `http://`, plain text, is for a local run only.
    pub product_grpc_url: String,
    pub interval: Duration,
    /// Longer than a checkout takes to commit after its charge (the reservation's TTL and the
    /// PaymentSucceeded consumer's lag), so that a sale on its way is not taken for a lost one.
    pub grace: Duration,
}

/// This service's workload identity for mutual TLS: served on the gRPC port, presented to
/// product.
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

/// How callers' tokens are verified: auth-service's public keys and the claims it issues.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwks_url: String,
    /// auth's gRPC endpoint, asked (`VerifyToken`) whether a token's session is still active.
    /// `https://` is mutual TLS with this service's identity (`TlsSettings::dir`); `http://`,
    /// plain text, is for a local run against a plain-text stand-in only (production refuses it).
    pub grpc_url: String,
    pub jwks_max_age: Duration,
    pub issuer: String,
    pub audience: String,
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
            http_port: env.parse("HTTP_PORT", 8084, "a TCP port (0-65535)"),
            grpc_port: env.parse("GRPC_PORT", 50054, "a TCP port (0-65535)"),
            grpc_reflection: env.parse("GRPC_REFLECTION", environment == Environment::Local, "`true` or `false`"),
            database: DatabaseSettings {
                url: env.secret("DATABASE_URL", LOCAL_DATABASE_URL, |url| url.starts_with("mysql://")),
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
                    "payment.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic_name(t),
                ),
                product_events_topic: env.parse_with(
                    "KAFKA_PRODUCT_EVENTS_TOPIC",
                    "product.events.v1".to_owned(),
                    "a topic name",
                    |t: &String| is_topic_name(t),
                ),
                group_id: env.parse_with(
                    "KAFKA_GROUP_ID",
                    "payment-service".to_owned(),
                    "a consumer group name",
                    |g: &String| !g.is_empty() && g.len() <= 255,
                ),
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
                    |id: &String| id.is_empty() || is_topic_name(id),
                ))
                .filter(|id| !id.is_empty()),
            },
            gateway: GatewaySettings {
                kind: env.parse("GATEWAY", GatewayKind::Sandbox, "`sandbox` or `stripe`"),
                stripe_api_base: env.parse_with(
                    "STRIPE_API_BASE",
                    "https://api.stripe.com".to_owned(),
                    "an http:// or https:// URL",
                    |u: &String| u.starts_with("https://") || u.starts_with("http://"),
                ),
                stripe_secret_key: env.optional_secret("STRIPE_SECRET_KEY", "a Stripe secret key (sk_...)", |k| {
                    k.starts_with("sk_") || k.starts_with("rk_")
                }),
                webhook_secret: env
                    .optional_secret("STRIPE_WEBHOOK_SECRET", "a webhook signing secret", |k| k.len() >= 16),
                webhook_tolerance: Duration::from_secs(env.parse_with(
                    "WEBHOOK_TOLERANCE_SECS",
                    300,
                    "1 to 3600 seconds",
                    |s| (1..=3600).contains(s),
                )),
                timeout: millis(env.parse_with("GATEWAY_TIMEOUT_MS", 10_000, "100 to 120000 milliseconds", |m| {
                    (100..=120_000).contains(m)
                })),
                reconcile_interval: millis(env.parse_with(
                    "RECONCILE_INTERVAL_MS",
                    2000,
                    "10 to 3600000 milliseconds",
                    |m| (10..=3_600_000).contains(m),
                )),
                max_pending_age: Duration::from_secs(env.parse_with(
                    "RECONCILE_MAX_PENDING_SECS",
                    23 * 3600,
                    "1 to 84600 seconds (below Stripe's 24 h idempotency window)",
                    |s| (1..=84_600).contains(s),
                )),
                paypal: paypal_settings(&mut env),
            },
            sweep: SweepSettings {
                product_grpc_url: env.parse_with(
                    "PRODUCT_GRPC_URL",
                    "https://127.0.0.1:50052".to_owned(),
                    "an http:// or https:// URL",
                    |u: &String| u.starts_with("http://") || u.starts_with("https://"),
                ),
                interval: millis(env.parse_with("SWEEP_INTERVAL_MS", 60_000, "100 to 3600000 milliseconds", |m| {
                    (100..=3_600_000).contains(m)
                })),
                grace: Duration::from_secs(
                    env.parse_with("SWEEP_GRACE_SECS", 1800, "1 to 604800 seconds", |s| (1..=604_800).contains(s)),
                ),
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
        if settings.gateway.kind == GatewayKind::Stripe && settings.gateway.stripe_secret_key.is_none() {
            env.errors.push(format!("{ENV_PREFIX}STRIPE_SECRET_KEY must be set when {ENV_PREFIX}GATEWAY=stripe"));
        }
        if environment == Environment::Production {
            if settings.gateway.kind == GatewayKind::Sandbox {
                env.errors.push(format!("{ENV_PREFIX}GATEWAY=sandbox is refused in production (it takes no money)"));
            }
            if settings.gateway.webhook_secret.is_none() {
                env.errors.push(format!("{ENV_PREFIX}STRIPE_WEBHOOK_SECRET must be set in production"));
            }
        }
        for (key, url) in
            [("PRODUCT_GRPC_URL", &settings.sweep.product_grpc_url), ("AUTH_GRPC_URL", &settings.auth.grpc_url)]
        {
            if environment == Environment::Production && !url.starts_with("https://") {
                env.errors
                    .push(format!("{ENV_PREFIX}{key} must be https:// in production (internal calls are mutual TLS)"));
            }
        }
        if environment == Environment::Production && settings.grpc_reflection {
            env.errors
                .push(format!("{ENV_PREFIX}GRPC_REFLECTION=true is refused in production (it lists the whole API)"));
        }
        if let (Environment::Production, Some(paypal)) = (environment, &settings.gateway.paypal) {
            for (key, url) in [
                ("PAYPAL_API_BASE", &paypal.api_base),
                ("PAYPAL_RETURN_URL", &paypal.return_url),
                ("PAYPAL_CANCEL_URL", &paypal.cancel_url),
            ] {
                if !url.starts_with("https://") {
                    env.errors.push(format!("{ENV_PREFIX}{key} must be https:// in production"));
                }
            }
            // PayPal's sandbox takes no money: captured "payments" would sell real stock.
            if paypal.api_base.to_ascii_lowercase().contains("sandbox.paypal.com") {
                env.errors.push(format!(
                    "{ENV_PREFIX}PAYPAL_API_BASE is PayPal's sandbox, refused in production (it takes no money): set \
                     https://api-m.paypal.com"
                ));
            }
            if paypal.webhook_id.is_none() {
                env.errors.push(format!("{ENV_PREFIX}PAYPAL_WEBHOOK_ID must be set in production when PayPal is on"));
            }
            env.refuse_loopback(&[("PAYPAL_API_BASE", &paypal.api_base)]);
        }
        if environment == Environment::Production {
            env.refuse_loopback(&[
                ("DATABASE_URL", settings.database.url.expose_secret()),
                ("KAFKA_BROKERS", &settings.kafka.brokers),
                ("AUTH_JWKS_URL", &settings.auth.jwks_url),
                ("AUTH_GRPC_URL", &settings.auth.grpc_url),
                ("STRIPE_API_BASE", &settings.gateway.stripe_api_base),
                ("PRODUCT_GRPC_URL", &settings.sweep.product_grpc_url),
            ]);
        }
        env.finish().map(|()| settings)
    }
}

/// PayPal's settings when `PAYMENT_PAYPAL_CLIENT_ID` is set (its secret is then required).
fn paypal_settings(env: &mut EnvReader) -> Option<PayPalSettings> {
    let url = |u: &String| u.starts_with("https://") || u.starts_with("http://");
    let api_base = env.parse_with(
        "PAYPAL_API_BASE",
        "https://api-m.sandbox.paypal.com".to_owned(),
        "an http:// or https:// URL",
        url,
    );
    // The storefront's pages: this platform has none of its own, so there is no default.
    let return_url = env.parse_with("PAYPAL_RETURN_URL", String::new(), "an http:// or https:// URL", url);
    let cancel_url = env.parse_with("PAYPAL_CANCEL_URL", String::new(), "an http:// or https:// URL", url);
    let webhook_id = env.parse_with(
        "PAYPAL_WEBHOOK_ID",
        String::new(),
        "PayPal's webhook id (letters and digits)",
        |id: &String| id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
    );
    let client_secret = env.optional_secret("PAYPAL_CLIENT_SECRET", "a PayPal client secret", |k| !k.is_empty());
    let client_id = env.parse("PAYPAL_CLIENT_ID", String::new(), "a PayPal client id");
    if client_id.trim().is_empty() {
        if client_secret.is_some() {
            env.errors.push(format!("{ENV_PREFIX}PAYPAL_CLIENT_SECRET is set without {ENV_PREFIX}PAYPAL_CLIENT_ID"));
        }
        return None;
    }
    let Some(client_secret) = client_secret else {
        env.errors.push(format!("{ENV_PREFIX}PAYPAL_CLIENT_SECRET must be set when {ENV_PREFIX}PAYPAL_CLIENT_ID is"));
        return None;
    };
    for (key, value) in [("PAYPAL_RETURN_URL", &return_url), ("PAYPAL_CANCEL_URL", &cancel_url)] {
        if value.is_empty() {
            env.errors.push(format!(
                "{ENV_PREFIX}{key} must be set when {ENV_PREFIX}PAYPAL_CLIENT_ID is: the storefront's page PayPal sends \
                 the buyer back to"
            ));
        }
    }
    Some(PayPalSettings {
        api_base,
        client_id: client_id.trim().to_owned(),
        client_secret,
        webhook_id: Some(webhook_id).filter(|id| !id.is_empty()),
        return_url,
        cancel_url,
    })
}

impl FromStr for GatewayKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sandbox" => Ok(Self::Sandbox),
            "stripe" => Ok(Self::Stripe),
            _ => Err(()),
        }
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

fn is_topic_name(t: &str) -> bool {
    !t.is_empty() && t.len() <= 249 && t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
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
                self.errors.push(format!("{name} is not valid (value hidden): expected a mysql:// URL"));
                SecretString::from(default)
            }
        }
    }

    /// A secret that may be absent; a malformed one is reported without its value.
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
        assert_eq!(s.http_port, 8084);
        assert_eq!(s.grpc_port, 50054);
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.environment, Environment::Local);
    }

    #[test]
    fn static_group_membership_is_off_unless_an_instance_id_is_given() {
        let s = Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.kafka.group_instance_id, None);
        let s = Settings::from_vars(vars(&[("PAYMENT_KAFKA_GROUP_INSTANCE_ID", "payment-service-0")])).unwrap();
        assert_eq!(s.kafka.group_instance_id.as_deref(), Some("payment-service-0"));
        let err = Settings::from_vars(vars(&[("PAYMENT_KAFKA_GROUP_INSTANCE_ID", "payment 0")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_KAFKA_GROUP_INSTANCE_ID"), "{err}");
    }

    #[test]
    fn a_malformed_value_is_named_in_the_error() {
        let err = Settings::from_vars(vars(&[("PAYMENT_HTTP_PORT", "eighty")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("PAYMENT_HTTP_PORT=\"eighty\""), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let err = Settings::from_vars(vars(&[("PAYMENT_HTTP_PORT", "x"), ("PAYMENT_GRPC_PORT", "70000")])).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn an_unknown_prefixed_variable_is_refused() {
        let err = Settings::from_vars(vars(&[("PAYMENT_HTTP_PROT", "8084")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_HTTP_PROT is not a setting"), "{err}");
    }

    #[test]
    fn a_bad_secret_is_not_echoed() {
        let err = Settings::from_vars(vars(&[("PAYMENT_DATABASE_URL", "postgres://u:hunter2@db/x")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_DATABASE_URL"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn production_refuses_the_local_default_credentials() {
        let err = Settings::from_vars(vars(&[("PAYMENT_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_DATABASE_URL must be set"), "{err}");
        let ok = Settings::from_vars(vars(&[
            ("PAYMENT_ENV", "production"),
            ("PAYMENT_KAFKA_BROKERS", "kafka:9092"),
            ("PAYMENT_AUTH_JWKS_URL", "http://auth-service:8081/.well-known/jwks.json"),
            ("PAYMENT_AUTH_GRPC_URL", "https://auth-service:50051"),
            ("PAYMENT_PRODUCT_GRPC_URL", "https://product-service:50052"),
            ("PAYMENT_DATABASE_URL", "mysql://payment:s3cret@db:3306/payment"),
            ("PAYMENT_GATEWAY", "stripe"),
            ("PAYMENT_STRIPE_SECRET_KEY", "sk_live_abcdef"),
            ("PAYMENT_STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef"),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
        let plain = Settings::from_vars(vars(&[
            ("PAYMENT_ENV", "production"),
            ("PAYMENT_PRODUCT_GRPC_URL", "http://product-service:50052"),
            ("PAYMENT_AUTH_GRPC_URL", "http://auth-service:50051"),
        ]))
        .unwrap_err();
        assert!(plain.to_string().contains("PAYMENT_PRODUCT_GRPC_URL must be https://"), "{plain}");
        assert!(plain.to_string().contains("PAYMENT_AUTH_GRPC_URL must be https://"), "{plain}");
    }

    #[test]
    fn production_refuses_a_remote_dependency_left_at_loopback() {
        let err = Settings::from_vars(vars(&[
            ("PAYMENT_ENV", "production"),
            ("PAYMENT_DATABASE_URL", "mysql://payment:hunter2@localhost:3306/payment"),
        ]))
        .unwrap_err()
        .to_string();
        for key in ["DATABASE_URL", "KAFKA_BROKERS", "AUTH_JWKS_URL", "AUTH_GRPC_URL", "PRODUCT_GRPC_URL"] {
            assert!(err.contains(&format!("PAYMENT_{key} points at")), "{key} not named: {err}");
        }
        assert!(err.contains("PAYMENT_DATABASE_URL points at localhost"), "{err}");
        assert!(!err.contains("hunter2"), "a password reached the error: {err}");
        // A local run keeps its loopback defaults.
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).is_ok());
    }

    #[test]
    fn production_refuses_the_sandbox_and_stripe_needs_its_key() {
        let err = Settings::from_vars(vars(&[
            ("PAYMENT_ENV", "production"),
            ("PAYMENT_DATABASE_URL", "mysql://payment:s3cret@db:3306/payment"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("PAYMENT_GATEWAY=sandbox is refused"), "{err}");
        let err = Settings::from_vars(vars(&[("PAYMENT_GATEWAY", "stripe")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_STRIPE_SECRET_KEY must be set"), "{err}");
        let err = Settings::from_vars(vars(&[("PAYMENT_STRIPE_SECRET_KEY", "pk_live_oops_secret")])).unwrap_err();
        assert!(!err.to_string().contains("oops_secret"), "{err}");
    }

    #[test]
    fn paypal_is_on_with_a_client_id_and_its_secret_and_production_refuses_its_sandbox() {
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap().gateway.paypal.is_none());
        let on = Settings::from_vars(vars(&[
            ("PAYMENT_PAYPAL_CLIENT_ID", "AbC"),
            ("PAYMENT_PAYPAL_CLIENT_SECRET", "paypal-secret-do-not-show"),
            ("PAYMENT_PAYPAL_RETURN_URL", "http://shop.test/checkout/{order_id}"),
            ("PAYMENT_PAYPAL_CANCEL_URL", "http://shop.test/checkout/{order_id}"),
        ]))
        .unwrap();
        let paypal = on.gateway.paypal.as_ref().expect("PayPal is on");
        assert_eq!(paypal.api_base, "https://api-m.sandbox.paypal.com");
        assert!(!format!("{on:?}").contains("paypal-secret-do-not-show"));
        let err = Settings::from_vars(vars(&[("PAYMENT_PAYPAL_CLIENT_ID", "AbC")])).unwrap_err().to_string();
        assert!(err.contains("PAYMENT_PAYPAL_CLIENT_SECRET must be set"), "{err}");
        let err = Settings::from_vars(vars(&[
            ("PAYMENT_PAYPAL_CLIENT_ID", "AbC"),
            ("PAYMENT_PAYPAL_CLIENT_SECRET", "paypal-secret-do-not-show"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("PAYMENT_PAYPAL_RETURN_URL must be set"), "{err}");

        let production = |api_base: &str| {
            Settings::from_vars(vars(&[
                ("PAYMENT_ENV", "production"),
                ("PAYMENT_PAYPAL_CLIENT_ID", "AbC"),
                ("PAYMENT_PAYPAL_CLIENT_SECRET", "paypal-secret-do-not-show"),
                ("PAYMENT_PAYPAL_API_BASE", api_base),
            ]))
            .unwrap_err()
            .to_string()
        };
        let err = production("https://API-M.Sandbox.PayPal.com");
        assert!(err.contains("PAYPAL_API_BASE is PayPal's sandbox, refused in production"), "{err}");
        assert!(err.contains("PAYMENT_PAYPAL_WEBHOOK_ID must be set"), "{err}");
        assert!(err.contains("PAYMENT_PAYPAL_RETURN_URL must be https://"), "{err}");
        assert!(!err.contains("paypal-secret-do-not-show"), "{err}");
        assert!(!production("https://api-m.paypal.com").contains("PayPal's sandbox"));
    }

    #[test]
    fn the_settings_debug_output_hides_the_database_url() {
        let s = Settings::from_vars(vars(&[("PAYMENT_DATABASE_URL", "mysql://payment:hunter2@db/payment")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn grpc_reflection_is_on_locally_and_refused_in_production() {
        assert!(Settings::from_vars(vars(&[("PATH", "/bin")])).unwrap().grpc_reflection);
        assert!(!Settings::from_vars(vars(&[("PAYMENT_GRPC_REFLECTION", "false")])).unwrap().grpc_reflection);
        let err = Settings::from_vars(vars(&[("PAYMENT_ENV", "production"), ("PAYMENT_GRPC_REFLECTION", "true")]))
            .unwrap_err();
        assert!(err.to_string().contains("PAYMENT_GRPC_REFLECTION=true is refused in production"), "{err}");
    }

    #[test]
    fn kafka_sasl_settings_are_read_and_incomplete_ones_refused() {
        let s = Settings::from_vars(vars(&[
            ("PAYMENT_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("PAYMENT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("PAYMENT_KAFKA_SASL_USERNAME", "svc"),
            ("PAYMENT_KAFKA_SASL_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(s.kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.kafka.security.sasl_mechanism, Some(SaslMechanism::ScramSha256));
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Settings::from_vars(vars(&[("PAYMENT_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_KAFKA_SASL_PASSWORD must be set"), "{err}");
        let err = Settings::from_vars(vars(&[("PAYMENT_KAFKA_SASL_PASSWORD", "")])).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_KAFKA_SASL_PASSWORD is not valid (value hidden)"), "{err}");
    }
}
