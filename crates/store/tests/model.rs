//! Model-based property test: random sequences of enroll, sign-in,
//! certificate issuance, suspend, unsuspend, deactivate, activate, delete and
//! re-enroll run against the real registry on SQLite and against a small
//! reference model; after every step the two must agree, and the issue's
//! invariants must hold on the real registry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::collections::BTreeSet;

use devicetrust_devices::{
    Actor, DeviceId, DeviceProfile, DeviceStatus, EnrollmentRequest, FactorStatus, Operation,
    OrgId, Platform, SessionMethod, Target, UserId, plan,
};
use devicetrust_pki::{IssuedCertificate, SerialNumber};
use devicetrust_store::{Registry, SqliteStore, Store};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

const SLOTS: usize = 3;
const USERS: u8 = 3;

#[derive(Debug, Clone)]
enum Step {
    Enroll {
        slot: usize,
        user: u8,
    },
    SignIn {
        slot: usize,
        user: u8,
        okta_verify: bool,
    },
    IssueCertificate {
        slot: usize,
    },
    Lifecycle {
        slot: usize,
        op: Operation,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let slot = 0..SLOTS;
    let user = 0..USERS;
    prop_oneof![
        2 => (slot.clone(), user.clone()).prop_map(|(slot, user)| Step::Enroll { slot, user }),
        2 => (slot.clone(), user, any::<bool>())
            .prop_map(|(slot, user, okta_verify)| Step::SignIn { slot, user, okta_verify }),
        1 => slot.clone().prop_map(|slot| Step::IssueCertificate { slot }),
        4 => (slot, proptest::sample::select(Operation::ALL.to_vec()))
            .prop_map(|(slot, op)| Step::Lifecycle { slot, op }),
    ]
}

/// What the model knows about one registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelDevice {
    status: DeviceStatus,
    users: BTreeSet<u8>,
    active_factors: BTreeSet<u8>,
    okta_verify_sessions: usize,
    certificates: usize,
    unrevoked: usize,
}

/// One physical device (a UDID): registered or not, and every id it has had.
#[derive(Debug, Default)]
struct Slot {
    model: Option<ModelDevice>,
    id: Option<DeviceId>,
    past_ids: Vec<DeviceId>,
}

fn user(u: u8) -> UserId {
    UserId::new(format!("user{u}")).unwrap()
}

/// The model's answer: `Ok` if the step is accepted.
fn model_step(slots: &mut [Slot], step: &Step) -> Result<(), ()> {
    match *step {
        Step::Enroll { slot, user } => {
            let s = &mut slots[slot];
            match &mut s.model {
                None => {
                    s.model = Some(ModelDevice {
                        status: DeviceStatus::Active,
                        users: [user].into(),
                        active_factors: [user].into(),
                        okta_verify_sessions: 0,
                        certificates: 0,
                        unrevoked: 0,
                    });
                    Ok(())
                }
                Some(d) if d.status == DeviceStatus::Deactivated => Err(()),
                Some(d) if d.status == DeviceStatus::Suspended && !d.users.contains(&user) => {
                    Err(())
                }
                Some(d) => {
                    d.users.insert(user);
                    d.active_factors.insert(user);
                    Ok(())
                }
            }
        }
        Step::SignIn {
            slot,
            user,
            okta_verify,
        } => {
            let d = slots[slot].model.as_mut().ok_or(())?;
            if okta_verify {
                if d.status != DeviceStatus::Active || !d.active_factors.contains(&user) {
                    return Err(());
                }
                d.okta_verify_sessions += 1;
            }
            Ok(())
        }
        Step::IssueCertificate { slot } => {
            let d = slots[slot].model.as_mut().ok_or(())?;
            if d.status == DeviceStatus::Deactivated {
                return Err(());
            }
            d.certificates += 1;
            d.unrevoked += 1;
            Ok(())
        }
        Step::Lifecycle { slot, op } => {
            let s = &mut slots[slot];
            let d = s.model.as_mut().ok_or(())?;
            let p = plan(d.status, op).map_err(|_| ())?;
            if p.is_noop() {
                return Ok(());
            }
            match (op, p.to) {
                (Operation::Suspend, _) => d.okta_verify_sessions = 0,
                (Operation::Deactivate, _) => {
                    d.okta_verify_sessions = 0;
                    d.active_factors.clear();
                    d.unrevoked = 0;
                    d.users.clear();
                }
                _ => {}
            }
            match p.to {
                Target::Status(status) => d.status = status,
                Target::Deleted => s.model = None,
            }
            Ok(())
        }
    }
}

