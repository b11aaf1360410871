//! Crash test: a child process (this test binary, re-invoked with an
//! environment variable) drives devices through their lifecycle on SQLite,
//! uses request nonces, records management proofs, claims and issues SCEP
//! transactions, mints enrollment tokens and changes the settings document
//! (where integrations, policies and admin tokens live), and prints an
//! acknowledgement after each commit; the
//! parent kills it with SIGKILL at a random point, reopens the database and
//! checks that every acknowledged write is there and that none is
//! half-applied. Several rounds share one database, so recovery after a
//! kill is itself exercised again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use devicetrust_devices::{
    Actor, AuditAction, AuditOutcome, AuditQuery, DeviceFilter, DeviceId, DeviceProfile,
    DeviceStatus, EnrollmentRequest, FactorStatus, Operation, OrgId, PageRequest, Platform,
    SessionMethod, Target, UserId,
};
use devicetrust_pki::scep::{
    Claim, Expected, ScepTransactions, TransactionLimits, TransactionState,
};
use devicetrust_pki::{IssuedCertificate, SerialNumber};
use devicetrust_store::{
    EnrollmentTokenRecord, ManagementProof, NonceUse, ProofReason, Registry, SettingsDocument,
    SqliteStore, Store, TokenLimits,
};
use time::{Duration, OffsetDateTime};

const CHILD_ENV: &str = "DEVICETRUST_CRASH_CHILD_DB";
const ROUNDS: usize = 6;
const CHILD_THREADS: usize = 4;
/// Live request nonces a device may hold (well above what the child uses per device).
const NONCES_PER_DEVICE: usize = 1_000;
/// Nonces the child uses per device before taking the next device.
const NONCES_IN_A_ROW: u64 = 64;
/// The SCEP configuration the child's transactions belong to.
const SCEP_CONFIGURATION: &str = "crash-scep";

fn random_below(n: u64) -> u64 {
    RandomState::new().build_hasher().finish() % n.max(1)
}

fn org() -> OrgId {
    OrgId::new("org").unwrap()
}

/// The child's work: devices through enroll, certificate, sign-in and every
/// lifecycle transition, forever (until killed). Not a test on its own: it
/// returns at once unless the parent set the environment variable.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    // A failed assertion in any writer thread must fail the test, not just
    // stop that thread while the others keep acknowledging: say so on
    // stdout (the parent reads it) and end the process at once.
    std::panic::set_hook(Box::new(|info| {
        ack(format_args!("PANIC {info}"));
        std::process::abort();
    }));
    let store = Arc::new(SqliteStore::open(Path::new(&path)).unwrap());
    let registry = Arc::new(Registry::new(Arc::clone(&store)));
    // Several writers, so kills also land inside grouped commits.
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || drive(&registry, t))
        })
        .chain([
            {
                let store = Arc::clone(&store);
                std::thread::spawn(move || drive_device_api(&store))
            },
            {
                let store = Arc::clone(&store);
                std::thread::spawn(move || drive_tokens_and_settings(&store))
            },
            std::thread::spawn(move || drive_scep(&store)),
        ])
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn ack(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    out.write_fmt(line).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

/// Far enough that no nonce the test uses expires while it runs.
fn nonce_expiry() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(1)
}

/// The `n`th management proof the child records: successes and failures,
/// at whole seconds so they read back exactly.
fn proof(n: u64) -> ManagementProof {
    let at =
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::try_from(n).unwrap()).unwrap();
    if n.is_multiple_of(2) {
        ManagementProof {
            managed: true,
            configuration_id: Some(format!("mdm{n}")),
            at,
            reasons: Vec::new(),
        }
    } else {
        ManagementProof {
            managed: false,
            configuration_id: None,
            at,
            reasons: vec![ProofReason {
                kind: "revoked".into(),
                message: format!("proof {n} failed"),
            }],
        }
    }
}

/// The nonce written with the `n`th management proof, in one transaction.
fn proof_nonce(n: u64) -> String {
    format!("with-proof-{n}")
}

