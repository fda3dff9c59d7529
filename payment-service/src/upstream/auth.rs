//! auth-service's online session check: `VerifyToken` over mutual TLS (auth answers only the
//! workloads it lists), so that a token of a session the user logged out of, or that auth
//! revoked, is refused here before it expires. The call carries the request's trace context.
use super::channel::ServiceChannel;
use crate::{
    proto::shop::auth::v1::{auth_service_client::AuthServiceClient, VerifyTokenRequest},
    telemetry,
};
use opentelemetry::propagation::Injector;
use std::{path::Path, time::Duration};
use tonic::{
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    Code, Status,
};
use tonic_types::StatusExt;

/// auth's workload name: the SAN its certificate must carry.
const AUTH: &str = "auth-service";

/// The reason auth gives for a token it does not accept: a bad signature, an expired token, or
/// its session logged out or revoked. Any other refusal is auth unable to say.
const INVALID_TOKEN: &str = "INVALID_TOKEN";

#[derive(Clone)]
pub struct Sessions {
    channel: ServiceChannel,
}

impl Sessions {
    /// A client that connects on its first call (auth may start after this service); over
    /// mutual TLS with the identity in `tls_dir` when `url` is `https://`.
    pub fn connect_lazy(url: &str, timeout: Duration, tls_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self { channel: ServiceChannel::connect_lazy(AUTH, url, timeout, tls_dir)? })
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
        AuthServiceClient::new(self.channel.current()).verify_token(request).await.map(|_| ())
    }
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
}
