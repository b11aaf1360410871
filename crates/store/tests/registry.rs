//! The registry's rules on both stores: enrollment, sign-in, each
//! transition's effects, audit, queries, and the CA revoking through the
//! SQLite ledger.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::sync::Arc;

use devicetrust_devices::{
    Actor, AuditAction, AuditOutcome, AuditQuery, DeviceFilter, DeviceId, DeviceProfile,
    DeviceStatus, EnrollmentRequest, FactorStatus, Operation, OrgId, PageRequest, Platform,
    SessionMethod, Target, UserId,
};
use devicetrust_pki::{
    Ca, CaConfig, IssuanceLedger, IssueOptions, IssuedCertificate, KeyAlgorithm, RequestBuilder,
    RevocationReason, SerialNumber, default_backend,
};
use devicetrust_store::{Error, MemoryStore, Registry, SqliteStore, Store};
use time::{Duration, OffsetDateTime};

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 00:00 UTC)
}

fn org() -> OrgId {
    OrgId::new("acme").unwrap()
}

fn admin() -> Actor {
    Actor::new("admin@acme").unwrap()
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn request(who: &str, udid: &str, platform: Platform) -> EnrollmentRequest {
    let mut profile = DeviceProfile::new(format!("{who}'s device"), platform);
    profile.udid = Some(udid.into());
    EnrollmentRequest::new(user(who), profile)
}

fn fake_cert(tx_store: &impl Store, serial: &SerialNumber) {
    tx_store
        .write(|tx| {
            tx.ledger_record_issued(&IssuedCertificate {
                serial: serial.clone(),
                subject: "CN=test".into(),
                not_before: t0(),
                not_after: t0() + Duration::days(365),
                certificate_pem: String::new(),
                revocation: None,
            })
        })
        .unwrap();
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, store)
}

