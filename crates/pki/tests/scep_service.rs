//! The SCEP responder, message in, CertRep out: the happy paths and the
//! table of bad requests. Each bad request gets a signed FAILURE with the
//! failInfo RFC 8894 asks for, and none of them issues a certificate.

use std::sync::Arc;

use devicetrust_pki::scep::{
    ContentEncryption, DynamicChallenges, FailInfo, MessageType, Outcome, PkiMessage, PkiStatus,
    RequestMessage, ScepConfig, ScepError, ScepPolicy, ScepService, StaticChallenge,
    parse_certs_only,
};
use devicetrust_pki::{
    Ca, CaConfig, Certificate, KeyAlgorithm, LedgerState, MemoryLedger, PrivateKey, RequestBuilder,
    RevocationReason, default_backend,
};

struct Fixture {
    service: ScepService,
    ledger: Arc<MemoryLedger>,
    secret: String,
}

#[expect(clippy::unwrap_used, reason = "test setup")]
fn fixture_with(config: ScepConfig) -> Fixture {
    let backend = default_backend();
    let ledger = Arc::new(MemoryLedger::new());
    let ca = Arc::new(
        Ca::create(CaConfig::default(), backend, ledger.clone())
            .unwrap()
            .ca,
    );
    let ra_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=SCEP RA").unwrap();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let service = ScepService::new(ca, ra_cert, &ra_key, Arc::new(challenge), config).unwrap();
    Fixture {
        service,
        ledger,
        secret: secret.to_string(),
    }
}

fn fixture() -> Fixture {
    fixture_with(ScepConfig::default())
}

#[expect(clippy::unwrap_used, reason = "test helper")]
fn issued_count(ledger: &MemoryLedger) -> usize {
    let LedgerState { certificates, .. } = ledger.snapshot().unwrap();
    certificates.len()
}

/// A device: its key, and a self-signed certificate to sign requests with.
struct Device {
    key: PrivateKey,
    cert: Certificate,
}

#[expect(clippy::unwrap_used, reason = "test helper")]
fn device(alg: KeyAlgorithm) -> Device {
    let backend = default_backend();
    let key = backend.generate(alg).unwrap();
    let cert =
        Certificate::self_signed("CN=device", backend.signer(&key).unwrap().as_ref(), 1).unwrap();
    Device { key, cert }
}

struct Req<'a> {
    device: &'a Device,
    signer_cert: Option<&'a Certificate>,
    message_type: MessageType,
    transaction_id: &'a str,
    subject: &'a str,
    challenge: Option<&'a str>,
    encryption: ContentEncryption,
}

impl<'a> Req<'a> {
    fn new(device: &'a Device, challenge: Option<&'a str>) -> Self {
        Self {
            device,
            signer_cert: None,
            message_type: MessageType::PkcsReq,
            transaction_id: "tx-1",
            subject: "CN=device",
            challenge,
            encryption: ContentEncryption::Aes256Cbc,
        }
    }

    #[expect(clippy::unwrap_used, reason = "test helper")]
    fn encode(&self, service: &ScepService) -> Vec<u8> {
        let backend = default_backend();
        let signer = backend.signer(&self.device.key).unwrap();
        let mut builder = RequestBuilder::new(self.subject);
        if let Some(c) = self.challenge {
            builder = builder.challenge_password(c);
        }
        let csr = builder.sign(signer.as_ref()).unwrap();
        RequestMessage {
            message_type: self.message_type,
            transaction_id: self.transaction_id,
            payload: &csr,
            recipient: service.ra_certificate(),
            encryption: self.encryption,
            signer_cert: self.signer_cert.unwrap_or(&self.device.cert),
            signer: signer.as_ref(),
        }
        .encode()
        .unwrap()
        .0
    }
}

#[expect(clippy::unwrap_used, reason = "test helper")]
fn answer(
    service: &ScepService,
    device: &Device,
    signer_cert: &Certificate,
    body: &[u8],
) -> (PkiMessage, Option<Certificate>) {
    let reply = service.pki_operation(body).unwrap();
    let policy = ScepPolicy::default();
    let rep = PkiMessage::decode(&reply, &policy, default_backend()).unwrap();
    assert_eq!(rep.message_type, MessageType::CertRep);
    assert_eq!(
        rep.signer.der(),
        service.ra_certificate().der(),
        "signed by the RA"
    );
    let cert = (rep.pki_status == Some(PkiStatus::Success)).then(|| {
        let decrypter = default_backend().decrypter(&device.key).unwrap();
        let (inner, _) = rep
            .decrypt(signer_cert, decrypter.as_ref(), &policy)
            .unwrap();
        parse_certs_only(&inner).unwrap().remove(0)
    });
    (rep, cert)
}