/// Request nonces (`NONCE device nonce` once committed), and management
/// proofs written together with a nonce in one transaction (`TRY device n`
/// before, `PROOF device n` once committed), each proof on its own device
/// so a later one never replaces an acknowledged one.
fn drive_device_api(store: &SqliteStore) {
    let salt = random_below(u64::MAX);
    for n in 0u64.. {
        let device = DeviceId::new(format!("nonces-{salt}-{}", n / NONCES_IN_A_ROW)).unwrap();
        let nonce = format!("nonce-{n}");
        let now = OffsetDateTime::now_utc();
        let used = store
            .write(|tx| {
                tx.use_request_nonce(
                    &org(),
                    &device,
                    &nonce,
                    nonce_expiry(),
                    now,
                    NONCES_PER_DEVICE,
                )
            })
            .unwrap();
        assert_eq!(used, NonceUse::Fresh);
        ack(format_args!("NONCE {device} {nonce}"));

        let device = DeviceId::new(format!("proof-{salt}-{n}")).unwrap();
        ack(format_args!("TRY {device} {n}"));
        let used = store
            .write(|tx| {
                let used = tx.use_request_nonce(
                    &org(),
                    &device,
                    &proof_nonce(n),
                    nonce_expiry(),
                    now,
                    NONCES_PER_DEVICE,
                )?;
                tx.put_management_proof(&org(), &device, &proof(n))?;
                Ok(used)
            })
            .unwrap();
        assert_eq!(used, NonceUse::Fresh);
        ack(format_args!("PROOF {device} {n}"));
    }
}

/// The settings document the child changes (the service keeps its
/// integrations, policies and admin tokens in one such document).
const SETTINGS: &str = "crash-settings";

/// The settings body at revision `n`: every earlier change is still in it.
fn settings_body(n: i64) -> String {
    serde_json::json!({ "revision": n, "policies": (1..=n).collect::<Vec<_>>() }).to_string()
}

fn token_record(salt: u64, n: u64) -> EnrollmentTokenRecord {
    let now = OffsetDateTime::now_utc();
    EnrollmentTokenRecord {
        id: format!("tok{salt}x{n}"),
        org: org(),
        user: UserId::new(format!("user{}", n % 7)).unwrap(),
        sha256: format!("{n:064x}"),
        created: now,
        expires_at: now + Duration::days(1),
    }
}

/// Enrollment tokens (`TOKEN id` once committed) and settings changes, each
/// a read-modify-write of the whole document in one transaction as the
/// service's settings store does (`SETTINGS n` once revision n committed).
fn drive_tokens_and_settings(store: &SqliteStore) {
    let salt = random_below(u64::MAX);
    let limits = TokenLimits {
        per_org: 1_000_000,
        per_user: 1_000_000,
    };
    for n in 0u64.. {
        let token = token_record(salt, n);
        store
            .insert_enrollment_token(&token, limits, OffsetDateTime::now_utc())
            .unwrap();
        ack(format_args!("TOKEN {}", token.id));
        let revision = store
            .write(|tx| {
                let current = tx.settings_document(SETTINGS)?;
                let next = current.map_or(0, |d| d.revision) + 1;
                if let Some(d) = tx.settings_document(SETTINGS)? {
                    // Read-modify-write: the stored body is the previous revision's.
                    assert_eq!(d.body, settings_body(d.revision), "settings half-applied");
                }
                let document = SettingsDocument {
                    revision: next,
                    body: settings_body(next),
                };
                tx.put_settings_document(SETTINGS, &document)?;
                Ok(next)
            })
            .unwrap();
        ack(format_args!("SETTINGS {revision}"));
    }
}

fn scep_limits() -> TransactionLimits {
    TransactionLimits {
        max_transactions: 1_000_000,
        retention: Duration::days(30),
        claim_timeout: Duration::hours(1),
    }
}

fn scep_key(transaction_id: &str) -> String {
    format!("key-of-{transaction_id}")
}

fn scep_certificate(transaction_id: &str) -> String {
    format!("-----BEGIN CERTIFICATE-----\n{transaction_id}\n-----END CERTIFICATE-----\n")
}

/// SCEP transactions: claimed (`CLAIM id claim` once committed), then
/// issued by the claim's holder (`ISSUED id` once committed).
fn drive_scep(store: &Arc<SqliteStore>) {
    let txs = devicetrust_store::StoredScepTransactions::new(store.clone(), SCEP_CONFIGURATION);
    let salt = random_below(u64::MAX);
    for n in 0u64.. {
        let id = format!("tx-{salt}-{n}");
        let claim = format!("claim-{n}");
        let now = OffsetDateTime::now_utc();
        let claimed = txs
            .claim(&id, &scep_key(&id), &claim, now, &scep_limits())
            .unwrap();
        assert_eq!(claimed, Claim::Claimed);
        ack(format_args!("CLAIM {id} {claim}"));
        let issued = TransactionState::Issued {
            certificate_pem: scep_certificate(&id),
        };
        let before = txs
            .update(&id, Expected::Claim(&claim), issued, now)
            .unwrap();
        assert!(before.is_some(), "the claim's holder could not issue");
        ack(format_args!("ISSUED {id}"));
    }
}

