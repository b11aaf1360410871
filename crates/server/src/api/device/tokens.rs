//! `POST /api/v1/users/{userId}/enrollment-tokens` (admin): a one-time Okta
//! Verify activation token for the user, shown once.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use devicetrust_devices::UserId;
use serde_json::Value;
use time::OffsetDateTime;

use super::errors::from_token;
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;

pub(crate) async fn mint(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(user): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = UserId::new(user).map_err(|e| {
        ApiError::invalid("Api validation failed: userId").with_cause(e.to_string())
    })?;
    let minted = tokio::task::spawn_blocking(move || {
        service.mint_enrollment_token(&user, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(from_token)?;
    tracing::info!(admin = %admin.token_id, token_id = %minted.id, "enrollment token issued");
    let json = serde_json::to_value(&minted).map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::CREATED, Json(json)))
}