#[test]
fn static_challenge_enrolls_and_records_the_outcome() {
    let f = fixture();
    let d = device(KeyAlgorithm::RSA2048);
    let body = Req::new(&d, Some(&f.secret)).encode(&f.service);
    let (rep, cert) = answer(&f.service, &d, &d.cert, &body);
    assert_eq!(rep.pki_status, Some(PkiStatus::Success));
    let cert = cert.unwrap();
    assert_eq!(cert.public_key(), d.key.public_key());
    f.service
        .ca()
        .verify(&cert, None, time::OffsetDateTime::now_utc())
        .unwrap();
    let events = f.service.events();
    let last = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "issued");
    assert_eq!(last["challenge"], "static");
    assert_eq!(last["transactionId"], "tx-1");

    // A resend of the same transaction with the same key gets the same certificate, not a second one.
    let before = issued_count(&f.ledger);
    let (rep, again) = answer(
        &f.service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&f.secret)).encode(&f.service),
    );
    assert_eq!(rep.pki_status, Some(PkiStatus::Success));
    assert_eq!(again.unwrap().der(), cert.der());
    assert_eq!(issued_count(&f.ledger), before);
}

#[test]
fn ca_caps_and_ca_certs() {
    let f = fixture();
    let caps = f.service.ca_caps();
    assert!(caps.ends_with("\r\n"));
    for cap in [
        "POSTPKIOperation",
        "SHA-256",
        "SHA-512",
        "AES",
        "DES3",
        "SCEPStandard",
        "Renewal",
    ] {
        assert!(caps.split("\r\n").any(|c| c == cap), "{cap} in {caps:?}");
    }
    assert!(!caps.contains("SHA-1"), "SHA-1 only when allowed");
    let certs = parse_certs_only(&f.service.ca_certs().unwrap()).unwrap();
    assert_eq!(certs.len(), 3);
    let ra = certs
        .iter()
        .find(|c| c.der() == f.service.ra_certificate().der())
        .unwrap();
    let ku = ra.key_usage().unwrap().unwrap();
    assert!(
        ku.digital_signature() && ku.key_encipherment(),
        "certmonger needs both"
    );
}

#[test]
fn bad_requests_get_the_right_fail_info_and_issue_nothing() {
    let f = fixture();
    let d = device(KeyAlgorithm::RSA2048);
    let other = fixture();
    let issued_before = issued_count(&f.ledger);

    // (name, body, expected failInfo)
    let mut cases: Vec<(&str, Vec<u8>, FailInfo)> = Vec::new();
    cases.push((
        "wrong challenge",
        Req::new(&d, Some("not-the-secret")).encode(&f.service),
        FailInfo::BadRequest,
    ));
    cases.push((
        "no challenge",
        Req::new(&d, None).encode(&f.service),
        FailInfo::BadRequest,
    ));
    let mut des = Req::new(&d, Some(&f.secret));
    des.encryption = ContentEncryption::DesCbc;
    des.transaction_id = "tx-des";
    cases.push((
        "single DES below the minimum",
        des.encode(&f.service),
        FailInfo::BadAlg,
    ));
    let mut elsewhere = Req::new(&d, Some(&f.secret));
    elsewhere.transaction_id = "tx-elsewhere";
    cases.push((
        "envelope for another RA",
        elsewhere.encode(&other.service),
        FailInfo::BadMessageCheck,
    ));
    let mut tampered = Req::new(&d, Some(&f.secret));
    tampered.transaction_id = "tx-tampered";
    let mut body = tampered.encode(&f.service);
    let at = body.len() - 5;
    body[at] ^= 0x40;
    cases.push(("tampered signature", body, FailInfo::BadMessageCheck));
    let mut renewal = Req::new(&d, None);
    renewal.message_type = MessageType::RenewalReq;
    renewal.transaction_id = "tx-renew-selfsigned";
    cases.push((
        "RenewalReq signed by a self-signed certificate",
        renewal.encode(&f.service),
        FailInfo::BadRequest,
    ));

    for (name, body, expected) in cases {
        let (rep, cert) = answer(&f.service, &d, &d.cert, &body);
        assert_eq!(rep.pki_status, Some(PkiStatus::Failure), "{name}");
        assert_eq!(
            rep.fail_info,
            Some(expected),
            "{name}: {:?}",
            rep.fail_info_text
        );
        assert!(
            rep.fail_info_text.is_some(),
            "{name}: failInfoText says why"
        );
        assert!(cert.is_none(), "{name}");
    }
    assert_eq!(
        issued_count(&f.ledger),
        issued_before,
        "no failure issued a certificate"
    );
}

