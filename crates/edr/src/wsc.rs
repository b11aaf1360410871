//! `wsc`: Windows Security Center health, as Okta Verify reports it.
//!
//! The device sends one JSON object, e.g.
//! `{"antiVirus": "GOOD", "fireWall": "SNOOZE", ...}`. Windows adds health
//! states over time, so a value we do not recognise is read as `UNKNOWN`
//! (which no sensible policy accepts) and logged, rather than refusing the
//! whole payload. A missing attribute is `UNKNOWN` for the same reason.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::payload::{self, PayloadError};
use crate::providers::Ingest;
use crate::schema::{AttrType, AttributeSchema, ProviderSchema};
use crate::signals::ProviderSignals;
use crate::view::SignalValue;

/// Values every `wsc` attribute can take, as Okta spells them.
pub const HEALTH_VALUES: &[&str] = &["GOOD", "NOT_MONITORED", "POOR", "SNOOZE", "UNKNOWN"];

const HEALTH: AttrType = AttrType::Enum(HEALTH_VALUES);

/// Reports arrive as JSON; see [`WscSignals::parse`].
pub const INGEST: Ingest = Ingest::Json(|bytes| Ok(Box::new(WscSignals::parse(bytes)?)));

/// Published schema of `device.provider.wsc.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "wsc",
    name: "Windows Security Center",
    attributes: &[
        AttributeSchema {
            name: "antiVirus",
            ty: HEALTH,
            doc: "health of the antivirus product",
        },
        AttributeSchema {
            name: "fireWall",
            ty: HEALTH,
            doc: "health of the firewall",
        },
        AttributeSchema {
            name: "autoUpdateSettings",
            ty: HEALTH,
            doc: "health of Windows Update settings",
        },
        AttributeSchema {
            name: "internetSettings",
            ty: HEALTH,
            doc: "health of Internet security settings",
        },
        AttributeSchema {
            name: "userAccountControl",
            ty: HEALTH,
            doc: "health of User Account Control",
        },
        AttributeSchema {
            name: "securityCenterService",
            ty: HEALTH,
            doc: "health of the Security Center service itself",
        },
    ],
};

/// Health of one Security Center component (`WSC_SECURITY_PROVIDER_HEALTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Health {
    /// The component is healthy.
    Good,
    /// Security Center does not monitor the component.
    NotMonitored,
    /// The component needs attention.
    Poor,
    /// The user postponed the component's warnings.
    Snooze,
    /// Unknown, unreported or unrecognised.
    #[default]
    Unknown,
}

impl Health {
    /// Every value, in [`HEALTH_VALUES`] order.
    pub const ALL: [Self; 5] = [
        Self::Good,
        Self::NotMonitored,
        Self::Poor,
        Self::Snooze,
        Self::Unknown,
    ];

    /// The upper-case name Okta uses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Good => "GOOD",
            Self::NotMonitored => "NOT_MONITORED",
            Self::Poor => "POOR",
            Self::Snooze => "SNOOZE",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Read a reported value; anything unrecognised is `Unknown`, and logged
    /// so an operator can see a new Windows state appear.
    #[must_use]
    pub fn from_reported(value: &str) -> Self {
        if let Some(h) = Self::ALL.into_iter().find(|h| h.as_str() == value) {
            return h;
        }
        tracing::warn!(
            provider = "wsc",
            value = %payload::loggable(value),
            "unrecognised Security Center health value, read as UNKNOWN"
        );
        Self::Unknown
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Health {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Health {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Borrowing where possible; a JSON string with escapes needs an owned
        // copy. `null` means "not reported", like a missing member.
        let raw = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(raw.map_or(Self::Unknown, |r| Self::from_reported(&r)))
    }
}

/// The Security Center report of one Windows device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct WscSignals {
    /// `antiVirus`.
    pub anti_virus: Health,
    /// `fireWall`.
    pub fire_wall: Health,
    /// `autoUpdateSettings`.
    pub auto_update_settings: Health,
    /// `internetSettings`.
    pub internet_settings: Health,
    /// `userAccountControl`.
    pub user_account_control: Health,
    /// `securityCenterService`.
    pub security_center_service: Health,
}

impl WscSignals {
    /// Parse the JSON the device sends.
    ///
    /// # Errors
    /// [`PayloadError`] if the payload is oversized or not a JSON object of
    /// this shape. Unrecognised health values are not errors (see the module
    /// docs).
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

    fn health(&self, attribute: &str) -> Option<Health> {
        Some(match attribute {
            "antiVirus" => self.anti_virus,
            "fireWall" => self.fire_wall,
            "autoUpdateSettings" => self.auto_update_settings,
            "internetSettings" => self.internet_settings,
            "userAccountControl" => self.user_account_control,
            "securityCenterService" => self.security_center_service,
            _ => return None,
        })
    }
}

impl ProviderSignals for WscSignals {
    fn schema(&self) -> &'static ProviderSchema {
        &SCHEMA
    }

    fn value(&self, attribute: &str) -> Option<SignalValue<'_>> {
        self.health(attribute)
            .map(|h| SignalValue::String(h.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_matches_published_values() {
        let names: Vec<_> = Health::ALL.iter().map(|h| h.as_str()).collect();
        assert_eq!(names, HEALTH_VALUES);
    }

    #[test]
    fn unrecognised_and_missing_values_read_as_unknown() {
        let (s, logged) = crate::test_log::warnings(|| {
            WscSignals::parse(br#"{"antiVirus":"GOOD","fireWall":"SUPER_GOOD"}"#).unwrap()
        });
        // Logged, never silently mapped; missing members are not warnings.
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].contains("SUPER_GOOD"), "{logged:?}");
        assert_eq!(s.anti_virus, Health::Good);
        assert_eq!(s.fire_wall, Health::Unknown);
        assert_eq!(s.user_account_control, Health::Unknown);
    }

    #[test]
    fn null_reads_as_unknown() {
        let s = WscSignals::parse(br#"{"antiVirus":null,"fireWall":"GOOD"}"#).unwrap();
        assert_eq!(s.anti_virus, Health::Unknown);
        assert_eq!(s.fire_wall, Health::Good);
    }

    #[test]
    fn wrong_json_types_are_refused() {
        assert!(WscSignals::parse(br#"{"antiVirus":1}"#).is_err());
        assert!(WscSignals::parse(br#"["GOOD"]"#).is_err());
    }

    #[test]
    fn escaped_strings_are_read() {
        let s = WscSignals::parse(br#"{"antiVirus":"G\u004FOD"}"#).unwrap();
        assert_eq!(s.anti_virus, Health::Good);
    }
}
