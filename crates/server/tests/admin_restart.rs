//! Close and reopen the service on the same folder: integrations (with
//! their configuration IDs, secrets and states), uploaded CAs, policies,
//! assurances, tokens, devices and the audit log all survive, and the
//! first-start token is not printed again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::{Server, assert_error, attest, managed_by, their_ca};
use devicetrust_attestation::Platform;
use devicetrust_devices::Platform as DevicePlatform;
use serde_json::{Value, json};

fn served(server: &Server, scep_url: &str) -> u16 {
    server
        .raw(
            "GET",
            &format!("{scep_url}?operation=GetCACaps"),
            None,
            None,
            b"",
        )
        .status
}

#[test]
fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), None);
    let first_token = server
        .printed_token
        .clone()
        .expect("printed on first start");
    let theirs = their_ca();

    let scep = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "challenge": {"type": "STATIC"}})),
        201,
    );
    let parked = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "WINDOWS", "challenge": {"type": "STATIC"}})),
        201,
    );
    let parked_id = parked["id"].as_str().unwrap();
    server.ok(
        "POST",
        &format!("/api/v1/device-integrations/{parked_id}/lifecycle/deactivate"),
        None,
        200,
    );
    let mobile = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "IOS", "providerName": "Jamf", "enrollmentLink": "https://jamf.example/enroll"})),
        201,
    );
    let hint = mobile["managementHint"]["secretKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let uploaded = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "ca": "UPLOADED"})),
        201,
    );
    let pem = theirs.intermediate().to_pem().unwrap();
    let ca = server.raw(
        "POST",
        "/api/v1/certificate-authorities",
        Some(&format!("SSWS {}", server.token)),
        None,
        pem.as_bytes(),
    );
    assert_eq!(ca.status, 201);
    server.ok(
        "POST",
        "/api/v1/device-assurances",
        Some(&json!({"id": "dae1", "name": "macOS 14+", "platform": "MACOS", "osVersion": {"minimum": "14"}})),
        200,
    );
    server.ok(
        "POST",
        "/api/v1/policies",
        Some(&json!({
          "policy": {"id": "rst1", "name": "Apps", "type": "ACCESS_POLICY", "status": "ACTIVE"},
          "rules": [{"id": "rul1", "name": "Mac", "priority": 1, "status": "ACTIVE",
                     "conditions": {"device": {"registered": true, "assurance": {"include": ["dae1"]}}},
                     "actions": {"appSignOn": {"access": "ALLOW"}}}]
        })),
        201,
    );
    let device = server.enroll("alice", "Alice Mac", DevicePlatform::Macos, "UDID-A");
    let suspended = server.call(
        "POST",
        &format!("/api/v1/devices/{}/lifecycle/suspend", device.id),
        None,
    );
    assert_eq!(suspended.status, 204, "{}", suspended.text());

    // Rotate: the first token is revoked, the new one shown once.
    let rotated = server.ok("POST", "/api/v1/api-tokens/current/rotate", None, 201);
    let new_token = rotated["token"].as_str().unwrap().to_owned();

    let old = server.call("GET", "/api/v1/device-integrations", None);
    assert_error(&old, 401, "E0000011");
    server.token = new_token.clone();
    let integrations_before = server.ok("GET", "/api/v1/device-integrations", None, 200);
    let cas_before = server.ok("GET", "/api/v1/certificate-authorities", None, 200);
    let policies_before = server.ok("GET", "/api/v1/policies", None, 200);
    let assurances_before = server.ok("GET", "/api/v1/device-assurances", None, 200);
    let mobile_config = mobile["configurationId"].as_str().unwrap().to_owned();
    let uploaded_config = uploaded["configurationId"].as_str().unwrap().to_owned();
    let scep_url = scep["scepUrl"].as_str().unwrap().to_owned();
    let scep_id = scep["id"].as_str().unwrap().to_owned();
    assert_eq!(served(&server, &scep_url), 200);
    server.stop();

    // Reopen: no token printed; the old one still refused, the new one works.
    let mut server = Server::start(dir.path(), Some(&new_token));
    assert!(
        server.printed_token.is_none(),
        "the first-start token is shown once"
    );
    server.token = first_token;
    assert_error(
        &server.call("GET", "/api/v1/devices", None),
        401,
        "E0000011",
    );
    server.token = new_token;

    assert_eq!(
        server.ok("GET", "/api/v1/device-integrations", None, 200),
        integrations_before
    );
    assert_eq!(
        server.ok("GET", "/api/v1/certificate-authorities", None, 200),
        cas_before
    );
    assert_eq!(
        server.ok("GET", "/api/v1/policies", None, 200),
        policies_before
    );
    assert_eq!(
        server.ok("GET", "/api/v1/device-assurances", None, 200),
        assurances_before
    );
    let got = server.ok("GET", &format!("/api/v1/devices/{}", device.id), None, 200);
    assert_eq!(got["status"], "SUSPENDED");

    // The attestor is rebuilt with the same configuration IDs and secrets.
    let outcome = server.service.attestation().read().unwrap().attest_mobile(
        Platform::Ios,
        &hint,
        time::OffsetDateTime::now_utc(),
    );
    assert_eq!(managed_by(&outcome), Some(mobile_config));
    assert_eq!(
        managed_by(&attest(&server, &theirs, "dev-9")),
        Some(uploaded_config)
    );
    // SCEP: the active integration is served (at the URL it was given, on
    // the new port), the deactivated one is not.
    let scep_path = scep_url.split_once("/scep/").unwrap().1;
    let new_url = format!("{}/scep/{scep_path}", server.base);
    assert_eq!(served(&server, &new_url), 200);
    assert_eq!(served(&server, &new_url.replace(&scep_id, parked_id)), 404);

    // A new integration gets a configuration ID after every restored one.
    let before_ids: Vec<u64> = integrations_before
        .as_array()
        .unwrap()
        .iter()
        .map(|i| config_number(&i["configurationId"]))
        .collect();
    let added = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "ANDROID", "providerName": "Intune", "enrollmentLink": "https://x.example"})),
        201,
    );
    assert!(
        before_ids
            .iter()
            .all(|id| *id < config_number(&added["configurationId"]))
    );

    // The audit log kept the rotation and the changes before the restart.
    let logs = server.ok("GET", "/api/v1/logs?limit=1000", None, 200);
    let types: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    for t in [
        "system.api_token.rotate",
        "device.integration.create",
        "pki.ca.upload",
        "policy.create",
        "device.lifecycle.suspend",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    server.stop();
}

fn config_number(id: &Value) -> u64 {
    id.as_str()
        .unwrap()
        .trim_start_matches("mdm-")
        .parse()
        .unwrap()
}
