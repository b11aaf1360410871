//! What the device API keeps across a restart: enrollment tokens and device
//! keys live in SQLite (the keys are covered by the store's own tests).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use devicetrust_devices::UserId;
use devicetrust_pki::default_backend;
use devicetrust_service::context::DecisionRequest;
use devicetrust_service::{Service, ServiceOptions};

#[path = "support/engine.rs"]
mod engine;
use time::OffsetDateTime;

#[test]
fn tokens_survive_a_restart_and_stay_single_use() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Service::open(
            engine::data_dir(dir.path()),
            default_backend(),
            ServiceOptions::default(),
        )
        .unwrap()
        .service
    };
    let now = OffsetDateTime::now_utc();
    let alice = UserId::new("alice").unwrap();
    let first = open();
    let minted = first.mint_enrollment_token(&alice, now).unwrap();
    let other = first.mint_enrollment_token(&alice, now).unwrap();
    assert_eq!(
        first.consume_enrollment_token(&other.token, now).unwrap(),
        alice
    );
    drop(first);

    let second = open();
    assert_eq!(
        second.consume_enrollment_token(&minted.token, now).unwrap(),
        alice
    );
    assert!(second.consume_enrollment_token(&minted.token, now).is_err());
    assert!(second.consume_enrollment_token(&other.token, now).is_err());
    // A device the registry does not know reads as unregistered and unmanaged.
    let request = DecisionRequest {
        user_id: Some("alice".into()),
        device_id: Some("guoAnything".into()),
        ..DecisionRequest::default()
    };
    let (context, state) = second.build_context(&request, now).unwrap();
    let device = context.device.unwrap();
    assert!(!device.registered && !device.managed);
    assert_eq!(state.unwrap().status, None);
    // The token's Debug output never shows the token.
    assert!(!format!("{minted:?}").contains(minted.token.as_str()));
}
