//! The device API's tables: device keys and one-time enrollment tokens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_devices::{
    Actor, DeviceProfile, EnrollmentRequest, Operation, OrgId, Platform, SessionMethod, UserId,
};
use devicetrust_store::auth_failures::AuthFailureRecord;
use devicetrust_store::{
    DeviceKeyRecord, EnrollmentTokenRecord, Error, ManagementProof, MemoryStore, NonceUse,
    Registry, SqliteStore, Store, TokenLimits, TokenUse,
};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

/// Opens the same SQLite database again and again (a restart each time).
fn sqlite_reopener() -> (tempfile::TempDir, impl Fn() -> Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    (dir, move || Arc::new(SqliteStore::open(&path).unwrap()))
}

/// Opens the same PostgreSQL database again and again (a restart, or another replica).
#[cfg(feature = "postgres")]
fn postgres_reopener() -> impl Fn() -> Arc<devicetrust_store::PostgresStore> {
    let url = pg::fresh_database();
    move || Arc::new(devicetrust_store::PostgresStore::open(&url).unwrap())
}

fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 00:00 UTC)
}

fn token(id: &str, user: &str, expires_at: OffsetDateTime) -> EnrollmentTokenRecord {
    EnrollmentTokenRecord {
        id: id.into(),
        org: OrgId::new("acme").unwrap(),
        user: UserId::new(user).unwrap(),
        sha256: "ab".repeat(32),
        created: t0(),
        expires_at,
    }
}

const LIMITS: TokenLimits = TokenLimits {
    per_org: 3,
    per_user: 2,
};

#[test]
fn a_token_is_consumed_once_and_only_with_the_right_secret() {
    token_consumed_once(&MemoryStore::new());
    token_consumed_once(&sqlite_reopener().1());
    #[cfg(feature = "postgres")]
    token_consumed_once(&postgres_reopener()());
}

