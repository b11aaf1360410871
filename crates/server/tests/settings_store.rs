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
use devicetrust_server::service::{Settings, StoredToken, TOKEN_PREFIX};
use devicetrust_server::{DataDir, Service, ServiceOptions};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

fn open(dir: &std::path::Path) -> devicetrust_server::Opened {
    Service::open(
        DataDir::new(dir),
        default_backend(),
        ServiceOptions::default(),
    )
    .unwrap()
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
    let read = first.service.settings().read();
    assert_eq!(read.admin_tokens, legacy.admin_tokens);
    assert_eq!(read.sections["custom"], serde_json::json!({"kept": true}));
    assert!(!dir.path().join("service.json").exists());
    assert!(dir.path().join("service.json.imported").exists());
    drop(first);

    // A second open changes nothing, and the document is not imported again.
    let second = open(dir.path());
    assert!(second.admin_token.is_none());
    assert_eq!(
        second.service.settings().read().admin_tokens,
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
    let before = a.service.settings().read();
    b.service
        .settings()
        .update(|s| s.set_section("custom", &serde_json::json!({"by": "b"})))
        .unwrap();
    let after = a.service.settings().read();
    assert_eq!(after.sections["custom"], serde_json::json!({"by": "b"}));
    assert!(!before.sections.contains_key("custom"));
    // Reading again without a change returns the same snapshot (no reload).
    assert!(std::sync::Arc::ptr_eq(&after, &a.service.settings().read()));
    // Updates from both sides compose: each reads what it changes.
    a.service
        .settings()
        .update(|s| s.set_section("other", &1))
        .unwrap();
    let seen = b.service.settings().read();
    assert_eq!(seen.sections["custom"], serde_json::json!({"by": "b"}));
    assert_eq!(seen.sections["other"], serde_json::json!(1));
}
