//! `POST /v1/admin/payments/{payment_id}/refunds`: a support refund. An operator (an admin's
//! token, its session still active) refunds part or all of any user's payment, with a reason.
//! The refund is kept with who asked for it (`refunds.requested_by`) and logged; it goes through
//! the same path as the owner's own refunds (the payment locked, never more than is left, one
//! refund per Idempotency-Key).
use super::{
    caller::OperatorCaller,
    views::{ErrorBody, SupportRefund},
};
use crate::{
    error::PaymentError,
    payments::{Payments, RefundInput, Requester, ValidRefund},
};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

/// What to refund, and why.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportRefundRequest {
    /// At most what is left to refund, in the payment's currency.
    pub amount: Amount,
    /// Why, for the customer's and the auditor's eyes (1 to 500 characters).
    #[schema(example = "damaged in transit")]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    #[schema(example = 1250)]
    pub amount_minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

#[utoipa::path(
    tag = "operators",
    params(
        ("payment_id" = String, Path, description = "The payment to refund"),
        ("Idempotency-Key" = String, Header, description = "The same key replays the first answer; 1 to 255 characters"),
    ),
    request_body = SupportRefundRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The refund, as the gateway left it (`succeeded`, `pending` or `failed`), and the payment", body = SupportRefund),
        (status = 400, description = "A malformed body, amount or reason, or no Idempotency-Key", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "The token has no admin role", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody),
        (status = 409, description = "More than is left to refund, a payment that holds no money, or the key reused for another request", body = ErrorBody),
        (status = 503, description = "The database or auth is unavailable", body = ErrorBody),
    )
)]
#[post("/v1/admin/payments/{payment_id}/refunds")]
pub(super) async fn support_refund(
    operator: OperatorCaller,
    req: HttpRequest,
    payment_id: web::Path<String>,
    body: web::Bytes,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, PaymentError> {
    let idempotency_key =
        req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).map(str::to_owned).ok_or_else(|| {
            PaymentError::invalid("Idempotency-Key", "is required: the same key replays the first answer")
        })?;
    let body: SupportRefundRequest =
        serde_json::from_slice(&body).map_err(|error| PaymentError::invalid("body", error.to_string()))?;
    // The owner's refunds may come without a reason; an operator's must say why (the audit).
    if body.reason.trim().is_empty() {
        return Err(PaymentError::invalid("reason", "is required: say why, for the customer and the audit"));
    }
    let payment_id = payment_id.into_inner();
    let valid = ValidRefund::parse(RefundInput {
        idempotency_key,
        payment_id: payment_id.clone(),
        amount_minor: body.amount.amount_minor,
        currency: body.amount.currency,
        reason: body.reason,
    })?;
    let owner = payments.owner_of(&payment_id).await?;
    let (refund, payment) = payments.refund(&owner, valid, Requester::Operator(&operator.user_id)).await?;
    tracing::info!(
        operator = %operator.user_id,
        payment_id = %payment.id,
        refund_id = %refund.id,
        amount_minor = refund.amount_minor,
        currency = %refund.currency,
        reason = %refund.reason,
        status = refund.status.as_str(),
        "support refund"
    );
    Ok(HttpResponse::Created().json(SupportRefund::of(&refund, &payment)))
}