fn token_consumed_once(store: &impl Store) {
    let org = OrgId::new("acme").unwrap();
    store
        .insert_enrollment_token(
            &token("t1", "alice", t0() + Duration::minutes(15)),
            LIMITS,
            t0(),
        )
        .unwrap();
    assert_eq!(
        store
            .consume_enrollment_token(&org, "t1", t0(), |_| false)
            .unwrap(),
        TokenUse::Mismatch
    );
    // Another org cannot use it.
    let other = OrgId::new("other").unwrap();
    assert_eq!(
        store
            .consume_enrollment_token(&other, "t1", t0(), |_| true)
            .unwrap(),
        TokenUse::Unknown
    );
    match store
        .consume_enrollment_token(&org, "t1", t0(), |_| true)
        .unwrap()
    {
        TokenUse::Consumed(r) => assert_eq!(r.user.as_str(), "alice"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .consume_enrollment_token(&org, "t1", t0(), |_| true)
            .unwrap(),
        TokenUse::Unknown
    );
}

#[test]
fn expired_tokens_are_refused_and_tokens_are_bounded() {
    let (_dir, sqlite) = sqlite_reopener();
    tokens_expire_and_are_bounded(sqlite);
    #[cfg(feature = "postgres")]
    tokens_expire_and_are_bounded(postgres_reopener());
}

fn tokens_expire_and_are_bounded<S: Store>(open: impl Fn() -> S) {
    let store = open();
    let org = OrgId::new("acme").unwrap();
    let exp = t0() + Duration::minutes(15);
    store
        .insert_enrollment_token(&token("a1", "alice", exp), LIMITS, t0())
        .unwrap();
    store
        .insert_enrollment_token(&token("a2", "alice", exp), LIMITS, t0())
        .unwrap();
    let err = store
        .insert_enrollment_token(&token("a3", "alice", exp), LIMITS, t0())
        .unwrap_err();
    assert!(matches!(err, Error::LimitReached { limit: 2, .. }), "{err}");
    store
        .insert_enrollment_token(&token("b1", "bob", exp), LIMITS, t0())
        .unwrap();
    let err = store
        .insert_enrollment_token(&token("c1", "carol", exp), LIMITS, t0())
        .unwrap_err();
    assert!(matches!(err, Error::LimitReached { limit: 3, .. }), "{err}");
    // Past expiry: refused, and pruned so the bound frees up.
    let later = exp + Duration::seconds(1);
    assert_eq!(
        store
            .consume_enrollment_token(&org, "a1", later, |_| true)
            .unwrap(),
        TokenUse::Expired
    );
    store
        .insert_enrollment_token(
            &token("c1", "carol", later + Duration::minutes(15)),
            LIMITS,
            later,
        )
        .unwrap();
    // Survives a reopen.
    drop(store);
    let store = open();
    assert!(matches!(
        store
            .consume_enrollment_token(&org, "c1", later, |_| true)
            .unwrap(),
        TokenUse::Consumed(_)
    ));
}

#[test]
fn device_keys_are_replaced_persist_and_go_with_the_device() {
    let (_dir, sqlite) = sqlite_reopener();
    device_keys_persist(sqlite);
    #[cfg(feature = "postgres")]
    device_keys_persist(postgres_reopener());
}

fn device_keys_persist<S: Store>(open: impl Fn() -> Arc<S>) {
    let store = open();
    let registry = Registry::new(store.clone());
    let org = OrgId::new("acme").unwrap();
    let admin = Actor::new("admin").unwrap();
    let mut profile = DeviceProfile::new("Mac", Platform::Macos);
    profile.udid = Some("U1".into());
    let device = registry
        .enroll(
            &org,
            &admin,
            &EnrollmentRequest::new(UserId::new("alice").unwrap(), profile),
            t0(),
        )
        .unwrap();
    assert_eq!(store.device_key(&org, &device.id).unwrap(), None);
    let key = |id: &str| DeviceKeyRecord {
        key_id: id.into(),
        spki_hex: "30".into(),
        created: t0(),
    };
    store.put_device_key(&org, &device.id, &key("k1")).unwrap();
    store.put_device_key(&org, &device.id, &key("k2")).unwrap();
    assert_eq!(store.device_key(&org, &device.id).unwrap(), Some(key("k2")));
    // Scoped by org.
    assert_eq!(
        store
            .device_key(&OrgId::new("other").unwrap(), &device.id)
            .unwrap(),
        None
    );
    drop(registry);
    drop(store);
    let store = open();
    assert_eq!(store.device_key(&org, &device.id).unwrap(), Some(key("k2")));
    let registry = Registry::new(store.clone());
    let session = registry
        .sign_in(
            &org,
            &device.id,
            &UserId::new("alice").unwrap(),
            SessionMethod::OktaVerify,
            t0(),
        )
        .unwrap();
    assert_eq!(
        store.session(&org, &session.id).unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store
            .session(&OrgId::new("other").unwrap(), &session.id)
            .unwrap(),
        None
    );
    registry
        .transition(&org, &admin, &device.id, Operation::Deactivate, t0())
        .unwrap();
    registry
        .transition(&org, &admin, &device.id, Operation::Delete, t0())
        .unwrap();
    assert_eq!(store.device_key(&org, &device.id).unwrap(), None);
}

fn nonces_are_single_use_and_bounded<S: devicetrust_store::Store>(store: &S) {
    let org = OrgId::new("acme").unwrap();
    let d1 = devicetrust_devices::DeviceId::new("guo1").unwrap();
    let d2 = devicetrust_devices::DeviceId::new("guo2").unwrap();
    let until = t0() + Duration::minutes(5);
    let use_nonce = |device: &devicetrust_devices::DeviceId, nonce: &str, now: OffsetDateTime| {
        store
            .write(|tx| tx.use_request_nonce(&org, device, nonce, until, now, 2))
            .unwrap()
    };
    assert_eq!(use_nonce(&d1, "n1", t0()), NonceUse::Fresh);
    assert_eq!(use_nonce(&d1, "n1", t0()), NonceUse::Replayed);
    // Another device may use the same nonce text.
    assert_eq!(use_nonce(&d2, "n1", t0()), NonceUse::Fresh);
    assert_eq!(use_nonce(&d1, "n2", t0()), NonceUse::Fresh);
    // Past the bound the device is refused, and the refused nonce is not kept.
    assert_eq!(
        use_nonce(&d1, "n3", t0()),
        NonceUse::DeviceFull { limit: 2 }
    );
    assert_eq!(
        use_nonce(&d1, "n3", t0()),
        NonceUse::DeviceFull { limit: 2 }
    );
    // Once expired they are forgotten (their requests are stale anyway).
    let later = until + Duration::seconds(1);
    assert_eq!(use_nonce(&d1, "n3", later), NonceUse::Fresh);
    // Retiring the key forgets the device's nonces and proof.
    let proof = ManagementProof {
        managed: true,
        configuration_id: Some("c1".into()),
        at: t0(),
        reasons: Vec::new(),
    };
    store
        .write(|tx| tx.put_management_proof(&org, &d1, &proof))
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.management_proof(&org, &d1)).unwrap(),
        Some(proof)
    );
    store.write(|tx| tx.retire_device_key(&org, &d1)).unwrap();
    assert_eq!(
        store.read(|tx| tx.management_proof(&org, &d1)).unwrap(),
        None
    );
    assert_eq!(use_nonce(&d1, "n3", later), NonceUse::Fresh);
    // A read transaction cannot use a nonce.
    assert!(matches!(
        store.read(|tx| tx.use_request_nonce(&org, &d1, "n9", until, t0(), 2)),
        Err(Error::ReadOnly)
    ));
}

