//! `POST /device/v1/sessions`: an Okta Verify sign-in from this device.
//! Refused (403) unless the device is ACTIVE and the user has an active
//! Okta Verify enrollment on it; the registry enforces both.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devicetrust_devices::{SessionMethod, UserId};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::auth::SignedRequest;
use super::errors::from_store;
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    signed.require_active()?;
    let body: SessionBody = parse_json(&signed.body)?;
    signed.require_self(body.device_id.as_deref())?;
    let device = signed.device.id;
    let session = tokio::task::spawn_blocking(move || {
        service.registry.sign_in(
            &service.org,
            &device,
            &body.user_id,
            SessionMethod::OktaVerify,
            OffsetDateTime::now_utc(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(from_store)?;
    let json = serde_json::to_value(&session).map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::CREATED, Json(json)))
}
