//! Secrets never reach the logs: with every server-side log captured at
//! TRACE, register, prove management (desktop and mobile), report signals,
//! mint tokens and decide, then look for each secret in the output.
//!
//! Its own test binary, because it installs the global subscriber (the
//! server logs from its runtime's threads).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use device_common::*;
use devicetrust_pki::{KeyAlgorithm, default_backend};
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn no_secret_is_logged() {
    let buffer = Buffer::default();
    // The test's own HTTP client is not the server: leave its logs out.
    let filter = tracing_subscriber::EnvFilter::new("trace,ureq=off,ureq_proto=off");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .init();

    let h = Harness::start();
    store_guide_policies(&h);
    let mut secrets: Vec<String> = vec![h.admin_token.clone()];

    // Registration with a token; a refused registration with a wrong secret too.
    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    secrets.push(key.to_pem().unwrap().to_string());
    let token = h.enrollment_token("alice");
    let (_, secret_part) = token.split_once('.').unwrap();
    secrets.push(token.clone());
    secrets.push(secret_part.to_owned());
    let wrong = format!("{}.{}", token.split_once('.').unwrap().0, "B".repeat(43));
    let refused = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&wrong, &key, windows("S-LOG"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(refused.status, 401);
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &key, windows("S-LOG"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    let pc = TestDevice::new(answer.body["device"]["id"].as_str().unwrap(), key);
    // The used token again: refused, and still not logged.
    let reused = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &pc.key, windows("S-LOG"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(reused.status, 401);

    // Desktop proof.
    let cert_key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    secrets.push(cert_key.to_pem().unwrap().to_string());
    let (leaf, signer) = h.mdm_certificate(&format!("CN=alice managementAttestation {}", pc.id));
    assert_eq!(
        pc.prove_desktop(&h, &leaf, signer.as_ref()).body["managed"],
        true
    );
    pc.call(
        &h,
        "POST",
        "/device/v1/signals",
        &json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}}),
    );
    let decision = h.authorize(
        &json!({"policyId": HIGH, "userId": "alice", "deviceId": pc.id, "groups": ["Everyone"]}),
    );
    assert_eq!(decision.body["access"], "ALLOW");

    // Mobile proof, right and wrong hint.
    let (_, hint) = h
        .service
        .add_mobile_integration(
            devicetrust_service::integrations::IntegrationPlatform::Android,
            "Workspace ONE",
            "https://example.invalid/enroll",
            "admin",
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    secrets.push(hint.expose().to_owned());
    let wrong_hint = "wrong-hint-0123456789abcdef".to_owned();
    secrets.push(wrong_hint.clone());
    let phone = h.register("bob", json!({"displayName": "Pixel", "platform": "ANDROID", "serialNumber": "P-1", "registered": true}));
    secrets.push(phone.key.to_pem().unwrap().to_string());
    let bad = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": wrong_hint}),
    );
    assert_eq!(bad.body["managed"], false);
    let good = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": hint.expose()}),
    );
    assert_eq!(good.body["managed"], true);
    // A malformed body with the hint in it.
    let malformed = phone.call(
        &h,
        "POST",
        "/device/v1/management-proof",
        &json!({"managementHint": hint.expose(), "extra": 1}),
    );
    assert_eq!(malformed.status, 400);
    // Request signatures are credentials for their request only, but keep them out too.
    let header = pc.header("GET", "/device/v1/me", b"");
    let sig = header
        .rsplit("sig=\"")
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    assert_eq!(
        h.send("GET", "/device/v1/me", &[("authorization", header)], b"")
            .status,
        200
    );
    secrets.push(sig);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("device registered"),
        "logs were captured: {logs}"
    );
    assert!(logs.contains("enrollment token refused"), "{logs}");
    assert!(logs.contains("management proof"), "{logs}");
    // The token's public id is logged, right beside where its secret would be.
    let token_id = token
        .split_once('.')
        .unwrap()
        .0
        .trim_start_matches("dtenr_");
    assert!(logs.contains(token_id), "{logs}");
    for secret in &secrets {
        // Whole PEM blocks, and the base64 body of each, line by line.
        let pieces: Vec<&str> = if secret.contains("-----BEGIN") {
            secret
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() > 16)
                .collect()
        } else {
            vec![secret.as_str()]
        };
        for piece in pieces {
            assert!(!logs.contains(piece), "a secret was logged: {piece}");
        }
    }
    // The private keys' raw bytes in base64 (unwrapped), in case a key is logged unwrapped.
    let raw = base64::engine::general_purpose::STANDARD.encode(pc.key.pkcs8_der());
    assert!(!logs.contains(&raw[..40]));
}
