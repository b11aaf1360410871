//! Admin authentication: `Authorization: SSWS <token>` (Okta's scheme) or
//! `Authorization: Bearer <token>`, checked against the stored digests.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiError;
use crate::service::Service;

/// An authenticated admin: the ID of the token used (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The token's public ID, for the audit log.
    pub token_id: String,
}

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("Invalid token provided"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthenticated("Invalid token provided"))?;
        let token = value
            .strip_prefix("SSWS ")
            .or_else(|| value.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthenticated("Invalid token provided"))?;
        service
            .authenticate_admin(token.trim())
            .map(|token_id| Admin { token_id })
            .ok_or_else(|| ApiError::unauthenticated("Invalid token provided"))
    }
}
