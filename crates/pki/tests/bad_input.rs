//! Bad input gives a typed error, never a panic: requests, certificates,
//! CRLs and PEM that are tampered, truncated, padded, random or mislabelled,
//! and CA folders that are missing files or hold corrupt ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{fixture, issue_p256, new_ca, p256_request};
use devicetrust_pki::encoding::{MAX_DER_LEN, to_pem};
use devicetrust_pki::{
    Backend, CaConfig, CaDir, Certificate, CertificateRequest, Crl, Error, KeyPolicy, PrivateKey,
    SignatureAlgorithm, backends,
};

fn parse_request(input: &[u8], backend: &dyn Backend) -> Result<CertificateRequest, Error> {
    CertificateRequest::parse(input, &KeyPolicy::default(), backend)
}

/// A small deterministic generator, so a failure is reproducible.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_be_bytes()[0]
        })
        .collect()
}

fn flip_last(mut der: Vec<u8>) -> Vec<u8> {
    *der.last_mut().unwrap() ^= 0x01;
    der
}

/// Replaces the first occurrence of `from` in `der` with `to` (same length).
fn replace(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = der
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(from)));
    let mut out = der.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

/// The OpenSSL-made RSA-2048 request (DER), and a P-256 one of our own.
fn good_requests(backend: &'static dyn Backend) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "rsa2048 openssl",
            fixture("requests/rsa2048-sha256-challenge.der"),
        ),
        (
            "p256 ours",
            p256_request(backend, "CN=alice@example.com managementAttestation dev-42"),
        ),
    ]
}

#[test]
fn the_good_requests_parse() {
    for backend in backends() {
        for (name, der) in good_requests(backend) {
            let request = parse_request(&der, backend).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                request.subject().to_string(),
                "CN=alice@example.com managementAttestation dev-42"
            );
        }
    }
}

type Check = fn(&Error) -> bool;

#[test]
fn bad_requests_give_typed_errors() {
    let is_bad_signature: Check = |e| {
        matches!(
            e,
            Error::BadSignature {
                what: "certificate request",
                ..
            }
        )
    };
    for backend in backends() {
        for (name, der) in good_requests(backend) {
            let pem = to_pem("CERTIFICATE REQUEST", &der).unwrap();
            let mut doubled = der.clone();
            doubled.extend_from_slice(&der);
            let mut non_utf8 = pem.clone().into_bytes();
            non_utf8.insert(40, 0xff);
            let mut two_blocks = pem.clone();
            two_blocks.push_str(&pem);
            let cases: Vec<(&str, Vec<u8>, Check)> = vec![
                (
                    "signature bit flipped",
                    flip_last(der.clone()),
                    is_bad_signature,
                ),
                (
                    "subject changed",
                    replace(&der, b"alice", b"mallo"),
                    is_bad_signature,
                ),
                (
                    "one trailing zero byte",
                    [der.as_slice(), &[0]].concat(),
                    |e| matches!(e, Error::TrailingData { trailing: 1, .. }),
                ),
                (
                    "the request twice",
                    doubled,
                    |e| matches!(e, Error::TrailingData { trailing, .. } if *trailing > 200),
                ),
                ("non-utf-8 pem", non_utf8, |e| {
                    matches!(e, Error::Pem { .. })
                }),
                ("two pem blocks", two_blocks.into_bytes(), |e| {
                    matches!(e, Error::Pem { .. })
                }),
                (
                    "pem with trailing bytes inside",
                    to_pem("CERTIFICATE REQUEST", &[der.as_slice(), &[5, 0]].concat())
                        .unwrap()
                        .into_bytes(),
                    |e| matches!(e, Error::TrailingData { trailing: 2, .. }),
                ),
                (
                    "pem label CERTIFICATE",
                    to_pem("CERTIFICATE", &der).unwrap().into_bytes(),
                    |e| {
                        matches!(e, Error::PemLabel { expected: "CERTIFICATE REQUEST", found }
                            if found == "CERTIFICATE")
                    },
                ),
            ];
            for (case, input, check) in cases {
                let err = parse_request(&input, backend)
                    .map(|_| ())
                    .expect_err(&format!("{} {name} {case}: parsed", backend.name()));
                assert!(check(&err), "{} {name} {case}: {err:?}", backend.name());
            }
        }
    }
}

