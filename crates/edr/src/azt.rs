//! `azt`: Android device trust (Play Protect and Play Integrity verdicts).
//!
//! The device sends `{"playProtectVerdict": "NO_ISSUES",
//! "deviceIntegrityLevel": ["MEETS_BASIC_INTEGRITY", ...]}`. A verdict we do
//! not recognise is dropped (read as absent) and logged: unlike `wsc` there
//! is no `UNKNOWN` value to map it to, and absent never satisfies a rule.

use serde::{Deserialize, Serialize};

use crate::payload::{self, PayloadError};
use crate::providers::Ingest;
use crate::schema::{AttrType, AttributeSchema, ProviderSchema};
use crate::signals::ProviderSignals;
use crate::view::SignalValue;

/// Values of `playProtectVerdict`.
pub const PLAY_PROTECT_VALUES: &[&str] = &["NO_ISSUES", "MEDIUM_RISK", "HIGH_RISK"];
/// Values that may appear in `deviceIntegrityLevel`.
pub const INTEGRITY_VALUES: &[&str] = &[
    "MEETS_BASIC_INTEGRITY",
    "MEETS_DEVICE_INTEGRITY",
    "MEETS_STRONG_INTEGRITY",
];

/// Reports arrive as JSON; see [`AztSignals::parse`].
pub const INGEST: Ingest = Ingest::Json(|bytes| Ok(Box::new(AztSignals::parse(bytes)?)));

/// Published schema of `device.provider.azt.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "azt",
    name: "Android device trust",
    attributes: &[
        AttributeSchema {
            name: "playProtectVerdict",
            ty: AttrType::Enum(PLAY_PROTECT_VALUES),
            doc: "Google Play Protect verdict",
        },
        AttributeSchema {
            name: "deviceIntegrityLevel",
            ty: AttrType::EnumList(INTEGRITY_VALUES),
            doc: "Play Integrity device verdicts the device meets",
        },
    ],
};

/// Google Play Protect's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum PlayProtectVerdict {
    /// No harmful apps found.
    NoIssues,
    /// Potentially harmful apps found.
    MediumRisk,
    /// Dangerous apps found, or Play Protect is off.
    HighRisk,
}

/// One Play Integrity device verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum IntegrityLevel {
    /// Passes basic integrity checks (may be rooted or emulated).
    MeetsBasicIntegrity,
    /// A genuine, certified Android device.
    MeetsDeviceIntegrity,
    /// Genuine device with hardware-backed boot integrity.
    MeetsStrongIntegrity,
}

impl PlayProtectVerdict {
    /// Every value, in [`PLAY_PROTECT_VALUES`] order.
    pub const ALL: [Self; 3] = [Self::NoIssues, Self::MediumRisk, Self::HighRisk];

    /// The upper-case name Okta uses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoIssues => "NO_ISSUES",
            Self::MediumRisk => "MEDIUM_RISK",
            Self::HighRisk => "HIGH_RISK",
        }
    }
}

impl IntegrityLevel {
    /// Every value, in [`INTEGRITY_VALUES`] order.
    pub const ALL: [Self; 3] = [
        Self::MeetsBasicIntegrity,
        Self::MeetsDeviceIntegrity,
        Self::MeetsStrongIntegrity,
    ];

    /// The upper-case name Okta uses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MeetsBasicIntegrity => "MEETS_BASIC_INTEGRITY",
            Self::MeetsDeviceIntegrity => "MEETS_DEVICE_INTEGRITY",
            Self::MeetsStrongIntegrity => "MEETS_STRONG_INTEGRITY",
        }
    }

    fn from_reported(value: &str) -> Option<Self> {
        let found = Self::ALL.into_iter().find(|l| l.as_str() == value);
        if found.is_none() {
            tracing::warn!(
                provider = "azt",
                value = %payload::loggable(value),
                "unrecognised device integrity verdict, ignored"
            );
        }
        found
    }
}

impl PlayProtectVerdict {
    fn from_reported(value: &str) -> Option<Self> {
        let found = Self::ALL.into_iter().find(|v| v.as_str() == value);
        if found.is_none() {
            tracing::warn!(
                provider = "azt",
                value = %payload::loggable(value),
                "unrecognised Play Protect verdict, read as absent"
            );
        }
        found
    }
}

