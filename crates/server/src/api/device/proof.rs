//! `POST /device/v1/nonce` and `POST /device/v1/management-proof`: the
//! device proves it is managed.
//!
//! - Desktop (macOS, Windows): it signs a nonce from `/nonce` with the key of
//!   the client certificate its MDM installed, and sends the signature with
//!   the certificate chain (PEM leaf first). The signature algorithm is the
//!   one the leaf's key implies (ECDSA SHA-256/384, RSA PKCS#1 v1.5
//!   SHA-256). The leaf must not name another device (see
//!   `devicetrust_attestation::binding`). On success the certificate's
//!   serial is bound to the device when our CA issued it, so deactivating
//!   the device revokes it.
//! - Mobile (iOS, Android): it sends the `managementHint` its UEM configured.
//!
//! The outcome is recorded in the store with its time, so it survives a
//! restart; it counts for `proof_max_age`. A successful desktop proof binds
//! its certificate to the device in the same transaction: a certificate
//! that proved for one device never proves for another, whether or not it
//! names one (see [`Registry::record_management_proof`]).
//!
//! [`Registry::record_management_proof`]: devicetrust_store::Registry::record_management_proof

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use devicetrust_attestation::nonce::Nonce;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::auth::SignedRequest;
use super::errors::from_flow;
use crate::api::ApiError;
use crate::api::body::parse_json;
use crate::service::Service;
use crate::service::device_flows::ManagementEvidence;

pub(crate) async fn nonce(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<Json<Nonce>, ApiError> {
    service
        .issue_attestation_nonce(&signed.caller, OffsetDateTime::now_utc())
        .map(Json)
        .map_err(from_flow)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProofBody {
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    certificates: Vec<String>,
    #[serde(default)]
    management_hint: Option<String>,
}

pub(crate) async fn management_proof(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<Json<Value>, ApiError> {
    signed.caller.require_active().map_err(from_flow)?;
    let body: ProofBody = parse_json(&signed.body)?;
    signed
        .caller
        .require_self(body.device_id.as_deref())
        .map_err(from_flow)?;
    let evidence = ManagementEvidence {
        nonce: body.nonce,
        signature: body.signature,
        certificates: body.certificates,
        management_hint: body.management_hint.map(Zeroizing::new),
    };
    let answer = tokio::task::spawn_blocking(move || {
        service.prove_management(&signed.caller, evidence, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(from_flow)?;
    let record = answer.proof;
    let mut body = serde_json::Map::new();
    body.insert("managed".into(), json!(record.managed));
    body.insert("reasons".into(), json!(record.reasons));
    if let Some(id) = &record.configuration_id {
        body.insert("configurationId".into(), json!(id));
    }
    if let Some(until) = answer.managed_until {
        let until = until
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ApiError::internal(&e))?;
        body.insert("managedUntil".into(), json!(until));
    }
    if !answer.enrollment.is_empty() {
        body.insert("enrollment".into(), json!(answer.enrollment));
    }
    Ok(Json(Value::Object(body)))
}
