//! Crash test: a child process (this test binary, re-invoked with an
//! environment variable) drives devices through their lifecycle on SQLite
//! and prints an acknowledgement after each committed transition; the
//! parent kills it with SIGKILL at a random point, reopens the database and
//! checks that every acknowledged transition is there and that none is
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
use devicetrust_pki::{IssuedCertificate, SerialNumber};
use devicetrust_store::{Registry, SqliteStore, Store};
use time::{Duration, OffsetDateTime};

const CHILD_ENV: &str = "DEVICETRUST_CRASH_CHILD_DB";
const ROUNDS: usize = 6;
const CHILD_THREADS: usize = 4;

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
    let registry = Arc::new(Registry::new(SqliteStore::open(Path::new(&path)).unwrap()));
    // Several writers, so kills also land inside grouped commits.
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || drive(&registry, t))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn drive(registry: &Registry<SqliteStore>, thread: usize) {
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
            let mut out = std::io::stdout().lock();
            writeln!(out, "ACK {} {} {}", outcome.event.seq, device.id, op).unwrap();
            out.flush().unwrap();
        }
    }
}

struct Ack {
    seq: u64,
    device: DeviceId,
    op: Operation,
}

fn run_child_and_kill(db: &Path) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kill_after = 1 + random_below(40) as usize;
    let mut acks = Vec::new();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
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
    // `kill` is SIGKILL on Unix: no destructor, no rollback, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    acks
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
    for _ in 0..ROUNDS {
        let acks = run_child_and_kill(&db);
        assert!(!acks.is_empty(), "the child acknowledged nothing");
        total += acks.len();
        check(&db, &acks);
    }
    assert!(total >= ROUNDS);
}
