//! An Okta Verify enrollment: what a device sends when a user registers it.

use serde::{Deserialize, Serialize};

use crate::{DeviceError, DeviceProfile, ManagementStatus, ScreenLockType, UserId};

/// One user enrolling Okta Verify on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentRequest {
    /// The enrolling user.
    pub user_id: UserId,
    /// What the device reports.
    pub profile: DeviceProfile,
    /// Whether an MDM manages it for this user.
    pub management_status: ManagementStatus,
    /// Its screen lock.
    pub screen_lock_type: ScreenLockType,
}

impl EnrollmentRequest {
    /// An unmanaged enrollment with no screen lock reported.
    pub fn new(user_id: UserId, profile: DeviceProfile) -> Self {
        Self {
            user_id,
            profile,
            management_status: ManagementStatus::NotManaged,
            screen_lock_type: ScreenLockType::None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), DeviceError> {
        self.profile.validate()
    }
}
