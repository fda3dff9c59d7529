//! auth-service's online session check at checkout: `VerifyToken` over mutual TLS (auth answers
//! only the workloads it lists), so that a token of a session the user logged out of, or that
//! auth revoked, cannot spend money even before it expires.
use super::Upstream;
use crate::proto::shop::auth::v1::VerifyTokenRequest;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The reason auth gives for a token it does not accept: a bad signature, an expired token, or
/// its session logged out or revoked. Any other refusal is auth unable to say.
const INVALID_TOKEN: &str = "INVALID_TOKEN";

impl Upstream {
    /// Whether auth still considers the token active. An error means auth could not say.
    pub async fn session_is_active(&self, token: &str) -> anyhow::Result<bool> {
        let request = VerifyTokenRequest { access_token: token.to_owned() };
        let answer = self.auth.send(&request, |mut client, request| async move { client.verify_token(request).await });
        activity(answer.await.map(|_| ()))
    }
}

/// auth's answer as an activity: accepted is active, refused as an invalid token is inactive,
/// anything else (auth down, cart not allowed to ask) is auth unable to say.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic_types::ErrorDetails;

    fn refused(code: Code, reason: &str) -> Result<(), Status> {
        let details = ErrorDetails::with_error_info(reason, "auth-service", HashMap::new());
        Err(Status::with_error_details(code, "refused", details))
    }

    #[test]
    fn only_an_invalid_token_reads_as_inactive_and_every_other_refusal_as_auth_unable_to_say() {
        assert!(activity(Ok(())).unwrap());
        assert!(!activity(refused(Code::Unauthenticated, INVALID_TOKEN)).unwrap());
        // cart's own certificate missing is not the shopper's token being bad.
        assert!(activity(refused(Code::Unauthenticated, "UNAUTHENTICATED")).is_err());
        assert!(activity(refused(Code::PermissionDenied, "FORBIDDEN")).is_err());
        assert!(activity(refused(Code::Unavailable, "UNAVAILABLE")).is_err());
        assert!(activity(Err(Status::unauthenticated("no details"))).is_err());
    }
}
