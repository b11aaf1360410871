//! EDR provider settings: `GET|PUT /api/v1/edr/zta`, the CrowdStrike JWKS
//! (and optional customer ID) that Zero Trust Assessment tokens reported by
//! devices are verified against. Only public keys are stored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::get;
use axum::{Json, Router};

use super::{json_body, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::signals::{SignalError, ZtaProvider};

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/api/v1/edr/zta", get(read).put(replace))
}

async fn read(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<ZtaProvider>, ApiError> {
    service
        .zta_provider()
        .map_err(|e| ApiError::from_error(&e))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("EdrProvider", "zta"))
}

async fn replace(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<ZtaProvider>, ApiError> {
    let provider: ZtaProvider = json_body(raw)?;
    service
        .set_zta_provider(&admin.token_id, provider, now())
        .map(Json)
        .map_err(|e| match e {
            SignalError::Refused { provider, reason } => {
                ApiError::invalid(format!("Api validation failed: {provider}")).with_cause(reason)
            }
            other => ApiError::from_error(&other),
        })
}
