//! Admin authentication: `Authorization: SSWS <token>` (Okta's scheme) or
//! `Authorization: Bearer <token>`, checked against the stored digests.
//!
//! Schemes match case-insensitively (RFC 9110, section 11.1), and the
//! whitespace after one is optional: Okta's Python SDK sends `SSWS<token>`.
//!
//! Failures count against the request's source ([`crate::ops::failures`]):
//! a source that keeps presenting wrong tokens is answered 429, without its
//! token being looked at, until it has earned a try back.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use devicetrust_service::PresentedToken;
use devicetrust_service::auth_failures::Credential;

use super::ApiError;
use crate::ops::failures::Guard;
use crate::service::Service;

/// An authenticated admin: the ID of the token used (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The token's public ID, for the audit log.
    pub token_id: String,
}

/// Okta's answer to a missing, malformed, wrong or revoked admin token.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::unauthenticated("Invalid token provided")
}

/// The token in `Authorization: SSWS <token>` or `Bearer <token>`.
fn presented(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(invalid_token)?
        .to_str()
        .map_err(|_| invalid_token())?;
    ["SSWS", "Bearer"]
        .into_iter()
        .find_map(|scheme| after_scheme(value, scheme))
        .map(|token| token.trim_end_matches([' ', '\t']))
        .filter(|token| !token.is_empty())
        .ok_or_else(invalid_token)
}

/// What follows `scheme` (in any case) and the spaces or tabs after it, if
/// `value` starts with it.
pub(crate) fn after_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let rest = value
        .get(..scheme.len())
        .filter(|head| head.eq_ignore_ascii_case(scheme))
        .and_then(|_| value.get(scheme.len()..))?;
    Some(rest.trim_start_matches([' ', '\t']))
}

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let guard = checked(parts)?;
        let token = presented(parts).map_err(|_| refused(&guard, MALFORMED))?;
        service
            .authenticate_admin(token)
            .map(|token_id| Admin { token_id })
            .ok_or_else(|| refused(&guard, UNKNOWN))
    }
}

/// Why a token was refused, for the System Log.
const MALFORMED: &str = "no SSWS or Bearer token in the Authorization header";
const UNKNOWN: &str = "unknown or revoked token";

/// The request's guard, or 429 when its source is out of tries: its token
/// is not looked at then.
fn checked(parts: &Parts) -> Result<Guard, ApiError> {
    let guard = Guard::of(&parts.extensions, Credential::AdminToken);
    guard.check().map_err(ApiError::throttled)?;
    Ok(guard)
}

/// The refusal of a wrong or missing token, counted and recorded.
fn refused(guard: &Guard, reason: &str) -> ApiError {
    guard.failed(reason);
    invalid_token()
}

/// An admin token for a use case that checks it itself, against the state
/// it reads (the decision API: [`Service::decide_as_admin`]). A token this
/// process knows to be wrong is refused here, before the body is read; one
/// the use case refuses is counted with [`AdminToken::refused`].
pub struct AdminToken {
    token: PresentedToken,
    guard: Guard,
}

impl AdminToken {
    /// The token presented.
    pub fn token(&self) -> &PresentedToken {
        &self.token
    }

    /// The refusal of this token by the use case, counted and recorded as
    /// a failure, as the extractor's own are.
    pub fn refused(&self) -> ApiError {
        refused(&self.guard, UNKNOWN)
    }
}

impl FromRequestParts<Arc<Service>> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let guard = checked(parts)?;
        let Ok(token) = presented(parts).map(PresentedToken::new) else {
            return Err(refused(&guard, MALFORMED));
        };
        if !service.precheck_admin_token(&token) {
            return Err(refused(&guard, UNKNOWN));
        }
        Ok(Self { token, guard })
    }
}

#[cfg(test)]
mod tests {
    use super::after_scheme;

    #[test]
    fn schemes_match_in_any_case_with_optional_whitespace() {
        for value in ["SSWS t", "ssws t", "SsWs\t t", "SSWSt", "SSWS   t"] {
            assert_eq!(after_scheme(value, "SSWS"), Some("t"), "{value:?}");
        }
        assert_eq!(after_scheme("SSWS", "SSWS"), Some(""));
        for value in ["SSW", "Basic t", "", " SSWS t", "ŠSWS t"] {
            assert_eq!(after_scheme(value, "SSWS"), None, "{value:?}");
        }
    }
}
