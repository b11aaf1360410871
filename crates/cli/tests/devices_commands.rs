//! The `devicetrust devices` commands refuse bad input with clear errors,
//! and keep their data folder private.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use devicetrust_cli::commands::devices as commands;

#[test]
fn commands_refuse_bad_names_and_illegal_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let data = commands::Location::folder(dir.path().join("data"));
    let args = commands::EnrollArgs {
        org: "acme",
        user: "alice",
        platform: "macos",
        display_name: "Mac",
        udid: Some("U-1"),
    };
    let device = commands::enroll(&data, &args, "cli").unwrap();
    let id = device["id"].as_str().unwrap().to_owned();
    assert_eq!(device["status"], "ACTIVE");
    assert_eq!(device["profile"]["platform"], "MACOS");
    let bad = commands::EnrollArgs {
        platform: "beos",
        ..args.clone()
    };
    assert!(
        commands::enroll(&data, &bad, "cli")
            .unwrap_err()
            .to_string()
            .contains("platform")
    );
    assert!(commands::transition(&data, "acme", &id, "explode", "cli").is_err());
    let err = commands::transition(&data, "acme", &id, "delete", "cli").unwrap_err();
    assert!(err.to_string().contains("DELETED"), "{err}");
    commands::transition(&data, "acme", &id, "suspend", "cli").unwrap();
    let err = commands::transition(&data, "acme", &id, "activate", "cli").unwrap_err();
    assert!(err.to_string().contains("SUSPENDED -> ACTIVE"), "{err}");
    for op in ["unsuspend", "deactivate", "activate", "deactivate"] {
        commands::transition(&data, "acme", &id, op, "cli").unwrap();
    }
    let shown = commands::show(&data, "acme", &id).unwrap();
    assert_eq!(shown["device"]["status"], "DEACTIVATED");
    assert!(shown["audit"].as_array().unwrap().len() >= 8);
    let out = commands::transition(&data, "acme", &id, "delete", "cli").unwrap();
    assert!(out["device"].is_null());
    assert!(commands::show(&data, "acme", &id).is_err());
    let listed = commands::list(&data, "acme", &commands::ListArgs::default()).unwrap();
    assert_eq!(listed["devices"].as_array().unwrap().len(), 0);
    assert!(
        commands::list(
            &data,
            "acme",
            &commands::ListArgs {
                status: Some("GONE"),
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn stale_command_lists_unlinked_devices_and_the_data_folder_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("private");
    let data = commands::Location::folder(&folder);
    let args = commands::EnrollArgs {
        org: "acme",
        user: "alice",
        platform: "windows",
        display_name: "PC",
        udid: None,
    };
    let id = commands::enroll(&data, &args, "cli").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let none = commands::stale(&data, "acme", 30, None, 0).unwrap();
    assert!(none["devices"].as_array().unwrap().is_empty());
    commands::transition(&data, "acme", &id, "deactivate", "cli").unwrap();
    let stale = commands::stale(&data, "acme", 30, None, 0).unwrap();
    assert_eq!(stale["devices"][0]["id"], id.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
