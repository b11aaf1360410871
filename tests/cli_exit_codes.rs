//! The binary's exit codes: 0 ok, 1 failed or refused, 2 usage or input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::process::Command;

fn devicetrust(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2_and_a_refusal_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let enroll = |platform: &str| {
        devicetrust(&[
            "devices",
            "enroll",
            "--data",
            data,
            "--org",
            "acme",
            "--user",
            "alice",
            "--platform",
            platform,
            "--display-name",
            "Mac",
        ])
    };
    let (code, stderr) = enroll("TOASTER");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("platform"), "{stderr}");
    assert_eq!(enroll("MACOS").0, 0);
    // An unknown device is a refusal, not a usage error.
    let (code, stderr) = devicetrust(&[
        "devices",
        "show",
        "--data",
        data,
        "--org",
        "acme",
        "--id",
        "guoNoSuchDevice0000",
    ]);
    assert_eq!(code, 1, "{stderr}");
}
