//! The guide's low, medium and high sensitivity examples, each with a set
//! of sign-in contexts and the decision the guide's semantics give them.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::PathBuf;

use devicetrust_policy::decision::{MatchStatus, Presence};
use devicetrust_policy::model::Access;
use devicetrust_policy::{CompiledPolicy, Context, PolicyDocument};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    context: Context,
    access: Access,
    rule: String,
}

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> CompiledPolicy {
    PolicyDocument::from_json(&data(&format!("{name}.json")))
        .unwrap()
        .compile()
        .unwrap()
}

fn cases(name: &str) -> Vec<Case> {
    serde_json::from_str(&data(&format!("{name}.cases.json"))).unwrap()
}

fn run(name: &str) {
    let policy = load(name);
    let cases = cases(name);
    assert!(!cases.is_empty());
    for case in cases {
        let decision = policy.evaluate(&case.context);
        let rule = decision.rule.as_ref().map(|r| r.id.as_str());
        assert_eq!(decision.access, case.access, "{}: {decision:#?}", case.name);
        assert_eq!(rule, Some(case.rule.as_str()), "{}", case.name);
        // The fast path agrees with the explained one.
        let verdict = policy.decide(&case.context);
        assert_eq!(verdict.access, decision.access, "{}", case.name);
        assert_eq!(verdict.rule.map(|r| r.id.as_str()), rule, "{}", case.name);
        // Every rule before the match did not match; the last one did.
        let (last, before) = decision.explanation.rules.split_last().unwrap();
        assert_eq!(last.id, case.rule, "{}", case.name);
        assert_eq!(last.status, MatchStatus::Match);
        assert!(
            before.iter().all(|r| r.status != MatchStatus::Match),
            "{}",
            case.name
        );
        assert!(before.windows(2).all(|w| w[0].priority < w[1].priority));
    }
}

#[test]
fn low_sensitivity() {
    run("low");
}

#[test]
fn medium_sensitivity() {
    run("medium");
}

#[test]
fn high_sensitivity() {
    run("high");
}

#[test]
fn okta_shaped_example() {
    run("okta");
}

fn case_context(name: &str, case: &str) -> Context {
    cases(name)
        .into_iter()
        .find(|c| c.name == case)
        .map(|c| c.context)
        .unwrap()
}

