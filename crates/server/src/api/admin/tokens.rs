//! `POST /api/v1/api-tokens/current/rotate`: a new admin token, shown once;
//! the token used for the call is revoked in the same update.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::now;
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/api/v1/api-tokens/current/rotate", post(rotate))
}

async fn rotate(State(service): State<Arc<Service>>, admin: Admin) -> Result<Response, ApiError> {
    let rotated = service
        .rotate_admin_token(&admin.token_id, now())
        .map_err(|e| ApiError::from_error(&e))?;
    // A concurrent rotation with the same token won: this one is as revoked.
    let (stored, token) = rotated.ok_or_else(crate::api::auth::invalid_token)?;
    tracing::info!(old = %admin.token_id, new = %stored.id, "admin token rotated");
    let body = serde_json::json!({
        "id": stored.id,
        "token": token.as_str(),
        "created": stored.created.format(&time::format_description::well_known::Rfc3339).ok(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
