//! Policies and device assurances over HTTP: CRUD, positioned 400s for
//! invalid documents, 409 for an assurance in use, 404s, and the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::{Server, assert_error, causes};
use serde_json::{Value, json};

fn assurance() -> Value {
    json!({"id": "daeios1", "name": "iOS 17.4+", "platform": "IOS",
           "osVersion": {"minimum": "17.4"}, "screenLockType": {"include": ["BIOMETRIC"]},
           "jailbreak": false})
}

fn policy(name: &str) -> Value {
    json!({
      "policy": {"id": "rst1", "name": name, "type": "ACCESS_POLICY", "status": "ACTIVE"},
      "rules": [
        {"id": "rul1", "name": "Managed iOS", "priority": 1, "status": "ACTIVE",
         "conditions": {"device": {"registered": true, "managed": true,
                                   "assurance": {"include": ["daeios1"]}}},
         "actions": {"appSignOn": {"access": "ALLOW"}}},
        {"id": "rul2", "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE", "system": true,
         "actions": {"appSignOn": {"access": "DENY"}}}
      ]
    })
}

fn post_raw(server: &Server, path: &str, body: &str) -> common::Answer {
    server.raw(
        "POST",
        path,
        Some(&format!("SSWS {}", server.token)),
        Some("application/json"),
        body.as_bytes(),
    )
}

/// An assurance without what the server sets (who and when).
fn own_fields(assurance: &Value) -> Value {
    let mut own = assurance.clone();
    for field in ["createdBy", "createdDate", "lastUpdate", "lastUpdatedBy"] {
        own.as_object_mut().unwrap().remove(field);
    }
    own
}

/// Okta's SDKs never send an id (it is read-only): a create gets one from
/// the server, a replace takes the path's.
#[test]
fn an_assurance_without_an_id_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let mut body = assurance();
    body.as_object_mut().unwrap().remove("id");
    let created = server.ok("POST", "/api/v1/device-assurances", Some(&body), 200);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dae") && id.len() == 20, "{id}");
    let again = server.ok("POST", "/api/v1/device-assurances", Some(&body), 200);
    assert_ne!(again["id"], created["id"]);
    body["name"] = json!("renamed");
    let replaced = server.ok(
        "PUT",
        &format!("/api/v1/device-assurances/{id}"),
        Some(&body),
        200,
    );
    assert_eq!(replaced["id"], json!(id));
    assert_eq!(replaced["name"], "renamed");
    assert_eq!(
        server.ok("GET", &format!("/api/v1/device-assurances/{id}"), None, 200)["name"],
        "renamed"
    );
}

