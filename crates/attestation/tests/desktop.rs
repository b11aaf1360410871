//! The desktop check end to end through the Attestor: our CA, uploaded CAs,
//! revocation in the ledger and by CRL, device binding, several
//! configurations, the signature cache and the path-building budget.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devicetrust_attestation::{
    Attestor, ChainOptions, CheckError, Configurations, DesktopRequest, DesktopTrust, Outcome,
    Platform, RevocationSource, SignatureCache, nonce,
};
use devicetrust_pki::{
    Ca, CaConfig, Certificate, IssueOptions, KeyAlgorithm, MemoryLedger, PrivateKey,
    RequestBuilder, RevocationReason, Signer, backends,
};
use time::{OffsetDateTime, macros::datetime};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cases")
        .join(name)
}

fn read(name: &str, file: &str) -> Vec<u8> {
    std::fs::read(case(name).join(file)).unwrap()
}

struct Device {
    leaf: Certificate,
    signer: Box<dyn Signer>,
}

fn attest(
    attestor: &Attestor,
    platform: Platform,
    device_id: &str,
    device: &Device,
    now: OffsetDateTime,
) -> Outcome {
    let issued = attestor.issue_nonce("acme", device_id, now).unwrap();
    let proof = nonce::prove(device.signer.as_ref(), &issued.nonce).unwrap();
    attestor.attest_desktop(
        &DesktopRequest {
            hardware_id: None,
            platform,
            org: "acme",
            device_id,
            leaf: &device.leaf,
            intermediates: &[],
            nonce: &issued.nonce,
            proof: &proof,
        },
        now,
    )
}

fn kinds(outcome: &Outcome) -> Vec<&'static str> {
    outcome.reasons().iter().map(|r| r.error.kind()).collect()
}

