//! Admin authentication: `Authorization: SSWS <token>` (Okta's scheme) or
//! `Authorization: Bearer <token>`, checked against the stored digests.
//!
//! Schemes match case-insensitively (RFC 9110, section 11.1), and the
//! whitespace after one is optional: Okta's Python SDK sends `SSWS<token>`.
//!
//! Failures count against the request's source ([`crate::ops::failures`]):
//! a source that keeps presenting wrong tokens is answered 429, without its
//! token being looked at, until it has earned a try back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use devicetrust_service::PresentedToken;
use devicetrust_service::auth_failures::{AuthFailureLog, Credential};

use super::ApiError;
use crate::ops::failures::{AuthLimiters, audit, source_key};
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
        let limited = Limited::of(parts, service)?;
        let token = presented(parts).map_err(|_| limited.failed(MALFORMED))?;
        service
            .authenticate_admin(token)
            .map(|token_id| Admin { token_id })
            .ok_or_else(|| limited.failed(UNKNOWN))
    }
}

/// Why a token was refused, for the System Log.
const MALFORMED: &str = "no SSWS or Bearer token in the Authorization header";
const UNKNOWN: &str = "unknown or revoked token";

/// A request's source under the admin failure limiter: a source out of
/// tries is refused (429) before its token is looked at. Every failure,
/// and every request so refused, is recorded for the System Log.
struct Limited {
    limiters: Option<Arc<AuthLimiters>>,
    log: Arc<AuthFailureLog>,
    source: String,
    route: String,
}

impl Limited {
    fn of(parts: &Parts, service: &Service) -> Result<Self, ApiError> {
        // Without its peer (a router mounted without the accept loop's
        // ConnectInfo), a request is not limited: keying every unknown
        // source together would let one guesser lock out everyone.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let limited = Self {
            limiters: peer.and(parts.extensions.get::<Arc<AuthLimiters>>().cloned()),
            log: service.auth_failures().clone(),
            source: source_key(peer),
            route: parts
                .extensions
                .get::<MatchedPath>()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        };
        if let Some(limiters) = &limited.limiters
            && let Err(throttled) = limiters.admin.check(&limited.source, Instant::now())
        {
            audit(
                &limited.log,
                Credential::AdminToken,
                &limited.source,
                &limited.route,
                None,
            );
            return Err(ApiError::throttled(throttled));
        }
        Ok(limited)
    }

    /// The refusal of a wrong or missing token, counted against the source
    /// and recorded with `reason`.
    fn failed(&self, reason: &str) -> ApiError {
        tracing::warn!(source = %self.source, reason, "admin authentication failed");
        audit(
            &self.log,
            Credential::AdminToken,
            &self.source,
            &self.route,
            Some(reason),
        );
        if let Some(limiters) = &self.limiters
            && let Err(throttled) = limiters.admin.failed(&self.source, Instant::now())
        {
            tracing::warn!(source = %self.source, retry_after = ?throttled.retry_after,
                "admin authentication failures: source throttled");
        }
        invalid_token()
    }
}

/// An admin token for a use case that checks it itself, against the state
/// it reads (the decision API: [`Service::decide_as_admin`]). A token this
/// process knows to be wrong is refused here, before the body is read; one
/// the use case refuses is counted with [`AdminToken::refused`].
pub struct AdminToken {
    token: PresentedToken,
    limited: Limited,
}

impl AdminToken {
    /// The token presented.
    pub fn token(&self) -> &PresentedToken {
        &self.token
    }

    /// The refusal of this token by the use case, counted and recorded as
    /// a failure, as the extractor's own are.
    pub fn refused(&self) -> ApiError {
        self.limited.failed(UNKNOWN)
    }
}

impl FromRequestParts<Arc<Service>> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let limited = Limited::of(parts, service)?;
        let Ok(token) = presented(parts).map(PresentedToken::new) else {
            return Err(limited.failed(MALFORMED));
        };
        if !service.precheck_admin_token(&token) {
            return Err(limited.failed(UNKNOWN));
        }
        Ok(Self { token, limited })
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
