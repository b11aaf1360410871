//! `dtc`: Chrome device trust connector signals.
//!
//! The browser sends one flat JSON object with the attribute names below.
//! Every attribute is optional because Chrome reports only what the
//! platform supports (no `windowsMachineDomain` on macOS, for instance). An
//! enum value we do not recognise is read as absent and logged, so a new
//! Chrome release cannot make a device pass a rule it would fail.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::payload::{self, PayloadError};
use crate::providers::Ingest;
use crate::schema::{AttrType, AttributeSchema, ProviderSchema};
use crate::signals::ProviderSignals;
use crate::view::SignalValue;

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

/// Reports arrive as JSON; see [`DtcSignals::parse`].
pub const INGEST: Ingest = Ingest::Json(|bytes| Ok(Box::new(DtcSignals::parse(bytes)?)));

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

/// An enum Chrome reports as an upper-case string.
pub trait ReportedEnum: Copy + Eq + 'static {
    /// Every value, in the order of the schema's value list.
    const ALL: &'static [Self];
    /// The attribute it is reported under (for logs).
    const ATTRIBUTE: &'static str;
    /// The upper-case name Okta uses.
    fn as_str(self) -> &'static str;
}

macro_rules! reported_enum {
    ($(#[$doc:meta])* $name:ident, $attr:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vdoc])* $variant,)+ }

        impl ReportedEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$variant,)+];
            const ATTRIBUTE: &'static str = $attr;
            fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }
    };
}

reported_enum!(
    /// `keyTrustLevel`: where the key that signs the signals is kept.
    KeyTrustLevel, "keyTrustLevel", {
        /// In hardware (TPM or Secure Enclave).
        ChromeBrowserHwKey = "CHROME_BROWSER_HW_KEY",
        /// In the OS key store.
        ChromeBrowserOsKey = "CHROME_BROWSER_OS_KEY",
        /// ChromeOS in verified mode.
        ChromeOsVerifiedMode = "CHROME_OS_VERIFIED_MODE",
        /// ChromeOS in developer mode.
        ChromeOsDeveloperMode = "CHROME_OS_DEVELOPER_MODE",
    }
);
reported_enum!(
    /// `safeBrowsingProtectionLevel`.
    SafeBrowsingLevel, "safeBrowsingProtectionLevel", {
        /// Safe Browsing is off.
        Disabled = "DISABLED",
        /// Standard protection.
        StandardProtection = "STANDARD_PROTECTION",
        /// Enhanced protection.
        EnhancedProtection = "ENHANCED_PROTECTION",
    }
);
reported_enum!(
    /// `passwordProtectionWarningTrigger`.
    PasswordProtectionTrigger, "passwordProtectionWarningTrigger", {
        /// The policy is not set.
        PolicyUnset = "POLICY_UNSET",
        /// No warnings.
        PasswordProtectionOff = "PASSWORD_PROTECTION_OFF",
        /// Warn on any reuse of a protected password.
        PasswordReuse = "PASSWORD_REUSE",
        /// Warn on reuse on a known phishing site.
        PhishingReuse = "PHISHING_REUSE",
    }
);

/// Serde helpers for optional [`ReportedEnum`] fields.
mod lenient {
    use super::*;

    pub(super) fn serialize<S: Serializer, T: ReportedEnum>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: ReportedEnum>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let Some(raw) = Option::<std::borrow::Cow<'de, str>>::deserialize(d)? else {
            return Ok(None);
        };
        let found = T::ALL.iter().copied().find(|v| v.as_str() == raw);
        if found.is_none() {
            tracing::warn!(
                provider = "dtc",
                attribute = T::ATTRIBUTE,
                value = %payload::loggable(&raw),
                "unrecognised value, read as absent"
            );
        }
        Ok(found)
    }
}

/// The Chrome device trust report of one browser.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct DtcSignals {
    /// `osFirewall`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_firewall: Option<bool>,
    /// `diskEncrypted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_encrypted: Option<bool>,
    /// `screenLockSecured`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen_lock_secured: Option<bool>,
    /// `secureBootEnabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot_enabled: Option<bool>,
    /// `keyTrustLevel`.
    #[serde(with = "lenient", skip_serializing_if = "Option::is_none")]
    pub key_trust_level: Option<KeyTrustLevel>,
    /// `browserVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_version: Option<String>,
    /// `safeBrowsingProtectionLevel`.
    #[serde(with = "lenient", skip_serializing_if = "Option::is_none")]
    pub safe_browsing_protection_level: Option<SafeBrowsingLevel>,
    /// `realtimeUrlCheckMode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_url_check_mode: Option<bool>,
    /// `siteIsolationEnabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_isolation_enabled: Option<bool>,
    /// `passwordProtectionWarningTrigger`.
    #[serde(with = "lenient", skip_serializing_if = "Option::is_none")]
    pub password_protection_warning_trigger: Option<PasswordProtectionTrigger>,
    /// `builtInDnsClientEnabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_in_dns_client_enabled: Option<bool>,
    /// `chromeRemoteDesktopAppBlocked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrome_remote_desktop_app_blocked: Option<bool>,
    /// `deviceEnrollmentDomain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_enrollment_domain: Option<String>,
    /// `windowsMachineDomain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_machine_domain: Option<String>,
    /// `windowsUserDomain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_user_domain: Option<String>,
}

