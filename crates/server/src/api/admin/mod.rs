//! The admin API (docs/api.md, "Admin API"): every route takes the
//! [`Admin`](super::auth::Admin) extractor, and its token's ID is the actor
//! of every audit record. Bodies are limited to [`MAX_ADMIN_BODY`]; over it
//! the answer is 413 with Okta's error object.

mod cas;
mod devices;
mod edr;
mod integrations;
mod logs;
mod okta_device;
mod policies;
mod scep_requests;
mod search;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::service::Service;

/// The largest admin request body (a policy document or a CA bundle fits easily).
pub const MAX_ADMIN_BODY: usize = 1024 * 1024;

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .merge(tokens::routes())
        .merge(devices::routes())
        .merge(integrations::routes())
        .merge(scep_requests::routes())
        .merge(cas::routes())
        .merge(policies::routes())
        .merge(logs::routes())
        .merge(edr::routes())
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY))
        // Public, and outside the admin body limit: it takes no body.
        .merge(cas::public_routes())
}

/// The body, or 413 / 400 as Okta error objects rather than axum's plain text.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_ADMIN_BODY)
        } else {
            ApiError::invalid("Api validation failed: the request body could not be read")
        }
    })
}

use crate::api::body::parse_json as json;

/// A JSON body, or 413 / 400.
fn json_body<T: DeserializeOwned>(raw: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    json(&body(raw)?)
}

/// The query string, or 400 as an Okta error object.
fn query<T>(query: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|q| q.0)
        .map_err(|e| ApiError::invalid("Api validation failed: query").with_cause(e.body_text()))
}

/// Now, for the audit log and records.
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
