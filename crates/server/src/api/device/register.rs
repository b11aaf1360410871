//! `POST /device/v1/register`: Okta Verify's enrollment. Consumes a one-time
//! enrollment token, registers the device (or updates it when the same
//! hardware enrolls again) and stores the device's own public key.
//!
//! The request proves possession of the key it registers: `keyProof` holds
//! a time (`ts`, Unix seconds, within the request-signature clock window)
//! and a signature by the new key over
//! [`registration_message`](crate::service::device_keys::registration_message)
//! (the token's digest, the time and the key's id). A public key copied from
//! another device, without its private key, is refused before the token is
//! touched.
//!
//! Everything else is one store transaction
//! ([`Registry::register_device`](devicetrust_store::Registry::register_device)):
//! the token is used up, the hardware looked up, the takeover rule applied,
//! the user enrolled and the key written. Two registrations racing for the
//! same hardware leave exactly one key and only its user linked; the loser
//! gets 409. A refused registration still uses its token up, so a token can
//! never register twice.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_devices::{DeviceProfile, ScreenLockType};
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::auth::DeviceGuard;
use super::errors::from_flow;
use crate::api::ApiError;
use crate::api::body::{parse_json, read_limited};
use crate::ops::Metrics;
use crate::service::Service;
use crate::service::device_flows::Registration;
use devicetrust_service::auth_failures::Credential;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    enrollment_token: String,
    public_key: String,
    key_proof: KeyProof,
    profile: DeviceProfile,
    #[serde(default)]
    screen_lock_type: Option<ScreenLockType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyProof {
    ts: String,
    signature: String,
}

pub(crate) async fn register(
    State(service): State<Arc<Service>>,
    Extension(metrics): Extension<Arc<Metrics>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    // Wrong enrollment tokens count against their source like forged
    // signatures: a source out of tries is refused before its body is read.
    let guard = DeviceGuard::of(&parts, Credential::EnrollmentToken)?;
    guard.judged(registered(service, metrics, parts, body).await)
}

async fn registered(
    service: Arc<Service>,
    metrics: Arc<Metrics>,
    parts: axum::http::request::Parts,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = read_limited(body, &parts.headers, service.options().device_api.max_body).await?;
    let body: RegisterBody = parse_json(&bytes)?;
    let proof_signature = URL_SAFE_NO_PAD
        .decode(body.key_proof.signature.trim_end_matches('='))
        .map_err(|_| {
            ApiError::invalid("Api validation failed: keyProof")
                .with_cause("signature is not base64url")
        })?;
    let registration = Registration {
        enrollment_token: Zeroizing::new(body.enrollment_token),
        public_key: body.public_key,
        proof_ts: body.key_proof.ts,
        proof_signature,
        profile: body.profile,
        screen_lock_type: body.screen_lock_type,
    };
    let registered = tokio::task::spawn_blocking(move || {
        service.register_device(registration, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let outcome = if registered.is_ok() {
        "registered"
    } else {
        "refused"
    };
    metrics.enrollment("device", outcome);
    let registered = registered.map_err(from_flow)?;
    Ok((StatusCode::CREATED, Json(registered)).into_response())
}