impl DtcSignals {
    /// Parse the JSON the browser sends.
    ///
    /// # Errors
    /// [`PayloadError`] if the payload is oversized or not a JSON object of
    /// this shape (a boolean sent as a string, for instance).
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        payload::decode(SCHEMA.id, bytes)
    }

    /// The JSON form [`parse`](Self::parse) reads.
    ///
    /// # Errors
    /// Only if serialisation fails, which it does not for this type.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

fn enum_value<T: ReportedEnum>(v: Option<T>) -> Option<SignalValue<'static>> {
    v.map(|v| SignalValue::String(v.as_str()))
}

fn str_value(v: Option<&String>) -> Option<SignalValue<'_>> {
    v.map(|s| SignalValue::String(s))
}

impl ProviderSignals for DtcSignals {
    fn schema(&self) -> &'static ProviderSchema {
        &SCHEMA
    }

    fn value(&self, attribute: &str) -> Option<SignalValue<'_>> {
        match attribute {
            "osFirewall" => self.os_firewall.map(SignalValue::Bool),
            "diskEncrypted" => self.disk_encrypted.map(SignalValue::Bool),
            "screenLockSecured" => self.screen_lock_secured.map(SignalValue::Bool),
            "secureBootEnabled" => self.secure_boot_enabled.map(SignalValue::Bool),
            "keyTrustLevel" => enum_value(self.key_trust_level),
            "browserVersion" => str_value(self.browser_version.as_ref()),
            "safeBrowsingProtectionLevel" => enum_value(self.safe_browsing_protection_level),
            "realtimeUrlCheckMode" => self.realtime_url_check_mode.map(SignalValue::Bool),
            "siteIsolationEnabled" => self.site_isolation_enabled.map(SignalValue::Bool),
            "passwordProtectionWarningTrigger" => {
                enum_value(self.password_protection_warning_trigger)
            }
            "builtInDnsClientEnabled" => self.built_in_dns_client_enabled.map(SignalValue::Bool),
            "chromeRemoteDesktopAppBlocked" => self
                .chrome_remote_desktop_app_blocked
                .map(SignalValue::Bool),
            "deviceEnrollmentDomain" => str_value(self.device_enrollment_domain.as_ref()),
            "windowsMachineDomain" => str_value(self.windows_machine_domain.as_ref()),
            "windowsUserDomain" => str_value(self.windows_user_domain.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: ReportedEnum>() -> Vec<&'static str> {
        T::ALL.iter().map(|v| v.as_str()).collect()
    }

    #[test]
    fn enums_match_published_values() {
        assert_eq!(names::<KeyTrustLevel>(), KEY_TRUST_VALUES);
        assert_eq!(names::<SafeBrowsingLevel>(), SAFE_BROWSING_VALUES);
        assert_eq!(
            names::<PasswordProtectionTrigger>(),
            PASSWORD_PROTECTION_VALUES
        );
    }

    #[test]
    fn unknown_enum_value_reads_as_absent() {
        let (s, logged) = crate::test_log::warnings(|| {
            DtcSignals::parse(br#"{"keyTrustLevel":"QUANTUM_KEY","osFirewall":true}"#).unwrap()
        });
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(
            logged[0].contains("QUANTUM_KEY") && logged[0].contains("keyTrustLevel"),
            "{logged:?}"
        );
        assert_eq!(s.key_trust_level, None);
        assert_eq!(s.value("keyTrustLevel"), None);
        assert_eq!(s.value("osFirewall"), Some(SignalValue::Bool(true)));
    }

    #[test]
    fn null_reads_as_absent_and_bool_as_string_is_refused() {
        let s = DtcSignals::parse(br#"{"keyTrustLevel":null,"diskEncrypted":null}"#).unwrap();
        assert_eq!(s, DtcSignals::default());
        assert!(DtcSignals::parse(br#"{"diskEncrypted":"true"}"#).is_err());
    }
}
