//! How an expression that did not hold is explained.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_policy::decision::{ConditionExplanation, Presence};
use devicetrust_policy::{Context, MatchStatus, PolicyDocument};
use serde_json::json;

/// The explanation of the single expression condition of a one-rule policy.
fn explain(expression: &str, context: serde_json::Value) -> ConditionExplanation {
    let doc = json!({
        "policy": {"id": "p", "name": "p", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": [{"id": "r", "name": "r", "priority": 1, "status": "ACTIVE",
                   "conditions": {"elCondition": {"condition": expression}},
                   "actions": {"appSignOn": {"access": "ALLOW"}}}]
    });
    let policy = PolicyDocument::from_json(&doc.to_string())
        .unwrap()
        .compile()
        .unwrap();
    let ctx = Context::from_json(&context.to_string()).unwrap();
    let decision = policy.evaluate(&ctx);
    decision.explanation.rules[0].conditions[0].clone()
}

#[test]
fn descends_into_the_failing_conjunct() {
    let c = explain(
        "device.registered == true && (risk.level == 'LOW' && user.profile.department == 'Sales')",
        json!({"device": {"registered": true}, "risk": {"level": "LOW"}, "user": {"profile": {"department": "Legal"}}}),
    );
    assert_eq!(c.status, MatchStatus::NotMatch);
    let sub = c.false_sub_expression.unwrap();
    assert_eq!(sub.expression, "user.profile.department == 'Sales'");
    assert_eq!(sub.attributes[0].value, "Legal");
}

#[test]
fn a_failed_disjunction_is_reported_whole_with_every_attribute() {
    let c = explain(
        "risk.level == 'LOW' || user.isMemberOf('Admins')",
        json!({"risk": {"level": "HIGH"}, "user": {"groups": ["Everyone"]}}),
    );
    let sub = c.false_sub_expression.unwrap();
    assert_eq!(
        sub.expression,
        "risk.level == 'LOW' || user.isMemberOf('Admins')"
    );
    assert_eq!(sub.attributes.len(), 1);
    assert_eq!(sub.attributes[0].path, "risk.level");
    assert_eq!(sub.attributes[0].value, "HIGH");
}

#[test]
fn follows_the_branch_taken() {
    let c = explain(
        "device.platform == 'WINDOWS' ? device.provider.wsc.fireWall == 'GOOD' : device.registered",
        json!({"device": {"platform": "WINDOWS", "provider": {"wsc": {"fireWall": "POOR"}}}}),
    );
    let sub = c.false_sub_expression.unwrap();
    assert_eq!(sub.expression, "device.provider.wsc.fireWall == 'GOOD'");
    assert_eq!(sub.attributes[0].presence, Presence::Present);
    assert_eq!(sub.attributes[0].value, "POOR");
}

#[test]
fn a_matching_expression_has_no_culprit() {
    let c = explain("device.registered", json!({"device": {"registered": true}}));
    assert_eq!(c.status, MatchStatus::Match);
    assert_eq!(c.actual, true);
    assert!(c.false_sub_expression.is_none());
    assert_eq!(c.expected, "device.registered");
}
