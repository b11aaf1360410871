//! Sign-in sessions and authenticator enrollments: what the lifecycle's
//! effects act on.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DeviceId, EnrollmentId, SessionId, UserId};

/// How a session was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum SessionMethod {
    /// Okta Verify on this device: ended by suspend and deactivate.
    OktaVerify,
    /// Password.
    Password,
    /// Email magic link or code.
    Email,
    /// WebAuthn (FIDO2) authenticator.
    Webauthn,
}

impl SessionMethod {
    /// Whether the session rests on Okta Verify on the device.
    pub fn is_okta_verify(self) -> bool {
        self == Self::OktaVerify
    }
}

/// A sign-in session from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The device it was established from.
    pub device_id: DeviceId,
    /// The user.
    pub user_id: UserId,
    /// How it was established.
    pub method: SessionMethod,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it was ended, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended: Option<OffsetDateTime>,
}

impl Session {
    /// Whether it is still usable.
    pub fn is_active(&self) -> bool {
        self.ended.is_none()
    }
}

/// Whether a factor enrollment can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FactorStatus {
    /// Usable (subject to the device's state).
    Active,
    /// Deactivated with the device: the user must enroll again.
    Inactive,
}

/// An Okta Verify authenticator enrollment of one user on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FactorEnrollment {
    /// Its id.
    pub id: EnrollmentId,
    /// The device.
    pub device_id: DeviceId,
    /// The user.
    pub user_id: UserId,
    /// Usable or not.
    pub status: FactorStatus,
    /// When it was enrolled.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}
