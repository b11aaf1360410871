//! `/metrics` over the whole service: requests by route template,
//! device enrollments and decisions are counted as they happen, and shown
//! on the metrics listener only, never on the API's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use device_common::*;
use serde_json::json;

fn metrics(h: &Harness) -> String {
    assert_eq!(
        h.send("GET", "/metrics", &[], b"").status,
        404,
        "the API's listener does not show the metrics"
    );
    // The exposition is text, not JSON: read it raw.
    let text = h.metrics_text();
    assert!(
        text.contains("# TYPE devicetrust_http_requests_total counter"),
        "{text}"
    );
    text
}

#[test]
fn enrollments_decisions_and_routes_are_counted() {
    let h = Harness::start();
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-1-5-21-9"));
    // A used enrollment token is refused: a refused enrollment.
    let token = h.enrollment_token("alice");
    let key = devicetrust_pki::default_backend()
        .generate(devicetrust_pki::KeyAlgorithm::EcP256)
        .unwrap();
    let body = register_body(&token, &key, windows("S-1-5-21-10"));
    let first = h.send(
        "POST",
        "/device/v1/register",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(first.status, 201, "{first:?}");
    let again = h.send(
        "POST",
        "/device/v1/register",
        &[],
        body.to_string().as_bytes(),
    );
    assert_ne!(again.status, 201, "{again:?}");
    for policy in [LOW, MEDIUM, HIGH] {
        let answer =
            h.authorize(&json!({"policyId": policy, "userId": "alice", "deviceId": pc.id}));
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let text = metrics(&h);
    for line in [
        r#"devicetrust_enrollments_total{kind="device",outcome="registered"} 2"#,
        r#"devicetrust_enrollments_total{kind="device",outcome="refused"} 1"#,
        r#"devicetrust_http_requests_total{route="/api/v1/authorize",method="POST",status="200"} 3"#,
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    let decisions: u64 = text
        .lines()
        .filter(|l| l.starts_with("devicetrust_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(decisions, 3, "{text}");
    // Device IDs never become labels.
    assert!(!text.contains(&pc.id), "{text}");
}

#[test]
fn scep_outcomes_are_counted() {
    let h = Harness::start();
    let added = h.admin(
        "/api/v1/device-integrations",
        &json!({"platform": "MACOS", "ca": "OKTA", "challenge": {"type": "STATIC"}}),
    );
    let url = added.body["scepUrl"].as_str().unwrap().to_owned();
    let path = url
        .split_once("/scep/")
        .map(|(_, p)| format!("/scep/{p}"))
        .unwrap();
    let text = metrics(&h);
    assert!(
        text.contains(r#"devicetrust_enrollments_total{kind="scep",outcome="refused"} 0"#),
        "{text}"
    );
    // Garbage is refused, and counted as such.
    let answer = h.send(
        "POST",
        &format!("{path}?operation=PKIOperation"),
        &[("content-type", "application/x-pki-message".to_owned())],
        b"\x30\x03\x02\x01\x00",
    );
    assert_ne!(answer.status, 500, "{answer:?}");
    let text = metrics(&h);
    assert!(
        text.contains(r#"devicetrust_enrollments_total{kind="scep",outcome="refused"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"devicetrust_enrollments_total{kind="scep",outcome="issued"} 0"#),
        "{text}"
    );
    // A counter never goes down: deactivating the configuration keeps its counts.
    let id = added.body["id"].as_str().unwrap();
    let off = h.admin(
        &format!("/api/v1/device-integrations/{id}/lifecycle/deactivate"),
        &json!({}),
    );
    assert_eq!(off.status, 200, "{off:?}");
    let text = metrics(&h);
    assert!(
        text.contains(r#"devicetrust_enrollments_total{kind="scep",outcome="refused"} 1"#),
        "{text}"
    );
}

/// `devicetrust_database_round_trips_total`, if the service reports it.
fn round_trips(h: &Harness) -> Option<u64> {
    h.metrics_text()
        .lines()
        .find(|l| l.starts_with("devicetrust_database_round_trips_total{"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The round trips to a shared database are counted, not guessed: a
/// decision with its device waits for the figures the README quotes, a
/// signed device request and a lifecycle transition for theirs. On SQLite
/// there are none, and no such series.
#[test]
fn database_round_trips_per_request_are_counted() {
    let h = Harness::start();
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-1-5-21-11"));
    let decide = || {
        let answer =
            h.authorize(&json!({"policyId": MEDIUM, "userId": "alice", "deviceId": pc.id}));
        assert_eq!(answer.status, 200, "{answer:?}");
    };
    if !engine::on_postgres() {
        decide();
        assert_eq!(round_trips(&h), None);
        return;
    }
    let signed_request = || {
        let answer = pc.call(&h, "GET", "/device/v1/me", &json!({}));
        assert_eq!(answer.status, 200, "{answer:?}");
    };
    let lifecycle = |operation: &str| {
        let answer = h.send(
            "POST",
            &format!("/api/v1/devices/{}/lifecycle/{operation}", pc.id),
            &[("authorization", format!("SSWS {}", h.admin_token))],
            b"",
        );
        assert_eq!(answer.status, 204, "{answer:?}");
    };
    let transition = || {
        lifecycle("suspend");
        lifecycle("unsuspend");
    };
    // Steady state: each statement is prepared once per pooled connection,
    // so the first requests pay more; these warm every connection in use.
    // The pool hands out its idle connections in turn, and a busy machine
    // opens more of them (a read's ROLLBACK is not waited for), so warm long.
    for _ in 0..60 {
        decide();
        signed_request();
        transition();
    }
    const TIMES: u64 = 10;
    let cost = |what: &str, per: u64, act: &dyn Fn()| {
        let before = round_trips(&h).unwrap();
        for _ in 0..TIMES {
            act();
        }
        let spent = round_trips(&h).unwrap() - before;
        let each = spent as f64 / (TIMES * per) as f64;
        println!("round trips per {what}: {each:.1}");
        each
    };
    let per_decision = cost("decision", 1, &decide);
    let per_signed_request = cost(
        "signed device request (GET /device/v1/me)",
        1,
        &signed_request,
    );
    let per_transition = cost("lifecycle transition", 2, &transition);
    // The README quotes 1.1, 7.3 and 8.5, and the statements each request
    // runs; the slack is statement preparation on a connection that had
    // not run the statement yet (a clean-clone CI run on a busy machine
    // measured 8.3 per signed request after a shorter warm-up). A regression
    // of two statements or more fails here.
    assert!(
        per_decision <= 1.5,
        "{per_decision} round trips per decision"
    );
    assert!(
        per_signed_request <= 8.5,
        "{per_signed_request} per signed request"
    );
    assert!(per_transition <= 10.0, "{per_transition} per transition");
}
