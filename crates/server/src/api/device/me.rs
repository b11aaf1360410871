//! `GET /device/v1/me`: the device's own record and status, whether it is
//! managed (and until when), and how old its signals are. Allowed for a
//! suspended device, so Okta Verify can tell its user why it stopped working.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::auth::SignedRequest;
use super::errors::from_flow;
use crate::api::ApiError;
use crate::service::Service;

fn rfc3339(t: OffsetDateTime) -> Result<String, ApiError> {
    t.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::internal(&e))
}

pub(crate) async fn me(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<Json<Value>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let status = service
        .device_self(&signed.caller, now)
        .map_err(from_flow)?;
    let mut signals = Map::new();
    for age in status.signals {
        signals.insert(
            age.schema.to_owned(),
            json!({
                "collectedAt": rfc3339(age.collected_at)?,
                "ageSeconds": (now - age.collected_at).whole_seconds(),
                "stale": age.stale,
            }),
        );
    }
    let caller = signed.caller;
    let mut answer = Map::new();
    answer.insert("status".into(), json!(caller.device.status));
    answer.insert("managed".into(), json!(status.managed));
    if let Some(until) = status.managed_until {
        answer.insert("managedUntil".into(), json!(rfc3339(until)?));
    }
    if let Some(proof) = status.last_proof {
        answer.insert("lastProof".into(), json!(proof));
    }
    answer.insert("signals".into(), Value::Object(signals));
    answer.insert("keyId".into(), json!(caller.key.key_id));
    answer.insert("device".into(), json!(caller.device));
    Ok(Json(Value::Object(answer)))
}
