//! EDR signals over the device API (providers, ZTA verification) and how
//! long a management proof counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use device_common::*;
use devicetrust_service::ServiceOptions;
use serde_json::{Value, json};

const SIGNALS: &str = "/device/v1/signals";

#[test]
fn zta_tokens_are_verified_with_the_configured_keys_or_refused() {
    let h = Harness::start();
    let pc = h.register("alice", windows("S-ZTA"));
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../edr/tests/data/zta");
    let token = std::fs::read_to_string(format!("{data}/es256.jwt")).unwrap();
    let token = token.trim();

    let unconfigured = pc.call(&h, "POST", SIGNALS, &json!({"zta": token}));
    assert_eq!(unconfigured.status, 400, "{unconfigured:?}");
    assert!(
        unconfigured
            .body
            .to_string()
            .contains("no CrowdStrike JWKS"),
        "{unconfigured:?}"
    );

    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{data}/jwks.json")).unwrap())
            .unwrap();
    // The admin configures CrowdStrike's keys over the API; junk is refused first.
    let auth = [("authorization", format!("SSWS {}", h.admin_token))];
    let unauthenticated = h.send(
        "PUT",
        "/api/v1/edr/zta",
        &[],
        json!({"jwks": jwks}).to_string().as_bytes(),
    );
    assert_eq!(unauthenticated.status, 401, "{unauthenticated:?}");
    let junk = h.send(
        "PUT",
        "/api/v1/edr/zta",
        &auth,
        br#"{"jwks": {"keys": "nope"}}"#,
    );
    assert_eq!(junk.status, 400, "{junk:?}");
    let none = h.send("GET", "/api/v1/edr/zta", &auth, b"");
    assert_eq!(none.status, 404, "{none:?}");
    let put = h.send(
        "PUT",
        "/api/v1/edr/zta",
        &auth,
        json!({"jwks": jwks}).to_string().as_bytes(),
    );
    assert_eq!(put.status, 200, "{put:?}");
    let read = h.send("GET", "/api/v1/edr/zta", &auth, b"");
    assert_eq!(read.body["jwks"], jwks, "{read:?}");
    // The fixture was issued for January 2026 and is valid 30 days: verified, then refused as expired.
    let verified = pc.call(&h, "POST", SIGNALS, &json!({"zta": token}));
    assert_eq!(verified.status, 400, "{verified:?}");
    assert!(
        verified.body.to_string().to_lowercase().contains("expired"),
        "{verified:?}"
    );
    // A tampered token fails its signature rather than its date.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[2] = format!("A{}", &parts[2][1..]);
    let tampered = pc.call(&h, "POST", SIGNALS, &json!({"zta": parts.join(".")}));
    assert_eq!(tampered.status, 400);
    assert!(
        !tampered.body.to_string().to_lowercase().contains("expired"),
        "{tampered:?}"
    );
    // Not a string, unknown providers, empty reports: refused, and nothing is stored.
    assert_eq!(
        pc.call(&h, "POST", SIGNALS, &json!({"zta": {"overall": 99}}))
            .status,
        400
    );
    assert_eq!(
        pc.call(
            &h,
            "POST",
            SIGNALS,
            &json!({"wsc": {"antiVirus": "GOOD"}, "acme": {}})
        )
        .status,
        400
    );
    assert_eq!(pc.call(&h, "POST", SIGNALS, &json!({})).status, 400);
    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(me.body["signals"], json!({}), "{me:?}");
    assert_eq!(
        pc.call(&h, "POST", SIGNALS, &json!({"wsc": {"antiVirus": "GOOD"}}))
            .status,
        202
    );
    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(me.body["signals"]["wsc"]["stale"], false, "{me:?}");
}

#[test]
fn a_management_proof_counts_only_for_its_max_age() {
    let mut options = ServiceOptions::default();
    options.device_api.proof_max_age = time::Duration::seconds(2);
    let h = Harness::start_with(options);
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-AGE"));
    let (leaf, key) = h.mdm_certificate(&format!("CN=alice managementAttestation {}", pc.id));
    assert_eq!(
        pc.prove_desktop(&h, &leaf, key.as_ref()).body["managed"],
        true
    );
    let decide = || {
        h.authorize(&json!({"policyId": MEDIUM, "userId": "alice", "deviceId": pc.id}))
            .body["rule"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(decide(), "rulmanaged000000001");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(decide(), "rulcatchall00000002", "the proof has aged out");
    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(me.body["managed"], false);
    assert_eq!(me.body["lastProof"]["managed"], true);
}

/// The parsed ZTA keys are cached, and a change of keys takes effect at
/// the next report (the cache follows the settings).
#[test]
fn zta_reports_follow_a_change_of_keys() {
    let h = Harness::start();
    let pc = h.register("alice", windows("S-ZTA-KEYS"));
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../edr/tests/data/zta");
    let token = std::fs::read_to_string(format!("{data}/es256.jwt")).unwrap();
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{data}/jwks.json")).unwrap())
            .unwrap();
    let mut rsa_only = jwks.clone();
    rsa_only["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kty"] == "RSA");
    assert!(!rsa_only["keys"].as_array().unwrap().is_empty());
    let auth = [("authorization", format!("SSWS {}", h.admin_token))];
    let report = |keys: &Value| {
        let put = h.send(
            "PUT",
            "/api/v1/edr/zta",
            &auth,
            json!({"jwks": keys}).to_string().as_bytes(),
        );
        assert_eq!(put.status, 200, "{put:?}");
        let answer = pc.call(&h, "POST", SIGNALS, &json!({"zta": token.trim()}));
        assert_eq!(answer.status, 400, "{answer:?}");
        answer.body.to_string().to_lowercase()
    };
    // With its key configured the token verifies (then is refused as expired) ...
    assert!(report(&jwks).contains("expired"));
    // ... without it, the cached verifier is not reused: the signature fails ...
    assert!(!report(&rsa_only).contains("expired"));
    // ... and with it again, it verifies again.
    assert!(report(&jwks).contains("expired"));
}
