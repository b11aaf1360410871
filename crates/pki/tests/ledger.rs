//! The issuance ledger: what survives a restart, what revocation keeps, and
//! how the CA uses it to refuse revoked certificates.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::sync::Arc;

use common::{issue_p256, new_ca};
use devicetrust_pki::{
    Ca, CaConfig, CaDir, Error, FileLedger, IssuanceLedger, IssuedCertificate, LedgerError,
    LedgerState, MemoryLedger, Revocation, RevocationReason, SerialNumber, backends,
    default_backend,
};
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn issued(serial: &str, not_after: OffsetDateTime) -> IssuedCertificate {
    IssuedCertificate {
        serial: serial.parse().unwrap(),
        subject: format!("CN=device {serial}"),
        not_before: not_after - Duration::days(365),
        not_after,
        certificate_pem: String::new(),
        revocation: None,
    }
}

#[test]
fn a_ca_folder_keeps_issued_revoked_and_crl_number_across_reopen() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = CaDir::new(tmp.path().join("ca"));
    let t = now();
    let (kept, revoked) = {
        let ca = dir.init(CaConfig::default(), default_backend()).unwrap();
        let kept = issue_p256(&ca, "CN=kept");
        let revoked = issue_p256(&ca, "CN=revoked");
        ca.revoke(&revoked.serial().unwrap(), RevocationReason::Superseded, t)
            .unwrap();
        assert_eq!(ca.crl(t).unwrap().number(), Some(1));
        assert_eq!(ca.crl(t).unwrap().number(), Some(2));
        (kept, revoked)
    };
    for (round, backend) in backends().into_iter().enumerate() {
        let ca = dir.open(backend).unwrap();
        let entry = ca.ledger().get(&kept.serial().unwrap()).unwrap().unwrap();
        assert_eq!(entry.certificate_pem, kept.to_pem().unwrap());
        assert_eq!(entry.subject, "CN=kept");
        assert_eq!(entry.revocation, None);
        let entry = ca
            .ledger()
            .get(&revoked.serial().unwrap())
            .unwrap()
            .unwrap();
        let expected = Revocation {
            reason: RevocationReason::Superseded,
            revoked_at: t,
        };
        assert_eq!(entry.revocation, Some(expected));
        // CRL numbers continue where they stopped (and each reopen continues again).
        let crl = ca.crl(now()).unwrap();
        assert_eq!(crl.number(), Some(3 + round as u64));
        assert_eq!(crl.len(), 1);
        assert_eq!(crl.revocation(&revoked.serial().unwrap()), Some(expected));
        let err = ca.verify(&revoked, None, now()).unwrap_err();
        assert!(matches!(err, Error::Revoked { .. }), "{err:?}");
        ca.verify(&kept, Some(&crl), now()).unwrap();
    }
    // Nothing but the ledger and the CA's own files: no temporary files left behind.
    let mut names: Vec<String> = std::fs::read_dir(tmp.path().join("ca"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca.json",
            "intermediate.key",
            "intermediate.pem",
            "ledger.json",
            "root.key",
            "root.pem"
        ]
    );
}

#[test]
fn a_file_ledger_persists_every_change() {
    let tmp = tempfile::TempDir::new().unwrap();
    let path = tmp.path().join("ledger.json");
    let t = now();
    let far = t + Duration::days(30);
    {
        let ledger = FileLedger::open(&path).unwrap();
        ledger.record_issued(issued("01", far)).unwrap();
        ledger.record_issued(issued("80ff", far)).unwrap();
        assert_eq!(ledger.next_crl_number().unwrap(), 1);
        let first = Revocation {
            reason: RevocationReason::KeyCompromise,
            revoked_at: t,
        };
        assert_eq!(
            ledger.revoke(&"80FF".parse().unwrap(), first).unwrap(),
            first
        );
    }
    let ledger = FileLedger::open(&path).unwrap();
    assert!(ledger.get(&"1".parse().unwrap()).unwrap().is_some());
    assert_eq!(
        ledger.revoked(t).unwrap(),
        vec![(
            "80ff".parse::<SerialNumber>().unwrap(),
            Revocation {
                reason: RevocationReason::KeyCompromise,
                revoked_at: t
            }
        )]
    );
    assert_eq!(ledger.next_crl_number().unwrap(), 2);
    // A duplicate is refused, and the refusal changes nothing on disk.
    let before = std::fs::read(&path).unwrap();
    let err = ledger.record_issued(issued("01", far)).unwrap_err();
    assert!(
        matches!(&err, LedgerError::DuplicateSerial { serial } if serial.to_string() == "01"),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    drop(ledger);
    assert_eq!(
        FileLedger::open(&path).unwrap().next_crl_number().unwrap(),
        3
    );
    // The file is the JSON of the state.
    let state: LedgerState = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(state.last_crl_number, 3);
    assert_eq!(state.certificates.len(), 2);
}

#[test]
fn revoking_twice_keeps_the_first_revocation() {
    for backend in backends() {
        let ca = new_ca(backend);
        let cert = issue_p256(&ca, "CN=device");
        let serial = cert.serial().unwrap();
        let t1 = now() - Duration::hours(2);
        let first = ca
            .revoke(&serial, RevocationReason::KeyCompromise, t1)
            .unwrap();
        assert_eq!(
            first,
            Revocation {
                reason: RevocationReason::KeyCompromise,
                revoked_at: t1
            }
        );
        let second = ca
            .revoke(&serial, RevocationReason::Superseded, now())
            .unwrap();
        assert_eq!(second, first);
        assert_eq!(
            ca.ledger().get(&serial).unwrap().unwrap().revocation,
            Some(first)
        );
        let crl = ca.crl(now()).unwrap();
        assert_eq!(crl.len(), 1);
        assert_eq!(crl.revocation(&serial), Some(first));
    }
}

#[test]
fn revoking_an_unknown_serial_is_refused() {
    for backend in backends() {
        let ca = new_ca(backend);
        issue_p256(&ca, "CN=device");
        let unknown: SerialNumber = "0123456789abcdef".parse().unwrap();
        let err = ca
            .revoke(&unknown, RevocationReason::KeyCompromise, now())
            .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownSerial { serial } if *serial == unknown),
            "{err:?}"
        );
        assert!(ca.crl(now()).unwrap().is_empty());
        // The ledger itself refuses too.
        let err = ca
            .ledger()
            .revoke(
                &unknown,
                Revocation {
                    reason: RevocationReason::KeyCompromise,
                    revoked_at: now(),
                },
            )
            .unwrap_err();
        assert!(matches!(err, LedgerError::UnknownSerial { .. }), "{err:?}");
    }
}

