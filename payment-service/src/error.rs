//! The one error type of payment-service: what went wrong, in the service's terms. Its gRPC
//! view is `grpc/error.rs` and its HTTP view (webhooks) `http/error.rs`, each mapping every
//! variant (no `_` arm), so a new variant cannot be forgotten in either.

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("send an access token as `authorization: Bearer <token>` (gRPC metadata, or the HTTP header)")]
    Unauthenticated,
    #[error("a user can only see their own payments")]
    PermissionDenied,
    /// A support refund asked for without the admin role.
    #[error("support refunds need the admin role")]
    NotAnOperator,
    /// A gRPC call without a client certificate: internal calls are mutual TLS.
    #[error("internal calls need the calling service's client certificate from the platform CA (mutual TLS)")]
    NoWorkloadIdentity,
    /// A platform workload calling a method that is not its to call.
    #[error("{caller} may not call {method}")]
    WorkloadNotAllowed { caller: String, method: &'static str },
    #[error("no such payment: {0}")]
    PaymentNotFound(String),
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is still in progress; retry shortly")]
    RequestInProgress,
    #[error(
        "this order is already charged (for another amount, or by another caller); a new order needs a new order_id"
    )]
    OrderAlreadyCharged,
    #[error("the refund exceeds what is left to refund ({refundable} minor units)")]
    RefundExceedsCharge { refundable: i64 },
    #[error("a {0} payment cannot be refunded")]
    NotRefundable(crate::domain::PaymentStatus),
    /// PayPal asked for where no PayPal account is configured.
    #[error("paying with {0} is not offered here")]
    PaymentMethodUnavailable(&'static str),
    #[error("the webhook is refused: {0}")]
    WebhookRefused(&'static str),
    #[error("a dependency of payment-service is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl PaymentError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::NotAnOperator => "permission_denied",
            Self::NoWorkloadIdentity => "unauthenticated",
            Self::WorkloadNotAllowed { .. } => "permission_denied",
            Self::PaymentNotFound(_) => "payment_not_found",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RequestInProgress => "request_in_progress",
            Self::OrderAlreadyCharged => "order_already_charged",
            Self::RefundExceedsCharge { .. } => "refund_exceeds_charge",
            Self::NotRefundable(_) => "payment_not_refundable",
            Self::PaymentMethodUnavailable(_) => "payment_method_unavailable",
            Self::WebhookRefused(_) => "invalid_webhook",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    /// Logs what went wrong on this side (a client's mistake is the client's to see).
    pub(crate) fn log_if_server_side(&self) {
        match self {
            Self::Unavailable(cause) => tracing::warn!(error = format!("{cause:#}"), "dependency unavailable"),
            Self::Unexpected(cause) => tracing::error!(error = format!("{cause:#}"), "unexpected error"),
            // A platform service calling what it must not: a misconfiguration, or a stolen
            // certificate at work.
            Self::WorkloadNotAllowed { caller, method } => {
                tracing::warn!(caller, method, "a workload was refused a gRPC method")
            }
            Self::InvalidInput { .. }
            | Self::Unauthenticated
            | Self::PermissionDenied
            | Self::NotAnOperator
            | Self::NoWorkloadIdentity
            | Self::PaymentNotFound(_)
            | Self::IdempotencyKeyReused
            | Self::RequestInProgress
            | Self::OrderAlreadyCharged
            | Self::RefundExceedsCharge { .. }
            | Self::NotRefundable(_)
            | Self::PaymentMethodUnavailable(_)
            | Self::WebhookRefused(_) => {}
        }
    }
}

impl From<crate::auth::TokenError> for PaymentError {
    fn from(error: crate::auth::TokenError) -> Self {
        match error {
            crate::auth::TokenError::KeysUnavailable(cause) => {
                Self::Unavailable(cause.context("auth's public keys are unavailable"))
            }
            crate::auth::TokenError::SessionUnconfirmed(cause) => {
                Self::Unavailable(cause.context("auth cannot confirm the session"))
            }
            refused => {
                // Why is for the logs; the caller learns only that the token was refused.
                tracing::info!(reason = %refused, "access token refused");
                Self::Unauthenticated
            }
        }
    }
}
