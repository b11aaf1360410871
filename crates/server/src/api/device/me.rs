//! `GET /device/v1/me`: the device's own record and status, whether it is
//! managed (and until when), and how old its signals are. Allowed for a
//! suspended device, so Okta Verify can tell its user why it stopped working.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use devicetrust_devices::DeviceStatus;
use devicetrust_store::Store as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::auth::SignedRequest;
use super::errors::from_store;
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
    let device = signed.device;
    let options = &service.options.device_api;
    let proof = service
        .store
        .read(|tx| tx.management_proof(&service.org, &device.id))
        .map_err(from_store)?;
    let active = device.status == DeviceStatus::Active;
    let managed = active
        && proof
            .as_ref()
            .is_some_and(|p| p.is_fresh(options.proof_max_age, now));
    let reports = service.signal_reports(&device.id).map_err(from_store)?;
    let mut signals = Map::new();
    {
        let mut cache = service.signal_cache();
        service.sync_signal_cache(&mut cache, &device.id, &reports);
        if let Some(record) = cache.record(device.id.as_str()) {
            for schema in devicetrust_edr::schemas() {
                if let Some(set) = record.get(schema.id) {
                    signals.insert(
                        schema.id.to_owned(),
                        json!({
                            "collectedAt": rfc3339(set.collected_at())?,
                            "ageSeconds": (now - set.collected_at()).whole_seconds(),
                            "stale": options.freshness.stale(set, now).is_some(),
                        }),
                    );
                }
            }
        }
    }
    let key = signed.key;
    let mut answer = Map::new();
    answer.insert("status".into(), json!(device.status));
    answer.insert("managed".into(), json!(managed));
    if managed
        && let Some(until) = proof
            .as_ref()
            .and_then(|p| p.managed_until(options.proof_max_age))
    {
        answer.insert("managedUntil".into(), json!(rfc3339(until)?));
    }
    if let Some(proof) = proof {
        answer.insert("lastProof".into(), json!(proof));
    }
    answer.insert("signals".into(), Value::Object(signals));
    answer.insert("keyId".into(), json!(key.key_id));
    answer.insert("device".into(), json!(device));
    Ok(Json(Value::Object(answer)))
}