#[test]
fn request_nonces_in_memory() {
    nonces_are_single_use_and_bounded(&devicetrust_store::MemoryStore::new());
}

#[test]
fn request_nonces_on_sqlite_survive_reopening() {
    let (_dir, sqlite) = sqlite_reopener();
    nonces_survive_reopening(sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn request_nonces_on_postgres_survive_reopening_and_hold_across_replicas() {
    let open = postgres_reopener();
    nonces_survive_reopening(&open);
    // Two replicas racing with one nonce: exactly one use is fresh.
    let (a, b) = (open(), open());
    let org = OrgId::new("acme").unwrap();
    let device = devicetrust_devices::DeviceId::new("guo7").unwrap();
    let until = t0() + Duration::hours(1);
    let uses: Vec<NonceUse> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (org, device) = (&org, &device);
                scope.spawn(move || {
                    store
                        .write(|tx| tx.use_request_nonce(org, device, "raced", until, t0(), 100))
                        .unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(
        uses.iter().filter(|u| **u == NonceUse::Fresh).count(),
        1,
        "{uses:?}"
    );
    assert_eq!(
        uses.iter().filter(|u| **u == NonceUse::Replayed).count(),
        7,
        "{uses:?}"
    );
}

fn nonces_survive_reopening<S: Store>(open: impl Fn() -> Arc<S>) {
    let store = open();
    nonces_are_single_use_and_bounded(&*store);
    let org = OrgId::new("acme").unwrap();
    let d2 = devicetrust_devices::DeviceId::new("guo2").unwrap();
    let until = t0() + Duration::hours(1);
    let use_keep = |store: &S| {
        store
            .write(|tx| tx.use_request_nonce(&org, &d2, "keep", until, t0(), 2))
            .unwrap()
    };
    assert_eq!(use_keep(&store), NonceUse::Fresh);
    drop(store);
    let store = open();
    let again = use_keep(&store);
    assert_eq!(again, NonceUse::Replayed);
}

#[cfg(unix)]
#[test]
fn the_database_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // A file an older release left to the umask is tightened on open.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    store
        .put_device_key(
            &OrgId::new("acme").unwrap(),
            &devicetrust_devices::DeviceId::new("guo1").unwrap(),
            &DeviceKeyRecord {
                key_id: "k".into(),
                spki_hex: "30".into(),
                created: t0(),
            },
        )
        .unwrap();
    for name in ["db", "db-wal", "db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

fn signal_reports_keep_the_newest<S: devicetrust_store::Store>(store: &S) {
    let org = OrgId::new("acme").unwrap();
    let device = devicetrust_devices::DeviceId::new("guo1").unwrap();
    let report = |minutes: i64, body: &str| devicetrust_store::SignalReport {
        provider: "wsc".into(),
        collected_at: t0() + Duration::minutes(minutes),
        received_at: t0() + Duration::minutes(minutes),
        body: body.into(),
    };
    let put = |r: &devicetrust_store::SignalReport| {
        store
            .write(|tx| tx.put_signal_report(&org, &device, r))
            .unwrap()
    };
    assert!(put(&report(5, "new")));
    // A report collected earlier, arriving late, does not roll it back.
    assert!(!put(&report(1, "old")));
    assert!(put(&report(9, "newer")));
    let held = store.read(|tx| tx.signal_reports(&org, &device)).unwrap();
    assert_eq!(held, vec![report(9, "newer")]);
    // Scoped by org.
    let other = OrgId::new("other").unwrap();
    assert!(
        store
            .read(|tx| tx.signal_reports(&other, &device))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn signal_reports_in_memory() {
    signal_reports_keep_the_newest(&devicetrust_store::MemoryStore::new());
}

#[test]
fn signal_reports_on_sqlite() {
    signal_reports_keep_the_newest(&*sqlite_reopener().1());
}

#[cfg(feature = "postgres")]
#[test]
fn signal_reports_on_postgres() {
    signal_reports_keep_the_newest(&pg::store());
}

/// The reference: what a decision read before the one-statement snapshot,
/// one call per part.
fn one_by_one(
    tx: &mut dyn devicetrust_store::Tx,
    org: &OrgId,
    device: &devicetrust_devices::DeviceId,
    with_users: bool,
    settings: &str,
) -> devicetrust_store::DeviceSnapshot {
    let mut expected = devicetrust_store::DeviceSnapshot::default();
    expected.settings_revision = tx.settings_revision(settings).unwrap();
    let Some(found) = tx.device(org, device).unwrap() else {
        return expected;
    };
    expected.device = Some(found);
    if with_users {
        expected.enrollments = tx.enrollments(org, device).unwrap();
        expected.links = tx.links(org, device).unwrap();
    }
    expected.proof = tx.management_proof(org, device).unwrap();
    expected.reports = tx.signal_reports(org, device).unwrap();
    expected
}

/// Each engine reads a decision's snapshot in one statement: it must read
/// exactly what the single reads do, in their order, whatever is present.
#[test]
fn a_decision_snapshot_reads_what_the_single_reads_do() {
    snapshot_matches_single_reads(sqlite_reopener().1());
    #[cfg(feature = "postgres")]
    snapshot_matches_single_reads(postgres_reopener()());
}

fn snapshot_matches_single_reads<S: Store>(store: Arc<S>) {
    let registry = Registry::new(store.clone());
    let org = OrgId::new("acme").unwrap();
    let admin = Actor::new("admin").unwrap();
    let enroll = |user: &str, udid: &str| {
        let mut profile = DeviceProfile::new("Mac", Platform::Macos);
        profile.udid = Some(udid.into());
        registry
            .enroll(
                &org,
                &admin,
                &EnrollmentRequest::new(UserId::new(user).unwrap(), profile),
                t0(),
            )
            .unwrap()
    };
    // Two users on one device, enrolled in reverse order of their ids.
    let shared = enroll("zoe", "U1");
    assert_eq!(enroll("alice", "U1").id, shared.id);
    let other = enroll("bob", "U2");
    let bare = enroll("carol", "U3");
    let report = |provider: &str| devicetrust_store::SignalReport {
        provider: provider.into(),
        collected_at: t0(),
        received_at: t0(),
        body: format!("{{\"from\":\"{provider}\"}}"),
    };
    store
        .write(|tx| {
            for provider in ["wsc", "chrome", "zta"] {
                tx.put_signal_report(&org, &shared.id, &report(provider))?;
            }
            tx.put_signal_report(&org, &other.id, &report("wsc"))?;
            tx.put_management_proof(
                &org,
                &shared.id,
                &ManagementProof {
                    managed: true,
                    configuration_id: Some("mdm-1".into()),
                    at: t0(),
                    reasons: Vec::new(),
                },
            )?;
            tx.put_settings_document(
                "service",
                &devicetrust_store::SettingsDocument {
                    revision: 7,
                    body: "{}".into(),
                },
            )
        })
        .unwrap();

    let unknown = devicetrust_devices::DeviceId::new("guo-none").unwrap();
    let elsewhere = OrgId::new("other").unwrap();
    let mut checked = 0;
    for (org, device) in [
        (&org, &shared.id),
        (&org, &other.id),
        (&org, &bare.id),
        (&org, &unknown),
        (&elsewhere, &shared.id),
    ] {
        for with_users in [true, false] {
            for settings in ["service", "none"] {
                let (snapshot, expected) = store
                    .read(|tx| {
                        Ok((
                            tx.device_snapshot(org, device, with_users, settings)?,
                            one_by_one(tx, org, device, with_users, settings),
                        ))
                    })
                    .unwrap();
                assert_eq!(
                    snapshot, expected,
                    "{org:?} {device:?} {with_users} {settings}"
                );
                checked += usize::from(snapshot.device.is_some());
            }
        }
    }
    assert_eq!(checked, 12, "three devices were found, four ways each");
    // The parts the comparison rests on are really there.
    let full = store
        .read(|tx| tx.device_snapshot(&org, &shared.id, true, "service"))
        .unwrap();
    assert_eq!(full.links.len(), 2);
    assert_eq!(full.enrollments.len(), 2);
    assert_eq!(
        full.reports
            .iter()
            .map(|r| r.provider.as_str())
            .collect::<Vec<_>>(),
        ["chrome", "wsc", "zta"]
    );
    assert!(full.proof.is_some());
    assert_eq!(full.settings_revision, Some(7));
}

fn failure(id: &str, org: &str, last_minute: i64, failures: u64) -> AuthFailureRecord {
    AuthFailureRecord {
        id: id.into(),
        org: OrgId::new(org).unwrap(),
        credential: "adminToken".into(),
        source: "192.0.2.7".into(),
        route: "/api/v1/devices".into(),
        reason: "invalid token".into(),
        failures,
        throttled: 0,
        first: t0(),
        last: t0() + Duration::minutes(last_minute),
    }
}

/// Folded failures are replaced under their ID, read latest first within a
/// window, bounded per org (the latest kept), and kept across a restart.
fn auth_failures_fold_and_stay_bounded<S: Store>(open: impl Fn() -> S) {
    let (acme, other) = (OrgId::new("acme").unwrap(), OrgId::new("other").unwrap());
    let store = open();
    store
        .write(|tx| {
            tx.put_auth_failures(&other, &[failure("o1", "other", 0, 1)], 10)?;
            tx.put_auth_failures(
                &acme,
                &[failure("a1", "acme", 1, 3), failure("a2", "acme", 2, 1)],
                10,
            )
        })
        .unwrap();
    // A later flush of the same fold updates it in place.
    store
        .write(|tx| tx.put_auth_failures(&acme, &[failure("a1", "acme", 3, 9)], 10))
        .unwrap();
    let store = open();
    let read = |since_minute: i64, until: Option<i64>, limit: usize| {
        store
            .read(|tx| {
                tx.auth_failures(
                    &acme,
                    t0() + Duration::minutes(since_minute),
                    until.map(|m| t0() + Duration::minutes(m)),
                    limit,
                )
            })
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.failures))
            .collect::<Vec<_>>()
    };
    assert_eq!(read(0, None, 10), [("a1".into(), 9), ("a2".into(), 1)]);
    assert_eq!(read(0, Some(3), 10), [("a2".to_owned(), 1)]);
    assert_eq!(read(0, None, 1), [("a1".to_owned(), 9)]);
    assert!(read(4, None, 10).is_empty());
    // Past the bound, the oldest go; another org's are not touched.
    store
        .write(|tx| {
            tx.put_auth_failures(
                &acme,
                &[failure("a3", "acme", 5, 1), failure("a4", "acme", 6, 1)],
                2,
            )
        })
        .unwrap();
    assert_eq!(read(0, None, 10), [("a4".into(), 1), ("a3".into(), 1)]);
    let others = store
        .read(|tx| tx.auth_failures(&other, t0(), None, 10))
        .unwrap();
    assert_eq!(others.len(), 1);
}

#[test]
fn auth_failures_on_every_engine() {
    let memory = Arc::new(MemoryStore::new());
    auth_failures_fold_and_stay_bounded(|| memory.clone());
    let (_dir, sqlite) = sqlite_reopener();
    auth_failures_fold_and_stay_bounded(sqlite);
    #[cfg(feature = "postgres")]
    auth_failures_fold_and_stay_bounded(postgres_reopener());
}
