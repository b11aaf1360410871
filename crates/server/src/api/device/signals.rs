//! `POST /device/v1/signals`: the device reports EDR signals, one member per
//! provider of `devicetrust_edr` (`{"wsc": {...}}`, `{"zta": "<JWT>"}`, ...).
//!
//! JSON providers are parsed by their bounded parsers and stamped with the
//! time we received them. Signed-token providers (`zta`) are accepted only
//! after verification with the JWKS configured in the settings file's `zta`
//! section (`{"zta": {"jwks": {...}, "customerId": "..."}}`); with none
//! configured they are refused, never parsed unverified. A report is
//! all-or-nothing: if one provider's signals are refused, none are stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devicetrust_edr::zta::{Jwks, ZtaVerifier};
use devicetrust_edr::{Ingest, SignalSet, Stored, ingest};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::auth::SignedRequest;
use super::body::parse_json;
use crate::api::ApiError;
use crate::service::Service;

/// The settings section holding the ZTA verification keys.
pub const ZTA_SECTION: &str = "zta";

/// `service.json`'s `zta` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZtaSettings {
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    customer_id: Option<String>,
}

fn refused(provider: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid("Api validation failed: signals").with_cause(format!("{provider}: {why}"))
}

fn zta_verifier(service: &Service) -> Result<ZtaVerifier, ApiError> {
    let settings: ZtaSettings = service
        .settings
        .read()
        .section(ZTA_SECTION)
        .map_err(|e| ApiError::internal(&e))?;
    let jwks = settings.jwks.ok_or_else(|| {
        refused(
            "zta",
            "no CrowdStrike JWKS is configured, so ZTA tokens cannot be verified and are refused",
        )
    })?;
    let bytes = serde_json::to_vec(&jwks).map_err(|e| ApiError::internal(&e))?;
    let keys = Jwks::parse(&bytes).map_err(|e| ApiError::internal(&e))?;
    let verifier = ZtaVerifier::new(keys);
    Ok(match settings.customer_id {
        Some(cid) => verifier.with_customer_id(cid),
        None => verifier,
    })
}

pub(crate) async fn report(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    signed.require_active()?;
    let mut body: Map<String, Value> = parse_json(&signed.body)?;
    let named = match body.remove("deviceId") {
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(refused("deviceId", "must be a string")),
        None => None,
    };
    signed.require_self(named.as_deref())?;
    if body.is_empty() {
        return Err(refused("signals", "no provider reported"));
    }
    let now = OffsetDateTime::now_utc();
    let mut sets = Vec::with_capacity(body.len());
    for (provider, value) in &body {
        let set = match ingest(provider) {
            Some(Ingest::Json(parse)) => {
                let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
                SignalSet::from_boxed(now, parse(&bytes).map_err(|e| refused(provider, e))?)
            }
            Some(Ingest::SignedToken) => {
                let token = value
                    .as_str()
                    .ok_or_else(|| refused(provider, "must be the token as a string"))?;
                let verifier = zta_verifier(&service)?;
                SignalSet::from(
                    verifier
                        .verify(token.as_bytes(), now)
                        .map_err(|e| refused(provider, e))?,
                )
            }
            _ => return Err(refused(provider, "unknown provider")),
        };
        sets.push((provider.clone(), set));
    }
    let mut stored = Map::new();
    {
        let mut cache = service
            .signals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (provider, set) in sets {
            let outcome = cache
                .insert(signed.device.id.as_str(), set, now)
                .map_err(|e| refused(&provider, e))?;
            let word = match outcome {
                Stored::Latest => "LATEST",
                _ => "KEPT_NEWER",
            };
            stored.insert(provider, json!(word));
        }
    }
    tracing::info!(device = %signed.device.id, providers = ?stored.keys().collect::<Vec<_>>(), "signals");
    Ok((StatusCode::ACCEPTED, Json(json!({ "stored": stored }))))
}
