//! The one error type of product-service: what went wrong, in the service's terms. Its HTTP
//! view is `http/error.rs` and its gRPC view `grpc/error.rs`, each mapping every variant (no `_`
//! arm), so a new variant cannot be forgotten in either.

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("no such product: {0}")]
    ProductNotFound(String),
    #[error("not enough stock for: {}", .0.join(", "))]
    OutOfStock(Vec<String>),
    #[error("no such reservation: {0}")]
    ReservationNotFound(String),
    #[error("the reservation is {0} and can no longer change that way")]
    ReservationClosed(&'static str),
    #[error("the payment ({paid}) is not the reservation's total ({total})")]
    PaymentMismatch { paid: String, total: String },
    #[error("sign in: send a valid access token as `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("this needs the admin role")]
    Forbidden,
    /// A gRPC call without a client certificate: internal calls are mutual TLS.
    #[error("internal calls need the calling service's client certificate from the platform CA (mutual TLS)")]
    NoWorkloadIdentity,
    /// A platform workload calling a method that is not its to call.
    #[error("{caller} may not call {method}")]
    WorkloadNotAllowed { caller: String, method: &'static str },
    #[error("send the version you last read, as `If-Match: \"<version>\"` or `version` in the body")]
    PreconditionRequired,
    #[error("the product changed since you read it: it is at version {current}")]
    VersionMismatch { current: i64 },
    #[error("a product with sku {0:?} exists already")]
    SkuTaken(String),
    #[error("stock on hand cannot go below the {reserved} units reserved by checkouts")]
    StockBelowReserved { reserved: i64 },
    #[error("a dependency of product-service is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl ProductError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::ProductNotFound(_) => "product_not_found",
            Self::OutOfStock(_) => "out_of_stock",
            Self::ReservationNotFound(_) => "reservation_not_found",
            Self::ReservationClosed(_) => "reservation_closed",
            Self::PaymentMismatch { .. } => "payment_mismatch",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NoWorkloadIdentity => "unauthenticated",
            Self::WorkloadNotAllowed { .. } => "forbidden",
            Self::PreconditionRequired => "precondition_required",
            Self::VersionMismatch { .. } => "version_mismatch",
            Self::SkuTaken(_) => "sku_taken",
            Self::StockBelowReserved { .. } => "stock_below_reserved",
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
            | Self::ProductNotFound(_)
            | Self::OutOfStock(_)
            | Self::ReservationNotFound(_)
            | Self::ReservationClosed(_)
            | Self::PaymentMismatch { .. }
            | Self::Unauthenticated
            | Self::Forbidden
            | Self::NoWorkloadIdentity
            | Self::PreconditionRequired
            | Self::VersionMismatch { .. }
            | Self::SkuTaken(_)
            | Self::StockBelowReserved { .. } => {}
        }
    }
}

impl From<crate::auth::TokenError> for ProductError {
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
