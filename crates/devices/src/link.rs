//! The device–user link: who uses a device, and how it is managed for them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::UserId;

/// Whether the device is managed (MDM) for this user (`managementStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ManagementStatus {
    /// Managed by an MDM the org trusts.
    Managed,
    /// Not managed.
    NotManaged,
}

/// The device's screen lock (`screenLockType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ScreenLockType {
    /// No lock.
    None,
    /// Passcode or password only.
    Passcode,
    /// Passcode and biometrics.
    Biometric,
}

/// The linked user (`user` in Okta's shape, reduced to its id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedUser {
    /// The user's id.
    pub id: UserId,
}

/// One user of one device, in one org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceUser {
    /// The user.
    pub user: LinkedUser,
    /// Management for this user.
    pub management_status: ManagementStatus,
    /// Screen lock reported at enrollment.
    pub screen_lock_type: ScreenLockType,
    /// When the link was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}
