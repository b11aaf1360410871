//! `POST /device/v1/register`: Okta Verify's enrollment. Consumes a one-time
//! enrollment token, registers the device (or updates it when the same
//! hardware enrolls again) and stores the device's own public key.
//!
//! # Re-registration and the device key
//!
//! The same hardware (same UDID, else Windows SID, else serial number) is
//! the same device. Its key is replaced by the newly presented one only when
//! the device has no key yet, the key is the same, the enrolling user is
//! already one of the device's users (Okta Verify reinstalled), or the
//! device has no users left (it was deactivated and reactivated). Otherwise
//! the registration is refused (409): a token for one user must not take
//! over another user's device by claiming its hardware identifiers. When
//! the key changes, the device's management proof and request nonces are
//! forgotten; the new key must prove management again.
//!
//! The token is used up before anything is written, whatever the outcome,
//! so it can never register twice; the request is validated first so a
//! malformed request does not waste it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use devicetrust_devices::{
    Actor, Device, DeviceProfile, EnrollmentRequest, ManagementStatus, ScreenLockType,
};
use devicetrust_pki::PublicKey;
use devicetrust_store::Store as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::body::{parse_json, read_limited};
use super::errors::{from_key, from_store, from_token};
use crate::api::ApiError;
use crate::service::Service;
use crate::service::device_keys;

/// The actor recorded in the audit log for device registrations.
const ACTOR: &str = "oktaVerify";

/// The request. No `Debug`: it holds the enrollment token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    enrollment_token: String,
    public_key: String,
    profile: DeviceProfile,
    #[serde(default)]
    screen_lock_type: Option<ScreenLockType>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    device: Device,
    key_id: String,
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
    let screen_lock = body.screen_lock_type.unwrap_or(ScreenLockType::None);
    let metrics = service.metrics.clone();
    let registered = tokio::task::spawn_blocking(move || {
        enroll(
            &service,
            &token,
            profile,
            screen_lock,
            &key,
            OffsetDateTime::now_utc(),
        )
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

fn enroll(
    service: &Service,
    token: &str,
    profile: DeviceProfile,
    screen_lock_type: ScreenLockType,
    key: &PublicKey,
    now: OffsetDateTime,
) -> Result<Registered, ApiError> {
    let user = service
        .consume_enrollment_token(token, now)
        .map_err(from_token)?;
    let org = &service.org;
    let presented = device_keys::record(key, now);
    if let Some(hardware) = profile.hardware_key() {
        let existing = service
            .store
            .read(|tx| tx.device_by_hardware(org, &hardware))
            .map_err(from_store)?;
        if let Some(existing) = existing {
            let stored = service
                .store
                .device_key(org, &existing.id)
                .map_err(from_store)?;
            let same_key = stored
                .as_ref()
                .is_none_or(|k| k.spki_hex == presented.spki_hex);
            if !same_key {
                let users = service
                    .registry
                    .users(org, &existing.id)
                    .map_err(from_store)?;
                if !users.is_empty() && !users.iter().any(|u| u.user.id == user) {
                    tracing::warn!(device = %existing.id, user = %user,
                        "registration refused: hardware registered to other users with another key");
                    return Err(ApiError::conflict(
                        "this hardware is registered to other users with another key; \
                         an admin must deactivate the device first",
                    ));
                }
            }
        }
    }
    let actor = Actor::new(ACTOR).map_err(|e| ApiError::internal(&e))?;
    let request = EnrollmentRequest {
        user_id: user.clone(),
        profile,
        // Management is proved, never claimed: see the management proof.
        management_status: ManagementStatus::NotManaged,
        screen_lock_type,
    };
    let device = service
        .registry
        .enroll(org, &actor, &request, now)
        .map_err(from_store)?;
    let previous = service
        .store
        .device_key(org, &device.id)
        .map_err(from_store)?;
    if previous
        .as_ref()
        .is_some_and(|k| k.spki_hex != presented.spki_hex)
    {
        // A new key is a new Okta Verify instance: what the old one proved is void.
        service.forget_device_proofs(device.id.as_str());
    }
    service
        .store
        .put_device_key(org, &device.id, &presented)
        .map_err(from_store)?;
    tracing::info!(device = %device.id, user = %user, key_id = %presented.key_id, "device registered");
    Ok(Registered {
        device,
        key_id: presented.key_id,
    })
}
