//! `POST /device/v1/signals`: the device reports EDR signals, one member per
//! provider of `devicetrust_edr` (`{"wsc": {...}}`, `{"zta": "<JWT>"}`, ...).
//!
//! JSON providers are parsed by their bounded parsers and stamped with the
//! time we received them. Signed-token providers (`zta`) are accepted only
//! after verification with the JWKS configured in the settings file's `zta`
//! section (`{"zta": {"jwks": {...}, "customerId": "..."}}`); with none
//! configured they are refused, never parsed unverified. A report is
//! all-or-nothing: if one provider's signals are refused, none are stored.
//! Reports are stored (see [`crate::service::signals`]), so they outlive a restart.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::auth::SignedRequest;
use crate::api::ApiError;
use crate::api::body::parse_json;
use crate::service::Service;
use crate::service::signals::SignalError;

fn refused(provider: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid("Api validation failed: signals").with_cause(format!("{provider}: {why}"))
}

pub(crate) async fn report(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    signed
        .caller
        .require_active()
        .map_err(super::errors::from_flow)?;
    let mut body: Map<String, Value> = parse_json(&signed.body)?;
    let named = match body.remove("deviceId") {
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(refused("deviceId", "must be a string")),
        None => None,
    };
    signed
        .caller
        .require_self(named.as_deref())
        .map_err(super::errors::from_flow)?;
    if body.is_empty() {
        return Err(refused("signals", "no provider reported"));
    }
    let device = signed.caller.device.id;
    let logged = device.clone();
    let outcomes = tokio::task::spawn_blocking(move || {
        service.report_signals(&device, &body, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| match e {
        SignalError::Refused { provider, reason } => refused(&provider, reason),
        SignalError::Store(e) => super::errors::from_store(e),
        other => ApiError::from_error(&other),
    })?;
    let mut stored = Map::new();
    for outcome in outcomes {
        let word = if outcome.latest {
            "LATEST"
        } else {
            "KEPT_NEWER"
        };
        stored.insert(outcome.provider, json!(word));
    }
    tracing::info!(device = %logged, providers = ?stored.keys().collect::<Vec<_>>(), "signals");
    Ok((StatusCode::ACCEPTED, Json(json!({ "stored": stored }))))
}
