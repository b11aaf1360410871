//! The device record, in the JSON shapes of Okta's Devices API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::limits::{MAX_HARDWARE_ID_CHARS, MAX_TEXT_CHARS, check_text};
use crate::{DeviceError, DeviceId, DeviceStatus};

/// A device's operating system family (`profile.platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Platform {
    /// Android.
    Android,
    /// iOS and iPadOS.
    Ios,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
    /// ChromeOS.
    Chromeos,
}

/// Disk encryption as the device reports it (`profile.diskEncryptionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum DiskEncryptionType {
    /// Not encrypted.
    None,
    /// Fully encrypted (Android, iOS).
    Full,
    /// Keys tied to the user or profile (Android).
    User,
    /// Every internal volume (macOS, Windows).
    AllInternalVolumes,
    /// The system volume only (macOS, Windows).
    SystemVolume,
}

/// `profile`: what the device says about itself. Fields this model does
/// not know (Okta's `integrityDebug`, custom attributes) are ignored on
/// input, so exports from Okta load; the known ones are typed and validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceProfile {
    /// Display name.
    pub display_name: String,
    /// Platform.
    pub platform: Platform,
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// OS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Hardware serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// International Mobile Equipment Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// Mobile Equipment Identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
    /// Unique device identifier (macOS, iOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    /// Windows security identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Hash of the Windows TPM's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_public_key_hash: Option<String>,
    /// Whether the device has secure hardware (TPM, Secure Enclave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_hardware_present: Option<bool>,
    /// Disk encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_type: Option<DiskEncryptionType>,
    /// Whether the device is registered with the org.
    pub registered: bool,
    /// Whether a mobile device is jailbroken or rooted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity_jailbreak: Option<bool>,
}

impl DeviceProfile {
    /// A minimal registered profile.
    pub fn new(display_name: impl Into<String>, platform: Platform) -> Self {
        Self {
            display_name: display_name.into(),
            platform,
            manufacturer: None,
            model: None,
            os_version: None,
            serial_number: None,
            imei: None,
            meid: None,
            udid: None,
            sid: None,
            tpm_public_key_hash: None,
            secure_hardware_present: None,
            disk_encryption_type: None,
            registered: true,
            integrity_jailbreak: None,
        }
    }

    /// Checks every string field against its limit.
    pub fn validate(&self) -> Result<(), DeviceError> {
        check_text("displayName", &self.display_name, MAX_TEXT_CHARS, true)?;
        let text = [
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("osVersion", &self.os_version),
        ];
        for (field, value) in text {
            if let Some(v) = value {
                check_text(field, v, MAX_TEXT_CHARS, false)?;
            }
        }
        let hardware = [
            ("serialNumber", &self.serial_number),
            ("imei", &self.imei),
            ("meid", &self.meid),
            ("udid", &self.udid),
            ("sid", &self.sid),
            ("tpmPublicKeyHash", &self.tpm_public_key_hash),
        ];
        for (field, value) in hardware {
            if let Some(v) = value {
                check_text(field, v, MAX_HARDWARE_ID_CHARS, true)?;
            }
        }
        Ok(())
    }

    /// The identifier that recognises the same device enrolling again:
    /// the UDID, else the Windows SID, else the serial number. `None` when
    /// the device reports none, and then every enrollment is a new device.
    pub fn hardware_key(&self) -> Option<HardwareKey> {
        if let Some(v) = &self.udid {
            return Some(HardwareKey::Udid(v.clone()));
        }
        if let Some(v) = &self.sid {
            return Some(HardwareKey::Sid(v.clone()));
        }
        self.serial_number.clone().map(HardwareKey::SerialNumber)
    }
}

/// A hardware identifier that recognises a device across enrollments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HardwareKey {
    /// `profile.udid`.
    Udid(String),
    /// `profile.sid`.
    Sid(String),
    /// `profile.serialNumber`.
    SerialNumber(String),
}

/// `resourceDisplayName`: the name shown in lists, and whether it is sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDisplayName {
    /// The name.
    pub value: String,
    /// Whether it may be shown.
    pub sensitive: bool,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its lifecycle state.
    pub status: DeviceStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When the record last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated: OffsetDateTime,
    /// When it last enrolled or signed in (a devicetrust extension, for
    /// stale-device queries). Absent from Okta's data: then the Unix epoch,
    /// so an imported device counts as not seen until it is.
    #[serde(with = "time::serde::rfc3339", default = "never")]
    pub last_seen: OffsetDateTime,
    /// The name shown in lists.
    pub resource_display_name: ResourceDisplayName,
    /// What it says about itself.
    pub profile: DeviceProfile,
}

fn never() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

/// Truncates a time to whole milliseconds, the precision every store keeps,
/// so that what is written reads back equal.
pub fn to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or(t)
}

/// Unix milliseconds, as stores keep times.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time at `ms` Unix milliseconds, if representable.
pub fn from_unix_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms).saturating_mul(1_000_000)).ok()
}
