//! Bad documents and contexts are refused at load, with a JSON path, and
//! large or deeply nested input stays bounded.
#![expect(clippy::panic, reason = "test helpers: a panic is a failed test")]

use devicetrust_policy::context::MAX_CONTEXT_BYTES;
use devicetrust_policy::expr::ExprErrorKind;
use devicetrust_policy::{Context, LoadError, PolicyDocument};
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "policy": {"id": "rst1", "name": "P", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": [
            {"id": "rul1", "name": "A", "priority": 1, "status": "ACTIVE",
             "conditions": {"device": {"registered": true}},
             "actions": {"appSignOn": {"access": "ALLOW"}}},
            {"id": "rul2", "name": "B", "priority": 2, "status": "ACTIVE",
             "actions": {"appSignOn": {"access": "DENY"}}}
        ],
        "zones": [{"id": "nzo1", "name": "Z", "type": "IP", "status": "ACTIVE",
                   "gateways": [{"type": "CIDR", "value": "192.0.2.0/24"}]}]
    })
}

fn load(doc: &Value) -> Result<(), LoadError> {
    PolicyDocument::from_json(&doc.to_string())?
        .compile()
        .map(|_| ())
}

fn json_path(doc: &Value) -> String {
    match load(doc) {
        Err(LoadError::Json { path, .. }) => path,
        other => panic!("expected a json error, got {other:?}"),
    }
}

#[test]
fn base_document_loads() {
    load(&base()).unwrap();
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let mut doc = base();
    doc["rules"][0]["conditions"]["device"]["registred"] = json!(true);
    assert_eq!(json_path(&doc), "rules[0].conditions.device.registred");

    let mut doc = base();
    doc["rules"][1]["actions"]["appSignOn"]["verificationMethod"] =
        json!({"type": "ASSURANCE", "constraints": [{"possession": {"deviceBond": "REQUIRED"}}]});
    assert_eq!(
        json_path(&doc),
        "rules[1].actions.appSignOn.verificationMethod.constraints[0].possession.deviceBond"
    );

    let mut doc = base();
    doc["zones"][0]["gateways"][0]["kind"] = json!("x");
    assert_eq!(json_path(&doc), "zones[0].gateways[0].kind");

    let mut doc = base();
    doc["extra"] = json!(1);
    assert_eq!(json_path(&doc), "extra");
    let err = load(&doc).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid json at `extra` (line 1, column ")
            && err.contains("unknown field `extra`"),
        "{err}"
    );
    // The position is said once, not repeated by serde's own suffix.
    assert!(!err.contains(" at line "), "{err}");

    let mut doc = base();
    doc["rules"][0]["status"] = json!("ENABLED");
    assert_eq!(json_path(&doc), "rules[0].status");
}