#[test]
fn replayed_transaction_with_another_key_is_refused() {
    let f = fixture();
    let first = device(KeyAlgorithm::RSA2048);
    let (rep, _) = answer(
        &f.service,
        &first,
        &first.cert,
        &Req::new(&first, Some(&f.secret)).encode(&f.service),
    );
    assert_eq!(rep.pki_status, Some(PkiStatus::Success));
    let second = device(KeyAlgorithm::RSA2048);
    let issued = issued_count(&f.ledger);
    let (rep, _) = answer(
        &f.service,
        &second,
        &second.cert,
        &Req::new(&second, Some(&f.secret)).encode(&f.service),
    );
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    assert_eq!(issued_count(&f.ledger), issued);
}

#[test]
fn key_below_policy_is_refused() {
    let f = fixture();
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = PrivateKey::from_pem(&out.stdout).unwrap();
    let signer = default_backend().signer(&key).unwrap();
    let cert = Certificate::self_signed("CN=weak", signer.as_ref(), 1).unwrap();
    let d = Device { key, cert };
    let (rep, _) = answer(
        &f.service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&f.secret)).encode(&f.service),
    );
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    assert!(rep.fail_info_text.unwrap().contains("1024"));
}

#[test]
fn dynamic_challenges_are_one_time() {
    let backend = default_backend();
    let ca = Arc::new(
        Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
            .unwrap()
            .ca,
    );
    let ra_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=SCEP RA").unwrap();
    let (dynamic, creds) =
        DynamicChallenges::generate(DynamicChallenges::DEFAULT_VALIDITY, 16).unwrap();
    assert!(dynamic.check_credentials(&creds.username, &creds.password));
    assert!(!dynamic.check_credentials(&creds.username, "wrong"));
    let dynamic = Arc::new(dynamic);
    let service =
        ScepService::new(ca, ra_cert, &ra_key, dynamic.clone(), ScepConfig::default()).unwrap();
    let challenge = dynamic.issue(time::OffsetDateTime::now_utc()).unwrap();

    let d = device(KeyAlgorithm::RSA2048);
    let (rep, _) = answer(
        &service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&challenge)).encode(&service),
    );
    assert_eq!(rep.pki_status, Some(PkiStatus::Success));
    let again = device(KeyAlgorithm::RSA2048);
    let mut reuse = Req::new(&again, Some(&challenge));
    reuse.transaction_id = "tx-2";
    let (rep, _) = answer(&service, &again, &again.cert, &reuse.encode(&service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
    assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
    assert!(rep.fail_info_text.unwrap().contains("already used"));

    // The store is bounded.
    for _ in 0..15 {
        dynamic.issue(time::OffsetDateTime::now_utc()).unwrap();
    }
    assert!(dynamic.issue(time::OffsetDateTime::now_utc()).is_err());
}

#[test]
fn renewal_needs_no_challenge_only_inside_the_window_and_only_when_valid() {
    let f = fixture_with(ScepConfig {
        renewal_window_days: 400,
        ..ScepConfig::default()
    });
    let d = device(KeyAlgorithm::RSA2048);
    let (_, cert) = answer(
        &f.service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&f.secret)).encode(&f.service),
    );
    let old = cert.unwrap();

    // Signed by the certificate we issued, no challenge: a renewal.
    let mut renew = Req::new(&d, None);
    renew.message_type = MessageType::RenewalReq;
    renew.transaction_id = "tx-renew";
    renew.signer_cert = Some(&old);
    let (rep, new) = answer(&f.service, &d, &old, &renew.encode(&f.service));
    assert_eq!(
        rep.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        rep.fail_info_text
    );
    assert_ne!(new.unwrap().serial().unwrap(), old.serial().unwrap());

    // Once revoked, the old certificate renews nothing.
    f.service
        .ca()
        .revoke(
            &old.serial().unwrap(),
            RevocationReason::KeyCompromise,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    renew.transaction_id = "tx-renew-revoked";
    let (rep, _) = answer(&f.service, &d, &old, &renew.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));

    // A certificate from another CA renews nothing either.
    let other = fixture();
    let (_, foreign) = answer(
        &other.service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&other.secret)).encode(&other.service),
    );
    let foreign = foreign.unwrap();
    renew.transaction_id = "tx-renew-foreign";
    renew.signer_cert = Some(&foreign);
    let (rep, _) = answer(&f.service, &d, &foreign, &renew.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
}

