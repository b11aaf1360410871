//! The Policy and PolicyRule objects.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::RuleActions;
use super::common::Status;
use super::conditions::RuleConditions;

/// Policy types; this engine evaluates app sign-on policies only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum PolicyType {
    /// An app sign-on (authentication) policy.
    #[serde(rename = "ACCESS_POLICY")]
    AccessPolicy,
}

/// An Okta Policy object of type `ACCESS_POLICY`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Policy id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Always `ACCESS_POLICY`.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Whether the policy is in force.
    pub status: Status,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Priority among policies; unused by rule evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Whether Okta created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    /// Always null for app sign-on policies; kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Value>,
    /// Creation time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last update time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Hypermedia links, as given.
    #[serde(default, rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
    /// Embedded resources, as given.
    #[serde(default, rename = "_embedded", skip_serializing_if = "Option::is_none")]
    pub embedded: Option<Value>,
}

/// An Okta PolicyRule object of an app sign-on policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    /// Rule id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Evaluation order: lower first. Unique within a document.
    pub priority: u32,
    /// Only `ACTIVE` rules are evaluated.
    pub status: Status,
    /// Whether this is Okta's catch-all rule.
    #[serde(default)]
    pub system: bool,
    /// `ACCESS_POLICY`, when given.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub rule_type: Option<PolicyType>,
    /// The conditions, all of which must hold; none means "always".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<RuleConditions>,
    /// What happens when the rule matches.
    pub actions: RuleActions,
    /// Creation time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last update time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Hypermedia links, as given.
    #[serde(default, rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
}
