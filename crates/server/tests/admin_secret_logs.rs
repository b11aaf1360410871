//! Secrets never reach the logs: every admin flow that shows a secret once
//! runs with all logs captured (TRACE and up), and none of the secrets, nor
//! the admin tokens, appear in them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::Server;
use serde_json::json;

/// Every log line, from every thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_shown_once_are_never_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), None);
    let mut secrets = vec![server.token.clone()];

    let made = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "challenge": {"type": "STATIC"}})),
        201,
    );
    secrets.push(made["secretKey"].as_str().unwrap().to_owned());
    let id = made["id"].as_str().unwrap();
    let reset = server.ok(
        "POST",
        &format!("/api/v1/device-integrations/{id}/lifecycle/resetSecret"),
        None,
        200,
    );
    secrets.push(reset["secretKey"].as_str().unwrap().to_owned());

    let made = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "WINDOWS", "challenge": {"type": "DYNAMIC"}})),
        201,
    );
    secrets.push(made["password"].as_str().unwrap().to_owned());

    let made = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "ANDROID", "providerName": "UEM", "enrollmentLink": "https://uem.example"})),
        201,
    );
    secrets.push(
        made["managementHint"]["secretKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let id = made["id"].as_str().unwrap();
    let reset = server.ok(
        "POST",
        &format!("/api/v1/device-integrations/{id}/lifecycle/resetSecret"),
        Some(&json!({"gracePeriodMinutes": 5})),
        200,
    );
    secrets.push(
        reset["managementHint"]["secretKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    // Refused tokens (one of them a real one with a typo) are not logged either.
    let typo = format!("SSWS {}x", server.token);
    assert_eq!(
        server
            .raw("GET", "/api/v1/logs", Some(&typo), None, b"")
            .status,
        401
    );
    let rotated = server.ok("POST", "/api/v1/api-tokens/current/rotate", None, 201);
    server.token = rotated["token"].as_str().unwrap().to_owned();
    secrets.push(server.token.clone());
    server.stop();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works: the admin changes were logged (by ID).
    assert!(logs.contains("device integration added"), "{logs}");
    assert!(logs.contains("admin token rotated"), "{logs}");
    for secret in &secrets {
        assert!(secret.len() >= 20);
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs:\n{logs}"
        );
    }
}
