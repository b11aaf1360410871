//! Device assurance policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::OsType;

/// Platforms a device assurance policy can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssurancePlatform {
    /// Android.
    Android,
    /// ChromeOS.
    Chromeos,
    /// iOS.
    Ios,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
}

impl AssurancePlatform {
    /// The operating system this policy applies to.
    #[must_use]
    pub fn os(self) -> OsType {
        match self {
            AssurancePlatform::Android => OsType::Android,
            AssurancePlatform::Chromeos => OsType::Chromeos,
            AssurancePlatform::Ios => OsType::Ios,
            AssurancePlatform::Macos => OsType::Macos,
            AssurancePlatform::Windows => OsType::Windows,
        }
    }
}

/// `osVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OsVersionRequirement {
    /// Lowest version accepted, compared part by part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<String>,
}

/// `{include: [...]}` lists of accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeList {
    /// Accepted values.
    #[serde(default)]
    pub include: Vec<String>,
}

/// An Okta device assurance policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceAssurance {
    /// Id, referenced by `device.assurance.include`. Read-only in Okta's
    /// API: a create without one gets one from the server; a document must
    /// name it.
    #[serde(default)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// The only platform this policy applies to.
    pub platform: AssurancePlatform,
    /// Minimum OS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<OsVersionRequirement>,
    /// Accepted disk encryption types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_type: Option<IncludeList>,
    /// Accepted screen lock types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_lock_type: Option<IncludeList>,
    /// Whether a TPM or secure enclave is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_hardware_present: Option<bool>,
    /// The jailbreak state accepted: `false` refuses jailbroken devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jailbreak: Option<bool>,
    /// Who created it (read-only: set by the server that stores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was created, RFC 3339 (read-only: set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    /// Who last updated it (read-only: set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    /// When it was last updated, RFC 3339 (read-only: set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    /// Hypermedia links, as given.
    #[serde(default, rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
}
