//! The settings live in the store: a folder from an older release has its
//! `service.json` imported once, and a change made by one process on the
//! database is seen by every other at its next read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use devicetrust_pki::default_backend;
use devicetrust_service::{Service, ServiceOptions};
use devicetrust_service::{Settings, SettingsStore, StoredToken, TOKEN_PREFIX};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

#[path = "support/engine.rs"]
mod engine;

fn open(dir: &std::path::Path) -> devicetrust_service::Opened {
    Service::open(
        engine::data_dir(dir),
        default_backend(),
        ServiceOptions::default(),
    )
    .unwrap()
}

/// The settings of the folder's database, through a connection of its own
/// (as another process has).
fn settings(dir: &std::path::Path) -> SettingsStore {
    SettingsStore::open(engine::open_store(dir), &dir.join("service.json")).unwrap()
}

#[test]
fn an_older_folders_settings_file_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    // What an older release wrote: the token's digest and a section.
    let token = format!("{TOKEN_PREFIX}legacy-token-0123456789abcdef0123456789");
    let mut legacy = Settings::default();
    legacy.admin_tokens.push(StoredToken {
        id: "tok1".into(),
        sha256: hex::encode(Sha256::digest(token.as_bytes())),
        created: OffsetDateTime::now_utc(),
        revoked: None,
    });
    legacy
        .set_section("custom", &serde_json::json!({"kept": true}))
        .unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("service.json"),
        serde_json::to_vec(&legacy).unwrap(),
    )
    .unwrap();

    let first = open(dir.path());
    // The folder had a token: none is made or printed.
    assert!(first.admin_token.is_none());
    assert_eq!(
        first.service.authenticate_admin(&token).as_deref(),
        Some("tok1")
    );
    let read = settings(dir.path()).read();
    assert_eq!(read.admin_tokens, legacy.admin_tokens);
    assert_eq!(read.sections["custom"], serde_json::json!({"kept": true}));
    assert!(!dir.path().join("service.json").exists());
    assert!(dir.path().join("service.json.imported").exists());
    drop(first);

    // A second open changes nothing (a reappearing file: see the test below).
    let second = open(dir.path());
    assert!(second.admin_token.is_none());
    assert_eq!(
        settings(dir.path()).read().admin_tokens,
        legacy.admin_tokens
    );
}

#[test]
fn a_change_by_one_process_is_seen_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    assert!(a.admin_token.is_some());
    // A second service on the same database (another process, or a replica).
    let b = open(dir.path());
    assert!(
        b.admin_token.is_none(),
        "the first start's token is not made twice"
    );
    // A configuration change through one service's use case is served by the other.
    let assurance: devicetrust_policy::model::DeviceAssurance = serde_json::from_value(
        serde_json::json!({"id": "da1", "name": "Recent macOS", "platform": "MACOS",
                           "osVersion": {"minimum": "14.0.0"}}),
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    b.service.create_assurance("tok", assurance, now).unwrap();
    assert_eq!(a.service.assurance("da1").unwrap().name, "Recent macOS");

    let (sa, sb) = (settings(dir.path()), settings(dir.path()));
    let before = sa.read();
    sb.update(|s| s.set_section("custom", &serde_json::json!({"by": "b"})))
        .unwrap();
    let after = sa.read();
    assert_eq!(after.sections["custom"], serde_json::json!({"by": "b"}));
    assert!(!before.sections.contains_key("custom"));
    // Reading again without a change returns the same snapshot (no reload).
    assert!(std::sync::Arc::ptr_eq(&after, &sa.read()));
    // Updates from both sides compose: each reads what it changes.
    sa.update(|s| s.set_section("other", &1)).unwrap();
    let seen = sb.read();
    assert_eq!(seen.sections["custom"], serde_json::json!({"by": "b"}));
    assert_eq!(seen.sections["other"], serde_json::json!(1));
}

#[test]
fn a_second_legacy_file_never_overwrites_the_first_imported_copy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    let legacy = dir.path().join("service.json");
    let write = |custom: &str| {
        let mut settings = Settings::default();
        settings
            .set_section("custom", &serde_json::json!(custom))
            .unwrap();
        std::fs::write(&legacy, serde_json::to_vec(&settings).unwrap()).unwrap();
        std::fs::read(&legacy).unwrap()
    };
    let first = write("first");
    drop(open(dir.path()));
    // A restored backup reappears: the store already has settings, so it is
    // not imported, but it is set aside without touching the first copy.
    let second = write("second");
    drop(open(dir.path()));
    let kept = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert_eq!(kept("service.json.imported"), first);
    assert_eq!(kept("service.json.imported.1"), second);
    assert_eq!(
        settings(dir.path()).read().sections["custom"],
        serde_json::json!("first")
    );
}

/// The decision API checks its admin token against the settings of the
/// decision's own snapshot, so a token rotated away by another process is
/// refused at once, although this process last saw it live. Refusals too
/// say nothing to it (that the policy exists or not).
#[test]
fn a_decision_refuses_a_token_another_process_revoked() {
    use devicetrust_service::context::{DecisionError, DecisionRequest};
    let dir = tempfile::tempdir().unwrap();
    let serving = open(dir.path());
    let token_text = serving.admin_token.clone().unwrap();
    let token = devicetrust_service::PresentedToken::new(&token_text);
    let service = &serving.service;
    let policy: devicetrust_policy::PolicyDocument = serde_json::from_value(serde_json::json!({
      "policy": {"id": "rst1", "name": "Any", "type": "ACCESS_POLICY", "status": "ACTIVE"},
      "rules": [{"id": "rul1", "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE",
                 "system": true, "actions": {"appSignOn": {"access": "DENY"}}}]
    }))
    .unwrap();
    let now = OffsetDateTime::now_utc();
    service.create_policy("test", policy, now).unwrap();
    let with_device = DecisionRequest {
        user_id: Some("00u1".into()),
        device_id: Some("guo1".into()),
        ..DecisionRequest::default()
    };
    let without_device = DecisionRequest::default();
    for request in [&with_device, &without_device] {
        service
            .decide_as_admin(&token, "rst1", request, now)
            .unwrap();
        assert!(matches!(
            service.decide_as_admin(&token, "rst-none", request, now),
            Err(DecisionError::NotFound { .. })
        ));
        assert!(matches!(
            service.decide_as_admin(
                &devicetrust_service::PresentedToken::new("dtadm_wrong"),
                "rst1",
                request,
                now
            ),
            Err(DecisionError::Unauthenticated)
        ));
    }

    // Another process (the CLI) rotates the token away.
    let other = open(dir.path());
    let used = other.service.authenticate_admin(&token_text).unwrap();
    let (_, fresh) = other
        .service
        .rotate_admin_token(&used, now)
        .unwrap()
        .unwrap();
    assert!(
        service.precheck_admin_token(&token),
        "this process has not read the settings since: the precheck still passes"
    );
    let fresh = devicetrust_service::PresentedToken::new(&fresh);
    for request in [&with_device, &without_device] {
        for policy in ["rst1", "rst-none"] {
            assert!(
                matches!(
                    service.decide_as_admin(&token, policy, request, now),
                    Err(DecisionError::Unauthenticated)
                ),
                "{policy} {request:?}"
            );
        }
        service
            .decide_as_admin(&fresh, "rst1", request, now)
            .unwrap();
    }
    assert!(!service.precheck_admin_token(&token));
}