fn drive(registry: &Registry<Arc<SqliteStore>>, thread: usize) {
    let admin = Actor::new("admin").unwrap();
    let alice = UserId::new(format!("alice{thread}")).unwrap();
    let salt = random_below(u64::MAX);
    for n in 0u64.. {
        let now = OffsetDateTime::now_utc();
        let mut profile = DeviceProfile::new(format!("device {n}"), Platform::Windows);
        profile.sid = Some(format!("S-{salt}-{thread}-{n}"));
        let device = registry
            .enroll(
                &org(),
                &admin,
                &EnrollmentRequest::new(alice.clone(), profile.clone()),
                now,
            )
            .unwrap();
        let serial = SerialNumber::random().unwrap();
        registry
            .store()
            .write(|tx| {
                tx.ledger_record_issued(&IssuedCertificate {
                    serial: serial.clone(),
                    subject: format!("CN=device {n}"),
                    not_before: now,
                    not_after: now + Duration::days(365),
                    certificate_pem: String::new(),
                    revocation: None,
                })
            })
            .unwrap();
        registry
            .bind_certificate(&org(), &device.id, &serial)
            .unwrap();
        for op in [
            Operation::Suspend,
            Operation::Unsuspend,
            Operation::Deactivate,
            Operation::Activate,
            Operation::Deactivate,
            Operation::Delete,
        ] {
            registry
                .sign_in(&org(), &device.id, &alice, SessionMethod::Password, now)
                .unwrap();
            if op == Operation::Suspend {
                registry
                    .sign_in(&org(), &device.id, &alice, SessionMethod::OktaVerify, now)
                    .unwrap();
            }
            if op == Operation::Deactivate {
                // Back from activate: enroll again so there is something to undo.
                let again = EnrollmentRequest::new(alice.clone(), profile.clone());
                registry.enroll(&org(), &admin, &again, now).unwrap();
                registry
                    .sign_in(&org(), &device.id, &alice, SessionMethod::OktaVerify, now)
                    .unwrap();
            }
            let outcome = registry
                .transition(&org(), &admin, &device.id, op, now)
                .unwrap();
            ack(format_args!(
                "ACK {} {} {}",
                outcome.event.seq, device.id, op
            ));
        }
    }
}

struct Ack {
    seq: u64,
    device: DeviceId,
    op: Operation,
}

/// What the child acknowledged besides lifecycle transitions.
#[derive(Default)]
struct OtherAcks {
    /// (device, nonce) committed alone.
    nonces: Vec<(DeviceId, String)>,
    /// Proof writes begun: device → n.
    proofs_tried: BTreeMap<DeviceId, u64>,
    /// Proof writes committed: device → n.
    proofs: BTreeMap<DeviceId, u64>,
    /// SCEP transaction → its claim, once the claim committed.
    scep_claimed: BTreeMap<String, String>,
    /// SCEP transactions whose certificate was committed.
    scep_issued: Vec<String>,
    /// Enrollment tokens committed.
    tokens: Vec<String>,
    /// The last settings revision committed.
    settings: i64,
}

impl OtherAcks {
    fn record(&mut self, line: &str) {
        let mut parts = line.split(' ');
        let (Some(kind), Some(a), b) = (parts.next(), parts.next(), parts.next()) else {
            return;
        };
        match kind {
            "NONCE" => self
                .nonces
                .push((DeviceId::new(a).unwrap(), b.unwrap().to_owned())),
            "TRY" => {
                self.proofs_tried
                    .insert(DeviceId::new(a).unwrap(), b.unwrap().parse().unwrap());
            }
            "PROOF" => {
                self.proofs
                    .insert(DeviceId::new(a).unwrap(), b.unwrap().parse().unwrap());
            }
            "CLAIM" => {
                self.scep_claimed
                    .insert(a.to_owned(), b.unwrap().to_owned());
            }
            "ISSUED" => self.scep_issued.push(a.to_owned()),
            "TOKEN" => self.tokens.push(a.to_owned()),
            "SETTINGS" => self.settings = a.parse().unwrap(),
            _ => {}
        }
    }
}

