//! Rule conditions.

use serde::{Deserialize, Serialize};

use super::common::{OsType, PlatformType, RiskLevel};

/// The conditions of a rule; every one present must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleConditions {
    /// Users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<PeopleCondition>,
    /// User types, by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<IncludeExclude>,
    /// Registration, management and assurance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceCondition>,
    /// Device class and operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformCondition>,
    /// Network zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkCondition>,
    /// Okta's risk level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<RiskScoreCondition>,
    /// A custom expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub el_condition: Option<ElCondition>,
}

/// Ids to include and to exclude; an empty include means "everyone".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeExclude {
    /// Ids that match.
    #[serde(default)]
    pub include: Vec<String>,
    /// Ids that never match, whatever `include` says.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// `people.users` and `people.groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleCondition {
    /// User ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<IncludeExclude>,
    /// Group ids or names, as the context lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<IncludeExclude>,
}

/// `device.registered`, `device.managed` and `device.assurance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCondition {
    /// Exact registration state wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// Exact management state wanted; requires `registered: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Device assurance policies, any one of which suffices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance: Option<AssuranceCondition>,
}

/// `device.assurance.include`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceCondition {
    /// Device assurance ids.
    #[serde(default)]
    pub include: Vec<String>,
}

/// `platform.include` and `platform.exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformCondition {
    /// Platforms that match; empty means all.
    #[serde(default)]
    pub include: Vec<PlatformEntry>,
    /// Platforms that never match.
    #[serde(default)]
    pub exclude: Vec<PlatformEntry>,
}

/// One platform: a device class and an operating system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformEntry {
    /// The device class.
    #[serde(rename = "type")]
    pub platform_type: PlatformType,
    /// The operating system; none means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsCondition>,
}

/// The `os` of a platform entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OsCondition {
    /// The operating system.
    #[serde(rename = "type")]
    pub os_type: OsType,
    /// Okta's OS expression for `OTHER`; carried through, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// `network.connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Connection {
    /// Any address.
    Anywhere,
    /// Addresses in the included zones and not in the excluded ones.
    Zone,
}

/// `network`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCondition {
    /// `ANYWHERE` or `ZONE`.
    pub connection: Connection,
    /// Zone ids that match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Zone ids that never match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// `riskScore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskScoreCondition {
    /// The level that matches; `ANY` matches all.
    pub level: RiskLevel,
}

/// `elCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ElCondition {
    /// The expression, compiled at load.
    pub condition: String,
}