#[test]
fn okta_bookkeeping_fields_are_accepted_and_chains_kept() {
    let mut doc = base();
    doc["rules"][0]["_links"] = json!({"self": {"href": "x"}});
    doc["rules"][0]["created"] = json!("2026-01-01T00:00:00.000Z");
    let chain = json!({"type": "AUTH_METHOD_CHAIN", "chains": [{"authenticationMethods": [{"key": "okta_verify", "method": "push"}], "next": [], "reauthenticateIn": "PT43800H"}]});
    doc["rules"][0]["actions"]["appSignOn"]["verificationMethod"] = chain.clone();
    let policy = PolicyDocument::from_json(&doc.to_string())
        .unwrap()
        .compile()
        .unwrap();
    let ctx = Context::from_json(r#"{"device": {"registered": true}}"#).unwrap();
    let out = serde_json::to_value(policy.evaluate(&ctx)).unwrap();
    assert_eq!(out["verificationMethod"], chain);
}

#[test]
fn duplicate_priorities_and_ids_are_refused() {
    let mut doc = base();
    doc["rules"][1]["priority"] = json!(1);
    match load(&doc) {
        Err(LoadError::DuplicatePriority {
            priority: 1,
            path,
            first,
            second,
        }) => {
            assert_eq!(path, "rules[1].priority");
            assert_eq!((first.as_str(), second.as_str()), ("rul1", "rul2"));
        }
        other => panic!("{other:?}"),
    }
    let mut doc = base();
    doc["rules"][1]["id"] = json!("rul1");
    assert!(matches!(load(&doc), Err(LoadError::DuplicateId { .. })));
    // An assurance a document carries must name its id (a create through
    // the admin API may leave it out; a document cannot).
    let mut doc = base();
    doc["deviceAssurances"] = json!([{"name": "a", "platform": "IOS"}]);
    match load(&doc) {
        Err(LoadError::MissingId { path }) => assert_eq!(path, "deviceAssurances[0].id"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn semantic_errors_are_refused() {
    let mut doc = base();
    doc["rules"][0]["conditions"]["device"] = json!({"managed": true});
    assert!(
        matches!(load(&doc), Err(LoadError::ManagedWithoutRegistered { path }) if path == "rules[0].conditions.device")
    );

    let mut doc = base();
    doc["rules"][0]["conditions"]["network"] = json!({"connection": "ZONE", "include": ["nzo404"]});
    assert!(
        matches!(load(&doc), Err(LoadError::UnknownReference { path, .. }) if path == "rules[0].conditions.network.include[0]")
    );

    let mut doc = base();
    doc["zones"][0]["gateways"][0]["value"] = json!("192.0.2.1/24");
    assert!(
        matches!(load(&doc), Err(LoadError::InvalidGateway { path, .. }) if path == "zones[0].gateways[0].value")
    );

    let mut doc = base();
    doc["rules"][0]["conditions"]["elCondition"] =
        json!({"condition": "device.provider.wsc.fireWal == 'GOOD'"});
    match load(&doc) {
        Err(LoadError::Expression { path, source }) => {
            assert_eq!(path, "rules[0].conditions.elCondition.condition");
            assert_eq!(
                source.kind,
                ExprErrorKind::UnknownAttribute("device.provider.wsc.fireWal".to_owned())
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_inputs_stay_bounded() {
    // A 1 MB expression is refused by its length, not parsed.
    let mut doc = base();
    doc["rules"][0]["conditions"]["elCondition"] = json!({"condition": "(".repeat(1_000_000)});
    match load(&doc) {
        Err(LoadError::Expression { source, .. }) => {
            assert!(matches!(source.kind, ExprErrorKind::TooLong { .. }));
        }
        other => panic!("{other:?}"),
    }
    // A 1 MB document of many rules loads.
    let mut doc = base();
    let rules: Vec<Value> = (10..5_000)
        .map(|i| json!({"id": format!("rul{i}"), "name": "x".repeat(150), "priority": i, "status": "ACTIVE",
                         "conditions": {"people": {"groups": {"include": [format!("g{i}")]}}},
                         "actions": {"appSignOn": {"access": "ALLOW"}}}))
        .collect();
    doc["rules"].as_array_mut().unwrap().extend(rules);
    let text = doc.to_string();
    assert!(text.len() > 1_000_000);
    PolicyDocument::from_json(&text).unwrap().compile().unwrap();
    // A context over the limit is refused before parsing.
    let big = format!(
        "{{\"user\": {{\"id\": \"{}\"}}}}",
        "x".repeat(MAX_CONTEXT_BYTES)
    );
    assert!(matches!(
        Context::from_json(&big),
        Err(LoadError::TooLarge { .. })
    ));
}

#[test]
fn deeply_nested_json_is_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = format!(r#"{{"user": {{"profile": {{"x": {deep}}}}}}}"#);
    assert!(matches!(
        Context::from_json(&text),
        Err(LoadError::Json { .. })
    ));
    let mut doc = base();
    doc["policy"]["_links"] = json!(null);
    let text = doc
        .to_string()
        .replace("\"_links\":null", &format!("\"_links\":{deep}"));
    assert!(matches!(
        PolicyDocument::from_json(&text),
        Err(LoadError::Json { .. })
    ));
}

#[test]
fn trailing_garbage_is_refused() {
    let text = format!("{} x", base());
    assert!(matches!(
        PolicyDocument::from_json(&text),
        Err(LoadError::Json { .. })
    ));
}