#[test]
fn a_certificate_where_a_request_is_expected() {
    let backend = devicetrust_pki::default_backend();
    let ca = new_ca(backend);
    let cert = issue_p256(&ca, "CN=device");
    let err = parse_request(cert.to_pem().unwrap().as_bytes(), backend).unwrap_err();
    assert!(
        matches!(&err, Error::PemLabel { expected: "CERTIFICATE REQUEST", found } if found == "CERTIFICATE"),
        "{err:?}"
    );
    // As DER it is a well-formed SEQUENCE, but not a request.
    let err = parse_request(cert.der(), backend).unwrap_err();
    assert!(
        matches!(err, Error::Der { .. } | Error::TrailingData { .. }),
        "{err:?}"
    );
    // And a request is not a certificate or a CRL.
    let csr = p256_request(backend, "CN=device");
    let pem = to_pem("CERTIFICATE REQUEST", &csr).unwrap();
    let err = Certificate::parse(pem.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PemLabel {
                expected: "CERTIFICATE",
                ..
            }
        ),
        "{err:?}"
    );
    let err = Certificate::from_der(&csr).unwrap_err();
    assert!(matches!(err, Error::Der { .. }), "{err:?}");
    let err = Crl::parse(pem.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PemLabel {
                expected: "X509 CRL",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn every_truncation_is_an_error() {
    let backend = devicetrust_pki::default_backend();
    let ca = new_ca(backend);
    let cert = issue_p256(&ca, "CN=device");
    let crl = ca.crl(time::OffsetDateTime::now_utc()).unwrap();
    for (name, der) in good_requests(backend) {
        for len in 0..der.len() {
            let err = parse_request(&der[..len], backend).unwrap_err();
            let expected = if len == 0 {
                matches!(err, Error::Pem { .. })
            } else {
                matches!(err, Error::Der { .. })
            };
            assert!(expected, "{name} cut to {len} bytes: {err:?}");
        }
    }
    for len in 1..cert.der().len() {
        let err = Certificate::from_der(&cert.der()[..len]).unwrap_err();
        assert!(
            matches!(err, Error::Der { .. }),
            "certificate cut to {len}: {err:?}"
        );
    }
    for len in 1..crl.der().len() {
        let err = Crl::from_der(&crl.der()[..len]).unwrap_err();
        assert!(
            matches!(err, Error::Der { .. }),
            "crl cut to {len}: {err:?}"
        );
    }
    // Truncated PEM text too (only the final newline may go).
    let pem = to_pem("CERTIFICATE REQUEST", &good_requests(backend)[0].1).unwrap();
    assert!(parse_request(pem.trim_end().as_bytes(), backend).is_ok());
    for len in 0..pem.trim_end().len() {
        let err = parse_request(&pem.as_bytes()[..len], backend).unwrap_err();
        assert!(
            matches!(err, Error::Pem { .. }),
            "pem cut to {len}: {err:?}"
        );
    }
}

#[test]
fn a_mebibyte_of_random_bytes() {
    let backend = devicetrust_pki::default_backend();
    let mut random = pseudo_random(1 << 20, 0x9e37_79b9_7f4a_7c15);
    // Starting like DER: refused by size before any decoding.
    random[0] = 0x30;
    let err = parse_request(&random, backend).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { len, limit, .. } if len == 1 << 20 && limit == MAX_DER_LEN),
        "{err:?}"
    );
    let err = Certificate::parse(&random).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let err = Crl::parse(&random).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    // Starting otherwise: taken for PEM, which it is not.
    random[0] = 0xff;
    let err = parse_request(&random, backend).unwrap_err();
    assert!(
        matches!(err, Error::Pem { .. } | Error::TooLarge { .. }),
        "{err:?}"
    );
    let err = PrivateKey::from_pem(&random).unwrap_err();
    assert!(
        matches!(err, Error::Pem { .. } | Error::TooLarge { .. }),
        "{err:?}"
    );
    // Printable garbage with no PEM block.
    let text: Vec<u8> = random.iter().map(|b| b'a' + b % 26).collect();
    let err = parse_request(&text, backend).unwrap_err();
    assert!(matches!(err, Error::Pem { .. }), "{err:?}");
    // Far too much of anything.
    let err = parse_request(&vec![b'A'; 8 << 20], backend).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    // Random DER-looking prefixes of every small size.
    for len in 1..512 {
        let mut bytes = pseudo_random(len, len as u64 + 1);
        bytes[0] = 0x30;
        assert!(parse_request(&bytes, backend).is_err(), "{len}");
        assert!(Certificate::from_der(&bytes).is_err(), "{len}");
        assert!(Crl::from_der(&bytes).is_err(), "{len}");
    }
}

