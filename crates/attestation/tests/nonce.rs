//! Nonce proof of possession: valid, replayed, expired, other device, other
//! org or purpose, other key, forged, and a full replay cache.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::Path;

use devicetrust_attestation::nonce::{
    self, Binding, DEFAULT_VALIDITY, NonceError, NonceService, Presented, Proof,
};
use devicetrust_pki::{Backend, KeyPolicy, PrivateKey, PublicKey, Signer, backends};
use time::{Duration, OffsetDateTime, macros::datetime};
use zeroize::Zeroizing;

const T0: OffsetDateTime = datetime!(2027-01-01 12:00:00 UTC);

fn key(case: &str) -> PrivateKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cases")
        .join(case)
        .join("leaf.key");
    PrivateKey::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn service() -> NonceService {
    NonceService::with_key(Zeroizing::new([7u8; 32]))
}

fn binding(device: &str) -> Binding<'_> {
    Binding {
        org: "acme",
        device,
        purpose: "managementAttestation",
    }
}

fn check(
    service: &NonceService,
    nonce: &str,
    device: &str,
    proof: &Proof,
    key: &PublicKey,
    backend: &dyn Backend,
    now: OffsetDateTime,
) -> Result<(), NonceError> {
    let presented = Presented {
        nonce,
        binding: binding(device),
        proof,
        key,
    };
    service.verify(&presented, &KeyPolicy::default(), backend, now)
}

fn signer(backend: &dyn Backend, case: &str) -> Box<dyn Signer> {
    backend.signer(&key(case)).unwrap()
}

#[test]
fn a_valid_proof_is_accepted_once() {
    for backend in backends() {
        for case in ["valid-p256", "valid-rsa2048"] {
            let s = service();
            let device = signer(backend, case);
            let issued = s.issue(&binding("dev-42"), T0).unwrap();
            let proof = nonce::prove(device.as_ref(), &issued.nonce).unwrap();
            let key = device.public_key();
            check(&s, &issued.nonce, "dev-42", &proof, key, backend, T0).unwrap();
            let again = check(&s, &issued.nonce, "dev-42", &proof, key, backend, T0);
            assert!(matches!(again, Err(NonceError::Replayed)), "{again:?}");
        }
    }
}

#[test]
fn nonces_carry_256_random_bits_and_differ() {
    let s = service();
    let a = s.issue(&binding("dev-42"), T0).unwrap();
    let b = s.issue(&binding("dev-42"), T0).unwrap();
    assert_ne!(a.nonce, b.nonce);
    // version + 32 random bytes + expiry + 3 bindings + 32-byte tag, base64url.
    let min_len = (1 + 32 + 8 + 3 + 4 + 6 + 21 + 32) * 4 / 3;
    assert!(a.nonce.len() >= min_len, "{}", a.nonce.len());
    assert_eq!(a.expires_at, T0 + DEFAULT_VALIDITY);
}

#[test]
fn an_expired_nonce_is_refused_with_its_expiry() {
    let backend = devicetrust_pki::default_backend();
    let s = service();
    let device = signer(backend, "valid-p256");
    let issued = s.issue(&binding("dev-42"), T0).unwrap();
    let proof = nonce::prove(device.as_ref(), &issued.nonce).unwrap();
    let late = T0 + Duration::minutes(5) + Duration::seconds(1);
    match check(
        &s,
        &issued.nonce,
        "dev-42",
        &proof,
        device.public_key(),
        backend,
        late,
    ) {
        Err(NonceError::Expired { expires_at, time }) => {
            assert_eq!(expires_at, T0 + Duration::minutes(5));
            assert_eq!(time, late);
        }
        other => panic!("{other:?}"),
    }
    // At the last valid second it is still accepted.
    let last = T0 + Duration::minutes(5);
    check(
        &s,
        &issued.nonce,
        "dev-42",
        &proof,
        device.public_key(),
        backend,
        last,
    )
    .unwrap();
}

#[test]
fn a_nonce_for_another_device_org_or_purpose_is_refused() {
    let backend = devicetrust_pki::default_backend();
    let s = service();
    let device = signer(backend, "valid-p256");
    let issued = s.issue(&binding("dev-42"), T0).unwrap();
    let proof = nonce::prove(device.as_ref(), &issued.nonce).unwrap();
    let key = device.public_key();
    match check(&s, &issued.nonce, "dev-43", &proof, key, backend, T0) {
        Err(NonceError::WrongDevice { expected, found }) => {
            assert_eq!((expected.as_str(), found.as_str()), ("dev-43", "dev-42"));
        }
        other => panic!("{other:?}"),
    }
    let other_org = Presented {
        nonce: &issued.nonce,
        binding: Binding {
            org: "globex",
            ..binding("dev-42")
        },
        proof: &proof,
        key,
    };
    assert!(matches!(
        s.verify(&other_org, &KeyPolicy::default(), backend, T0),
        Err(NonceError::WrongOrg { .. })
    ));
    let other_purpose = Presented {
        binding: Binding {
            purpose: "login",
            ..binding("dev-42")
        },
        ..other_org
    };
    assert!(matches!(
        s.verify(&other_purpose, &KeyPolicy::default(), backend, T0),
        Err(NonceError::WrongPurpose { .. })
    ));
    // None of these consumed the nonce.
    check(&s, &issued.nonce, "dev-42", &proof, key, backend, T0).unwrap();
}

