//! The device API end to end over HTTP: enrollment token, registration,
//! desktop and mobile management proofs, signals, sessions, and decisions
//! with the guide's policies through the device's lifecycle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use device_common::*;
use devicetrust_devices::{DeviceId, Operation};
use serde_json::{Value, json};

#[test]
fn a_windows_device_through_its_lifecycle_with_the_guides_policies() {
    let h = Harness::start();
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-1-5-21-1"));

    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["status"], "ACTIVE");
    assert_eq!(me.body["managed"], false);
    assert_eq!(me.body["device"]["id"], pc.id.as_str());

    // Registered, not yet managed: the medium policy has no rule for it.
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("DENY".into(), "rulcatchall00000002".into())
    );
    // No device at all: unregistered, two factors.
    assert_eq!(
        decide(&h, MEDIUM, "alice", None, json!({})),
        ("ALLOW".into(), "rulunregistered0001".into())
    );

    // The MDM's certificate names the device; the proof makes it managed and binds the certificate.
    let (leaf, cert_key) = h.mdm_certificate(&format!(
        "CN=alice@example.com managementAttestation {}",
        pc.id
    ));
    let proof = pc.prove_desktop(&h, &leaf, cert_key.as_ref());
    assert_eq!(proof.status, 200, "{proof:?}");
    assert_eq!(proof.body["managed"], true, "{proof:?}");
    assert!(proof.body["configurationId"].is_string());
    assert!(proof.body["managedUntil"].is_string());
    let serial = leaf.serial().unwrap();
    let certs = h
        .registry()
        .certificates(h.service.org(), &DeviceId::new(&pc.id).unwrap())
        .unwrap();
    assert!(
        certs.iter().any(|c| c.serial == serial),
        "certificate bound to the device"
    );

    // Signals: unhealthy firewall first.
    let wsc = pc.call(
        &h,
        "POST",
        "/device/v1/signals",
        &json!({"wsc": {"antiVirus": "GOOD", "fireWall": "POOR"}}),
    );
    assert_eq!(wsc.status, 202, "{wsc:?}");
    assert_eq!(decide(&h, HIGH, "alice", Some(&pc.id), json!({})).0, "DENY");
    let wsc = pc.call(
        &h,
        "POST",
        "/device/v1/signals",
        &json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}}),
    );
    assert_eq!(wsc.status, 202, "{wsc:?}");
    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(me.body["managed"], true);
    assert_eq!(me.body["signals"]["wsc"]["stale"], false, "{me:?}");

    assert_eq!(
        decide(&h, LOW, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulanydevice0000001".into())
    );
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulmanaged000000001".into())
    );
    assert_eq!(
        decide(&h, HIGH, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulwindowsedr000001".into())
    );
    assert_eq!(
        decide(
            &h,
            HIGH,
            "alice",
            Some(&pc.id),
            json!({"network": {"ip": "192.0.2.7"}})
        ),
        ("DENY".into(), "rulblocked000000001".into())
    );
    // Another user has no Okta Verify enrollment on this device: not registered for them.
    assert_eq!(
        decide(&h, MEDIUM, "mallory", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulunregistered0001".into())
    );

    // An Okta Verify session, and a decision by session.
    let session = pc.call(
        &h,
        "POST",
        "/device/v1/sessions",
        &json!({"userId": "alice"}),
    );
    assert_eq!(session.status, 201, "{session:?}");
    let session_id = session.body["id"].as_str().unwrap().to_owned();
    let by_session =
        h.authorize(&json!({"policyId": HIGH, "sessionId": session_id, "groups": ["Everyone"]}));
    assert_eq!(by_session.body["access"], "ALLOW", "{by_session:?}");
    let refused = pc.call(
        &h,
        "POST",
        "/device/v1/sessions",
        &json!({"userId": "mallory"}),
    );
    assert_eq!(refused.status, 403, "{refused:?}");

    // Suspend: Okta Verify sessions end, registered-device rules deny.
    lifecycle(&h, &pc.id, Operation::Suspend);
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulunregistered0001".into())
    );
    assert_eq!(decide(&h, HIGH, "alice", Some(&pc.id), json!({})).0, "DENY");
    let ended = h.authorize(&json!({"policyId": HIGH, "sessionId": session_id}));
    assert_eq!(ended.status, 409, "{ended:?}");
    assert_eq!(
        pc.call(&h, "POST", "/device/v1/nonce", &json!({})).status,
        403
    );
    assert_eq!(
        pc.call(
            &h,
            "POST",
            "/device/v1/sessions",
            &json!({"userId": "alice"})
        )
        .status,
        403
    );
    let me = pc.call(&h, "GET", "/device/v1/me", &Value::Null);
    assert_eq!(
        (me.status, me.body["status"].as_str()),
        (200, Some("SUSPENDED"))
    );
    assert_eq!(me.body["managed"], false);

    // Unsuspend: back, the proof still fresh.
    lifecycle(&h, &pc.id, Operation::Unsuspend);
    assert_eq!(
        decide(&h, HIGH, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulwindowsedr000001".into())
    );

    // Deactivate: the device's credentials stop working, its certificate is revoked.
    lifecycle(&h, &pc.id, Operation::Deactivate);
    assert_eq!(
        pc.call(&h, "GET", "/device/v1/me", &Value::Null).status,
        401
    );
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulunregistered0001".into())
    );
    let certs = h
        .registry()
        .certificates(h.service.org(), &DeviceId::new(&pc.id).unwrap())
        .unwrap();
    assert!(certs.iter().all(|c| c.revocation.is_some()));

    // Activate: the device key was retired with the deactivation, so Okta
    // Verify must register again before it can do anything.
    lifecycle(&h, &pc.id, Operation::Activate);
    assert_eq!(
        pc.call(&h, "POST", "/device/v1/nonce", &json!({})).status,
        401
    );
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulunregistered0001".into())
    );
    // Enrolling again with the same key keeps the device; the revoked
    // certificate no longer attests, and a new one makes it managed again.
    let token = h.enrollment_token("alice");
    let again = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &pc.key, windows("S-1-5-21-1"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["device"]["id"], pc.id.as_str());
    let proof = pc.prove_desktop(&h, &leaf, cert_key.as_ref());
    assert_eq!(proof.status, 200, "{proof:?}");
    assert_eq!(proof.body["managed"], false);
    let kinds: Vec<&str> = proof.body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"revoked"), "{proof:?}");
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("DENY".into(), "rulcatchall00000002".into())
    );
    let (leaf2, key2) = h.mdm_certificate(&format!(
        "CN=alice@example.com managementAttestation {}",
        pc.id
    ));
    assert_eq!(
        pc.prove_desktop(&h, &leaf2, key2.as_ref()).body["managed"],
        true
    );
    assert_eq!(
        decide(&h, MEDIUM, "alice", Some(&pc.id), json!({})),
        ("ALLOW".into(), "rulmanaged000000001".into())
    );
}