/// Our CA issues a Mac's certificate; it attests until the ledger revokes it.
#[test]
fn our_ca_attests_until_the_ledger_revokes() {
    for backend in backends() {
        let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
            .unwrap()
            .ca;
        let mut configurations = Configurations::new();
        let id = configurations
            .add_desktop(Platform::MacOs, DesktopTrust::our_ca(&ca))
            .unwrap();
        let attestor = Attestor::new(configurations, backend).unwrap();
        let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
        let signer = backend.signer(&key).unwrap();
        let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42")
            .sign(signer.as_ref())
            .unwrap();
        let leaf = ca
            .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
            .unwrap();
        let device = Device { leaf, signer };
        let now = OffsetDateTime::now_utc();
        match attest(&attestor, Platform::MacOs, "dev-42", &device, now) {
            Outcome::Managed {
                configuration_id, ..
            } => assert_eq!(configuration_id, id),
            other => panic!("{other:?}"),
        }
        // The registered device is another one: the certificate names dev-42.
        let other = attest(&attestor, Platform::MacOs, "dev-43", &device, now);
        assert_eq!(kinds(&other), ["device_mismatch"]);
        // Windows has no configuration.
        let windows = attest(&attestor, Platform::Windows, "dev-42", &device, now);
        assert_eq!(kinds(&windows), ["no_configuration"]);

        ca.revoke(
            &device.leaf.serial().unwrap(),
            RevocationReason::CessationOfOperation,
            now,
        )
        .unwrap();
        let revoked = attest(&attestor, Platform::MacOs, "dev-42", &device, now);
        match &revoked.reasons()[0].error {
            CheckError::Revoked {
                found_in, reason, ..
            } => {
                assert_eq!(*found_in, RevocationSource::Ledger);
                assert_eq!(*reason, RevocationReason::CessationOfOperation);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Our CA's CRL, set on the configuration, revokes as well.
#[test]
fn a_crl_from_our_ca_revokes() {
    let backend = devicetrust_pki::default_backend();
    let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
        .unwrap()
        .ca;
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let signer = backend.signer(&key).unwrap();
    let csr = RequestBuilder::new("CN=bob").sign(signer.as_ref()).unwrap();
    let leaf = ca
        .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
        .unwrap();
    let now = OffsetDateTime::now_utc();
    ca.revoke(
        &leaf.serial().unwrap(),
        RevocationReason::KeyCompromise,
        now,
    )
    .unwrap();
    let crl = ca.crl(now).unwrap();
    // Trust the intermediate without the ledger: only the CRL can tell.
    let mut trust = DesktopTrust::our_intermediate(ca.intermediate().clone(), None);
    let mut configurations = Configurations::new();
    configurations
        .add_desktop(Platform::Windows, trust.clone())
        .unwrap();
    let device = Device { leaf, signer };
    let without_crl = Attestor::new(configurations, backend).unwrap();
    assert!(attest(&without_crl, Platform::Windows, "dev-1", &device, now).is_managed());
    trust.set_crl(crl);
    let mut configurations = Configurations::new();
    configurations
        .add_desktop(Platform::Windows, trust)
        .unwrap();
    let with_crl = Attestor::new(configurations, backend).unwrap();
    let outcome = attest(&with_crl, Platform::Windows, "dev-1", &device, now);
    assert!(
        matches!(
            outcome.reasons()[0].error,
            CheckError::Revoked {
                found_in: RevocationSource::Crl,
                ..
            }
        ),
        "{outcome:?}"
    );
}

fn case_device(name: &str) -> Device {
    let backend = devicetrust_pki::default_backend();
    let key = PrivateKey::from_pem(&read(name, "leaf.key")).unwrap();
    Device {
        leaf: Certificate::parse(&read(name, "leaf.pem")).unwrap(),
        signer: backend.signer(&key).unwrap(),
    }
}

const AT: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);

/// Uploads are idempotent, listable and only accepted on "use my own".
#[test]
fn uploads_are_idempotent_and_listed() {
    let mut trust = DesktopTrust::uploaded();
    let first = trust.upload(&read("upload-pem-ca", "upload")).unwrap();
    assert!(first[0].added);
    let again = trust.upload(&read("upload-pem-ca", "upload")).unwrap();
    assert!(!again[0].added);
    assert_eq!(first[0].details, again[0].details);
    assert_eq!(trust.anchors().len(), 1);
    trust.upload(&read("upload-der-ca", "upload")).unwrap();
    let listed = trust.details();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].subject,
        "O=devicetrust tests,CN=Test Intermediate CA"
    );
    assert_eq!(listed[0].path_len, Some(0));
    assert_eq!(listed[1].key, "rsa2048");
    // Refused uploads change nothing.
    assert!(trust.upload(&read("upload-pkcs7-pem", "upload")).is_err());
    assert!(trust.upload(&read("upload-end-entity", "upload")).is_err());
    assert_eq!(trust.anchors().len(), 2);
    assert!(trust.remove(&listed[1].fingerprint));
    assert_eq!(trust.anchors().len(), 1);
    // Our own CA takes no uploads.
    let ca_cert = Certificate::parse(&read("upload-pem-ca", "upload")).unwrap();
    let mut ours = DesktopTrust::our_intermediate(ca_cert, None);
    assert_eq!(
        ours.upload(&read("upload-pem-ca", "upload"))
            .unwrap_err()
            .kind(),
        "own_ca"
    );
}

/// The first configuration that attests wins; when none does, every
/// configuration's reasons are returned.
#[test]
fn several_configurations_report_every_reason() {
    let mut unrelated = DesktopTrust::uploaded();
    unrelated.upload(&read("upload-der-ca", "upload")).unwrap();
    let mut ours = DesktopTrust::uploaded();
    ours.upload(&read("valid-p256", "trust.pem")).unwrap();
    let mut configurations = Configurations::new();
    let first = configurations
        .add_desktop(Platform::Windows, unrelated)
        .unwrap();
    let second = configurations.add_desktop(Platform::Windows, ours).unwrap();
    let attestor = Attestor::new(configurations, devicetrust_pki::default_backend()).unwrap();
    let good = case_device("valid-p256");
    match attest(&attestor, Platform::Windows, "dev-42", &good, AT) {
        Outcome::Managed {
            configuration_id, ..
        } => assert_eq!(configuration_id, second),
        other => panic!("{other:?}"),
    }
    let expired = case_device("expired");
    let outcome = attest(&attestor, Platform::Windows, "dev-42", &expired, AT);
    let by_config: Vec<_> = outcome
        .reasons()
        .iter()
        .map(|r| (r.configuration_id, r.error.kind()))
        .collect();
    assert!(by_config.contains(&(Some(first), "expired")));
    assert!(by_config.contains(&(Some(first), "unknown_issuer")));
    assert!(by_config.contains(&(Some(second), "expired")));
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["status"], "notManaged");
    assert_eq!(json["reasons"][0]["configurationId"], "mdm-1");
}