fn run_child_and_kill(db: &Path) -> (Vec<Ack>, OtherAcks) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kill_after = 1 + random_below(40) as usize;
    let mut acks = Vec::new();
    let mut others = OtherAcks::default();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The harness starts the first line with the test's name.
        let line = line.trim_start_matches("test crash_child ... ");
        assert!(!line.starts_with("PANIC"), "the child failed: {line}");
        let Some(rest) = line.strip_prefix("ACK ") else {
            others.record(line);
            continue;
        };
        let mut parts = rest.split(' ');
        acks.push(Ack {
            seq: parts.next().unwrap().parse().unwrap(),
            device: DeviceId::new(parts.next().unwrap()).unwrap(),
            op: parts.next().unwrap().parse().unwrap(),
        });
        if acks.len() >= kill_after {
            // Land the kill at a random point of the next transition, not just after an ack.
            std::thread::sleep(std::time::Duration::from_micros(random_below(3_000)));
            break;
        }
    }
    // The child never stops by itself: if it has, it failed (its stdout ended).
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child exited before it was killed"
    );
    // `kill` is SIGKILL on Unix: no destructor, no rollback, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    (acks, others)
}

/// Uses `nonce` of `device` again: `Replayed` if it was kept (and it is
/// kept from now on either way).
fn nonce_again(store: &SqliteStore, device: &DeviceId, nonce: &str) -> NonceUse {
    store
        .write(|tx| {
            tx.use_request_nonce(
                &org(),
                device,
                nonce,
                nonce_expiry(),
                OffsetDateTime::now_utc(),
                NONCES_PER_DEVICE,
            )
        })
        .unwrap()
}

