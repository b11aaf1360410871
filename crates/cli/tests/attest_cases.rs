//! The data-driven suite: one folder per case under
//! `crates/attestation/tests/data/cases`, made
//! by its `make-cases.sh` with the openssl CLI. Each folder's
//! `expected.json` says whether the device is managed (or the upload
//! accepted) and, if not, the kind of reason. Every case runs through the
//! `attest verify` / `attest upload-check` command logic, with every backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};

use devicetrust_cli::commands::attest::{self as commands, EXIT_OK, EXIT_REFUSED, VerifyArgs};
use serde_json::Value;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../attestation/tests/data/cases")
}

fn cases() -> Vec<(String, PathBuf, Value)> {
    let mut cases: Vec<_> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let expected: Value =
                serde_json::from_slice(&std::fs::read(p.join("expected.json")).unwrap()).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p,
                expected,
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// The cases issue 4 asks for must all be there (a missing folder must not pass silently).
#[test]
fn every_required_case_exists() {
    let names: Vec<String> = cases().into_iter().map(|(n, ..)| n).collect();
    for required in [
        "valid-rsa2048",
        "valid-p256",
        "no-eku",
        "expired",
        "not-yet-valid",
        "rogue-issuer",
        "no-digital-signature",
        "server-auth-only",
        "issued-by-non-ca",
        "tampered-signature",
        "revoked",
        "not-revoked",
        "path-len-exceeded",
        "upload-pkcs7-pem",
        "upload-pkcs12",
        "upload-end-entity",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing case {required}"
        );
    }
}

fn run_chain_case(name: &str, dir: &Path, expected: &Value) {
    let optional = |file: &str| {
        let p = dir.join(file);
        if p.exists() { vec![p] } else { vec![] }
    };
    let args = VerifyArgs {
        trust: vec![dir.join("trust.pem")],
        intermediates: optional("intermediates.pem"),
        crls: optional("crl.pem"),
        cert: dir.join("leaf.pem"),
        at: Some(expected["at"].as_str().unwrap().to_owned()),
        device: expected["device"].as_str().map(str::to_owned),
    };
    let managed = expected["managed"].as_bool().unwrap();
    for backend in devicetrust_pki::backends() {
        let report = commands::verify(&args, backend);
        let want = if managed { EXIT_OK } else { EXIT_REFUSED };
        assert_eq!(
            report.exit_code,
            want,
            "case {name} with {}: {}",
            backend.name(),
            report.json
        );
        if let Some(reason) = expected["reason"].as_str() {
            let kinds: Vec<&str> = report.json["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["kind"].as_str().unwrap())
                .collect();
            assert!(
                kinds.contains(&reason),
                "case {name} with {}: expected {reason}, got {kinds:?}",
                backend.name()
            );
        }
    }
}

fn run_upload_case(name: &str, dir: &Path, expected: &Value) {
    let report = commands::upload_check(&dir.join("upload"));
    let accepted = expected["accepted"].as_bool().unwrap();
    assert_eq!(
        report.exit_code,
        if accepted { EXIT_OK } else { EXIT_REFUSED },
        "case {name}: {}",
        report.json
    );
    assert_eq!(report.json["accepted"].as_bool(), Some(accepted));
    if let Some(reason) = expected["reason"].as_str() {
        assert_eq!(report.json["kind"], reason, "case {name}");
        let message = report.json["message"].as_str().unwrap();
        assert!(message.contains("PEM or DER"), "case {name}: {message}");
    } else {
        let fingerprint = report.json["certificates"][0]["fingerprint"]
            .as_str()
            .unwrap();
        assert_eq!(fingerprint.len(), 64, "case {name}");
    }
}

#[test]
fn every_case_folder() {
    let cases = cases();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    for (name, dir, expected) in &cases {
        match expected["kind"].as_str() {
            Some("chain") => run_chain_case(name, dir, expected),
            Some("upload") => run_upload_case(name, dir, expected),
            other => panic!("case {name}: unknown kind {other:?}"),
        }
    }
}

/// A refused upload's message names the format it was given.
#[test]
fn refusals_name_the_format_given() {
    for (case, named) in [
        ("upload-pkcs7-pem", "PKCS#7 (PEM)"),
        ("upload-pkcs7-der", "PKCS#7 (DER)"),
        ("upload-pkcs12", "PKCS#12/PFX (DER)"),
        ("upload-pfx-with-key", "PKCS#12/PFX (DER)"),
    ] {
        let report = commands::upload_check(&cases_dir().join(case).join("upload"));
        let message = report.json["message"].as_str().unwrap();
        assert!(message.contains(named), "{case}: {message}");
    }
}

/// The expired case reports the evidence: the check time and notAfter.
#[test]
fn expired_keeps_its_evidence() {
    let dir = cases_dir().join("expired");
    let report = commands::verify(
        &VerifyArgs {
            trust: vec![dir.join("trust.pem")],
            cert: dir.join("leaf.pem"),
            at: Some("2027-01-01T00:00:00Z".into()),
            ..VerifyArgs::default()
        },
        devicetrust_pki::default_backend(),
    );
    let message = report.json["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("2025-01-01 0:00:00.0 +00:00:00"),
        "{message}"
    );
    assert!(
        message.contains("2027-01-01 0:00:00.0 +00:00:00"),
        "{message}"
    );
}

/// The same leaf is managed at a time inside its validity and not after it.
#[test]
fn validity_follows_the_time_of_the_check() {
    let dir = cases_dir().join("valid-p256");
    let at = |t: &str| {
        commands::verify(
            &VerifyArgs {
                trust: vec![dir.join("trust.pem")],
                cert: dir.join("leaf.pem"),
                at: Some(t.into()),
                ..VerifyArgs::default()
            },
            devicetrust_pki::default_backend(),
        )
        .exit_code
    };
    assert_eq!(at("2027-06-01T00:00:00Z"), EXIT_OK);
    assert_eq!(at("2028-01-01T00:00:01Z"), EXIT_REFUSED);
    assert_eq!(at("2025-12-31T23:59:59Z"), EXIT_REFUSED);
    assert_eq!(at("not a time"), commands::EXIT_INPUT);
}

/// A self-contained bundle (leaf, then its CA) checks out through
/// `chain::verify_bundle`, the function the fuzz target drives; a bundle
/// with the rogue CA does not.
#[test]
fn bundles_verify_against_their_last_certificate() {
    let at = Some(time::macros::datetime!(2027-01-01 00:00:00 UTC));
    let backend = devicetrust_pki::default_backend();
    let bundle = |case: &str| {
        let dir = cases_dir().join(case);
        let mut pem = std::fs::read(dir.join("leaf.pem")).unwrap();
        pem.extend(std::fs::read(dir.join("trust.pem")).unwrap());
        pem
    };
    let chain =
        devicetrust_attestation::chain::verify_bundle(&bundle("valid-p256"), at, backend).unwrap();
    assert_eq!(chain.len(), 2);
    let errors =
        devicetrust_attestation::chain::verify_bundle(&bundle("rogue-issuer"), at, backend)
            .unwrap_err();
    assert_eq!(errors[0].kind(), "bad_signature");
    let errors = devicetrust_attestation::chain::verify_bundle(b"junk", at, backend).unwrap_err();
    assert_eq!(errors[0].kind(), "malformed");
}
