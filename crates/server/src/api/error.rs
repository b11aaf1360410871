//! API errors in the shape of Okta's error object:
//! `{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses": [{"errorSummary"}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use devicetrust_errors::{ErrorKind, HasKind};
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
    /// For a 429 from a failure limiter: its limit and when to retry
    /// (`X-Rate-Limit-*` and `Retry-After` headers).
    pub throttled: Option<crate::ops::failures::Throttled>,
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
            throttled: None,
        }
    }

    /// 429 E0000047, with Okta's wording and rate-limit headers: too many
    /// failed attempts from this source (or for this name).
    pub fn throttled(throttled: crate::ops::failures::Throttled) -> Self {
        let mut e = Self::too_many("API call exceeded rate limit due to too many requests.");
        e.throttled = Some(throttled);
        e
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

    /// 429 E0000047: a bound was reached; retry later.
    pub fn too_many(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "E0000047", summary)
    }

    /// 503 E0000010: something we depend on is unavailable; retry later.
    /// Answered with `Retry-After`, since the condition is transient.
    pub fn unavailable(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "E0000010", summary)
    }

    /// The one mapping from an error's [`ErrorKind`] to Okta's error
    /// object, so an error reads the same from every API. An internal
    /// error's cause is logged, never sent.
    pub fn from_error<E: HasKind + std::fmt::Display>(e: &E) -> Self {
        match e.kind() {
            ErrorKind::Invalid => Self::invalid("Api validation failed").with_cause(e.to_string()),
            ErrorKind::Unauthenticated => Self::unauthenticated(e.to_string()),
            ErrorKind::Forbidden => Self::forbidden(e.to_string()),
            ErrorKind::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "E0000007",
                format!("Not found: Resource not found: {e}"),
            ),
            ErrorKind::Conflict => Self::conflict(e.to_string()),
            ErrorKind::LimitReached => Self::too_many(e.to_string()),
            // The cause (a database driver's message, a host name) is for
            // the operator's log, not for whoever sent the request.
            ErrorKind::Unavailable => {
                tracing::warn!(error = %e, "answered 503: unavailable");
                Self::unavailable(UNAVAILABLE)
            }
            _ => Self::internal(e),
        }
    }

    /// A store or registry error, the same from the admin API and the
    /// device API: by its kind, with Okta's wording for an unknown device
    /// and for a lifecycle operation the device's state forbids.
    pub fn from_store(e: devicetrust_store::Error) -> Self {
        use devicetrust_devices::DeviceError;
        match e {
            devicetrust_store::Error::Device(DeviceError::DeviceNotFound { device, .. }) => {
                Self::not_found("Device", device.as_str())
            }
            devicetrust_store::Error::Device(DeviceError::Transition { device, source }) => {
                Self::conflict(format!(
                    "Cannot {} device {device}: it is {}",
                    source.operation, source.from
                ))
                .with_cause(source.to_string())
            }
            other => Self::from_error(&other),
        }
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(t) = self.throttled {
            crate::ops::failures::rate_limit_headers(response.headers_mut(), t);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// What a 503 says, whatever the cause.
pub const UNAVAILABLE: &str = "Service unavailable: try again shortly";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;
    use devicetrust_devices::{DeviceError, DeviceId, OrgId};

    #[test]
    fn a_store_error_reads_by_its_kind_and_internal_causes_stay_private() {
        let limit = ApiError::from_store(devicetrust_store::Error::LimitReached {
            what: "request nonces",
            limit: 3,
        });
        assert_eq!(
            (limit.status, limit.code),
            (StatusCode::TOO_MANY_REQUESTS, "E0000047")
        );
        let missing = ApiError::from_store(devicetrust_store::Error::Device(
            DeviceError::DeviceNotFound {
                org: OrgId::new("acme").unwrap(),
                device: DeviceId::new("guo1").unwrap(),
            },
        ));
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.summary.contains("guo1"));
        let corrupt = ApiError::from_store(devicetrust_store::Error::Corrupt {
            what: "device",
            reason: "secret detail".into(),
        });
        assert_eq!(corrupt.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(corrupt.causes.is_empty() && !corrupt.summary.contains("secret"));
        let invalid =
            ApiError::from_store(devicetrust_store::Error::Device(DeviceError::BadCursor));
        assert_eq!(
            (invalid.status, invalid.code),
            (StatusCode::BAD_REQUEST, "E0000001")
        );
    }

    #[test]
    fn every_service_error_states_its_kind() {
        use crate::service::policies::PolicyStoreError;
        let in_use = ApiError::from_error(&PolicyStoreError::InUse {
            assurance: "a1".into(),
            policy: "p1".into(),
        });
        assert_eq!(in_use.status, StatusCode::CONFLICT);
        let file = ApiError::from_error(&crate::service::DataError::File {
            path: "secret/path".into(),
            reason: "disk".into(),
        });
        assert_eq!(file.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(file.causes.is_empty() && !file.summary.contains("secret"));
        let unknown =
            ApiError::from_error(&crate::service::DataError::NotFound("integration x".into()));
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let signals = ApiError::from_error(&crate::service::signals::SignalError::Refused {
            provider: "wsc".into(),
            reason: "bad".into(),
        });
        assert_eq!(signals.status, StatusCode::BAD_REQUEST);
    }
}
