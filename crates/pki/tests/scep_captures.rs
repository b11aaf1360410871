//! Captures of real clients' PKIOperation requests (and our CertReps), made
//! by `tests/scep_interop.rs` with `DEVICETRUST_SCEP_CAPTURE_DIR`; see
//! `tests/data/scep/captures/README.md`. Each decodes and verifies on every
//! backend; with the throw-away RA key each request decrypts to the CSR the
//! client made; and the DER structures round-trip byte for byte.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use devicetrust_pki::scep::{ContentEncryption, MessageType, PkiMessage, PkiStatus, ScepPolicy};
use devicetrust_pki::x509_cert::der::{Decode, Encode};
use devicetrust_pki::{
    Certificate, CertificateRequest, HashAlgorithm, KeyPolicy, PrivateKey, backends,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scep/captures");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap()
}

/// One captured PKCSReq and what it must say.
struct Request {
    file: &'static str,
    ra: &'static str,
    digest: HashAlgorithm,
    encryption: ContentEncryption,
    subject: &'static str,
    signer: &'static str,
}

const REQUESTS: &[Request] = &[
    Request {
        file: "micromdm-scepclient-pkcsreq-des-sha1.der",
        ra: "micromdm-ra",
        digest: HashAlgorithm::Sha1,
        encryption: ContentEncryption::DesCbc,
        subject: "CN=micromdm-device,OU=MDM,O=scep-client,C=US",
        signer: "CN=SCEP SIGNER,O=scep-client",
    },
    Request {
        file: "strongswan-pki-pkcsreq-aes128.der",
        ra: "strongswan-ra",
        digest: HashAlgorithm::Sha256,
        encryption: ContentEncryption::Aes128Cbc,
        subject: "CN=strongswan-aes",
        signer: "CN=strongswan-aes",
    },
    Request {
        file: "strongswan-pki-pkcsreq-des3.der",
        ra: "strongswan-ra",
        digest: HashAlgorithm::Sha256,
        encryption: ContentEncryption::DesEde3Cbc,
        subject: "CN=strongswan-des3",
        signer: "CN=strongswan-des3",
    },
    Request {
        file: "certmonger-pkcsreq-aes256-sha256.der",
        ra: "certmonger-ra",
        digest: HashAlgorithm::Sha256,
        encryption: ContentEncryption::Aes256Cbc,
        subject: "CN=certmonger-device",
        signer: "CN=certmonger-device",
    },
    Request {
        file: "devicetrust-pkcsreq-aes256.der",
        ra: "devicetrust-ra",
        digest: HashAlgorithm::Sha256,
        encryption: ContentEncryption::Aes256Cbc,
        subject: "CN=first",
        signer: "CN=first",
    },
];

/// Accepts what real clients send: SHA-1 and single DES (micromdm).
fn policy() -> ScepPolicy {
    ScepPolicy::lenient()
}

#[test]
fn every_captured_request_decodes_decrypts_and_holds_its_csr() {
    for backend in backends() {
        for r in REQUESTS {
            let case = format!("{} on {}", r.file, backend.name());
            let msg = PkiMessage::decode(&read(r.file), &policy(), backend)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(msg.message_type, MessageType::PkcsReq, "{case}");
            assert_eq!(msg.digest, r.digest, "{case}");
            assert_eq!(msg.content_encryption(), Some(r.encryption), "{case}");
            assert_eq!(msg.signer.subject().to_string(), r.signer, "{case}");
            assert!(!msg.transaction_id.is_empty(), "{case}");
            assert!(msg.sender_nonce.len() >= 8, "{case}");
            assert!(
                msg.pki_status.is_none() && msg.recipient_nonce.is_none(),
                "{case}"
            );

            let ra_key = PrivateKey::read_pem_file(format!("{DIR}/{}.key", r.ra).as_ref()).unwrap();
            let ra_cert = Certificate::parse(&read(&format!("{}.pem", r.ra))).unwrap();
            let decrypter = backend.decrypter(&ra_key).unwrap();
            let (plain, encryption) = msg
                .decrypt(&ra_cert, decrypter.as_ref(), &policy())
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(encryption, r.encryption, "{case}");
            let keys = KeyPolicy {
                allow_sha1: true,
                ..KeyPolicy::default()
            };
            let csr = CertificateRequest::from_der(&plain, &keys, backend)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(csr.subject().to_string(), r.subject, "{case}");
            assert!(csr.challenge_password().is_some(), "{case}");

            // Byte for byte: the CSR and the signer certificate re-encode as sent.
            let parsed = devicetrust_pki::x509_cert::request::CertReq::from_der(&plain).unwrap();
            assert!(parsed.to_der().unwrap() == plain.to_vec(), "{case}");
            assert!(reencode(msg.signer.der()) == msg.signer.der(), "{case}");
            match devicetrust_pki::x509_cert::Certificate::from_der(msg.signer.der()) {
                Ok(signer) => assert!(signer.to_der().unwrap() == msg.signer.der(), "{case}"),
                // A 32-octet serial: see every_capture_is_der_and_round_trips_byte_for_byte.
                Err(e) => assert!(r.file.starts_with("certmonger"), "{case}: {e}"),
            }
        }
    }
}