fn lifecycle_effects<S: Store>(store: S) {
    let registry = Registry::new(store);
    let (org, admin) = (org(), admin());
    let device = registry
        .enroll(&org, &admin, &request("alice", "U1", Platform::Macos), t0())
        .unwrap();
    assert_eq!(device.status, DeviceStatus::Active);
    let serial = SerialNumber::random().unwrap();
    fake_cert(registry.store(), &serial);
    registry
        .bind_certificate(&org, &device.id, &serial)
        .unwrap();
    let ov = registry
        .sign_in(
            &org,
            &device.id,
            &user("alice"),
            SessionMethod::OktaVerify,
            t0(),
        )
        .unwrap();
    let pw = registry
        .sign_in(
            &org,
            &device.id,
            &user("alice"),
            SessionMethod::Password,
            t0(),
        )
        .unwrap();

    // Suspend: Okta Verify sessions end, others stay; certificates and factors untouched.
    let out = registry
        .transition(&org, &admin, &device.id, Operation::Suspend, t0())
        .unwrap();
    assert_eq!(out.event.effects.len(), 1);
    assert_eq!(out.event.effects[0].sessions, vec![ov.id.clone()]);
    let sessions = registry.sessions(&org, &device.id).unwrap();
    assert!(sessions.iter().any(|s| s.id == pw.id && s.is_active()));
    assert!(sessions.iter().any(|s| s.id == ov.id && !s.is_active()));
    assert!(
        registry.certificates(&org, &device.id).unwrap()[0]
            .revocation
            .is_none()
    );
    let err = registry
        .sign_in(
            &org,
            &device.id,
            &user("alice"),
            SessionMethod::OktaVerify,
            t0(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("SUSPENDED"), "{err}");
    registry
        .sign_in(
            &org,
            &device.id,
            &user("alice"),
            SessionMethod::Webauthn,
            t0(),
        )
        .unwrap();
    // Re-enrolling does not unsuspend, and takes no new account.
    let again = registry
        .enroll(&org, &admin, &request("alice", "U1", Platform::Macos), t0())
        .unwrap();
    assert_eq!(
        (again.id.clone(), again.status),
        (device.id.clone(), DeviceStatus::Suspended)
    );
    assert!(
        registry
            .enroll(&org, &admin, &request("bob", "U1", Platform::Macos), t0())
            .is_err()
    );
    // Repeating is a no-op with no effects.
    let repeat = registry
        .transition(&org, &admin, &device.id, Operation::Suspend, t0())
        .unwrap();
    assert_eq!(repeat.event.outcome, AuditOutcome::Unchanged);
    assert!(repeat.event.effects.is_empty());

    // Deactivate: factors off, certificate revoked (cessationOfOperation), links gone.
    let out = registry
        .transition(&org, &admin, &device.id, Operation::Deactivate, t0())
        .unwrap();
    assert_eq!(
        out.device.as_ref().map(|d| d.status),
        Some(DeviceStatus::Deactivated)
    );
    let certs = registry.certificates(&org, &device.id).unwrap();
    assert_eq!(
        certs[0].revocation.map(|r| r.reason),
        Some(RevocationReason::CessationOfOperation)
    );
    assert!(registry.users(&org, &device.id).unwrap().is_empty());
    assert!(
        registry
            .enrollments(&org, &device.id)
            .unwrap()
            .iter()
            .all(|e| e.status == FactorStatus::Inactive)
    );
    assert!(
        registry
            .user_devices(&org, &user("alice"))
            .unwrap()
            .is_empty()
    );

    // Illegal: suspend a deactivated device; the refusal is audited.
    let err = registry
        .transition(&org, &admin, &device.id, Operation::Suspend, t0())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("DEACTIVATED") && msg.contains("suspend") && msg.contains("SUSPENDED"),
        "{msg}"
    );

    // Activate, then the user must enroll again before Okta Verify works.
    registry
        .transition(&org, &admin, &device.id, Operation::Activate, t0())
        .unwrap();
    assert!(
        registry
            .sign_in(
                &org,
                &device.id,
                &user("alice"),
                SessionMethod::OktaVerify,
                t0()
            )
            .is_err()
    );
    registry
        .enroll(&org, &admin, &request("alice", "U1", Platform::Macos), t0())
        .unwrap();
    registry
        .sign_in(
            &org,
            &device.id,
            &user("alice"),
            SessionMethod::OktaVerify,
            t0(),
        )
        .unwrap();

    // Delete only from DEACTIVATED; afterwards it is gone and re-enrolling makes a new id.
    assert!(
        registry
            .transition(&org, &admin, &device.id, Operation::Delete, t0())
            .is_err()
    );
    registry
        .transition(&org, &admin, &device.id, Operation::Deactivate, t0())
        .unwrap();
    let gone = registry
        .transition(&org, &admin, &device.id, Operation::Delete, t0())
        .unwrap();
    assert_eq!(gone.device, None);
    assert_eq!(gone.event.after, Some(Target::Deleted));
    assert!(matches!(
        registry.device(&org, &device.id),
        Err(Error::Device(
            devicetrust_devices::DeviceError::DeviceNotFound { .. }
        ))
    ));
    let fresh = registry
        .enroll(&org, &admin, &request("alice", "U1", Platform::Macos), t0())
        .unwrap();
    assert_ne!(fresh.id, device.id);

    // The audit trail has every step, refusals included, by device and by user.
    let events = registry
        .audit(
            &org,
            &AuditQuery {
                device_id: Some(device.id.clone()),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    let refused = events
        .iter()
        .filter(|e| matches!(e.outcome, AuditOutcome::Refused { .. }))
        .count();
    assert!(refused >= 3, "{events:#?}");
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    let by_alice = registry
        .audit(
            &org,
            &AuditQuery {
                user_id: Some(user("alice")),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    assert!(by_alice.iter().any(|e| matches!(
        e.action,
        AuditAction::Lifecycle {
            operation: Operation::Deactivate
        }
    )));
    let later = registry
        .audit(
            &org,
            &AuditQuery {
                since: Some(t0() + Duration::seconds(1)),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    assert!(later.is_empty());
}

#[test]
fn lifecycle_effects_in_memory() {
    lifecycle_effects(MemoryStore::new());
}

#[test]
fn lifecycle_effects_on_sqlite() {
    let (_dir, store) = sqlite();
    lifecycle_effects(store);
}

#[cfg(feature = "postgres")]
#[test]
fn lifecycle_effects_on_postgres() {
    lifecycle_effects(pg::store());
}

fn queries<S: Store>(store: S) {
    let registry = Registry::new(store);
    let (org, admin) = (org(), admin());
    let mut ids = Vec::new();
    for i in 0..7 {
        let platform = if i % 2 == 0 {
            Platform::Windows
        } else {
            Platform::Ios
        };
        let who = if i < 3 { "carol" } else { "dave" };
        let d = registry
            .enroll(
                &org,
                &admin,
                &request(who, &format!("U{i}"), platform),
                t0() + Duration::days(i),
            )
            .unwrap();
        ids.push(d.id);
    }
    registry
        .transition(&org, &admin, &ids[0], Operation::Suspend, t0())
        .unwrap();
    registry
        .transition(&org, &admin, &ids[1], Operation::Deactivate, t0())
        .unwrap();
    // Another org's devices never show.
    let other = OrgId::new("globex").unwrap();
    registry
        .enroll(
            &other,
            &admin,
            &request("carol", "U0", Platform::Windows),
            t0(),
        )
        .unwrap();

    let by = |filter: DeviceFilter| {
        registry
            .list(&org, &filter, &PageRequest::default())
            .unwrap()
            .devices
            .len()
    };
    assert_eq!(by(DeviceFilter::default()), 7);
    assert_eq!(
        by(DeviceFilter {
            status: Some(DeviceStatus::Suspended),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        by(DeviceFilter {
            platform: Some(Platform::Windows),
            ..Default::default()
        }),
        4
    );
    // Carol's second device was deactivated, which unlinked her.
    assert_eq!(
        by(DeviceFilter {
            user: Some(user("carol")),
            ..Default::default()
        }),
        2
    );
    assert_eq!(registry.user_devices(&org, &user("dave")).unwrap().len(), 4);

    // Pages of 3 walk every device once, in id order.
    let mut seen: Vec<DeviceId> = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 3,
    };
    loop {
        let p = registry
            .list(&org, &DeviceFilter::default(), &page)
            .unwrap();
        assert!(p.devices.len() <= 3);
        seen.extend(p.devices.iter().map(|d| d.id.clone()));
        match p.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    // Stale: the unlinked one, plus those not seen since day 5.
    let stale = registry
        .stale(&org, t0() + Duration::days(5), &PageRequest::default())
        .unwrap();
    let mut expected: Vec<DeviceId> = ids[..5].to_vec();
    expected.sort();
    assert_eq!(
        stale
            .devices
            .iter()
            .map(|d| d.id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    let recent = registry.stale(&org, t0(), &PageRequest::default()).unwrap();
    assert_eq!(
        recent
            .devices
            .iter()
            .map(|d| d.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
}

#[test]
fn queries_in_memory() {
    queries(MemoryStore::new());
}

#[test]
fn queries_on_sqlite() {
    let (_dir, store) = sqlite();
    queries(store);
}

#[cfg(feature = "postgres")]
#[test]
fn queries_on_postgres() {
    queries(pg::store());
}

/// The CA issues into the SQLite ledger; deactivating the device revokes
/// the certificate there, and the CA's next CRL lists it.
#[test]
fn deactivation_revocations_reach_the_ca_crl() {
    let (_dir, store) = sqlite();
    deactivation_revocations_reach_the_crl(Arc::new(store));
}

#[cfg(feature = "postgres")]
#[test]
fn deactivation_revocations_reach_the_ca_crl_on_postgres() {
    deactivation_revocations_reach_the_crl(Arc::new(pg::store()));
}

fn deactivation_revocations_reach_the_crl<S: Store + IssuanceLedger + 'static>(store: Arc<S>) {
    let backend = default_backend();
    let ca = Ca::create(CaConfig::default(), backend, store.clone())
        .unwrap()
        .ca;
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let csr = RequestBuilder::new("CN=alice managementAttestation")
        .sign(backend.signer(&key).unwrap().as_ref())
        .unwrap();
    let cert = ca
        .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
        .unwrap();
    let serial = cert.serial().unwrap();

    let registry = Registry::new(store.clone());
    let now = OffsetDateTime::now_utc();
    let device = registry
        .enroll(
            &org(),
            &admin(),
            &request("alice", "MAC-1", Platform::Macos),
            now,
        )
        .unwrap();
    registry
        .bind_certificate(&org(), &device.id, &serial)
        .unwrap();
    assert!(ca.crl(now).unwrap().revocation(&serial).is_none());
    registry
        .transition(&org(), &admin(), &device.id, Operation::Deactivate, now)
        .unwrap();
    let crl = ca.crl(now).unwrap();
    assert!(crl.revocation(&serial).is_some());
    assert!(ca.verify(&cert, Some(&crl), now).is_err());
    // CRL numbers keep rising across calls.
    let (a, b) = (
        store.next_crl_number().unwrap(),
        store.next_crl_number().unwrap(),
    );
    assert!(b > a);
}

#[test]
fn sqlite_ledger_follows_the_trait() {
    let (_dir, store) = sqlite();
    ledger_follows_the_trait(&store);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_ledger_follows_the_trait() {
    let store = pg::store();
    ledger_follows_the_trait(&store);
    // CRL numbers strictly increase, also from two stores (two replicas) on one database.
    let url = pg::fresh_database();
    let (a, b) = (
        devicetrust_store::PostgresStore::open(&url).unwrap(),
        devicetrust_store::PostgresStore::open(&url).unwrap(),
    );
    let numbers: Vec<u64> = (0..10)
        .map(|i| if i % 2 == 0 { &a } else { &b }.next_crl_number().unwrap())
        .collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<u64>>());
}

fn ledger_follows_the_trait(store: &impl IssuanceLedger) {
    let serial = SerialNumber::random().unwrap();
    let cert = IssuedCertificate {
        serial: serial.clone(),
        subject: "CN=x".into(),
        not_before: t0(),
        not_after: t0() + Duration::days(1),
        certificate_pem: "pem".into(),
        revocation: None,
    };
    store.record_issued(cert.clone()).unwrap();
    assert!(matches!(
        store.record_issued(cert.clone()),
        Err(devicetrust_pki::LedgerError::DuplicateSerial { .. })
    ));
    assert_eq!(store.get(&serial).unwrap(), Some(cert));
    let first = devicetrust_pki::Revocation {
        reason: RevocationReason::KeyCompromise,
        revoked_at: t0(),
    };
    let second = devicetrust_pki::Revocation {
        reason: RevocationReason::Superseded,
        revoked_at: t0() + Duration::hours(1),
    };
    assert_eq!(store.revoke(&serial, first).unwrap(), first);
    assert_eq!(store.revoke(&serial, second).unwrap(), first);
    assert_eq!(store.revoked(t0()).unwrap(), vec![(serial.clone(), first)]);
    // Expired certificates leave the CRL.
    assert!(store.revoked(t0() + Duration::days(2)).unwrap().is_empty());
    let unknown = SerialNumber::random().unwrap();
    assert!(matches!(
        store.revoke(&unknown, first),
        Err(devicetrust_pki::LedgerError::UnknownSerial { .. })
    ));
}

#[test]
fn sqlite_survives_reopen_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let id = {
        let registry = Registry::new(SqliteStore::open(&path).unwrap());
        registry
            .enroll(
                &org(),
                &admin(),
                &request("erin", "U9", Platform::Android),
                t0(),
            )
            .unwrap()
            .id
    };
    let registry = Registry::new(SqliteStore::open(&path).unwrap());
    assert_eq!(
        registry.device(&org(), &id).unwrap().profile.platform,
        Platform::Android
    );
    drop(registry);
    let conn = rusqlite_bump(&path);
    assert!(conn.is_ok());
    assert!(matches!(
        SqliteStore::open(&path),
        Err(Error::SchemaTooNew { .. })
    ));
}

/// Marks the database as written by a future version.
fn rusqlite_bump(path: &std::path::Path) -> Result<(), String> {
    let future = devicetrust_store::latest_schema_version() + 1;
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    conn.execute(
        "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, 0)",
        [future],
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Reopening (a replica restarting) keeps the data; a database migrated
/// by a newer version is refused, not written to.
#[cfg(feature = "postgres")]
#[test]
fn postgres_survives_reopen_and_refuses_a_newer_schema() {
    let url = pg::fresh_database();
    let id = {
        let registry = Registry::new(devicetrust_store::PostgresStore::open(&url).unwrap());
        registry
            .enroll(
                &org(),
                &admin(),
                &request("erin", "U9", Platform::Android),
                t0(),
            )
            .unwrap()
            .id
    };
    let registry = Registry::new(devicetrust_store::PostgresStore::open(&url).unwrap());
    assert_eq!(
        registry.device(&org(), &id).unwrap().profile.platform,
        Platform::Android
    );
    drop(registry);
    let future = devicetrust_store::latest_schema_version() + 1;
    pg::psql(
        &url,
        &format!("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ({future}, 0)"),
    );
    assert!(matches!(
        devicetrust_store::PostgresStore::open(&url),
        Err(Error::SchemaTooNew { .. })
    ));
    assert!(matches!(
        devicetrust_store::PostgresStore::open_current(&url),
        Err(Error::SchemaTooNew { .. })
    ));
}

/// A command beside running replicas opens the database as it is: on the
/// current schema it reads; on an older one it is refused, and migrates
/// nothing (the replicas' own version does that).
#[cfg(feature = "postgres")]
#[test]
fn postgres_open_current_never_migrates() {
    use devicetrust_store::PostgresStore;
    let url = pg::fresh_database();
    drop(PostgresStore::open(&url).unwrap());
    assert!(PostgresStore::open_current(&url).is_ok());
    let latest = devicetrust_store::latest_schema_version();
    pg::psql(
        &url,
        &format!("DELETE FROM schema_migrations WHERE version = {latest}"),
    );
    // Refused twice the same way: the first refusal migrated nothing.
    for _ in 0..2 {
        match PostgresStore::open_current(&url) {
            Err(Error::SchemaTooOld { found, expected }) => {
                assert_eq!((found, expected), (latest - 1, latest));
            }
            other => panic!("expected SchemaTooOld, got {other:?}"),
        }
    }
}

fn reads_refuse_writes<S: Store>(store: S) {
    let err = store
        .read(|tx| tx.remove_links(&org(), &DeviceId::new("guoX").unwrap()))
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err}");
    // A failed write leaves nothing behind.
    let serial = SerialNumber::random().unwrap();
    let failed: Result<(), Error> = store.write(|tx| {
        fake_cert_in(tx, &serial)?;
        Err(Error::ReadOnly)
    });
    assert!(failed.is_err());
    assert_eq!(store.read(|tx| tx.ledger_get(&serial)).unwrap(), None);
}

fn fake_cert_in(tx: &mut dyn devicetrust_store::Tx, serial: &SerialNumber) -> Result<(), Error> {
    tx.ledger_record_issued(&IssuedCertificate {
        serial: serial.clone(),
        subject: "CN=x".into(),
        not_before: t0(),
        not_after: t0() + Duration::days(1),
        certificate_pem: String::new(),
        revocation: None,
    })
}

#[test]
fn reads_refuse_writes_and_failed_writes_roll_back() {
    reads_refuse_writes(MemoryStore::new());
    let (_dir, store) = sqlite();
    reads_refuse_writes(store);
    #[cfg(feature = "postgres")]
    reads_refuse_writes(pg::store());
}

/// Two replicas on one database act as one registry: the same hardware
/// enrolled from both at once is one device, and one enrollment token used
/// from both at once is consumed once.
#[cfg(feature = "postgres")]
#[test]
fn replicas_on_postgres_register_one_device_and_use_a_token_once() {
    use devicetrust_store::{EnrollmentTokenRecord, PostgresStore, TokenLimits, TokenUse};
    let url = pg::fresh_database();
    let replicas = [
        Arc::new(Registry::new(PostgresStore::open(&url).unwrap())),
        Arc::new(Registry::new(PostgresStore::open(&url).unwrap())),
    ];
    let ids: Vec<DeviceId> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..10)
            .map(|i| {
                let registry = replicas[i % 2].clone();
                scope.spawn(move || {
                    registry
                        .enroll(
                            &org(),
                            &admin(),
                            &request(&format!("user{i}"), "SAME-UDID", Platform::Macos),
                            t0(),
                        )
                        .unwrap()
                        .id
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(replicas[1].users(&org(), &ids[0]).unwrap().len(), 10);

    let limits = TokenLimits {
        per_org: 10,
        per_user: 10,
    };
    replicas[0]
        .store()
        .insert_enrollment_token(
            &EnrollmentTokenRecord {
                id: "tok".into(),
                org: org(),
                user: user("alice"),
                sha256: "ab".repeat(32),
                created: t0(),
                expires_at: t0() + Duration::hours(1),
            },
            limits,
            t0(),
        )
        .unwrap();
    let uses: Vec<TokenUse> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let registry = replicas[i % 2].clone();
                scope.spawn(move || {
                    registry
                        .store()
                        .consume_enrollment_token(&org(), "tok", t0(), |_| true)
                        .unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let consumed = uses
        .iter()
        .filter(|u| matches!(u, TokenUse::Consumed(_)))
        .count();
    assert_eq!(consumed, 1, "{uses:?}");
    assert!(
        uses.iter()
            .all(|u| matches!(u, TokenUse::Consumed(_) | TokenUse::Unknown))
    );
}

/// Every query a decision, a signed request, a transition or a SCEP
/// request runs on PostgreSQL has an index to use: with sequential scans
/// disabled, the planner still finds a plan without one (a query no index
/// serves keeps its Seq Scan). The plans print with `--nocapture`; the
/// capacity model (docs/capacity.md) rests on them.
#[cfg(feature = "postgres")]
#[test]
fn hot_queries_on_postgres_are_indexed() {
    let url = pg::fresh_database();
    drop(devicetrust_store::PostgresStore::open(&url).unwrap());
    let hot = [
        (
            "decision: the device snapshot",
            "SELECT 0, body, NULL::BIGINT FROM devices WHERE org_id = 'o' AND id = 'd'
             UNION ALL SELECT 1, body, NULL FROM factor_enrollments WHERE org_id = 'o' AND device_id = 'd'
             UNION ALL SELECT 2, body, NULL FROM device_users WHERE org_id = 'o' AND device_id = 'd'
             UNION ALL SELECT 3, body, NULL FROM management_proofs WHERE org_id = 'o' AND device_id = 'd'
             UNION ALL SELECT 4, body, NULL FROM signal_reports WHERE org_id = 'o' AND device_id = 'd'
             UNION ALL SELECT 5, NULL, revision FROM settings_documents WHERE name = 'service'",
        ),
        (
            "signed request: the device key",
            "SELECT body FROM device_keys WHERE org_id = 'o' AND device_id = 'd'",
        ),
        (
            "signed request: the nonce",
            "WITH expired AS (DELETE FROM request_nonces WHERE expires_ms <= 5),
                  inserted AS (INSERT INTO request_nonces (org_id, device_id, nonce, expires_ms)
                      VALUES ('o', 'd', 'n', 9) ON CONFLICT DO NOTHING RETURNING 1)
             SELECT (SELECT COUNT(*) FROM inserted), (SELECT COUNT(*) FROM request_nonces
                 WHERE org_id = 'o' AND device_id = 'd' AND expires_ms > 5)",
        ),
        (
            "registration: the device by hardware",
            "SELECT body FROM devices WHERE org_id = 'o' AND hardware_key = 'udid:u' ORDER BY id LIMIT 1",
        ),
        (
            "registration: the enrollment token",
            "SELECT body FROM enrollment_tokens WHERE id = 't' AND org_id = 'o'",
        ),
        (
            "transition: the device",
            "UPDATE devices SET status = 'SUSPENDED' WHERE org_id = 'o' AND id = 'd'",
        ),
        (
            "transition: the sessions",
            "SELECT body FROM sessions WHERE org_id = 'o' AND device_id = 'd' AND method = 'm'
             AND ended_ms IS NULL ORDER BY id",
        ),
        (
            "transition: the certificates",
            "SELECT serial FROM device_certificates WHERE org_id = 'o' AND device_id = 'd' ORDER BY serial",
        ),
        (
            "transition: numbering the audit event",
            "SELECT COALESCE(MAX(seq), 0) FROM audit_events",
        ),
        (
            "admin: a page of devices",
            "SELECT d.body FROM devices d WHERE d.org_id = 'o' AND d.id > '' ORDER BY d.id LIMIT 21",
        ),
        (
            "admin: a user's devices",
            "SELECT d.body FROM device_users u JOIN devices d ON d.org_id = u.org_id AND d.id = u.device_id
             WHERE u.org_id = 'o' AND u.user_id = 'u' AND u.device_id > '' ORDER BY u.device_id LIMIT 21",
        ),
        (
            "admin: the audit log of a device",
            "SELECT e.body FROM audit_events e WHERE e.org_id = 'o' AND e.seq > 0 AND e.device_id = 'd'
             ORDER BY e.seq LIMIT 200",
        ),
        (
            "SCEP: the transaction",
            "SELECT body FROM scep_transactions WHERE configuration_id = 'c' AND transaction_id = 't'",
        ),
        (
            "SCEP: the kept count",
            "SELECT held FROM scep_transaction_counts WHERE configuration_id = 'c'",
        ),
        (
            "SCEP: using a challenge",
            "UPDATE scep_challenges SET used = 1 WHERE configuration_id = 'c' AND digest = 'x'
             AND used = 0 AND expires_ms > 5",
        ),
        (
            "CRL: the revoked certificates",
            "SELECT body FROM ledger_certificates WHERE revoked = 1 AND not_after_s >= 5",
        ),
    ];
    for (what, sql) in hot {
        let out = std::process::Command::new("psql")
            .args([
                url.as_str(),
                "-qXAt",
                "-c",
                "SET enable_seqscan = off",
                "-c",
                &format!("EXPLAIN {sql}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan = String::from_utf8(out.stdout).unwrap();
        println!("-- {what}\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{what} has no index:\n{plan}");
    }
}
