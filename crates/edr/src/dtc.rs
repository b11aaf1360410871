//! `dtc`: Chrome device trust connector signals.

use crate::schema::{AttrType, AttributeSchema, ProviderSchema};

/// Values of `keyTrustLevel`.
pub const KEY_TRUST_VALUES: &[&str] = &[
    "CHROME_BROWSER_HW_KEY",
    "CHROME_BROWSER_OS_KEY",
    "CHROME_OS_VERIFIED_MODE",
    "CHROME_OS_DEVELOPER_MODE",
];
/// Values of `safeBrowsingProtectionLevel`.
pub const SAFE_BROWSING_VALUES: &[&str] =
    &["DISABLED", "STANDARD_PROTECTION", "ENHANCED_PROTECTION"];
/// Values of `passwordProtectionWarningTrigger`.
pub const PASSWORD_PROTECTION_VALUES: &[&str] = &[
    "POLICY_UNSET",
    "PASSWORD_PROTECTION_OFF",
    "PASSWORD_REUSE",
    "PHISHING_REUSE",
];

const fn attr(name: &'static str, ty: AttrType, doc: &'static str) -> AttributeSchema {
    AttributeSchema { name, ty, doc }
}

/// Published schema of `device.provider.dtc.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "dtc",
    name: "Chrome device trust",
    attributes: &[
        attr("osFirewall", AttrType::Bool, "the OS firewall is on"),
        attr(
            "diskEncrypted",
            AttrType::Bool,
            "the system disk is encrypted",
        ),
        attr(
            "screenLockSecured",
            AttrType::Bool,
            "a secure screen lock is set",
        ),
        attr("secureBootEnabled", AttrType::Bool, "secure boot is on"),
        attr(
            "keyTrustLevel",
            AttrType::Enum(KEY_TRUST_VALUES),
            "where the device trust key lives",
        ),
        attr(
            "browserVersion",
            AttrType::String,
            "Chrome version, e.g. 131.0.6778.86",
        ),
        attr(
            "safeBrowsingProtectionLevel",
            AttrType::Enum(SAFE_BROWSING_VALUES),
            "Safe Browsing protection level",
        ),
        attr(
            "realtimeUrlCheckMode",
            AttrType::Bool,
            "enterprise real-time URL checks are on",
        ),
        attr(
            "siteIsolationEnabled",
            AttrType::Bool,
            "site isolation is on",
        ),
        attr(
            "passwordProtectionWarningTrigger",
            AttrType::Enum(PASSWORD_PROTECTION_VALUES),
            "when password-reuse warnings are shown",
        ),
        attr(
            "builtInDnsClientEnabled",
            AttrType::Bool,
            "Chrome's own DNS client is used",
        ),
        attr(
            "chromeRemoteDesktopAppBlocked",
            AttrType::Bool,
            "Chrome Remote Desktop is blocked by policy",
        ),
        attr(
            "deviceEnrollmentDomain",
            AttrType::String,
            "domain the browser is enrolled in",
        ),
        attr(
            "windowsMachineDomain",
            AttrType::String,
            "Windows domain the machine is joined to",
        ),
        attr(
            "windowsUserDomain",
            AttrType::String,
            "Windows domain of the signed-in user",
        ),
    ],
};