#[test]
fn a_certificate_naming_another_device_does_not_attest() {
    let h = Harness::start();
    let pc = h.register("alice", windows("S-1-5-21-2"));
    let (leaf, key) =
        h.mdm_certificate("CN=bob@example.com managementAttestation guoSomeoneElse0000000");
    let proof = pc.prove_desktop(&h, &leaf, key.as_ref());
    assert_eq!(proof.body["managed"], false, "{proof:?}");
    let kinds = proof.body["reasons"].to_string();
    assert!(kinds.contains("device_mismatch"), "{proof:?}");
    // A nonce signed by another key does not attest either.
    let (leaf, _) = h.mdm_certificate(&format!("CN=alice managementAttestation {}", pc.id));
    let (_, other_key) = h.mdm_certificate("CN=other");
    let proof = pc.prove_desktop(&h, &leaf, other_key.as_ref());
    assert_eq!(proof.body["managed"], false, "{proof:?}");
}

#[test]
fn a_mobile_device_proves_management_with_the_hint_and_a_wrong_one_is_refused() {
    let h = Harness::start();
    store_guide_policies(&h);
    // "Add Platform" through the service's use case, as the admin API does.
    let (_, secret) = h
        .service
        .add_mobile_integration(
            devicetrust_service::integrations::IntegrationPlatform::Ios,
            "Intune",
            "https://portal.manage.microsoft.com/enroll",
            "admin",
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    let phone = h.register("bob", iphone("UDID-PHONE-1", "17.10.1"));
    let wrong = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": "not-the-key"}),
    );
    assert_eq!(wrong.status, 200, "{wrong:?}");
    assert_eq!(wrong.body["managed"], false);
    assert_eq!(wrong.body["reasons"][0]["kind"], "hint_mismatch");
    assert_eq!(
        wrong.body["enrollment"][0]["enrollmentLink"],
        "https://portal.manage.microsoft.com/enroll"
    );
    assert_eq!(
        decide(&h, HIGH, "bob", Some(&phone.id), json!({})),
        ("DENY".into(), "rulmobileother00001".into())
    );

    let right = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": secret.expose()}),
    );
    assert_eq!(right.body["managed"], true, "{right:?}");
    assert_eq!(
        decide(&h, HIGH, "bob", Some(&phone.id), json!({})),
        ("ALLOW".into(), "rulmobilemanaged001".into())
    );
    // A failed proof afterwards ends managed-ness at once.
    phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": "wrong-again"}),
    );
    assert_eq!(
        decide(&h, HIGH, "bob", Some(&phone.id), json!({})).0,
        "DENY"
    );
    // A desktop-style proof from a phone is missing its hint.
    let desktopish = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"nonce": "x"}),
    );
    assert_eq!(desktopish.status, 400);
}

