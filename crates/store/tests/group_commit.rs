//! Grouped commits under concurrency: many threads write at once; every
//! acknowledged write is there after reopening, and a failed write inside
//! a group leaves nothing while its neighbours commit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::sync::Arc;

use devicetrust_devices::{
    Actor, AuditOutcome, AuditQuery, DeviceProfile, DeviceStatus, EnrollmentRequest, Operation,
    OrgId, Platform, SessionMethod, UserId,
};
use devicetrust_store::{Registry, SqliteStore};
use time::OffsetDateTime;

const THREADS: usize = 8;
const ROUNDS: usize = 10;

#[test]
fn concurrent_writers_all_commit_and_failures_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let registry = Arc::new(Registry::new(SqliteStore::open(&path).unwrap()));
    let org = OrgId::new("org").unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            let org = org.clone();
            std::thread::spawn(move || {
                let admin = Actor::new(format!("admin{t}")).unwrap();
                let user = UserId::new(format!("user{t}")).unwrap();
                let mut profile = DeviceProfile::new(format!("d{t}"), Platform::Ios);
                profile.udid = Some(format!("U{t}"));
                let now = OffsetDateTime::now_utc();
                let device = registry
                    .enroll(
                        &org,
                        &admin,
                        &EnrollmentRequest::new(user.clone(), profile),
                        now,
                    )
                    .unwrap();
                let mut sessions = 0;
                for _ in 0..ROUNDS {
                    registry
                        .transition(&org, &admin, &device.id, Operation::Suspend, now)
                        .unwrap();
                    // Fails inside its savepoint: nothing of it may remain.
                    assert!(
                        registry
                            .sign_in(&org, &device.id, &user, SessionMethod::OktaVerify, now)
                            .is_err()
                    );
                    registry
                        .sign_in(&org, &device.id, &user, SessionMethod::Email, now)
                        .unwrap();
                    sessions += 1;
                    registry
                        .transition(&org, &admin, &device.id, Operation::Unsuspend, now)
                        .unwrap();
                }
                (device.id, sessions)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(registry);

    let registry = Registry::new(SqliteStore::open(&path).unwrap());
    for (id, sessions) in results {
        assert_eq!(
            registry.device(&org, &id).unwrap().status,
            DeviceStatus::Active
        );
        assert_eq!(registry.sessions(&org, &id).unwrap().len(), sessions);
        let events = registry
            .audit(
                &org,
                &AuditQuery {
                    device_id: Some(id.clone()),
                    ..AuditQuery::default()
                },
            )
            .unwrap();
        let applied = events
            .iter()
            .filter(|e| e.outcome == AuditOutcome::Applied)
            .count();
        // One enrollment and two transitions per round.
        assert_eq!(applied, 1 + 2 * ROUNDS);
    }
}
