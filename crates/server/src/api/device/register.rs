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

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_devices::{Actor, Device, DeviceProfile, ScreenLockType};
use devicetrust_store::{DeviceRegistration, RegistrationRefused};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::errors::{from_key, from_store, from_token};
use crate::api::ApiError;
use crate::api::body::{parse_json, read_limited};
use crate::service::Service;
use crate::service::device_keys;
use crate::service::enrollment_tokens::{EnrollmentTokenError, parse_token_id, token_matches};

/// The actor recorded in the audit log for device registrations.
const ACTOR: &str = "oktaVerify";

/// The request. No `Debug`: it holds the enrollment token.
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

/// Proof of possession of the registered key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyProof {
    ts: String,
    signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    device: Device,
    key_id: String,
}

fn invalid_proof(why: &str) -> ApiError {
    ApiError::invalid("Api validation failed: keyProof").with_cause(why.to_owned())
}

pub(crate) async fn register(
    State(service): State<Arc<Service>>,
    req: Request,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_limited(body, &parts.headers, service.options.device_api.max_body).await?;
    let body: RegisterBody = parse_json(&bytes)?;
    let token = Zeroizing::new(body.enrollment_token);
    let mut profile = body.profile;
    // Registration is what makes a device registered, whatever it claims.
    profile.registered = true;
    profile.validate().map_err(|e| {
        ApiError::invalid("Api validation failed: profile").with_cause(e.to_string())
    })?;
    let key = device_keys::parse_public_key(body.public_key.as_bytes()).map_err(from_key)?;
    let now = OffsetDateTime::now_utc();
    let ts = parse_ts(&body.key_proof.ts)?;
    if (now - ts).abs() > service.options.device_api.clock_skew {
        return Err(invalid_proof("ts is outside the accepted clock window"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(body.key_proof.signature.trim_end_matches('='))
        .map_err(|_| invalid_proof("signature is not base64url"))?;
    let presented = device_keys::record(&key, now);
    let message = device_keys::registration_message(&body.key_proof.ts, &token, &presented.key_id);
    let metrics = service.metrics.clone();
    let registration = DeviceRegistration {
        token_id: parse_token_id(&token).unwrap_or_default().to_owned(),
        profile,
        screen_lock_type: body.screen_lock_type.unwrap_or(ScreenLockType::None),
        key: presented,
    };
    let registered = tokio::task::spawn_blocking(move || {
        // Verified before the token is touched: a copied public key cannot use one up.
        service
            .backend
            .verify(
                &key,
                key.algorithm().signature_algorithm(),
                message.as_bytes(),
                &signature,
            )
            .map_err(|_| {
                ApiError::unauthenticated("Invalid key proof").with_cause(
                    "keyProof.signature does not verify with publicKey: \
                 the caller must hold the key it registers",
                )
            })?;
        enroll(&service, &token, &registration, now)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    metrics.enrollment(
        "device",
        if registered.is_ok() {
            "registered"
        } else {
            "refused"
        },
    );
    let registered = registered?;
    let json = serde_json::to_value(&registered).map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::CREATED, Json(json)))
}

fn parse_ts(text: &str) -> Result<OffsetDateTime, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|_| text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| invalid_proof("ts must be Unix seconds"))
}

fn enroll(
    service: &Service,
    token: &str,
    registration: &DeviceRegistration,
    now: OffsetDateTime,
) -> Result<Registered, ApiError> {
    let token_refused = || from_token(EnrollmentTokenError::Refused);
    if registration.token_id.is_empty() {
        tracing::warn!("enrollment token refused: malformed");
        return Err(token_refused());
    }
    let matches = token_matches(token);
    let actor = Actor::new(ACTOR).map_err(|e| ApiError::internal(&e))?;
    let outcome = service
        .registry
        .register_device(&service.org, &actor, registration, matches, now)
        .map_err(from_store)?;
    match outcome {
        Ok(done) => {
            tracing::info!(device = %done.device.id, user = %done.user,
                key_id = %registration.key.key_id, key_replaced = done.key_replaced,
                "device registered");
            Ok(Registered {
                device: done.device,
                key_id: registration.key.key_id.clone(),
            })
        }
        Err(RegistrationRefused::Token(why)) => {
            tracing::warn!(token_id = %registration.token_id, ?why, "enrollment token refused");
            Err(token_refused())
        }
        Err(refused @ RegistrationRefused::HardwareTaken { .. }) => {
            tracing::warn!(reason = %refused, "registration refused");
            Err(ApiError::conflict(refused.to_string()))
        }
        Err(RegistrationRefused::Enrollment(e)) => {
            Err(from_store(devicetrust_store::Error::Device(e)))
        }
        Err(other) => Err(ApiError::conflict(other.to_string())),
    }
}