fn check_others(db: &Path, others: &OtherAcks) {
    let store = Arc::new(SqliteStore::open(db).unwrap());
    // An acknowledged enrollment token is there; the settings document is
    // at the acknowledged revision or one later (written, not yet acked),
    // whole, with every earlier change in it.
    for id in &others.tokens {
        let kept = store.read(|tx| tx.enrollment_token(&org(), id)).unwrap();
        assert!(kept.is_some(), "acknowledged enrollment token {id} lost");
    }
    if let Some(settings) = store.read(|tx| tx.settings_document(SETTINGS)).unwrap() {
        assert!(
            settings.revision >= others.settings,
            "settings revision {} acknowledged, {} stored",
            others.settings,
            settings.revision
        );
        assert_eq!(settings.body, settings_body(settings.revision));
    } else {
        assert_eq!(others.settings, 0, "acknowledged settings lost");
    }
    // An acknowledged nonce stays used: its request cannot be replayed.
    for (device, nonce) in &others.nonces {
        assert_eq!(
            nonce_again(&store, device, nonce),
            NonceUse::Replayed,
            "acknowledged nonce {nonce} of {device} forgotten"
        );
    }
    // An acknowledged proof reads back as written; a proof and the nonce
    // written with it are both there or both missing.
    for (device, n) in &others.proofs_tried {
        let stored = store
            .read(|tx| tx.management_proof(&org(), device))
            .unwrap();
        let nonce = nonce_again(&store, device, &proof_nonce(*n));
        if others.proofs.contains_key(device) {
            assert_eq!(stored, Some(proof(*n)), "acknowledged proof {n} lost");
            assert_eq!(nonce, NonceUse::Replayed, "proof {n} kept, its nonce lost");
        } else {
            match stored {
                Some(p) => {
                    assert_eq!(p, proof(*n));
                    assert_eq!(nonce, NonceUse::Replayed, "proof {n} half-applied");
                }
                None => assert_eq!(nonce, NonceUse::Fresh, "proof {n} half-applied"),
            }
        }
    }
    // An acknowledged claim is held, an acknowledged issuance keeps its one
    // certificate, and a resend of it gets that certificate.
    let txs = devicetrust_store::StoredScepTransactions::new(store.clone(), SCEP_CONFIGURATION);
    let now = OffsetDateTime::now_utc();
    let issued = |id: &str| TransactionState::Issued {
        certificate_pem: scep_certificate(id),
    };
    for (id, claim) in &others.scep_claimed {
        let record = txs
            .get(id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged claim of {id} lost"));
        assert_eq!(record.key_sha256, scep_key(id));
        let in_progress = TransactionState::InProgress {
            claim: claim.clone(),
        };
        assert!(
            record.state == in_progress || record.state == issued(id),
            "{id}: {:?}",
            record.state
        );
    }
    for id in &others.scep_issued {
        assert!(
            others.scep_claimed.contains_key(id),
            "{id} issued, not claimed"
        );
        let resend = txs
            .claim(id, &scep_key(id), "resend", now, &scep_limits())
            .unwrap();
        let Claim::Existing(record) = resend else {
            panic!("acknowledged issued transaction {id} lost");
        };
        assert_eq!(record.state, issued(id), "{id} lost its certificate");
    }
}

fn check(db: &Path, acks: &[Ack]) {
    let registry = Registry::new(SqliteStore::open(db).unwrap());
    let mut events = Vec::new();
    let mut query = AuditQuery::default();
    loop {
        let page = registry.audit(&org(), &query).unwrap();
        let Some(last) = page.last() else { break };
        query.after_seq = Some(last.seq);
        events.extend(page);
    }
    let by_seq: BTreeMap<u64, _> = events.iter().map(|e| (e.seq, e)).collect();
    // Every acknowledged transition is there, applied.
    for ack in acks {
        let event = by_seq
            .get(&ack.seq)
            .unwrap_or_else(|| panic!("acknowledged event {} lost", ack.seq));
        assert_eq!(event.device_id, ack.device);
        assert_eq!(event.action, AuditAction::Lifecycle { operation: ack.op });
        assert_eq!(event.outcome, AuditOutcome::Applied);
    }
    // Each device's last lifecycle event agrees with what is stored: a
    // transition and its audit event committed together.
    let mut last_state: BTreeMap<DeviceId, Target> = BTreeMap::new();
    for e in &events {
        if let (AuditOutcome::Applied, Some(after)) = (&e.outcome, e.after) {
            last_state.insert(e.device_id.clone(), after);
        }
    }
    for (id, after) in &last_state {
        let stored = registry
            .device(&org(), id)
            .ok()
            .map(|d| Target::Status(d.status));
        match after {
            Target::Deleted => assert_eq!(stored, None, "{id} deleted but present"),
            status => assert_eq!(stored, Some(*status), "{id}: audit says {status}"),
        }
    }
    // No device is half-way through its effects.
    let mut page = PageRequest::default();
    loop {
        let p = registry
            .list(&org(), &DeviceFilter::default(), &page)
            .unwrap();
        for d in &p.devices {
            let ov_sessions = registry
                .sessions(&org(), &d.id)
                .unwrap()
                .iter()
                .filter(|s| s.method == SessionMethod::OktaVerify && s.is_active())
                .count();
            match d.status {
                DeviceStatus::Deactivated => {
                    assert_eq!(ov_sessions, 0);
                    assert!(registry.users(&org(), &d.id).unwrap().is_empty());
                    assert!(
                        registry
                            .enrollments(&org(), &d.id)
                            .unwrap()
                            .iter()
                            .all(|e| e.status == FactorStatus::Inactive)
                    );
                    assert!(
                        registry
                            .certificates(&org(), &d.id)
                            .unwrap()
                            .iter()
                            .all(|c| c.revocation.is_some())
                    );
                }
                DeviceStatus::Suspended => assert_eq!(ov_sessions, 0),
                _ => {}
            }
        }
        match p.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
}

#[test]
fn sigkill_loses_no_acknowledged_transition_and_leaves_none_half_applied() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.sqlite3");
    // Create the schema first, so a kill during migration is not what we test here.
    drop(SqliteStore::open(&db).unwrap());
    let mut total = 0;
    let (mut nonces, mut proofs, mut issued, mut tokens, mut settings) = (0, 0, 0, 0, 0);
    for _ in 0..ROUNDS {
        let (acks, others) = run_child_and_kill(&db);
        assert!(!acks.is_empty(), "the child acknowledged nothing");
        total += acks.len();
        check(&db, &acks);
        check_others(&db, &others);
        nonces += others.nonces.len();
        proofs += others.proofs.len();
        issued += others.scep_issued.len();
        tokens += others.tokens.len();
        settings = settings.max(others.settings);
    }
    assert!(total >= ROUNDS);
    // The other writers ran alongside the lifecycle, so each was checked.
    assert!(nonces > 0, "no acknowledged nonce was checked");
    assert!(proofs > 0, "no acknowledged proof was checked");
    assert!(issued > 0, "no acknowledged SCEP issuance was checked");
    assert!(tokens > 0, "no acknowledged enrollment token was checked");
    assert!(settings > 0, "no acknowledged settings change was checked");
}
