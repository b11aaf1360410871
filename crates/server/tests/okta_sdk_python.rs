//! Okta's own Python SDK (`okta` on PyPI, at the version pinned in
//! `scripts/okta-sdk-python.txt`, installed by `scripts/setup` into a venv
//! under the build folder), unchanged, against our admin API: devices and
//! their lifecycle, and device assurance CRUD. The script asserts on the
//! SDK's typed objects; this side checks what it reports against the store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::PathBuf;

use common::Server;
use devicetrust_devices::Platform;
use serde_json::{Value, json};

/// The venv's interpreter: `<target>/okta-sdk/python/bin/python`.
fn python() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let python = target
        .parent()
        .expect("the target folder")
        .join("okta-sdk/python/bin/python");
    assert!(
        python.exists(),
        "{} is missing: `scripts/setup tests` installs Okta's Python SDK",
        python.display()
    );
    python
}

#[test]
fn okta_python_sdk_drives_devices_and_device_assurances_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let device = server.enroll("alice", "Alice's Mac", Platform::Macos, "UDID-SDK-1");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/okta_sdk/python_sdk.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .args([&server.base, &server.token, device.id.as_str()])
        // The SDK's documented switch for an http org URL in tests.
        .env("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(seen["listedStatus"], "ACTIVE");
    assert_eq!(seen["embeddedUsers"], json!(["alice"]));
    assert_eq!(seen["managementStatus"], "NOT_MANAGED");
    assert_eq!(seen["userDevices"], json!([device.id.as_str()]));
    assert_eq!(seen["platform"], "MACOS");
    assert_eq!(
        seen["statuses"],
        json!(["SUSPENDED", "ACTIVE", "DEACTIVATED", "ACTIVE"])
    );
    assert_eq!(seen["createdBy"], json!(server.token_id()));
    assert_eq!(seen["replacedMinimum"], "14.4.0");
    assert_eq!(seen["assurancesLeft"], 0);
    // What the SDK did is what the store holds.
    let stored = server.ok("GET", &format!("/api/v1/devices/{}", device.id), None, 200);
    assert_eq!(stored["status"], "ACTIVE");
    let assurance = seen["assuranceId"].as_str().unwrap();
    common::assert_error(
        &server.call(
            "GET",
            &format!("/api/v1/device-assurances/{assurance}"),
            None,
        ),
        404,
        "E0000007",
    );
}