#[test]
fn simulate_takes_a_raw_context_or_a_device_and_refuses_what_it_cannot_decide() {
    let h = Harness::start();
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-1-5-21-3"));
    let raw = h.admin(
        &format!("/api/v1/policies/{HIGH}/simulate"),
        &json!({"context": {"user": {"id": "00u1", "groups": ["Everyone"]},
            "device": {"registered": true, "managed": true, "platform": "WINDOWS",
                       "provider": {"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}}}}}),
    );
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.body["access"], "ALLOW");
    assert_eq!(raw.body["rule"]["id"], "rulwindowsedr000001");
    let by_device = h.admin(
        &format!("/api/v1/policies/{MEDIUM}/simulate"),
        &json!({"userId": "alice", "deviceId": pc.id}),
    );
    assert_eq!(
        by_device.body["rule"]["id"], "rulcatchall00000002",
        "{by_device:?}"
    );
    assert_eq!(by_device.body["device"]["registered"], true);
    assert_eq!(by_device.body["device"]["managed"], false);
    // An unknown device reads as unregistered.
    let unknown = h.admin(
        &format!("/api/v1/policies/{MEDIUM}/simulate"),
        &json!({"userId": "alice", "deviceId": "guoUnknown"}),
    );
    assert_eq!(
        unknown.body["rule"]["id"], "rulunregistered0001",
        "{unknown:?}"
    );

    assert_eq!(
        h.admin("/api/v1/policies/rstNope/simulate", &json!({}))
            .status,
        404
    );
    assert_eq!(
        h.authorize(&json!({"userId": "alice"})).status,
        400,
        "policyId required"
    );
    assert_eq!(
        h.authorize(&json!({"policyId": LOW, "deviceId": pc.id, "sessionId": "idx1"}))
            .status,
        400
    );
    assert_eq!(
        h.authorize(&json!({"policyId": LOW, "sessionId": "idxNoSuchSession"}))
            .status,
        404
    );
    assert_eq!(
        h.authorize(&json!({"policyId": LOW, "bogus": 1})).status,
        400
    );
    let both = h.admin(
        &format!("/api/v1/policies/{LOW}/simulate"),
        &json!({"context": {}, "deviceId": pc.id}),
    );
    assert_eq!(both.status, 400);
    // The decision API is an admin API.
    let anonymous = h.send(
        "POST",
        "/api/v1/authorize",
        &[],
        json!({"policyId": LOW}).to_string().as_bytes(),
    );
    assert_eq!(anonymous.status, 401);
    let wrong = h.send(
        "POST",
        "/api/v1/authorize",
        &[("authorization", "SSWS dtadm_wrong".into())],
        b"{}",
    );
    assert_eq!(wrong.status, 401);
}