/// The JSON shape on the wire; strings are checked after decoding so an
/// unknown value can be logged and dropped instead of failing the payload.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    play_protect_verdict: Option<String>,
    #[serde(default)]
    device_integrity_level: Vec<String>,
}

/// The Android device trust report of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Wire", into = "Wire")]
pub struct AztSignals {
    play_protect_verdict: Option<PlayProtectVerdict>,
    integrity: Vec<IntegrityLevel>,
    // The same verdicts as strings, kept so the attribute view can lend a
    // `&[String]` without building one per evaluation.
    integrity_names: Vec<String>,
}

impl AztSignals {
    /// Build a report; integrity verdicts are sorted and de-duplicated.
    #[must_use]
    pub fn new(
        play_protect_verdict: Option<PlayProtectVerdict>,
        integrity: impl IntoIterator<Item = IntegrityLevel>,
    ) -> Self {
        let mut integrity: Vec<_> = integrity.into_iter().collect();
        integrity.sort_unstable();
        integrity.dedup();
        let integrity_names = integrity.iter().map(|l| l.as_str().to_owned()).collect();
        Self {
            play_protect_verdict,
            integrity,
            integrity_names,
        }
    }

    /// Parse the JSON the device sends.
    ///
    /// # Errors
    /// [`PayloadError`] if the payload is oversized or not a JSON object of
    /// this shape. Unrecognised verdict strings are dropped, not errors.
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

    /// `playProtectVerdict`, if reported and recognised.
    #[must_use]
    pub const fn play_protect_verdict(&self) -> Option<PlayProtectVerdict> {
        self.play_protect_verdict
    }

    /// `deviceIntegrityLevel`: recognised verdicts, sorted, without repeats.
    #[must_use]
    pub fn integrity(&self) -> &[IntegrityLevel] {
        &self.integrity
    }
}

impl From<Wire> for AztSignals {
    fn from(w: Wire) -> Self {
        let verdict = w
            .play_protect_verdict
            .as_deref()
            .and_then(PlayProtectVerdict::from_reported);
        let levels = w
            .device_integrity_level
            .iter()
            .filter_map(|s| IntegrityLevel::from_reported(s));
        Self::new(verdict, levels)
    }
}

impl From<AztSignals> for Wire {
    fn from(s: AztSignals) -> Self {
        Self {
            play_protect_verdict: s.play_protect_verdict.map(|v| v.as_str().to_owned()),
            device_integrity_level: s.integrity_names,
        }
    }
}

impl ProviderSignals for AztSignals {
    fn schema(&self) -> &'static ProviderSchema {
        &SCHEMA
    }

    fn value(&self, attribute: &str) -> Option<SignalValue<'_>> {
        match attribute {
            "playProtectVerdict" => self
                .play_protect_verdict
                .map(|v| SignalValue::String(v.as_str())),
            // An empty list is a real answer ("meets nothing"), not absence.
            "deviceIntegrityLevel" => Some(SignalValue::List(&self.integrity_names)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_matches_published_values() {
        let v: Vec<_> = PlayProtectVerdict::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(v, PLAY_PROTECT_VALUES);
        let l: Vec<_> = IntegrityLevel::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(l, INTEGRITY_VALUES);
    }

    #[test]
    fn unknown_values_are_dropped_and_repeats_removed() {
        let s = AztSignals::parse(
            br#"{"playProtectVerdict":"LOW_RISK","deviceIntegrityLevel":
                ["MEETS_STRONG_INTEGRITY","MEETS_VIRTUAL_INTEGRITY","MEETS_BASIC_INTEGRITY","MEETS_STRONG_INTEGRITY"]}"#,
        )
        .unwrap();
        assert_eq!(s.play_protect_verdict(), None);
        assert_eq!(
            s.integrity(),
            [
                IntegrityLevel::MeetsBasicIntegrity,
                IntegrityLevel::MeetsStrongIntegrity
            ]
        );
        assert_eq!(s.value("playProtectVerdict"), None);
        let Some(SignalValue::List(names)) = s.value("deviceIntegrityLevel") else {
            panic!("deviceIntegrityLevel is a list");
        };
        assert_eq!(names, ["MEETS_BASIC_INTEGRITY", "MEETS_STRONG_INTEGRITY"]);
    }
}