#[test]
fn assurances_and_policies_round_trip_and_refuse_what_does_not_compile() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);

    // A policy cannot reference an assurance that does not exist yet.
    let e = assert_error(
        &server.call("POST", "/api/v1/policies", Some(&policy("Sensitive"))),
        400,
        "E0000001",
    );
    assert!(causes(&e).contains("daeios1"), "{e}");

    // Okta's description answers a create with 200.
    let made = server.ok("POST", "/api/v1/device-assurances", Some(&assurance()), 200);
    assert_eq!(own_fields(&made), assurance());
    assert_eq!(made["createdBy"], json!(server.token_id()));
    assert_eq!(made["lastUpdatedBy"], json!(server.token_id()));
    assert_eq!(made["createdDate"], made["lastUpdate"]);
    let created_date = made["createdDate"].as_str().unwrap().to_owned();
    assert!(
        time::OffsetDateTime::parse(
            &created_date,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{created_date}"
    );
    assert_error(
        &server.call("POST", "/api/v1/device-assurances", Some(&assurance())),
        409,
        "E0000001",
    );
    assert_eq!(
        server.ok("GET", "/api/v1/device-assurances/daeios1", None, 200),
        made
    );
    assert_eq!(
        server.ok("GET", "/api/v1/device-assurances", None, 200),
        json!([made])
    );

    let created = server.ok("POST", "/api/v1/policies", Some(&policy("Sensitive")), 201);
    assert_eq!(created["policy"]["name"], "Sensitive");
    assert_error(
        &server.call("POST", "/api/v1/policies", Some(&policy("Again"))),
        409,
        "E0000001",
    );
    assert_eq!(
        server.ok("GET", "/api/v1/policies/rst1", None, 200)["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        server
            .ok("GET", "/api/v1/policies", None, 200)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Replace.
    let replaced = server.ok(
        "PUT",
        "/api/v1/policies/rst1",
        Some(&policy("Renamed")),
        200,
    );
    assert_eq!(replaced["policy"]["name"], "Renamed");
    assert_eq!(
        server.ok("GET", "/api/v1/policies/rst1", None, 200)["policy"]["name"],
        "Renamed"
    );
    let mut newer = assurance();
    newer["osVersion"]["minimum"] = json!("17.5");
    // What the server owns is not the client's to set: the creation stays.
    let mut claims = newer.clone();
    claims["createdBy"] = json!("someone else");
    claims["createdDate"] = json!("2001-01-01T00:00:00.000Z");
    let replaced = server.ok(
        "PUT",
        "/api/v1/device-assurances/daeios1",
        Some(&claims),
        200,
    );
    assert_eq!(own_fields(&replaced), newer);
    assert_eq!(replaced["createdDate"], json!(created_date));
    assert_eq!(replaced["createdBy"], made["createdBy"]);
    let when = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(when(replaced["lastUpdate"].as_str().unwrap()) >= when(&created_date));
    // Okta's shape: UTC, exactly three fractional digits.
    for stamp in [&created_date, replaced["lastUpdate"].as_str().unwrap()] {
        assert_eq!(stamp.len(), "2026-12-08T00:30:05.100Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
            "{stamp}"
        );
    }
    assert_error(
        &server.call("PUT", "/api/v1/policies/rst2", Some(&policy("x"))),
        400,
        "E0000001",
    );
    let mut other = policy("x");
    other["policy"]["id"] = json!("rst2");
    assert_error(
        &server.call("PUT", "/api/v1/policies/rst2", Some(&other)),
        404,
        "E0000007",
    );
    let mut other_assurance = assurance();
    other_assurance["id"] = json!("dae2");
    assert_error(
        &server.call(
            "PUT",
            "/api/v1/device-assurances/dae2",
            Some(&other_assurance),
        ),
        404,
        "E0000007",
    );
    assert_error(
        &server.call("PUT", "/api/v1/device-assurances/daeX", Some(&assurance())),
        400,
        "E0000001",
    );

    // Invalid documents: 400 with a positioned cause. (body, words in the cause)
    let mut duplicate_priority = policy("x");
    duplicate_priority["policy"]["id"] = json!("rst3");
    duplicate_priority["rules"][1]["priority"] = json!(1);
    let mut bad_expression = policy("x");
    bad_expression["policy"]["id"] = json!("rst4");
    bad_expression["rules"][0]["conditions"]["elCondition"] =
        json!({"condition": "device.provider.wsc.antiVirs == 'GOOD'"});
    let mut embedded = policy("x");
    embedded["policy"]["id"] = json!("rst5");
    embedded["deviceAssurances"] = json!([assurance()]);
    let mut unknown_field = policy("x");
    unknown_field["rules"][0]["colour"] = json!("red");
    let cases: Vec<(String, &str)> = vec![
        ("{\"policy\": ".to_owned(), "line 1"),
        ("[]".to_owned(), "invalid json"),
        (duplicate_priority.to_string(), "duplicate priority 1"),
        (
            bad_expression.to_string(),
            "rules[0].conditions.elCondition",
        ),
        (embedded.to_string(), "deviceAssurances are not embedded"),
        (unknown_field.to_string(), "rules[0].colour"),
    ];
    for (body, words) in &cases {
        let e = assert_error(
            &post_raw(&server, "/api/v1/policies", body),
            400,
            "E0000001",
        );
        assert!(causes(&e).contains(words), "{words}: {e}");
    }
    let mut bad_version = assurance();
    bad_version["id"] = json!("dae3");
    bad_version["osVersion"]["minimum"] = json!("seventeen");
    let mut extra = assurance();
    extra["id"] = json!("dae4");
    extra["colour"] = json!("red");
    let mut nameless = assurance();
    nameless.as_object_mut().unwrap().remove("name");
    for (body, words) in [
        (bad_version, "seventeen"),
        (extra, "colour"),
        (nameless, "name"),
    ] {
        let e = assert_error(
            &server.call("POST", "/api/v1/device-assurances", Some(&body)),
            400,
            "E0000001",
        );
        assert!(causes(&e).contains(words), "{words}: {e}");
    }
    // Nothing refused was stored.
    assert_eq!(
        server
            .ok("GET", "/api/v1/policies", None, 200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .ok("GET", "/api/v1/device-assurances", None, 200)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // An assurance in use cannot be deleted; once its policy is gone it can.
    let e = assert_error(
        &server.call("DELETE", "/api/v1/device-assurances/daeios1", None),
        409,
        "E0000001",
    );
    assert!(e["errorSummary"].as_str().unwrap().contains("rst1"), "{e}");
    assert_eq!(
        server.call("DELETE", "/api/v1/policies/rst1", None).status,
        204
    );
    assert_eq!(
        server
            .call("DELETE", "/api/v1/device-assurances/daeios1", None)
            .status,
        204
    );
    for path in ["/api/v1/policies/rst1", "/api/v1/device-assurances/daeios1"] {
        assert_error(&server.call("GET", path, None), 404, "E0000007");
        assert_error(&server.call("DELETE", path, None), 404, "E0000007");
    }

    // Each change is in the audit log, with the token as actor.
    let logs = server.ok("GET", "/api/v1/logs", None, 200);
    let types: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "device.assurance.delete",
            "policy.delete",
            "device.assurance.update",
            "policy.update",
            "policy.create",
            "device.assurance.create",
        ]
    );
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["id"] == server.token_id().as_str())
    );
}