#[test]
fn garbage_pem_gives_pem_errors() {
    let backend = devicetrust_pki::default_backend();
    let cases: [(&str, &[u8]); 8] = [
        ("empty", b""),
        ("plain text", b"hello, world\n"),
        (
            "bad base64",
            b"-----BEGIN CERTIFICATE REQUEST-----\n!!!not base64!!!\n-----END CERTIFICATE REQUEST-----\n",
        ),
        (
            "no END line",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
        ),
        ("unterminated BEGIN", b"-----BEGIN CERTIFICATE REQUEST\nMIIB\n"),
        (
            "mismatched END",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE-----\n",
        ),
        (
            "latin-1 label",
            b"-----BEGIN CERTIFICATE R\xc9QUEST-----\nMIIB\n-----END CERTIFICATE R\xc9QUEST-----\n",
        ),
        (
            "utf-16",
            b"\xff\xfe-\x00-\x00-\x00-\x00-\x00B\x00E\x00G\x00I\x00N\x00",
        ),
    ];
    for (case, input) in cases {
        let err = parse_request(input, backend).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{case}: {err:?}");
        let err = Certificate::parse(input).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{case}: {err:?}");
        let err = PrivateKey::from_pem(input).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{case}: {err:?}");
    }
    // Valid base64 and label, but not DER inside.
    let pem = to_pem("CERTIFICATE REQUEST", b"\x30\x03\x02\x01").unwrap();
    let err = parse_request(pem.as_bytes(), backend).unwrap_err();
    assert!(matches!(err, Error::Der { .. }), "{err:?}");
}

#[test]
fn weak_or_small_request_fixtures_are_refused() {
    for backend in backends() {
        let err = parse_request(&fixture("requests/rsa1024-sha256.pem"), backend).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeyTooSmall {
                    bits: 1024,
                    minimum: 2048
                }
            ),
            "{err:?}"
        );
        let sha1 = fixture("requests/rsa2048-sha1.pem");
        let err = parse_request(&sha1, backend).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WeakSignatureAlgorithm {
                    algorithm: "sha1WithRSAEncryption"
                }
            ),
            "{err:?}"
        );
        let allow = KeyPolicy {
            allow_sha1: true,
            ..KeyPolicy::default()
        };
        let request = CertificateRequest::parse(&sha1, &allow, backend).unwrap();
        assert_eq!(
            request.signature_algorithm(),
            SignatureAlgorithm::RsaPkcs1Sha1
        );
        // MD5 is refused whatever the policy (see md5_fixture_is_weak for the variant).
        let err = CertificateRequest::parse(&fixture("requests/rsa2048-md5.pem"), &allow, backend)
            .unwrap_err();
        assert!(err.to_string().contains("md5WithRSAEncryption"), "{err:?}");
    }
}

