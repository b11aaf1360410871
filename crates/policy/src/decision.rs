//! The decision and its explanation, shaped after Okta's policy
//! simulation API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Access, VerificationMethod};

/// The outcome of one condition or rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MatchStatus {
    /// It holds.
    Match,
    /// It does not hold.
    NotMatch,
    /// The context lacks what it needs; this never matches.
    Undefined,
}

impl MatchStatus {
    /// Combines statuses that must all hold: any `NOT_MATCH` wins, then
    /// any `UNDEFINED`.
    pub(crate) fn all(statuses: impl IntoIterator<Item = MatchStatus>) -> MatchStatus {
        let mut result = MatchStatus::Match;
        for status in statuses {
            match status {
                MatchStatus::NotMatch => return MatchStatus::NotMatch,
                MatchStatus::Undefined => result = MatchStatus::Undefined,
                MatchStatus::Match => {}
            }
        }
        result
    }

    /// Combines alternatives, any one of which suffices.
    pub(crate) fn any(statuses: impl IntoIterator<Item = MatchStatus>) -> MatchStatus {
        let mut result = MatchStatus::NotMatch;
        for status in statuses {
            match status {
                MatchStatus::Match => return MatchStatus::Match,
                MatchStatus::Undefined => result = MatchStatus::Undefined,
                MatchStatus::NotMatch => {}
            }
        }
        result
    }

    pub(crate) fn from_bool(b: bool) -> MatchStatus {
        if b {
            MatchStatus::Match
        } else {
            MatchStatus::NotMatch
        }
    }
}

/// A rule, by id and name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RuleRef {
    /// Rule id.
    pub id: String,
    /// Rule name.
    pub name: String,
}

/// The decision for one sign-in.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// `ALLOW` or `DENY`.
    pub access: Access,
    /// The rule that decided; none when no rule matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// How the user must authenticate, from the matched rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// One sentence saying why.
    pub reason: String,
    /// Every rule evaluated, in order, up to and including the match.
    pub explanation: Explanation,
}

/// The rules evaluated for a decision.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Explanation {
    /// In evaluation order.
    pub rules: Vec<RuleExplanation>,
}

/// One evaluated rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RuleExplanation {
    /// Rule id.
    pub id: String,
    /// Rule name.
    pub name: String,
    /// Rule priority.
    pub priority: u32,
    /// `MATCH` only if every condition matched.
    pub status: MatchStatus,
    /// Every condition of the rule.
    pub conditions: Vec<ConditionExplanation>,
}

/// One evaluated condition.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionExplanation {
    /// The condition, named by its path in the rule: `device.managed`,
    /// `network`, `elCondition`, ...
    #[serde(rename = "type")]
    pub condition: String,
    /// Its outcome.
    pub status: MatchStatus,
    /// What the rule asks for, as written in the rule.
    pub expected: Value,
    /// What the context holds.
    pub actual: Value,
    /// For expressions that did not hold: the sub-expression that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_sub_expression: Option<SubExpression>,
    /// For device assurance: the outcome per assurance policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assurances: Vec<AssuranceExplanation>,
}

/// The part of an expression that made it false or undefined.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SubExpression {
    /// Its source text.
    pub expression: String,
    /// Every attribute it reads, and what was read.
    pub attributes: Vec<AttributeReading>,
}

/// Whether an attribute had a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Presence {
    /// It had a value.
    Present,
    /// The context has no value for it.
    Absent,
    /// The provider's signals were too old, so the value was ignored.
    Stale,
}

/// One attribute read by a sub-expression.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeReading {
    /// Its path, as written.
    pub path: String,
    /// Whether it had a value.
    pub presence: Presence,
    /// The value read; null when absent or stale.
    pub value: Value,
    /// For stale signals: when they were collected (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    /// For stale signals: the maximum age exceeded, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i64>,
}

/// One device assurance policy's outcome.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssuranceExplanation {
    /// Assurance policy id.
    pub id: String,
    /// Assurance policy name.
    pub name: String,
    /// Its outcome.
    pub status: MatchStatus,
    /// The checks that did not pass.
    pub failed: Vec<CheckExplanation>,
}

/// One device assurance check that did not pass.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CheckExplanation {
    /// `platform`, `osVersion`, `diskEncryptionType`, ...
    pub check: String,
    /// `NOT_MATCH` or `UNDEFINED`.
    pub status: MatchStatus,
    /// What the policy requires.
    pub expected: Value,
    /// What the device reported.
    pub actual: Value,
}
