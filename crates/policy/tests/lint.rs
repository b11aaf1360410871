//! Lints: shadowed rules, unsatisfiable conditions, misplaced or permissive
//! catch-alls.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use devicetrust_policy::PolicyDocument;
use devicetrust_policy::lint::{Finding, LintCode, Severity};
use serde_json::{Value, json};

fn doc(rules: &Value) -> Value {
    json!({
        "policy": {"id": "rst1", "name": "P", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": rules,
        "zones": [
            {"id": "nzoon", "name": "On", "type": "IP", "status": "ACTIVE", "gateways": [{"type": "CIDR", "value": "192.0.2.0/24"}]},
            {"id": "nzooff", "name": "Off", "type": "IP", "status": "INACTIVE", "gateways": [{"type": "CIDR", "value": "198.51.100.0/24"}]}
        ],
        "deviceAssurances": [{"id": "daeios", "name": "iOS", "platform": "IOS", "osVersion": {"minimum": "17"}}]
    })
}

fn rule(id: &str, priority: u32, conditions: Value, access: &str) -> Value {
    json!({"id": id, "name": id, "priority": priority, "status": "ACTIVE", "conditions": conditions,
           "actions": {"appSignOn": {"access": access,
             "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}}})
}

fn lint(rules: &Value) -> Vec<Finding> {
    PolicyDocument::from_json(&doc(rules).to_string())
        .unwrap()
        .compile()
        .unwrap()
        .lint()
}

fn codes(findings: &[Finding]) -> Vec<(LintCode, &str)> {
    findings.iter().map(|f| (f.code, f.rule.as_str())).collect()
}

#[test]
fn guide_fixtures_are_clean() {
    for name in ["low", "medium", "high"] {
        let path = format!("{}/tests/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let findings = PolicyDocument::from_json(&text)
            .unwrap()
            .compile()
            .unwrap()
            .lint();
        assert!(findings.is_empty(), "{name}: {findings:#?}");
    }
}

#[test]
fn broader_earlier_rule_shadows_a_narrower_one() {
    let rules = json!([
        rule(
            "broad",
            1,
            json!({"people": {"groups": {"include": ["g1", "g2"]}}, "device": {"registered": true}}),
            "ALLOW"
        ),
        rule(
            "narrow",
            2,
            json!({"people": {"groups": {"include": ["g1"]}}, "device": {"registered": true, "managed": true},
                                  "riskScore": {"level": "LOW"}}),
            "DENY"
        ),
        rule(
            "other",
            3,
            json!({"people": {"groups": {"include": ["g3"]}}}),
            "DENY"
        ),
    ]);
    let findings = lint(&rules);
    assert_eq!(codes(&findings), vec![(LintCode::ShadowedRule, "narrow")]);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert_eq!(findings[0].path, "rules[1]");
    assert!(
        findings[0].message.contains("\"broad\""),
        "{}",
        findings[0].message
    );
}

#[test]
fn excluding_what_is_included_does_not_shadow() {
    let rules = json!([
        rule(
            "a",
            1,
            json!({"people": {"groups": {"include": ["g1"], "exclude": ["g9"]}}}),
            "ALLOW"
        ),
        rule(
            "b",
            2,
            json!({"people": {"groups": {"include": ["g1"]}}}),
            "DENY"
        ),
    ]);
    assert!(lint(&rules).is_empty());
}

#[test]
fn unsatisfiable_conditions_are_errors() {
    let rules = json!([
        rule(
            "groups",
            1,
            json!({"people": {"groups": {"include": ["g1"], "exclude": ["g1"]}}}),
            "ALLOW"
        ),
        rule(
            "zone",
            2,
            json!({"network": {"connection": "ZONE", "include": ["nzooff"]}}),
            "ALLOW"
        ),
        rule(
            "assurance",
            3,
            json!({"device": {"registered": true, "assurance": {"include": ["daeios"]}},
                                     "platform": {"include": [{"type": "DESKTOP", "os": {"type": "WINDOWS"}}]}}),
            "ALLOW"
        ),
        rule(
            "fine",
            4,
            json!({"network": {"connection": "ZONE", "include": ["nzoon"]}}),
            "ALLOW"
        ),
    ]);
    let findings = lint(&rules);
    assert_eq!(
        codes(&findings),
        vec![
            (LintCode::Unsatisfiable, "groups"),
            (LintCode::Unsatisfiable, "zone"),
            (LintCode::Unsatisfiable, "assurance")
        ]
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Error));
}

#[test]
fn catch_all_must_be_last_and_not_one_factor() {
    let mut catch_all = rule("catch", 1, json!(null), "ALLOW");
    catch_all["actions"]["appSignOn"]["verificationMethod"]["factorMode"] = json!("1FA");
    let rules = json!([
        catch_all,
        rule("after", 2, json!({"device": {"registered": true}}), "DENY")
    ]);
    let findings = lint(&rules);
    assert_eq!(
        codes(&findings),
        vec![
            (LintCode::CatchAllNotLast, "catch"),
            (LintCode::PermissiveCatchAll, "catch"),
            (LintCode::ShadowedRule, "after")
        ]
    );
}

#[test]
fn inactive_policy_and_no_active_rule_are_reported() {
    let mut d = doc(
        &json!([{"id": "r", "name": "r", "priority": 1, "status": "INACTIVE",
                             "actions": {"appSignOn": {"access": "ALLOW"}}}]),
    );
    d["policy"]["status"] = json!("INACTIVE");
    let findings = PolicyDocument::from_json(&d.to_string())
        .unwrap()
        .compile()
        .unwrap()
        .lint();
    assert_eq!(
        codes(&findings),
        vec![
            (LintCode::InactivePolicy, "rst1"),
            (LintCode::NoActiveRule, "rst1")
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.path == "policy" && f.severity == Severity::Warning)
    );
}

#[test]
fn shadowing_analysis_is_bounded() {
    let rules: Vec<Value> = (0..devicetrust_policy::lint::MAX_SHADOW_RULES + 1)
        .map(|i| {
            rule(
                &format!("r{i}"),
                i as u32,
                json!({"people": {"groups": {"include": ["g"]}}}),
                "ALLOW",
            )
        })
        .collect();
    let findings = lint(&Value::Array(rules));
    assert_eq!(
        codes(&findings),
        vec![(LintCode::ShadowingNotAnalysed, "rst1")]
    );
    // Below the bound, the same rules are all reported as shadowed by the first.
    let rules: Vec<Value> = (0..50)
        .map(|i| {
            rule(
                &format!("r{i}"),
                i,
                json!({"people": {"groups": {"include": ["g"]}}}),
                "ALLOW",
            )
        })
        .collect();
    let findings = lint(&Value::Array(rules));
    assert_eq!(findings.len(), 49);
    assert!(findings.iter().all(|f| f.code == LintCode::ShadowedRule));
}
