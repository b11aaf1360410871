//! Small enumerations shared by several objects.

use serde::{Deserialize, Serialize};

/// Whether a policy, rule or zone is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Evaluated.
    Active,
    /// Kept but skipped.
    Inactive,
}

/// Operating systems, as Okta names them in platform conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OsType {
    /// Matches every operating system (conditions only).
    Any,
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
    /// Linux.
    Linux,
    /// Anything else.
    Other,
}

impl OsType {
    /// The device class Okta files this operating system under.
    #[must_use]
    pub fn platform_type(self) -> PlatformType {
        match self {
            OsType::Android | OsType::Ios => PlatformType::Mobile,
            OsType::Macos | OsType::Windows | OsType::Chromeos | OsType::Linux => {
                PlatformType::Desktop
            }
            OsType::Any => PlatformType::Any,
            OsType::Other => PlatformType::Other,
        }
    }

    /// Okta's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OsType::Any => "ANY",
            OsType::Android => "ANDROID",
            OsType::Ios => "IOS",
            OsType::Macos => "MACOS",
            OsType::Windows => "WINDOWS",
            OsType::Chromeos => "CHROMEOS",
            OsType::Linux => "LINUX",
            OsType::Other => "OTHER",
        }
    }
}

/// Device classes, as Okta names them in platform conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlatformType {
    /// Every class.
    Any,
    /// Laptops and desktops.
    Desktop,
    /// Phones and tablets.
    Mobile,
    /// Anything else.
    Other,
}

/// Risk levels; `Any` appears only in conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    /// Matches every level (conditions only).
    Any,
    /// Low risk.
    Low,
    /// Medium risk.
    Medium,
    /// High risk.
    High,
}

impl RiskLevel {
    /// Okta's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Any => "ANY",
            RiskLevel::Low => "LOW",
            RiskLevel::Medium => "MEDIUM",
            RiskLevel::High => "HIGH",
        }
    }
}
