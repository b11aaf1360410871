//! EDR provider settings: `GET|PUT /api/v1/edr/zta`, the CrowdStrike JWKS
//! (and optional customer ID) that Zero Trust Assessment tokens reported by
//! devices are verified against. Only public keys are stored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::get;
use axum::{Json, Router};
use devicetrust_edr::zta::Jwks;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{body, json};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::api::device::signals::ZTA_SECTION;
use crate::service::Service;
use crate::service::admin_audit::{self, AdminEvent};

/// The `zta` section, as stored and as answered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ZtaBody {
    /// CrowdStrike's signing keys, as its JWKS endpoint publishes them.
    jwks: Value,
    /// When set, tokens for another customer are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
}

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/api/v1/edr/zta", get(read).put(replace))
}

async fn read(State(service): State<Arc<Service>>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let section: Option<Value> = service
        .settings
        .read()
        .section(ZTA_SECTION)
        .map_err(|e| ApiError::internal(&e))?;
    section
        .map(Json)
        .ok_or_else(|| ApiError::not_found("EdrProvider", "zta"))
}

async fn replace(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<ZtaBody>, ApiError> {
    let new: ZtaBody = json(&body(raw)?)?;
    // Refuse keys that would not verify anything, now rather than at sign-in.
    let bytes = serde_json::to_vec(&new.jwks).map_err(|e| ApiError::internal(&e))?;
    let keys = Jwks::parse(&bytes)
        .map_err(|e| ApiError::invalid("Api validation failed: jwks").with_cause(e.to_string()))?;
    if let Some(cid) = &new.customer_id
        && (cid.is_empty() || cid.len() > 128 || cid.chars().any(char::is_control))
    {
        return Err(ApiError::invalid("Api validation failed: customerId")
            .with_cause("1 to 128 characters, no control characters"));
    }
    let event = AdminEvent::new(
        OffsetDateTime::now_utc(),
        &admin.token_id,
        "edr.provider.update",
        "EdrProvider",
        "zta",
    )
    .map_err(|e| ApiError::internal(&e))?;
    let stored = new.clone();
    service
        .settings
        .update(|s| {
            s.set_section(ZTA_SECTION, &stored)?;
            admin_audit::push(s, event)
        })
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(actor = %admin.token_id, keys = keys.len(), "zta verification keys replaced");
    Ok(Json(new))
}
