//! The bodies the REST API answers with: the handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes the same types, so what is served and what is documented are one.
use crate::readiness::Report;
use serde::Serialize;
use utoipa::ToSchema;

/// The webhook's answer: the event was taken (or had been taken before).
#[derive(Serialize, ToSchema)]
pub struct WebhookReceived {
    pub received: bool,
    /// True when this event id was applied before: nothing changed.
    pub duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_webhook`, `unavailable`, …
    pub code: &'static str,
    /// For people; never contains secrets.
    pub message: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency (database, kafka): whether it answered, and why not.
    pub checks: Vec<crate::readiness::Check>,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into() } }
    }
}

impl From<Report> for Readiness {
    fn from(report: Report) -> Self {
        Self { status: if report.ready { "ready" } else { "unavailable" }, checks: report.checks }
    }
}