#[test]
fn a_signature_by_another_key_is_refused_and_does_not_burn_the_nonce() {
    for backend in backends() {
        let s = service();
        let device = signer(backend, "valid-p256");
        let thief = signer(backend, "expired");
        let issued = s.issue(&binding("dev-42"), T0).unwrap();
        let stolen = nonce::prove(thief.as_ref(), &issued.nonce).unwrap();
        let result = check(
            &s,
            &issued.nonce,
            "dev-42",
            &stolen,
            device.public_key(),
            backend,
            T0,
        );
        assert!(
            matches!(result, Err(NonceError::BadSignature { .. })),
            "{result:?}"
        );
        // An RSA signature presented for an EC key: refused before any crypto.
        let rsa = signer(backend, "valid-rsa2048");
        let rsa_proof = nonce::prove(rsa.as_ref(), &issued.nonce).unwrap();
        let result = check(
            &s,
            &issued.nonce,
            "dev-42",
            &rsa_proof,
            device.public_key(),
            backend,
            T0,
        );
        assert!(
            matches!(result, Err(NonceError::Algorithm(_))),
            "{result:?}"
        );
        // A signature over another nonce: refused.
        let other = s.issue(&binding("dev-42"), T0).unwrap();
        let wrong_nonce = nonce::prove(device.as_ref(), &other.nonce).unwrap();
        let result = check(
            &s,
            &issued.nonce,
            "dev-42",
            &wrong_nonce,
            device.public_key(),
            backend,
            T0,
        );
        assert!(
            matches!(result, Err(NonceError::BadSignature { .. })),
            "{result:?}"
        );
        let good = nonce::prove(device.as_ref(), &issued.nonce).unwrap();
        check(
            &s,
            &issued.nonce,
            "dev-42",
            &good,
            device.public_key(),
            backend,
            T0,
        )
        .unwrap();
    }
}

#[test]
fn a_nonce_from_another_server_or_altered_is_refused() {
    let backend = devicetrust_pki::default_backend();
    let device = signer(backend, "valid-p256");
    let other_server = NonceService::with_key(Zeroizing::new([8u8; 32]));
    let issued = other_server.issue(&binding("dev-42"), T0).unwrap();
    let proof = nonce::prove(device.as_ref(), &issued.nonce).unwrap();
    let s = service();
    let result = check(
        &s,
        &issued.nonce,
        "dev-42",
        &proof,
        device.public_key(),
        backend,
        T0,
    );
    assert!(matches!(result, Err(NonceError::Forged)), "{result:?}");

    let mine = s.issue(&binding("dev-42"), T0).unwrap();
    let mut altered = mine.nonce.clone().into_bytes();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let proof = nonce::prove(device.as_ref(), &altered).unwrap();
    let result = check(
        &s,
        &altered,
        "dev-42",
        &proof,
        device.public_key(),
        backend,
        T0,
    );
    assert!(
        matches!(
            result,
            Err(NonceError::Forged | NonceError::Malformed { .. })
        ),
        "{result:?}"
    );
    for junk in ["", "!!!", &"A".repeat(5000)] {
        let result = check(&s, junk, "dev-42", &proof, device.public_key(), backend, T0);
        assert!(
            matches!(
                result,
                Err(NonceError::Malformed { .. } | NonceError::Forged)
            ),
            "{result:?}"
        );
    }
}

#[test]
fn a_full_replay_cache_refuses_until_entries_expire() {
    let backend = devicetrust_pki::default_backend();
    let s = service().with_replay_capacity(1);
    let device = signer(backend, "valid-p256");
    let key = device.public_key();
    let first = s.issue(&binding("dev-42"), T0).unwrap();
    let second = s
        .issue(&binding("dev-42"), T0 + Duration::minutes(4))
        .unwrap();
    let p1 = nonce::prove(device.as_ref(), &first.nonce).unwrap();
    let p2 = nonce::prove(device.as_ref(), &second.nonce).unwrap();
    check(&s, &first.nonce, "dev-42", &p1, key, backend, T0).unwrap();
    let full = check(
        &s,
        &second.nonce,
        "dev-42",
        &p2,
        key,
        backend,
        T0 + Duration::minutes(4),
    );
    assert!(
        matches!(full, Err(NonceError::ReplayCacheFull { capacity: 1 })),
        "{full:?}"
    );
    // Once the first nonce has expired its entry can go.
    check(
        &s,
        &second.nonce,
        "dev-42",
        &p2,
        key,
        backend,
        T0 + Duration::minutes(6),
    )
    .unwrap();
}

#[test]
fn bindings_must_fit() {
    let s = service();
    let long = "d".repeat(256);
    assert!(matches!(
        s.issue(&binding(&long), T0),
        Err(NonceError::BadBinding {
            what: "device",
            len: 256
        })
    ));
    assert!(matches!(
        s.issue(&binding(""), T0),
        Err(NonceError::BadBinding {
            what: "device",
            len: 0
        })
    ));
}

#[test]
fn a_validity_past_the_end_of_time_is_an_error_not_a_panic() {
    let s = service().with_validity(Duration::MAX);
    assert!(matches!(
        s.issue(&binding("dev-42"), T0),
        Err(NonceError::Malformed { .. })
    ));
}