#[test]
fn explanation_names_the_false_sub_expression() {
    let policy = load("high");
    let ctx = case_context("high", "windows with snoozed firewall");
    let decision = policy.evaluate(&ctx);
    let edr = decision
        .explanation
        .rules
        .iter()
        .find(|r| r.id == "rulwindowsedr000001")
        .unwrap();
    assert_eq!(edr.status, MatchStatus::NotMatch);
    let el = edr
        .conditions
        .iter()
        .find(|c| c.condition == "elCondition")
        .unwrap();
    assert_eq!(el.status, MatchStatus::NotMatch);
    let sub = el.false_sub_expression.as_ref().unwrap();
    assert_eq!(sub.expression, r#"device.provider.wsc.fireWall == "GOOD""#);
    assert_eq!(sub.attributes.len(), 1);
    assert_eq!(sub.attributes[0].path, "device.provider.wsc.fireWall");
    assert_eq!(sub.attributes[0].value, "SNOOZE");
    assert_eq!(sub.attributes[0].presence, Presence::Present);
    // The other conditions of that rule matched, each with expected and actual.
    for c in edr
        .conditions
        .iter()
        .filter(|c| c.condition != "elCondition")
    {
        assert_eq!(c.status, MatchStatus::Match, "{}", c.condition);
        assert!(
            !c.expected.is_null() && !c.actual.is_null(),
            "{}",
            c.condition
        );
    }
}

#[test]
fn absent_signals_are_undefined_not_errors() {
    let policy = load("high");
    let ctx = case_context("high", "windows with no signals");
    let decision = policy.evaluate(&ctx);
    let edr = decision
        .explanation
        .rules
        .iter()
        .find(|r| r.id == "rulwindowsedr000001")
        .unwrap();
    let el = edr
        .conditions
        .iter()
        .find(|c| c.condition == "elCondition")
        .unwrap();
    assert_eq!(el.status, MatchStatus::Undefined);
    assert_eq!(edr.status, MatchStatus::Undefined);
    let sub = el.false_sub_expression.as_ref().unwrap();
    assert_eq!(sub.expression, r#"device.provider.wsc.antiVirus == "GOOD""#);
    assert_eq!(sub.attributes[0].presence, Presence::Absent);
}

#[test]
fn assurance_explains_each_policy() {
    let policy = load("high");
    let ctx = case_context("high", "managed iphone on iOS 17.3 fails assurance");
    let decision = policy.evaluate(&ctx);
    let mobile = &decision.explanation.rules[1];
    assert_eq!(mobile.id, "rulmobilemanaged001");
    let assurance = mobile
        .conditions
        .iter()
        .find(|c| c.condition == "device.assurance")
        .unwrap();
    assert_eq!(assurance.status, MatchStatus::NotMatch);
    let ios = assurance
        .assurances
        .iter()
        .find(|a| a.id == "daeios0000000000001")
        .unwrap();
    assert_eq!(ios.failed.len(), 1);
    assert_eq!(ios.failed[0].check, "osVersion");
    assert_eq!(ios.failed[0].actual, "17.3");
    // The Android policy does not apply to an iPhone.
    let android = assurance
        .assurances
        .iter()
        .find(|a| a.id == "daeandroid000000001")
        .unwrap();
    assert_eq!(android.failed[0].check, "platform");
    assert_eq!(android.status, MatchStatus::NotMatch);
}

#[test]
fn no_match_is_deny_with_reason() {
    let mut doc = PolicyDocument::from_json(&data("medium.json")).unwrap();
    doc.rules.retain(|r| !r.system);
    let policy = doc.compile().unwrap();
    let ctx = case_context("medium", "registered but not managed matches neither rule");
    let decision = policy.evaluate(&ctx);
    assert_eq!(decision.access, Access::Deny);
    assert!(decision.rule.is_none());
    assert!(decision.verification_method.is_none());
    assert!(
        decision.reason.starts_with("no rule matched"),
        "{}",
        decision.reason
    );
    assert_eq!(decision.explanation.rules.len(), 2);
}

#[test]
fn decision_json_is_okta_shaped() {
    let policy = load("medium");
    let ctx = case_context("medium", "registered and managed: passwordless");
    let json = serde_json::to_value(policy.evaluate(&ctx)).unwrap();
    assert_eq!(json["access"], "ALLOW");
    assert_eq!(json["rule"]["id"], "rulmanaged000000001");
    assert_eq!(json["verificationMethod"]["type"], "ASSURANCE");
    assert_eq!(json["verificationMethod"]["factorMode"], "1FA");
    assert_eq!(
        json["verificationMethod"]["constraints"][0]["possession"]["deviceBound"],
        "REQUIRED"
    );
    let conditions = &json["explanation"]["rules"][0]["conditions"];
    assert_eq!(conditions[0]["type"], "device.registered");
    assert_eq!(conditions[0]["status"], "MATCH");
    assert_eq!(conditions[1]["type"], "device.managed");
    assert_eq!(conditions[1]["expected"], true);
    assert_eq!(conditions[1]["actual"], true);
}

#[test]
fn managed_is_exact() {
    // A "not managed" rule does not match a managed device.
    let json = data("medium.json").replace(
        r#""registered": true, "managed": true"#,
        r#""registered": true, "managed": false"#,
    );
    let policy = PolicyDocument::from_json(&json).unwrap().compile().unwrap();
    let ctx = case_context("medium", "registered and managed: passwordless");
    let decision = policy.evaluate(&ctx);
    assert_eq!(decision.rule.unwrap().id, "rulcatchall00000002");
    let ctx = case_context("medium", "registered but not managed matches neither rule");
    assert_eq!(
        policy.evaluate(&ctx).rule.unwrap().id,
        "rulmanaged000000001"
    );
}

/// A signal store whose `wsc` signals are too old.
struct StaleWsc;

impl devicetrust_edr::SignalSource for StaleWsc {
    fn lookup(&self, provider: &str, _attribute: &str) -> devicetrust_edr::Lookup<'_> {
        if provider == "wsc" {
            devicetrust_edr::Lookup::Stale {
                collected_at: time::macros::datetime!(2026-11-27 08:00 UTC),
                max_age: time::Duration::hours(24),
            }
        } else {
            devicetrust_edr::Lookup::Absent
        }
    }
}

#[test]
fn stale_signals_read_as_absent_and_say_so() {
    let policy = load("high");
    // The context's own signals are healthy, but the store says they are stale.
    let ctx = case_context("high", "windows with healthy edr");
    assert_eq!(
        policy.evaluate(&ctx).rule.unwrap().id,
        "rulwindowsedr000001"
    );
    let decision = policy.evaluate_with(&ctx, &StaleWsc);
    assert_eq!(decision.access, Access::Deny);
    assert_eq!(policy.decide_with(&ctx, &StaleWsc).access, Access::Deny);
    let edr = decision
        .explanation
        .rules
        .iter()
        .find(|r| r.id == "rulwindowsedr000001")
        .unwrap();
    let el = edr
        .conditions
        .iter()
        .find(|c| c.condition == "elCondition")
        .unwrap();
    assert_eq!(el.status, MatchStatus::Undefined);
    let reading = &el.false_sub_expression.as_ref().unwrap().attributes[0];
    assert_eq!(reading.presence, Presence::Stale);
    assert_eq!(
        reading.collected_at.as_deref(),
        Some("2026-11-27T08:00:00Z")
    );
    assert_eq!(reading.max_age_seconds, Some(86_400));
}
