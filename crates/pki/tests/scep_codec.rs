//! SCEP codec: the shared RustCrypto fixture decodes, and our own messages
//! round-trip through encode, decode, decrypt on every backend.

use std::sync::Arc;

use devicetrust_pki::scep::{
    CertRep, ContentEncryption, FailInfo, MessageType, PkiMessage, PkiStatus, RequestMessage,
    ScepError, ScepPolicy, degenerate_certs_only, parse_certs_only,
};
use devicetrust_pki::{
    Ca, CaConfig, HashAlgorithm, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, backends,
};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/scep/rustcrypto-formats"
);

#[test]
fn rustcrypto_formats_pkcsreq_decodes() {
    let der = std::fs::read(format!("{FIXTURES}/scep_der.bin")).unwrap();
    for backend in backends() {
        let msg = PkiMessage::decode(&der, &ScepPolicy::default(), backend).unwrap();
        assert_eq!(msg.message_type, MessageType::PkcsReq);
        assert_eq!(msg.digest, HashAlgorithm::Sha256);
        assert_eq!(msg.content_encryption(), Some(ContentEncryption::Aes128Cbc));
        assert_eq!(msg.sender_nonce.len(), 16);
        assert!(!msg.transaction_id.is_empty());
        assert!(msg.pki_status.is_none());
        // The signer is a device-style self-signed certificate (as `openssl asn1parse` shows).
        assert_eq!(
            msg.signer.subject().to_string(),
            "CN=7B7E01FD-9F08-4D6C-B32E-3C9007ABB58D"
        );
        assert_eq!(msg.signer.issuer(), msg.signer.subject());
    }
}

#[test]
fn tampered_fixture_fails_the_message_check() {
    let mut der = std::fs::read(format!("{FIXTURES}/scep_der.bin")).unwrap();
    // The signature value is the last OCTET STRING: flip a bit near the end.
    let at = der.len() - 10;
    der[at] ^= 0x01;
    let err = PkiMessage::decode(&der, &ScepPolicy::default(), backends()[0]).unwrap_err();
    assert_eq!(err.fail_info(), FailInfo::BadMessageCheck, "{err}");
}

struct Setup {
    ca: Ca,
    ra_cert: devicetrust_pki::Certificate,
    ra_key: devicetrust_pki::PrivateKey,
}

#[expect(clippy::unwrap_used, reason = "test setup: a failure is a failed test")]
fn setup(backend: &'static dyn devicetrust_pki::Backend) -> Setup {
    let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
        .unwrap()
        .ca;
    let ra_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let ra_cert = ca
        .issue_ra_certificate(&ra_key, "CN=devicetrust SCEP RA")
        .unwrap();
    Setup {
        ca,
        ra_cert,
        ra_key,
    }
}

#[test]
fn pkcsreq_and_certrep_round_trip_on_every_backend() {
    for backend in backends() {
        let s = setup(backend);
        let device_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
        let device_signer = backend.signer(&device_key).unwrap();
        let csr = RequestBuilder::new("CN=device-1")
            .challenge_password("s3cret")
            .sign(device_signer.as_ref())
            .unwrap();
        let selfsigned =
            devicetrust_pki::Certificate::self_signed("CN=device-1", device_signer.as_ref(), 1)
                .unwrap();
        for encryption in [
            ContentEncryption::DesEde3Cbc,
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes192Cbc,
            ContentEncryption::Aes256Cbc,
        ] {
            let (der, nonce) = RequestMessage {
                message_type: MessageType::PkcsReq,
                transaction_id: "tx-1",
                payload: &csr,
                recipient: &s.ra_cert,
                encryption,
                signer_cert: &selfsigned,
                signer: device_signer.as_ref(),
            }
            .encode()
            .unwrap();
            let policy = ScepPolicy::default();
            let msg = PkiMessage::decode(&der, &policy, backend).unwrap();
            assert_eq!(msg.message_type, MessageType::PkcsReq);
            assert_eq!(msg.transaction_id, "tx-1");
            assert_eq!(msg.sender_nonce, nonce);
            assert_eq!(msg.content_encryption(), Some(encryption));
            let decrypter = backend.decrypter(&s.ra_key).unwrap();
            let (plain, alg) = msg
                .decrypt(&s.ra_cert, decrypter.as_ref(), &policy)
                .unwrap();
            assert_eq!(alg, encryption);
            assert_eq!(&plain[..], &csr[..]);

            let request = s.ca.parse_request(&plain).unwrap();
            let cert = s.ca.issue(&request, &IssueOptions::default()).unwrap();
            let payload = degenerate_certs_only(&[&cert]).unwrap();
            let ra_signer = backend.signer(&s.ra_key).unwrap();
            let reply = CertRep {
                transaction_id: &msg.transaction_id,
                recipient_nonce: &msg.sender_nonce,
                status: PkiStatus::Success,
                fail_info: None,
                fail_info_text: None,
                payload: Some(&payload),
                recipient: &msg.signer,
                encryption: alg,
            }
            .encode(&s.ra_cert, ra_signer.as_ref())
            .unwrap();
            let rep = PkiMessage::decode(&reply, &policy, backend).unwrap();
            assert_eq!(rep.message_type, MessageType::CertRep);
            assert_eq!(rep.pki_status, Some(PkiStatus::Success));
            assert_eq!(rep.recipient_nonce.as_deref(), Some(&nonce[..]));
            assert_eq!(rep.signer.der(), s.ra_cert.der());
            let device_decrypter = backend.decrypter(&device_key).unwrap();
            let (inner, _) = rep
                .decrypt(&selfsigned, device_decrypter.as_ref(), &policy)
                .unwrap();
            let certs = parse_certs_only(&inner).unwrap();
            assert_eq!(certs.len(), 1);
            assert_eq!(certs[0].der(), cert.der());
        }
    }
}