#[test]
fn captured_requests_are_not_for_another_ra() {
    // Each envelope is encrypted to its own capture's RA and no other.
    let backend = backends()[0];
    let other = Certificate::parse(&read("devicetrust-ra.pem")).unwrap();
    let other_key =
        PrivateKey::read_pem_file(format!("{DIR}/devicetrust-ra.key").as_ref()).unwrap();
    let decrypter = backend.decrypter(&other_key).unwrap();
    for r in REQUESTS.iter().filter(|r| r.ra != "devicetrust-ra") {
        let msg = PkiMessage::decode(&read(r.file), &policy(), backend).unwrap();
        assert!(
            msg.decrypt(&other, decrypter.as_ref(), &policy()).is_err(),
            "{}",
            r.file
        );
    }
}

#[test]
fn captured_certreps_decode() {
    let cases = [
        (CERTREPS[0], PkiStatus::Success, true),
        (CERTREPS[1], PkiStatus::Success, true),
        (CERTREPS[2], PkiStatus::Failure, false),
    ];
    for backend in backends() {
        for (file, status, envelope) in cases {
            let msg = PkiMessage::decode(&read(file), &policy(), backend)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(msg.message_type, MessageType::CertRep, "{file}");
            assert_eq!(msg.pki_status, Some(status), "{file}");
            assert!(msg.recipient_nonce.is_some(), "{file}");
            assert!(
                msg.signer
                    .subject()
                    .to_string()
                    .starts_with("CN=devicetrust SCEP RA"),
                "{file}"
            );
            assert_eq!(msg.envelope.is_some(), envelope, "{file}");
            if status == PkiStatus::Failure {
                assert!(msg.fail_info.is_some(), "{file}");
            }
        }
    }
}

/// Re-encodes a BER/DER tree with definite, minimal lengths (tags and
/// contents untouched). DER input comes back byte for byte.
fn reencode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let tag = rest[0];
        let (len, header) = match rest[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let count = usize::from(n & 0x7f);
                let len = rest[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (len, 2 + count)
            }
        };
        assert_ne!(tag & 0x1f, 0x1f, "high tag numbers do not occur here");
        let value = &rest[header..header + len];
        let body = if tag & 0x20 != 0 {
            reencode(value)
        } else {
            value.to_vec()
        };
        out.push(tag);
        match body.len() {
            n if n < 0x80 => out.push(n as u8),
            n => {
                let bytes: Vec<u8> = n
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|b| *b == 0)
                    .collect();
                out.push(0x80 | bytes.len() as u8);
                out.extend(bytes);
            }
        }
        out.extend(body);
        rest = &rest[header + len..];
    }
    out
}

const CERTREPS: [&str; 3] = [
    "devicetrust-certrep-success.der",
    "devicetrust-certrep-success-to-certmonger.der",
    "devicetrust-certrep-failure-badrequest.der",
];

#[test]
fn every_capture_is_der_and_round_trips_byte_for_byte() {
    // Every client here sends DER (definite, minimal lengths), so the whole
    // message, walked down to its primitive values and re-encoded, comes
    // back as the very bytes captured; and the typed CMS structures do too,
    // except where the types are stricter than the clients (below).
    let files = REQUESTS.iter().map(|r| r.file).chain(CERTREPS);
    for file in files {
        let der = read(file);
        assert!(reencode(&der) == der, "{file}: not DER");
        let info = ContentInfo::from_der(&der).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(info.to_der().unwrap() == der, "{file}: ContentInfo");
        match info.content.decode_as::<SignedData>() {
            Ok(signed) => {
                assert!(
                    signed.to_der().unwrap() == info.content.to_der().unwrap(),
                    "{file}: SignedData"
                );
            }
            // certmonger signs with a self-signed certificate whose serial
            // is 32 octets; x509-cert (rightly, RFC 5280 section 4.1.2.2)
            // refuses serials over 20 octets, so the typed SignedData does
            // not decode. Our own decoder reads the signer leniently.
            Err(e) => assert!(file.contains("certmonger"), "{file}: {e}"),
        }
    }
}