#[test]
fn md5_fixture_is_weak() {
    for backend in backends() {
        let err = parse_request(&fixture("requests/rsa2048-md5.pem"), backend).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WeakSignatureAlgorithm {
                    algorithm: "md5WithRSAEncryption"
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn bad_serial_text_is_refused() {
    for input in ["", "0", "00:00", "0x", "xyz", "12g4", &"ab".repeat(21)] {
        let err = input.parse::<devicetrust_pki::SerialNumber>().unwrap_err();
        assert!(matches!(err, Error::BadSerial { .. }), "{input:?}: {err:?}");
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fresh CA folder (inside a temporary folder that it owns).
fn ca_folder() -> (tempfile::TempDir, CaDir, std::path::PathBuf) {
    let tmp = tempfile::TempDir::new().unwrap();
    let path = tmp.path().join("ca");
    let dir = CaDir::new(&path);
    dir.init(CaConfig::default(), devicetrust_pki::default_backend())
        .unwrap();
    (tmp, dir, path)
}

#[test]
fn ca_folder_is_private_and_inits_once() {
    let (_tmp, dir, path) = ca_folder();
    assert_eq!(mode(&path), 0o700);
    assert_eq!(mode(&path.join("root.key")), 0o600);
    assert_eq!(mode(&path.join("intermediate.key")), 0o600);
    for public in ["root.pem", "intermediate.pem", "ca.json"] {
        assert!(path.join(public).is_file(), "{public}");
    }
    let before = std::fs::read(path.join("intermediate.key")).unwrap();
    let err = dir
        .init(CaConfig::default(), devicetrust_pki::default_backend())
        .unwrap_err();
    assert!(matches!(err, Error::CaDir { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(path.join("intermediate.key")).unwrap(),
        before
    );
    for backend in backends() {
        let ca = dir.open(backend).unwrap();
        assert_eq!(
            ca.intermediate().der(),
            Certificate::parse(&std::fs::read(path.join("intermediate.pem")).unwrap())
                .unwrap()
                .der()
        );
    }
}

#[test]
fn broken_ca_folders_give_ca_dir_errors() {
    type Break = fn(&std::path::Path);
    let cases: [(&str, Break); 10] = [
        ("missing intermediate key", |p| {
            std::fs::remove_file(p.join("intermediate.key")).unwrap();
        }),
        ("corrupt intermediate key", |p| {
            std::fs::write(
                p.join("intermediate.key"),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            )
            .unwrap();
        }),
        ("garbage intermediate key", |p| {
            std::fs::write(p.join("intermediate.key"), [0xffu8; 64]).unwrap();
        }),
        ("truncated intermediate key", |p| {
            let key = std::fs::read(p.join("intermediate.key")).unwrap();
            std::fs::write(p.join("intermediate.key"), &key[..key.len() / 2]).unwrap();
        }),
        ("key of the root instead of the intermediate", |p| {
            std::fs::copy(p.join("root.key"), p.join("intermediate.key")).unwrap();
        }),
        ("corrupt ca.json", |p| {
            std::fs::write(p.join("ca.json"), "{ not json").unwrap();
        }),
        ("ca.json of another format version", |p| {
            let text = std::fs::read_to_string(p.join("ca.json")).unwrap();
            let text = text.replace("\"formatVersion\": 1", "\"formatVersion\": 2");
            std::fs::write(p.join("ca.json"), text).unwrap();
        }),
        ("missing root certificate", |p| {
            std::fs::remove_file(p.join("root.pem")).unwrap();
        }),
        ("intermediate certificate replaced by the root", |p| {
            std::fs::copy(p.join("root.pem"), p.join("intermediate.pem")).unwrap();
        }),
        ("corrupt ledger", |p| {
            std::fs::write(p.join("ledger.json"), "[1, 2").unwrap();
        }),
    ];
    for (case, break_it) in cases {
        let (_tmp, dir, path) = ca_folder();
        break_it(&path);
        for backend in backends() {
            let err = dir.open(backend).unwrap_err();
            assert!(matches!(err, Error::CaDir { .. }), "{case}: {err:?}");
        }
    }
    // A folder with no CA at all.
    let tmp = tempfile::TempDir::new().unwrap();
    let err = CaDir::new(tmp.path().join("nothing"))
        .open(devicetrust_pki::default_backend())
        .unwrap_err();
    assert!(matches!(err, Error::CaDir { .. }), "{err:?}");
}

mod crafted {
    //! Requests with attributes our builder would never write, properly signed,
    //! so that only the attribute handling can refuse them.

    use der::asn1::{
        BitString, Ia5StringRef, ObjectIdentifier, OctetString, SetOfVec, Utf8StringRef,
    };
    use der::{Any, Encode};
    use devicetrust_pki::{CertificateRequest, Error, KeyAlgorithm, KeyPolicy, Signer, backends};
    use x509_cert::attr::Attribute;
    use x509_cert::ext::Extension;
    use x509_cert::request::{CertReq, CertReqInfo, Version};

    const CHALLENGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
    const EXTENSION_REQUEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
    const SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

    fn utf8(s: &str) -> Any {
        Any::encode_from(&Utf8StringRef::new(s).unwrap()).unwrap()
    }

    fn attribute(oid: ObjectIdentifier, values: Vec<Any>) -> Attribute {
        Attribute {
            oid,
            values: SetOfVec::try_from(values).unwrap(),
        }
    }

    fn extension_request(extensions: Vec<Extension>) -> Attribute {
        attribute(
            EXTENSION_REQUEST,
            vec![Any::encode_from(&extensions).unwrap()],
        )
    }

    fn san(value: &[u8]) -> Extension {
        Extension {
            extn_id: SAN,
            critical: false,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    fn request(signer: &dyn Signer, subject: &str, attributes: Vec<Attribute>) -> Vec<u8> {
        let info = CertReqInfo {
            version: Version::V1,
            subject: if subject.is_empty() {
                x509_cert::name::Name::default()
            } else {
                subject.parse().unwrap()
            },
            public_key: signer.public_key().spki().unwrap(),
            attributes: SetOfVec::try_from(attributes).unwrap(),
        };
        let signature = signer.sign(&info.to_der().unwrap()).unwrap();
        CertReq {
            info,
            algorithm: signer.algorithm().identifier().unwrap(),
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn odd_attributes_give_typed_errors() {
        for backend in backends() {
            let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
            let signer = backend.signer(&key).unwrap();
            let signer = signer.as_ref();
            let parse = |der: &[u8]| CertificateRequest::parse(der, &KeyPolicy::default(), backend);

            // Controls: what a well-behaved client sends parses, with its values.
            let ok = request(
                signer,
                "CN=device",
                vec![attribute(CHALLENGE, vec![utf8("s3cret")])],
            );
            assert_eq!(parse(&ok).unwrap().challenge_password(), Some("s3cret"));
            let ia5 = Any::encode_from(&Ia5StringRef::new("s3cret").unwrap()).unwrap();
            let ok = request(signer, "CN=device", vec![attribute(CHALLENGE, vec![ia5])]);
            assert_eq!(parse(&ok).unwrap().challenge_password(), Some("s3cret"));
            let good_san = [0x30, 0x08, 0x82, 0x06, b'h', b'o', b's', b't', b'.', b'x'];
            let ok = request(signer, "", vec![extension_request(vec![san(&good_san)])]);
            assert!(parse(&ok).unwrap().subject_alt_name().is_some());

            let refused: Vec<(&str, Vec<u8>)> = vec![
                (
                    "challengePassword with two values",
                    request(
                        signer,
                        "CN=device",
                        vec![attribute(CHALLENGE, vec![utf8("one"), utf8("two")])],
                    ),
                ),
                (
                    "challengePassword twice",
                    request(
                        signer,
                        "CN=device",
                        vec![
                            attribute(CHALLENGE, vec![utf8("one")]),
                            attribute(CHALLENGE, vec![utf8("two")]),
                        ],
                    ),
                ),
                (
                    "challengePassword with no value",
                    request(signer, "CN=device", vec![attribute(CHALLENGE, vec![])]),
                ),
                (
                    "challengePassword as an INTEGER",
                    request(
                        signer,
                        "CN=device",
                        vec![attribute(
                            CHALLENGE,
                            vec![Any::encode_from(&42u32).unwrap()],
                        )],
                    ),
                ),
                (
                    "17 attributes",
                    request(
                        signer,
                        "CN=device",
                        (0..17u32)
                            .map(|i| {
                                let oid = ObjectIdentifier::new(&format!("1.3.6.1.4.1.99999.{i}"))
                                    .unwrap();
                                attribute(oid, vec![utf8("x")])
                            })
                            .collect(),
                    ),
                ),
                (
                    "neither subject nor subjectAltName",
                    request(signer, "", vec![]),
                ),
            ];
            for (case, der) in refused {
                let err = parse(&der).unwrap_err();
                assert!(
                    matches!(err, Error::RequestRefused { .. }),
                    "{} {case}: {err:?}",
                    backend.name()
                );
            }

            let malformed: Vec<(&str, Vec<u8>)> = vec![
                (
                    "subjectAltName that is not DER",
                    request(
                        signer,
                        "CN=device",
                        vec![extension_request(vec![san(b"\x30\x05\x82")])],
                    ),
                ),
                (
                    "extensionRequest that is a string",
                    request(
                        signer,
                        "CN=device",
                        vec![attribute(EXTENSION_REQUEST, vec![utf8("x")])],
                    ),
                ),
            ];
            for (case, der) in malformed {
                let err = parse(&der).unwrap_err();
                assert!(
                    matches!(err, Error::Der { .. } | Error::TrailingData { .. }),
                    "{} {case}: {err:?}",
                    backend.name()
                );
            }
        }
    }
}

#[test]
fn a_certificate_from_another_ca_with_the_same_names_is_refused() {
    for backend in backends() {
        let ours = new_ca(backend);
        let theirs = new_ca(backend);
        let cert = issue_p256(&theirs, "CN=device");
        let err = ours
            .verify(&cert, None, time::OffsetDateTime::now_utc())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadSignature {
                    what: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        // And a CA certificate is not a client certificate.
        let err = ours
            .verify(ours.intermediate(), None, time::OffsetDateTime::now_utc())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongIssuer { .. } | Error::BadCertificate { .. }
            ),
            "{err:?}"
        );
    }
}