#[test]
fn renewal_outside_the_window_is_refused() {
    let f = fixture_with(ScepConfig {
        renewal_window_days: 10,
        ..ScepConfig::default()
    });
    let d = device(KeyAlgorithm::RSA2048);
    // Valid for a year: outside a 10-day window.
    let (_, cert) = answer(
        &f.service,
        &d,
        &d.cert,
        &Req::new(&d, Some(&f.secret)).encode(&f.service),
    );
    let fresh = cert.unwrap();
    let mut renew = Req::new(&d, None);
    renew.message_type = MessageType::RenewalReq;
    renew.transaction_id = "tx-early";
    renew.signer_cert = Some(&fresh);
    let (rep, _) = answer(&f.service, &d, &fresh, &renew.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
}

#[test]
fn manual_approval_answers_pending_then_success_or_failure() {
    let f = fixture_with(ScepConfig {
        manual_approval: true,
        ..ScepConfig::default()
    });
    let d = device(KeyAlgorithm::RSA2048);
    let body = Req::new(&d, Some(&f.secret)).encode(&f.service);
    let issued = issued_count(&f.ledger);
    let (rep, _) = answer(&f.service, &d, &d.cert, &body);
    assert_eq!(rep.pki_status, Some(PkiStatus::Pending));
    assert_eq!(
        issued_count(&f.ledger),
        issued,
        "nothing issued while pending"
    );
    assert_eq!(f.service.pending().unwrap().len(), 1);

    let mut poll = Req::new(&d, None);
    poll.message_type = MessageType::CertPoll;
    let (rep, _) = answer(&f.service, &d, &d.cert, &poll.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Pending));

    f.service.approve("tx-1").unwrap();
    let (rep, cert) = answer(&f.service, &d, &d.cert, &poll.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Success));
    assert_eq!(cert.unwrap().public_key(), d.key.public_key());

    let e = device(KeyAlgorithm::RSA2048);
    let mut second = Req::new(&e, Some(&f.secret));
    second.transaction_id = "tx-2";
    answer(&f.service, &e, &e.cert, &second.encode(&f.service));
    f.service.reject("tx-2", "not one of ours").unwrap();
    assert!(
        matches!(
            f.service.reject("tx-2", "twice"),
            Err(ScepError::NotPending { transaction_id }) if transaction_id == "tx-2"
        ),
        "a decided request is no longer pending"
    );
    assert!(matches!(
        f.service.approve("tx-1"),
        Err(ScepError::NotPending { .. })
    ));
    let mut poll = Req::new(&e, None);
    poll.message_type = MessageType::CertPoll;
    poll.transaction_id = "tx-2";
    let (rep, _) = answer(&f.service, &e, &e.cert, &poll.encode(&f.service));
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
}

#[test]
fn garbage_is_refused_without_a_reply_and_without_panic() {
    let f = fixture();
    let issued = issued_count(&f.ledger);
    let bodies: [&[u8]; 5] = [b"", b"\x30\x80", b"hello", &[0x30; 4096], &[0u8; 70_000]];
    for body in bodies {
        assert!(f.service.pki_operation(body).is_err());
    }
    assert_eq!(issued_count(&f.ledger), issued, "nothing issued");
    let refused = f
        .service
        .events()
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Refused { .. }))
        .count();
    assert_eq!(refused, bodies.len(), "every refusal is recorded");
}