#[test]
fn verify_refuses_a_certificate_revoked_in_the_ledger_with_the_evidence() {
    for backend in backends() {
        let ca = new_ca(backend);
        let cert = issue_p256(&ca, "CN=device");
        let other = issue_p256(&ca, "CN=other device");
        let serial = cert.serial().unwrap();
        let at = now() + Duration::minutes(1);
        ca.verify(&cert, None, now()).unwrap();
        ca.revoke(&serial, RevocationReason::CessationOfOperation, at)
            .unwrap();
        let err = ca.verify(&cert, None, at).unwrap_err();
        match err {
            Error::Revoked {
                serial: s,
                revoked_at,
                reason,
            } => {
                assert_eq!(s, serial);
                assert_eq!(revoked_at, at);
                assert_eq!(reason, RevocationReason::CessationOfOperation);
            }
            other => panic!("{}: {other:?}", backend.name()),
        }
        // Before the revocation takes effect it still verifies; others are untouched.
        ca.verify(&cert, None, at - Duration::seconds(1)).unwrap();
        ca.verify(&other, None, at).unwrap();
    }
}

#[test]
fn verify_refuses_a_certificate_on_the_crl_even_if_the_ledger_forgot() {
    for backend in backends() {
        let ca = new_ca(backend);
        let cert = issue_p256(&ca, "CN=device");
        let serial = cert.serial().unwrap();
        let t = now();
        ca.revoke(&serial, RevocationReason::KeyCompromise, t)
            .unwrap();
        let crl = ca.crl(t).unwrap();
        // The same CA with an empty ledger: only the CRL knows.
        let forgetful = Ca::from_parts(
            ca.config().clone(),
            ca.root().clone(),
            ca.intermediate().clone(),
            ca.intermediate_key().clone(),
            backend,
            Arc::new(MemoryLedger::new()),
        )
        .unwrap();
        forgetful.verify(&cert, None, t).unwrap();
        let err = forgetful.verify(&cert, Some(&crl), t).unwrap_err();
        assert!(
            matches!(&err, Error::Revoked { serial: s, reason: RevocationReason::KeyCompromise, revoked_at }
                if *s == serial && *revoked_at == t),
            "{err:?}"
        );
        // A CRL from another CA is not taken as evidence of anything.
        let stranger = new_ca(backend);
        let foreign = stranger.crl(t).unwrap();
        let err = forgetful.verify(&cert, Some(&foreign), t).unwrap_err();
        assert!(
            matches!(err, Error::WrongIssuer { .. } | Error::BadSignature { .. }),
            "{err:?}"
        );
        // An expired CRL is refused.
        let late = t + Duration::hours(169);
        let err = forgetful.verify(&cert, Some(&crl), late).unwrap_err();
        assert!(matches!(err, Error::Expired { what: "crl", .. }), "{err:?}");
    }
}

#[test]
fn expired_certificates_leave_the_crl() {
    let t = now();
    let mut state = LedgerState::default();
    for (serial, not_after) in [("0a", t - Duration::days(1)), ("0b", t + Duration::days(1))] {
        let mut entry = issued(serial, not_after);
        entry.revocation = Some(Revocation {
            reason: RevocationReason::Superseded,
            revoked_at: t - Duration::days(2),
        });
        state.certificates.insert(entry.serial.clone(), entry);
    }
    let ledger = MemoryLedger::from_state(state);
    let revoked: Vec<String> = ledger
        .revoked(t)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s.to_string())
        .collect();
    assert_eq!(revoked, ["0B"]);
    let template = new_ca(default_backend());
    let ca = Ca::from_parts(
        template.config().clone(),
        template.root().clone(),
        template.intermediate().clone(),
        template.intermediate_key().clone(),
        default_backend(),
        Arc::new(ledger),
    )
    .unwrap();
    let crl = ca.crl(t).unwrap();
    assert_eq!(crl.len(), 1);
    assert!(crl.revocation(&"0b".parse().unwrap()).is_some());
    assert!(crl.revocation(&"0a".parse().unwrap()).is_none());
}
