//! The platforms a management configuration covers.

use std::fmt;

/// A device platform, as in "Security > Device Integrations > Endpoint Management".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Platform {
    /// Windows: client certificate.
    Windows,
    /// macOS: client certificate.
    #[serde(rename = "macOS")]
    MacOs,
    /// Android: managementHint.
    Android,
    /// iOS and iPadOS: managementHint.
    #[serde(rename = "iOS")]
    Ios,
}

impl Platform {
    /// Whether devices of this platform attest with a client certificate
    /// (desktops) rather than the managementHint (mobiles).
    pub fn is_desktop(self) -> bool {
        matches!(self, Self::Windows | Self::MacOs)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Windows => "windows",
            Self::MacOs => "macOS",
            Self::Android => "android",
            Self::Ios => "iOS",
        })
    }
}
