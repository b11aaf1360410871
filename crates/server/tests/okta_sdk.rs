//! Okta's own management SDKs, unchanged, against our admin API: Python's
//! `okta` (PyPI, pinned in `scripts/okta-sdk-python.txt`, in a venv) and
//! Node's `@okta/okta-sdk-nodejs` (npm, locked in `scripts/okta-sdk-node/`,
//! in an npm prefix), both installed by `scripts/setup` under the build
//! folder. Each drives devices and their lifecycle, and device assurance
//! CRUD; the scripts assert on the SDKs' typed objects, and this side
//! checks what they report against the store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;
use devicetrust_devices::Platform;
use serde_json::{Value, json};

/// Where `scripts/setup` installs the SDKs: `<target>/okta-sdk/<what>`.
fn installed(what: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = target
        .parent()
        .expect("the target folder")
        .join("okta-sdk")
        .join(what);
    assert!(
        path.exists(),
        "{} is missing: `scripts/setup tests` installs Okta's SDKs",
        path.display()
    );
    path
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/okta_sdk")
        .join(name)
}

/// Runs `command` (an SDK script given the org URL, the token and a
/// device's id) against a server with one enrolled Mac, and checks what it
/// saw against the store.
fn drive(mut command: Command) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let device = server.enroll("alice", "Alice's Mac", Platform::Macos, "UDID-SDK-1");
    let out = command
        .args([&server.base, &server.token, device.id.as_str()])
        .output()
        .expect("the SDK's runtime is installed by scripts/setup");
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
    assert_eq!(
        seen["links"],
        json!([
            ["deactivate", "unsuspend"],
            ["deactivate", "suspend"],
            ["activate"],
            ["deactivate", "suspend"]
        ])
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

#[test]
fn okta_python_sdk_drives_devices_and_device_assurances_unchanged() {
    let mut python = Command::new(installed("python/bin/python"));
    python
        .arg(script("python_sdk.py"))
        // The SDK's documented switch for an http org URL in tests.
        .env("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    drive(python);
}

#[test]
fn okta_node_sdk_drives_devices_and_device_assurances_unchanged() {
    let mut node = Command::new("node");
    node.arg(script("node_sdk.js"))
        .env("NODE_PATH", installed("node/node_modules"));
    drive(node);
}
