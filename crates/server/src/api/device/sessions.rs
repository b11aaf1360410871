//! `POST /device/v1/sessions`: an Okta Verify sign-in from this device.
//! Refused (403) unless the device is ACTIVE and the user has an active
//! Okta Verify enrollment on it; the registry enforces both.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devicetrust_devices::{Session, UserId};
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth::SignedRequest;
use super::errors::from_flow;
use crate::api::ApiError;
use crate::api::body::parse_json;
use crate::service::Service;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SessionBody {
    user_id: UserId,
    #[serde(default)]
    device_id: Option<String>,
}

pub(crate) async fn create(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    signed.caller.require_active().map_err(from_flow)?;
    let body: SessionBody = parse_json(&signed.body)?;
    signed
        .caller
        .require_self(body.device_id.as_deref())
        .map_err(from_flow)?;
    let session = tokio::task::spawn_blocking(move || {
        service.sign_in(&signed.caller, &body.user_id, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(from_flow)?;
    Ok((StatusCode::CREATED, Json(session)))
}
