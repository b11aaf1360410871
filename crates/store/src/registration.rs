//! Okta Verify's registration as one transaction: the enrollment token is
//! used up, the hardware is looked up, the takeover rule is applied, the
//! device is enrolled for the token's user, and the device's key is
//! written, all committing together or not at all.
//!
//! Done as separate transactions, two users registering the same new
//! hardware at once could both succeed, leaving both users linked and only
//! the last key: the loser's key dead and the winner's key acting for the
//! other user. In one transaction the second registration sees the first.
//!
//! # The takeover rule
//!
//! The same hardware (same UDID, else Windows SID, else serial number) is
//! the same device. Its key is replaced by the newly presented one only when
//! the device has no key (never registered, or its key was retired by a
//! deactivation), the key is the same, or the enrolling user is already one
//! of the device's users (Okta Verify reinstalled). Otherwise the
//! registration is refused: a token for one user must not take over another
//! user's device by claiming its hardware identifiers. When the key changes,
//! what the old key proved (management proof, request nonces) is retired.

use devicetrust_devices::{
    Actor, Device, DeviceError, DeviceId, DeviceProfile, EnrollmentRequest, ManagementStatus,
    OrgId, ScreenLockType, UserId, to_millis,
};
use time::OffsetDateTime;

use crate::device_api::{DeviceKeyRecord, EnrollmentTokenRecord, TokenUse};
use crate::registry::enroll_in;
use crate::{Registry, Result, Store, Tx};

/// A registration, its proof of possession of `key` already checked.
#[derive(Debug, Clone)]
pub struct DeviceRegistration {
    /// The public id of the enrollment token presented.
    pub token_id: String,
    /// The device as Okta Verify describes it.
    pub profile: DeviceProfile,
    /// The user's screen lock on it.
    pub screen_lock_type: ScreenLockType,
    /// The device's own key.
    pub key: DeviceKeyRecord,
}

/// A registration that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The device, enrolled.
    pub device: Device,
    /// The user the token enrolled.
    pub user: UserId,
    /// Whether an earlier, different key was replaced (and what it proved retired).
    pub key_replaced: bool,
}

/// Why a registration was refused. The token is used up all the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationRefused {
    /// The token was unknown, used, expired or wrong.
    #[error("the enrollment token is not valid")]
    Token(TokenUse),
    /// The hardware belongs to other users under another key.
    #[error(
        "this hardware is registered to other users with another key (device {device}); \
         an admin must deactivate the device first"
    )]
    HardwareTaken {
        /// The device that has the hardware.
        device: DeviceId,
    },
    /// The registry refused the enrollment (a suspended or deactivated device).
    #[error(transparent)]
    Enrollment(DeviceError),
}

impl<S: Store> Registry<S> {
    /// Registers a device for the user of the enrollment token
    /// `registration.token_id`, if `token_matches` accepts the token's
    /// record (the caller compares the secret in constant time).
    ///
    /// One transaction: the token is used up, the hardware looked up, the
    /// takeover rule applied (the hardware's key is replaced only when the
    /// device has none, the key is the same, or the user is already one of
    /// its users), the user enrolled and the key written. A refusal still
    /// uses the token up.
    pub fn register_device(
        &self,
        org: &OrgId,
        actor: &Actor,
        registration: &DeviceRegistration,
        token_matches: impl FnOnce(&EnrollmentTokenRecord) -> bool,
        now: OffsetDateTime,
    ) -> Result<Result<Registered, RegistrationRefused>> {
        registration.profile.validate()?;
        let now = to_millis(now);
        self.store().write(|tx| {
            let user = match crate::device_api::consume_enrollment_token(
                tx,
                org,
                &registration.token_id,
                now,
                token_matches,
            )? {
                TokenUse::Consumed(record) => record.user,
                other => return Ok(Err(RegistrationRefused::Token(other))),
            };
            if let Some(device) =
                taken_by_others(tx, org, &registration.profile, &registration.key, &user)?
            {
                return Ok(Err(RegistrationRefused::HardwareTaken { device }));
            }
            let request = EnrollmentRequest {
                user_id: user.clone(),
                profile: registration.profile.clone(),
                // Management is proved, never claimed.
                management_status: ManagementStatus::NotManaged,
                screen_lock_type: registration.screen_lock_type,
            };
            let device = match enroll_in(tx, org, actor, &request, now)? {
                Ok(device) => device,
                Err(refused) => return Ok(Err(RegistrationRefused::Enrollment(refused))),
            };
            let key_replaced = tx
                .device_key(org, &device.id)?
                .is_some_and(|k| k.spki_hex != registration.key.spki_hex);
            if key_replaced {
                // A new key is a new Okta Verify instance: what the old one proved is void.
                tx.retire_device_key(org, &device.id)?;
            }
            tx.put_device_key(org, &device.id, &registration.key)?;
            Ok(Ok(Registered {
                device,
                user,
                key_replaced,
            }))
        })
    }
}

/// The device with this hardware, when the takeover rule refuses `user` with `key` on it.
fn taken_by_others(
    tx: &mut dyn Tx,
    org: &OrgId,
    profile: &DeviceProfile,
    key: &DeviceKeyRecord,
    user: &UserId,
) -> Result<Option<DeviceId>> {
    let Some(hardware) = profile.hardware_key() else {
        return Ok(None);
    };
    let Some(existing) = tx.device_by_hardware(org, &hardware)? else {
        return Ok(None);
    };
    let same_key = tx
        .device_key(org, &existing.id)?
        .is_none_or(|k| k.spki_hex == key.spki_hex);
    if same_key {
        return Ok(None);
    }
    let links = tx.links(org, &existing.id)?;
    let ours = links.is_empty() || links.iter().any(|l| l.user.id == *user);
    Ok((!ours).then_some(existing.id))
}