#[test]
fn single_des_is_refused_unless_allowed_and_failure_replies_carry_fail_info() {
    let backend = backends()[0];
    let s = setup(backend);
    let device_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let signer = backend.signer(&device_key).unwrap();
    let selfsigned = devicetrust_pki::Certificate::self_signed("CN=d", signer.as_ref(), 1).unwrap();
    let (der, _) = RequestMessage {
        message_type: MessageType::PkcsReq,
        transaction_id: "tx-des",
        payload: b"not a csr",
        recipient: &s.ra_cert,
        encryption: ContentEncryption::DesCbc,
        signer_cert: &selfsigned,
        signer: signer.as_ref(),
    }
    .encode()
    .unwrap();
    let strict = ScepPolicy::default();
    let msg = PkiMessage::decode(&der, &strict, backend).unwrap();
    let decrypter = backend.decrypter(&s.ra_key).unwrap();
    let err = msg
        .decrypt(&s.ra_cert, decrypter.as_ref(), &strict)
        .unwrap_err();
    assert!(matches!(err, ScepError::ForbiddenAlgorithm { .. }), "{err}");
    assert_eq!(err.fail_info(), FailInfo::BadAlg);
    let lax = ScepPolicy {
        minimum_encryption: ContentEncryption::DesCbc,
        ..ScepPolicy::default()
    };
    let (plain, _) = msg.decrypt(&s.ra_cert, decrypter.as_ref(), &lax).unwrap();
    assert_eq!(&plain[..], b"not a csr");

    let ra_signer = backend.signer(&s.ra_key).unwrap();
    let reply = CertRep {
        transaction_id: "tx-des",
        recipient_nonce: &msg.sender_nonce,
        status: PkiStatus::Failure,
        fail_info: Some(FailInfo::BadAlg),
        fail_info_text: Some("single DES is not allowed"),
        payload: None,
        recipient: &msg.signer,
        encryption: ContentEncryption::Aes128Cbc,
    }
    .encode(&s.ra_cert, ra_signer.as_ref())
    .unwrap();
    let rep = PkiMessage::decode(&reply, &strict, backend).unwrap();
    assert_eq!(rep.pki_status, Some(PkiStatus::Failure));
    assert_eq!(rep.fail_info, Some(FailInfo::BadAlg));
    assert_eq!(
        rep.fail_info_text.as_deref(),
        Some("single DES is not allowed")
    );
    assert!(rep.envelope.is_none());
}

#[test]
fn envelope_to_another_recipient_is_refused() {
    let backend = backends()[0];
    let s = setup(backend);
    let other = setup(backend);
    let device_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let signer = backend.signer(&device_key).unwrap();
    let selfsigned = devicetrust_pki::Certificate::self_signed("CN=d", signer.as_ref(), 1).unwrap();
    let (der, _) = RequestMessage {
        message_type: MessageType::PkcsReq,
        transaction_id: "tx",
        payload: b"x",
        recipient: &other.ra_cert,
        encryption: ContentEncryption::Aes256Cbc,
        signer_cert: &selfsigned,
        signer: signer.as_ref(),
    }
    .encode()
    .unwrap();
    let policy = ScepPolicy::default();
    let msg = PkiMessage::decode(&der, &policy, backend).unwrap();
    let decrypter = backend.decrypter(&s.ra_key).unwrap();
    let err = msg
        .decrypt(&s.ra_cert, decrypter.as_ref(), &policy)
        .unwrap_err();
    assert!(matches!(err, ScepError::NotForUs), "{err}");
    assert_eq!(err.fail_info(), FailInfo::BadMessageCheck);
}
