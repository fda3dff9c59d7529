//! auth-service's online session check: `VerifyToken` over mutual TLS (auth answers only the
//! workloads it lists), so that a token of a session the user logged out of, or that auth
//! revoked, is refused here before it expires. The call carries the request's trace context.
use super::tls::ClientIdentity;
use crate::{
    proto::shop::auth::v1::{auth_service_client::AuthServiceClient, VerifyTokenRequest},
    telemetry,
};
use anyhow::Context;
use opentelemetry::propagation::Injector;
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};
use tonic::{
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    transport::{Channel, Endpoint},
    Code, Status,
};
use tonic_types::StatusExt;

/// auth's workload name: the SAN its certificate must carry.
const AUTH: &str = "auth-service";

/// How often the idle or busy connection to auth is pinged, and how long an answer may take. A
/// replica that hangs (stopped, or its node lost) keeps its TCP connection open, and every
/// session check would time out on it: the unanswered ping drops the connection, and the next
/// call makes a new one, to a replica that answers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// The reason auth gives for a token it does not accept: a bad signature, an expired token, or
/// its session logged out or revoked. Any other refusal is auth unable to say.
const INVALID_TOKEN: &str = "INVALID_TOKEN";

#[derive(Clone)]
pub struct Sessions {
    endpoint: Endpoint,
    /// This service's identity when the URL is `https://`: looked at before each question, and
    /// the channel made again when it was rotated.
    identity: Option<Arc<ClientIdentity>>,
    client: Arc<Mutex<AuthServiceClient<Channel>>>,
}

impl Sessions {
    /// A client that connects on its first call (auth may start after this service); over
    /// mutual TLS with the identity in `tls_dir` when `url` is `https://`.
    pub fn connect_lazy(url: &str, timeout: Duration, tls_dir: &Path) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("auth's gRPC URL {url}"))?
            .timeout(timeout)
            .connect_timeout(timeout)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(timeout)
            .keep_alive_while_idle(true);
        let identity = match url.starts_with("https://") {
            true => Some(Arc::new(ClientIdentity::load(tls_dir, AUTH).context("loading this service's TLS identity")?)),
            false => None,
        };
        let client = connect(&endpoint, identity.as_deref())?;
        Ok(Self { endpoint, identity, client: Arc::new(Mutex::new(client)) })
    }

    /// Whether auth still considers the token active. An error means auth could not say.
    pub async fn is_active(&self, token: &str) -> anyhow::Result<bool> {
        let mut answer = self.ask(token).await;
        // A call that reached no auth replica (refused, or its connection went with a replica
        // that stopped) is asked once more, on a new connection: VerifyToken only reads.
        if matches!(&answer, Err(status) if is_transport_failure(status)) {
            answer = self.ask(token).await;
        }
        activity(answer)
    }

    async fn ask(&self, token: &str) -> Result<(), Status> {
        let mut request = tonic::Request::new(VerifyTokenRequest { access_token: token.to_owned() });
        telemetry::inject_current(&mut MetadataCarrier(request.metadata_mut()));
        self.client().verify_token(request).await.map(|_| ())
    }

    /// The client to ask with: a new channel, presenting the new certificate, after a rotation.
    fn client(&self) -> AuthServiceClient<Channel> {
        let renewed = self.identity.as_deref().filter(|identity| identity.renewed());
        let mut client = self.client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(identity) = renewed {
            match connect(&self.endpoint, Some(identity)) {
                Ok(renewed) => *client = renewed,
                Err(error) => tracing::warn!(error = format!("{error:#}"), "keeping auth's channel as it was"),
            }
        }
        client.clone()
    }
}

fn connect(endpoint: &Endpoint, identity: Option<&ClientIdentity>) -> anyhow::Result<AuthServiceClient<Channel>> {
    let endpoint = match identity {
        Some(identity) => {
            endpoint.clone().tls_config(identity.current()).context("the TLS settings for auth's gRPC endpoint")?
        }
        None => endpoint.clone(),
    };
    Ok(AuthServiceClient::new(endpoint.connect_lazy()))
}

/// Whether the call got no server's answer: the error was raised on this side (tonic's
/// transport errors carry their cause as the source; a status a server sent carries none).
fn is_transport_failure(status: &Status) -> bool {
    !matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled) && std::error::Error::source(status).is_some()
}

/// auth's answer as an activity: accepted is active, refused as an invalid token is inactive,
/// anything else (auth down, this service not allowed to ask) is auth unable to say.
fn activity(answer: Result<(), Status>) -> anyhow::Result<bool> {
    match answer {
        Ok(()) => Ok(true),
        Err(status)
            if status.code() == Code::Unauthenticated
                && status.get_details_error_info().is_some_and(|info| info.reason == INVALID_TOKEN) =>
        {
            Ok(false)
        }
        Err(status) => Err(anyhow::anyhow!("auth's VerifyToken answered {:?}: {}", status.code(), status.message())),
    }
}

struct MetadataCarrier<'a>(&'a mut MetadataMap);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic_types::ErrorDetails;

    fn refused(code: Code, reason: &str) -> Result<(), Status> {
        let details = ErrorDetails::with_error_info(reason, AUTH, HashMap::new());
        Err(Status::with_error_details(code, "refused", details))
    }

    #[test]
    fn only_an_invalid_token_reads_as_inactive_and_every_other_refusal_as_auth_unable_to_say() {
        assert!(activity(Ok(())).unwrap());
        assert!(!activity(refused(Code::Unauthenticated, INVALID_TOKEN)).unwrap());
        // This service's own certificate missing is not the shopper's token being bad.
        assert!(activity(refused(Code::Unauthenticated, "UNAUTHENTICATED")).is_err());
        assert!(activity(refused(Code::PermissionDenied, "FORBIDDEN")).is_err());
        assert!(activity(refused(Code::Unavailable, "UNAVAILABLE")).is_err());
        assert!(activity(Err(Status::unauthenticated("no details"))).is_err());
    }

    #[tokio::test]
    async fn an_https_url_needs_the_identity_and_a_plain_one_does_not() {
        let timeout = Duration::from_secs(1);
        let error = Sessions::connect_lazy("https://127.0.0.1:1", timeout, Path::new("/nonexistent/tls"))
            .err()
            .expect("no identity to present");
        assert!(format!("{error:#}").contains("/nonexistent/tls"), "{error:#}");
        assert!(Sessions::connect_lazy("http://127.0.0.1:1", timeout, Path::new("/nonexistent/tls")).is_ok());
    }
}