fn real_step<S: Store>(
    r: &Registry<S>,
    org: &OrgId,
    slots: &mut [Slot],
    step: &Step,
    now: OffsetDateTime,
) -> Result<(), String> {
    let org = org.clone();
    let admin = Actor::new("admin").unwrap();
    let missing = || DeviceId::new("guoMissing").unwrap();
    match *step {
        Step::Enroll { slot, user: u } => {
            let mut profile = DeviceProfile::new(format!("device {slot}"), Platform::Macos);
            profile.udid = Some(format!("UDID-{slot}"));
            let d = r
                .enroll(&org, &admin, &EnrollmentRequest::new(user(u), profile), now)
                .map_err(|e| e.to_string())?;
            let s = &mut slots[slot];
            if s.id.as_ref() != Some(&d.id) {
                // A fresh registration: never an id this hardware had before.
                assert!(!s.past_ids.contains(&d.id), "device id reused");
                s.past_ids.push(d.id.clone());
                s.id = Some(d.id);
            }
            Ok(())
        }
        Step::SignIn {
            slot,
            user: u,
            okta_verify,
        } => {
            let id = slots[slot].id.clone().unwrap_or_else(missing);
            let method = if okta_verify {
                SessionMethod::OktaVerify
            } else {
                SessionMethod::Password
            };
            r.sign_in(&org, &id, &user(u), method, now)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Step::IssueCertificate { slot } => {
            let id = slots[slot].id.clone().unwrap_or_else(missing);
            let serial = SerialNumber::random().unwrap();
            r.store()
                .write(|tx| {
                    tx.ledger_record_issued(&IssuedCertificate {
                        serial: serial.clone(),
                        subject: format!("CN=device {slot}"),
                        not_before: now,
                        not_after: now + Duration::days(365),
                        certificate_pem: String::new(),
                        revocation: None,
                    })
                })
                .map_err(|e| e.to_string())?;
            r.bind_certificate(&org, &id, &serial)
                .map_err(|e| e.to_string())
        }
        Step::Lifecycle { slot, op } => {
            let id = slots[slot].id.clone().unwrap_or_else(missing);
            let out = r
                .transition(&org, &admin, &id, op, now)
                .map_err(|e| e.to_string())?;
            if out.device.is_none() {
                slots[slot].id = None;
            }
            Ok(())
        }
    }
}

/// The real registry's view of a slot, in the model's terms, checking the
/// issue's invariants on the way.
fn observe<S: Store>(r: &Registry<S>, org: &OrgId, id: &DeviceId) -> Option<ModelDevice> {
    let org = org.clone();
    let device = r.device(&org, id).ok()?;
    let to_index = |u: &UserId| u.as_str().trim_start_matches("user").parse::<u8>().unwrap();
    let users = r
        .users(&org, id)
        .unwrap()
        .iter()
        .map(|l| to_index(&l.user.id))
        .collect();
    let enrollments = r.enrollments(&org, id).unwrap();
    let active_factors = enrollments
        .iter()
        .filter(|e| e.status == FactorStatus::Active)
        .map(|e| to_index(&e.user_id))
        .collect();
    let sessions = r.sessions(&org, id).unwrap();
    let okta_verify_sessions = sessions
        .iter()
        .filter(|s| s.method == SessionMethod::OktaVerify && s.is_active())
        .count();
    let certs = r.certificates(&org, id).unwrap();
    let unrevoked = certs.iter().filter(|c| c.revocation.is_none()).count();
    let seen = ModelDevice {
        status: device.status,
        users,
        active_factors,
        okta_verify_sessions,
        certificates: certs.len(),
        unrevoked,
    };
    match seen.status {
        DeviceStatus::Deactivated => {
            assert_eq!(
                seen.okta_verify_sessions, 0,
                "deactivated with Okta Verify sessions"
            );
            assert!(
                seen.active_factors.is_empty(),
                "deactivated with active factors"
            );
            assert_eq!(seen.unrevoked, 0, "deactivated with unrevoked certificates");
            assert!(seen.users.is_empty(), "deactivated with user links");
        }
        DeviceStatus::Suspended => {
            assert_eq!(
                seen.okta_verify_sessions, 0,
                "suspended with Okta Verify sessions"
            );
        }
        _ => {}
    }
    Some(seen)
}

/// Runs `steps` on the registry in `org` (empty before) and on the model,
/// asserting after each step that they agree.
fn agrees_with_the_model<S: Store>(
    registry: &Registry<S>,
    org: &OrgId,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let mut model: Vec<Slot> = (0..SLOTS).map(|_| Slot::default()).collect();
    let mut real: Vec<Slot> = (0..SLOTS).map(|_| Slot::default()).collect();
    let start = time::macros::datetime!(2026-01-01 00:00 UTC);
    for (i, step) in steps.iter().enumerate() {
        let now = start + Duration::minutes(i as i64);
        let expected = model_step(&mut model, step);
        let got = real_step(registry, org, &mut real, step, now);
        prop_assert_eq!(
            expected.is_ok(),
            got.is_ok(),
            "step {} {:?}: real said {:?}",
            i,
            step,
            got
        );
        for (slot, (m, r)) in model.iter().zip(&real).enumerate() {
            let seen = r.id.as_ref().and_then(|id| observe(registry, org, id));
            prop_assert_eq!(&seen, &m.model, "slot {} after step {} {:?}", slot, i, step);
            // A deleted device is gone: every id the slot had before is unknown now.
            for old in r.past_ids.iter().filter(|old| Some(*old) != r.id.as_ref()) {
                prop_assert!(
                    observe(registry, org, old).is_none(),
                    "deleted device {} still there",
                    old
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn registry_agrees_with_the_model(steps in proptest::collection::vec(step(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap());
        agrees_with_the_model(&registry, &OrgId::new("org").unwrap(), &steps)?;
    }
}

/// The same on PostgreSQL: one database for the run, each case in an org
/// of its own (a database per case would cost more than the case).
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

#[cfg(feature = "postgres")]
mod on_postgres {
    use super::*;

    fn registry() -> &'static Registry<devicetrust_store::PostgresStore> {
        static REGISTRY: std::sync::OnceLock<Registry<devicetrust_store::PostgresStore>> =
            std::sync::OnceLock::new();
        REGISTRY.get_or_init(|| Registry::new(pg::store()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn registry_on_postgres_agrees_with_the_model(steps in proptest::collection::vec(step(), 1..24)) {
            static CASE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let org = OrgId::new(format!("org{case}")).unwrap();
            agrees_with_the_model(registry(), &org, &steps)?;
        }
    }
}