/// Warm attestations hit the cache, and a warm cache lets no rogue through.
#[test]
fn the_signature_cache_is_used_and_keyed_by_issuer_key() {
    let mut trust = DesktopTrust::uploaded();
    trust.upload(&read("valid-p256", "trust.pem")).unwrap();
    let mut configurations = Configurations::new();
    configurations.add_desktop(Platform::MacOs, trust).unwrap();
    let attestor = Attestor::new(configurations, devicetrust_pki::default_backend())
        .unwrap()
        .with_cache(SignatureCache::new(8));
    let good = case_device("valid-p256");
    assert!(attest(&attestor, Platform::MacOs, "dev-42", &good, AT).is_managed());
    assert_eq!(attestor.cache().len(), 1);
    assert!(attest(&attestor, Platform::MacOs, "dev-42", &good, AT).is_managed());
    assert_eq!(attestor.cache().len(), 1);
    let rogue = case_device("rogue-issuer");
    let outcome = attest(&attestor, Platform::MacOs, "dev-42", &rogue, AT);
    assert_eq!(kinds(&outcome), ["bad_signature"]);
    let tampered = Device {
        leaf: Certificate::parse(&read("tampered-signature", "leaf.pem")).unwrap(),
        signer: case_device("tampered-signature").signer,
    };
    let outcome = attest(&attestor, Platform::MacOs, "dev-42", &tampered, AT);
    assert_eq!(kinds(&outcome), ["bad_signature"]);
}

/// A path-building budget of zero finds nothing.
#[test]
fn the_budget_bounds_path_building() {
    let mut trust = DesktopTrust::uploaded();
    trust.upload(&read("valid-p256", "trust.pem")).unwrap();
    let mut configurations = Configurations::new();
    configurations.add_desktop(Platform::MacOs, trust).unwrap();
    let attestor = Attestor::new(configurations, devicetrust_pki::default_backend())
        .unwrap()
        .with_options(ChainOptions::default().with_budget(0));
    let good = case_device("valid-p256");
    let outcome = attest(&attestor, Platform::MacOs, "dev-42", &good, AT);
    assert_eq!(kinds(&outcome), ["budget_exceeded"]);
}

/// A chain whose proof was made by another key is not managed.
#[test]
fn a_proof_by_another_key_is_not_managed() {
    let mut trust = DesktopTrust::uploaded();
    trust.upload(&read("valid-p256", "trust.pem")).unwrap();
    let mut configurations = Configurations::new();
    configurations.add_desktop(Platform::MacOs, trust).unwrap();
    let attestor = Attestor::new(configurations, devicetrust_pki::default_backend()).unwrap();
    let thief = Device {
        leaf: case_device("valid-p256").leaf,
        signer: case_device("not-revoked").signer,
    };
    let outcome = attest(&attestor, Platform::MacOs, "dev-42", &thief, AT);
    assert_eq!(kinds(&outcome), ["nonce_bad_signature"]);
}

/// The parsed-certificate cache returns the same parse for the same bytes,
/// and caches nothing for bytes that do not parse.
#[test]
fn the_certificate_cache_reuses_parses_of_identical_bytes() {
    let attestor = Attestor::new(Configurations::new(), devicetrust_pki::default_backend())
        .unwrap()
        .with_certificate_cache(devicetrust_attestation::CertificateCache::new(1));
    let a = Certificate::parse(&read("valid-p256", "leaf.pem")).unwrap();
    let b = Certificate::parse(&read("not-revoked", "leaf.pem")).unwrap();
    let first = attestor.parse_certificate(a.der()).unwrap();
    let again = attestor.parse_certificate(a.der()).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    let other = attestor.parse_certificate(b.der()).unwrap();
    assert_eq!(other.der(), b.der());
    // Capacity 1: the first certificate was evicted and is parsed anew.
    let evicted = attestor.parse_certificate(a.der()).unwrap();
    assert!(!Arc::ptr_eq(&first, &evicted));
    assert_eq!(evicted.der(), a.der());
    let mut bad = a.der().to_vec();
    bad.truncate(bad.len() - 1);
    assert_eq!(
        attestor.parse_certificate(&bad).unwrap_err().kind(),
        "malformed"
    );
}
