//! API errors in the shape of Okta's error object:
//! `{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses": [{"errorSummary"}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API error: the HTTP status, Okta's error code, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {summary}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Okta's error code (`E0000007` for not found, ...).
    pub code: &'static str,
    /// One line on what went wrong, safe to show the caller.
    pub summary: String,
    /// Details, one line each.
    pub causes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    error_code: &'a str,
    error_summary: &'a str,
    error_link: &'a str,
    error_id: String,
    error_causes: Vec<Cause<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cause<'a> {
    error_summary: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, summary: impl Into<String>) -> Self {
        Self {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
        }
    }

    /// 400 E0000001: the request is not valid.
    pub fn invalid(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "E0000001", summary)
    }

    /// 401 E0000011: missing, wrong or revoked credentials.
    pub fn unauthenticated(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "E0000011", summary)
    }

    /// 403 E0000006: authenticated, but not allowed to do this.
    pub fn forbidden(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "E0000006", summary)
    }

    /// 404 E0000007: no such resource.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E0000007",
            format!("Not found: Resource not found: {id} ({what})"),
        )
    }

    /// 409 E0000001 variant: the resource's state forbids this.
    pub fn conflict(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "E0000001", summary)
    }

    /// 413: the body is too large.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E0000001",
            format!("the request body is over the {limit}-byte limit"),
        )
    }

    /// 500 E0000009: our fault. The summary is generic; the cause is logged.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E0000009",
            "Internal Server Error",
        )
    }

    /// Adds a cause.
    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut id = [0u8; 8];
        let error_id = match getrandom::fill(&mut id) {
            Ok(()) => format!("oae{}", hex::encode(id)),
            Err(_) => "oae".to_owned(),
        };
        let body = Body {
            error_code: self.code,
            error_summary: &self.summary,
            error_link: self.code,
            error_id,
            error_causes: self
                .causes
                .iter()
                .map(|c| Cause { error_summary: c })
                .collect(),
        };
        (self.status, Json(body)).into_response()
    }
}
