//! The one error type of cart-service: what went wrong, in the service's terms. Its HTTP view
//! is `http/error.rs`, mapping every variant (no `_` arm).

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("{field} {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("sign in: send a valid access token as `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("this session was signed out or revoked; sign in again")]
    SessionRevoked,
    #[error("no such product: {0}")]
    ProductNotFound(String),
    #[error("the cart holds no line for product {0}")]
    LineNotFound(String),
    #[error("no checkout {0} of yours is known here (records are kept for a day)")]
    CheckoutNotFound(String),
    #[error("a cart holds at most {0} lines")]
    CartFull(usize),
    #[error("a line holds at most {max} units; this would make {wanted}")]
    TooMany { max: i64, wanted: i64 },
    #[error("the cart is empty")]
    CartEmpty,
    #[error("these products are no longer available: {}", .0.join(", "))]
    LinesUnavailable(Vec<String>),
    #[error("not enough stock for: {}", if .0.is_empty() { "some of the lines".to_owned() } else { .0.join(", ") })]
    OutOfStock(Vec<String>),
    #[error("the payment was declined ({code}): {message}")]
    PaymentDeclined { code: String, message: String },
    /// A decline answered again to a retry with the same key, in the words first given.
    #[error("{0}")]
    DeclinedBefore(String),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a checkout with this Idempotency-Key is in progress; retry shortly")]
    CheckoutInProgress,
    #[error("{0}")]
    Conflict(String),
    #[error("a service the cart needs is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
}

impl CartError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// A checkout whose reservation was released or expired before it could be paid.
    pub fn reservation_expired() -> Self {
        Self::Conflict("this checkout's reservation has expired; check out again with a new Idempotency-Key".to_owned())
    }

    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::SessionRevoked => "session_revoked",
            Self::ProductNotFound(_) => "product_not_found",
            Self::LineNotFound(_) => "line_not_found",
            Self::CheckoutNotFound(_) => "checkout_not_found",
            Self::CartFull(_) => "cart_full",
            Self::TooMany { .. } => "quantity_too_high",
            Self::CartEmpty => "cart_empty",
            Self::LinesUnavailable(_) => "lines_unavailable",
            Self::OutOfStock(_) => "out_of_stock",
            Self::PaymentDeclined { .. } | Self::DeclinedBefore(_) => "payment_declined",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::CheckoutInProgress => "checkout_in_progress",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }
}

impl From<crate::auth::TokenError> for CartError {
    fn from(error: crate::auth::TokenError) -> Self {
        match error {
            crate::auth::TokenError::KeysUnavailable(cause) => {
                Self::Unavailable(cause.context("auth's public keys are unavailable"))
            }
            refused => {
                tracing::info!(reason = %refused, "access token refused");
                Self::Unauthenticated
            }
        }
    }
}

impl From<redis::RedisError> for CartError {
    fn from(error: redis::RedisError) -> Self {
        Self::Unavailable(anyhow::Error::new(error).context("Redis"))
    }
}
