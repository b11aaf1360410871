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
use devicetrust_attestation::nonce::Proof;
use devicetrust_attestation::{DesktopRequest, Outcome, Platform};
use devicetrust_devices::{Device, Platform as DevicePlatform};
use devicetrust_pki::Certificate;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::auth::SignedRequest;
use crate::api::body::parse_json;
use devicetrust_pki::HashAlgorithm;
use devicetrust_store::{DeviceKeyRecord, ManagementProof, ProofReason, ProvingCertificate};

use super::errors::from_store;
use crate::api::ApiError;
use crate::service::Service;

/// Most certificates accepted in one chain.
const MAX_CHAIN: usize = 8;

pub(crate) async fn nonce(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<Json<Value>, ApiError> {
    signed.require_active()?;
    let nonce = service
        .attestor
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .issue_nonce(
            service.org.as_str(),
            signed.device.id.as_str(),
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| ApiError::internal(&e))?;
    serde_json::to_value(&nonce)
        .map(Json)
        .map_err(|e| ApiError::internal(&e))
}

/// The request. No `Debug`: it may hold the managementHint.
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

fn attestation_platform(device: &Device) -> Result<Platform, ApiError> {
    match device.profile.platform {
        DevicePlatform::Macos => Ok(Platform::MacOs),
        DevicePlatform::Windows => Ok(Platform::Windows),
        DevicePlatform::Ios => Ok(Platform::Ios),
        DevicePlatform::Android => Ok(Platform::Android),
        other => Err(ApiError::invalid(format!(
            "management attestation does not cover {other:?} devices"
        ))),
    }
}

fn missing(field: &str) -> ApiError {
    ApiError::invalid("Api validation failed").with_cause(format!("{field} is required"))
}

pub(crate) async fn management_proof(
    State(service): State<Arc<Service>>,
    signed: SignedRequest,
) -> Result<Json<Value>, ApiError> {
    signed.require_active()?;
    let body: ProofBody = parse_json(&signed.body)?;
    signed.require_self(body.device_id.as_deref())?;
    let platform = attestation_platform(&signed.device)?;
    let (device, key) = (signed.device, signed.key);
    tokio::task::spawn_blocking(move || prove(&service, &device, &key, platform, body))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

fn prove(
    service: &Service,
    device: &Device,
    key: &DeviceKeyRecord,
    platform: Platform,
    body: ProofBody,
) -> Result<Json<Value>, ApiError> {
    let now = OffsetDateTime::now_utc();
    if let Err(e) = service.sync() {
        tracing::warn!(error = %e, "could not catch up with the stored configuration");
    }
    let attestor = service
        .attestor
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (outcome, certificate) = if platform.is_desktop() {
        let nonce = body.nonce.ok_or_else(|| missing("nonce"))?;
        let signature = body.signature.ok_or_else(|| missing("signature"))?;
        if body.certificates.is_empty() || body.certificates.len() > MAX_CHAIN {
            return Err(
                ApiError::invalid("Api validation failed").with_cause(format!(
                    "certificates: 1 to {MAX_CHAIN} PEM certificates, leaf first"
                )),
            );
        }
        let mut chain = Vec::with_capacity(body.certificates.len());
        for (i, pem) in body.certificates.iter().enumerate() {
            chain.push(Certificate::parse(pem.as_bytes()).map_err(|e| {
                ApiError::invalid("Api validation failed")
                    .with_cause(format!("certificates[{i}]: {e}"))
            })?);
        }
        let (leaf, intermediates) = chain.split_first().ok_or_else(|| missing("certificates"))?;
        let proof = Proof {
            algorithm: leaf.public_key().algorithm().signature_algorithm(),
            signature,
        };
        let request = DesktopRequest {
            platform,
            org: service.org.as_str(),
            device_id: device.id.as_str(),
            // The MDM names the device by the identifier it knows (the
            // guide's {DeviceUid}), written before Okta Verify registered it.
            hardware_id: device
                .profile
                .udid
                .as_deref()
                .or(device.profile.sid.as_deref()),
            leaf,
            intermediates,
            nonce: &nonce,
            proof: &proof,
        };
        // Only our CA's certificates are in our ledger; another CA's serial
        // could collide with one of ours and bind the wrong certificate.
        let ours = leaf.issuer() == service.ca.intermediate().subject();
        let certificate = ProvingCertificate {
            sha256: hex::encode(HashAlgorithm::Sha256.digest(leaf.der())),
            our_serial: leaf.serial().ok().filter(|_| ours),
        };
        (attestor.attest_desktop(&request, now), Some(certificate))
    } else {
        let hint = Zeroizing::new(
            body.management_hint
                .ok_or_else(|| missing("managementHint"))?,
        );
        (attestor.attest_mobile(platform, &hint, now), None)
    };
    drop(attestor);
    let proof = ManagementProof {
        managed: outcome.is_managed(),
        configuration_id: match &outcome {
            Outcome::Managed {
                configuration_id, ..
            } => Some(configuration_id.to_string()),
            Outcome::NotManaged { .. } => None,
        },
        at: now,
        reasons: outcome
            .reasons()
            .iter()
            .map(|r| ProofReason {
                kind: r.error.kind().to_owned(),
                message: r.error.to_string(),
            })
            .collect(),
    };
    let record = service
        .registry
        .record_management_proof(
            &service.org,
            &device.id,
            &key.spki_hex,
            proof,
            certificate.as_ref(),
        )
        .map_err(from_store)?
        .ok_or_else(|| {
            ApiError::unauthenticated("Invalid device signature")
                .with_cause("the device key was retired")
        })?;
    let max_age = service.options.device_api.proof_max_age;
    let enrollment = match &outcome {
        Outcome::NotManaged { enrollment, .. } => serde_json::to_value(enrollment).ok(),
        Outcome::Managed { .. } => None,
    };
    tracing::info!(device = %device.id, managed = record.managed,
        reasons = ?record.reasons.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        "management proof");
    let mut answer = serde_json::Map::new();
    answer.insert("managed".into(), json!(record.managed));
    answer.insert("reasons".into(), json!(record.reasons));
    if let Some(id) = &record.configuration_id {
        answer.insert("configurationId".into(), json!(id));
    }
    if let Some(until) = record.managed_until(max_age) {
        let until = until
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ApiError::internal(&e))?;
        answer.insert("managedUntil".into(), json!(until));
    }
    if let Some(links) = enrollment.filter(|e| e.as_array().is_some_and(|a| !a.is_empty())) {
        answer.insert("enrollment".into(), links);
    }
    Ok(Json(Value::Object(answer)))
}
