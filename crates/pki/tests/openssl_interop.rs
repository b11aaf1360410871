//! Interoperability with the real `openssl` CLI: OpenSSL makes the requests,
//! and OpenSSL checks the certificates and CRLs we make from them. Every case
//! runs on every compiled-in backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use common::{DeviceKey, Openssl, issue_p256, new_ca};
use devicetrust_pki::{
    Backend, Ca, CaConfig, CertificateRequest, Error, IssueOptions, KeyPolicy, MemoryLedger,
    RevocationReason, SignatureAlgorithm, backends,
};
use time::OffsetDateTime;

const SUBJECT: &str = "CN=alice@example.com managementAttestation dev-42";

/// A config for `openssl req -new -config`: our subject, and the
/// challengePassword attribute when given. `string_mask` picks the ASN.1
/// string type OpenSSL writes it as.
fn req_config(challenge: Option<&str>, string_mask: &str) -> String {
    let mut config = format!(
        "[req]\nprompt = no\nutf8 = yes\nstring_mask = {string_mask}\ndistinguished_name = dn\n"
    );
    if challenge.is_some() {
        config.push_str("attributes = req_attributes\n");
    }
    config.push_str("[dn]\nCN = alice@example.com managementAttestation dev-42\n");
    if let Some(password) = challenge {
        config.push_str(&format!(
            "[req_attributes]\nchallengePassword = {password}\n"
        ));
    }
    config
}

/// Makes a PEM request with `openssl req -new` for `key`, signed with `digest`.
fn openssl_request(
    openssl: &Openssl,
    key: DeviceKey,
    challenge: Option<&str>,
    string_mask: &str,
    digest: &str,
) -> Vec<u8> {
    openssl.write("device.key", key.pem());
    openssl.write("req.cnf", req_config(challenge, string_mask));
    openssl.ok(&[
        "req",
        "-new",
        "-key",
        "device.key",
        "-config",
        "req.cnf",
        digest,
        "-out",
        "device.csr",
    ]);
    openssl.read("device.csr")
}

fn parse(
    input: &[u8],
    policy: &KeyPolicy,
    backend: &dyn Backend,
) -> Result<CertificateRequest, Error> {
    CertificateRequest::parse(input, policy, backend)
}

/// The ASN.1 type OpenSSL used for the challengePassword value.
fn challenge_type(openssl: &Openssl) -> String {
    let run = openssl.ok(&["asn1parse", "-in", "device.csr"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(":challengePassword"))
        .unwrap();
    // OBJECT, then SET, then the value.
    let value = lines[at + 2];
    value
        .split("prim:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn openssl_requests_parse_with_the_exact_challenge_password() {
    let cases: [(Option<&str>, &str, &str); 5] = [
        (None, "utf8only", ""),
        (Some("secret123"), "utf8only", "UTF8STRING"),
        (Some("secret123"), "default", "PRINTABLESTRING"),
        (Some("s3cr3t!@%&*?"), "default", "IA5STRING"),
        (
            Some("correct horse battery staple"),
            "nombstr",
            "PRINTABLESTRING",
        ),
    ];
    for backend in backends() {
        for key in DeviceKey::ACCEPTED {
            for (challenge, mask, asn1_type) in cases {
                let openssl = Openssl::new();
                let pem = openssl_request(&openssl, key, challenge, mask, "-sha256");
                if challenge.is_some() {
                    assert_eq!(challenge_type(&openssl), asn1_type, "{mask}");
                }
                let what = format!("{} {key:?} {challenge:?} {mask}", backend.name());
                let request = parse(&pem, &KeyPolicy::default(), backend)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(request.challenge_password(), challenge, "{what}");
                assert_eq!(request.subject().to_string(), SUBJECT, "{what}");
                assert_eq!(request.public_key().algorithm(), key.algorithm(), "{what}");
                let expected_alg = match key {
                    DeviceKey::P256 | DeviceKey::P384 => SignatureAlgorithm::EcdsaSha256,
                    _ => SignatureAlgorithm::RsaPkcs1Sha256,
                };
                assert_eq!(request.signature_algorithm(), expected_alg, "{what}");
                // The key we read is the key OpenSSL put in: same SPKI bytes.
                openssl.ok(&[
                    "pkey",
                    "-in",
                    "device.key",
                    "-pubout",
                    "-outform",
                    "DER",
                    "-out",
                    "pub.der",
                ]);
                assert_eq!(
                    request.public_key().spki_der(),
                    openssl.read("pub.der"),
                    "{what}"
                );
                // DER input gives the same request.
                openssl.ok(&[
                    "req",
                    "-in",
                    "device.csr",
                    "-outform",
                    "DER",
                    "-out",
                    "device.der",
                ]);
                let der = openssl.read("device.der");
                let from_der = parse(&der, &KeyPolicy::default(), backend).unwrap();
                assert_eq!(from_der.der(), request.der(), "{what}");
                assert_eq!(request.der(), der, "{what}");
            }
        }
    }
}

/// PKCS#9 lets challengePassword be any DirectoryString. Under
/// `string_mask = default` OpenSSL writes Latin-1 text as a T61String (one
/// byte per character) and text beyond Latin-1 as a BMPString (UTF-16BE).
#[test]
fn non_ascii_challenge_passwords_are_accepted() {
    for (password, asn1_type) in [
        ("p\u{e4}ssw\u{f6}rd", "T61STRING"),
        ("p\u{e4}ss\u{20ac}word", "BMPSTRING"),
    ] {
        for backend in backends() {
            let openssl = Openssl::new();
            let pem = openssl_request(
                &openssl,
                DeviceKey::P256,
                Some(password),
                "default",
                "-sha256",
            );
            assert_eq!(challenge_type(&openssl), asn1_type);
            let request = parse(&pem, &KeyPolicy::default(), backend)
                .unwrap_or_else(|e| panic!("{asn1_type}: {e}"));
            assert_eq!(request.challenge_password(), Some(password));
        }
    }
}

/// Writes the CA's certificates: `root.pem`, `intermediate.pem` and `chain.pem`.
fn write_ca(openssl: &Openssl, ca: &Ca) {
    openssl.write("root.pem", ca.root().to_pem().unwrap());
    openssl.write("intermediate.pem", ca.intermediate().to_pem().unwrap());
    openssl.write("chain.pem", ca.chain_pem().unwrap());
}

/// `openssl verify` of `leaf` against the CA files, with extra options.
fn verify(openssl: &Openssl, leaf: &str, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "intermediate.pem",
    ];
    args.extend_from_slice(extra);
    args.push(leaf);
    openssl.run(&args)
}

/// One-line-per-field text of `openssl x509 -noout -text`, whitespace-normalised.
fn x509_text(openssl: &Openssl, file: &str) -> String {
    let text = openssl.ok(&["x509", "-in", file, "-noout", "-text"]).stdout;
    text.lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

fn check_issued_from_openssl_request(backend: &'static dyn Backend, ca: &Ca, key: DeviceKey) {
    let what = format!("{} ca {} device {key:?}", backend.name(), ca.config().key);
    let openssl = Openssl::new();
    write_ca(&openssl, ca);
    let csr = openssl_request(&openssl, key, Some("secret123"), "utf8only", "-sha256");
    let request = ca.parse_request(&csr).unwrap();
    let cert = ca.issue(&request, &IssueOptions::default()).unwrap();
    openssl.write("leaf.pem", cert.to_pem().unwrap());

    let run = verify(&openssl, "leaf.pem", &[]);
    assert!(run.success, "{what}: {}", run.output());
    assert_eq!(run.stdout.trim(), "leaf.pem: OK", "{what}");
    let run = verify(&openssl, "leaf.pem", &["-purpose", "sslclient"]);
    assert!(run.success, "{what}: {}", run.output());
    // The whole chain as trust anchors, as an MDM given our export would use it.
    let run = openssl.run(&["verify", "-CAfile", "chain.pem", "leaf.pem"]);
    assert!(run.success, "{what}: {}", run.output());
    // clientAuth only: not a TLS server certificate.
    let run = verify(&openssl, "leaf.pem", &["-purpose", "sslserver"]);
    assert!(
        !run.success,
        "{what}: a client certificate passed as a server one"
    );
    // Without the intermediate there is no chain.
    let run = openssl.run(&["verify", "-CAfile", "root.pem", "leaf.pem"]);
    assert!(!run.success, "{what}: verified without the intermediate");

    let text = x509_text(&openssl, "leaf.pem");
    for expected in [
        "X509v3 Key Usage: critical\nDigital Signature\n",
        "X509v3 Extended Key Usage:\nTLS Web Client Authentication\n",
        "X509v3 Basic Constraints: critical\nCA:FALSE\n",
        "Version: 3 (0x2)",
        "Subject: CN = alice@example.com managementAttestation dev-42\n",
        "Issuer: CN = Organization Intermediate Authority\n",
        "X509v3 Subject Key Identifier:",
        "X509v3 Authority Key Identifier:",
    ] {
        assert!(
            text.contains(expected),
            "{what}: no {expected:?} in\n{text}"
        );
    }
    assert!(!text.contains("Certificate Sign"), "{what}: {text}");
    // SKI/AKI chain up: the leaf's AKI is the intermediate's SKI.
    assert_eq!(
        cert.authority_key_id().unwrap(),
        ca.intermediate().subject_key_id().unwrap(),
        "{what}"
    );
    let serial = openssl
        .ok(&["x509", "-in", "leaf.pem", "-noout", "-serial"])
        .stdout;
    assert_eq!(
        serial.trim(),
        format!("serial={}", cert.serial().unwrap()),
        "{what}"
    );
    // The certified key is the device's.
    openssl.ok(&[
        "x509", "-in", "leaf.pem", "-noout", "-pubkey", "-out", "leaf.pub",
    ]);
    openssl.ok(&["pkey", "-in", "device.key", "-pubout", "-out", "device.pub"]);
    assert_eq!(
        openssl.read("leaf.pub"),
        openssl.read("device.pub"),
        "{what}"
    );
    // The intermediate is a pathLen-0 CA under the root.
    let text = x509_text(&openssl, "intermediate.pem");
    assert!(
        text.contains("X509v3 Basic Constraints: critical\nCA:TRUE, pathlen:0\n"),
        "{what}: {text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\nCertificate Sign, CRL Sign\n"),
        "{what}: {text}"
    );
    // And the chain is what we verified with.
    ca.verify(&cert, None, OffsetDateTime::now_utc()).unwrap();
}

#[test]
fn openssl_verify_accepts_what_we_issue() {
    for backend in backends() {
        let ca = new_ca(backend);
        for key in DeviceKey::ACCEPTED {
            check_issued_from_openssl_request(backend, &ca, key);
        }
    }
}

#[test]
fn openssl_verify_accepts_what_an_rsa_ca_issues() {
    for backend in backends() {
        let config = CaConfig {
            key: devicetrust_pki::KeyAlgorithm::RSA2048,
            ..CaConfig::default()
        };
        let ca = Ca::create(config, backend, std::sync::Arc::new(MemoryLedger::new()))
            .unwrap()
            .ca;
        check_issued_from_openssl_request(backend, &ca, DeviceKey::P256);
    }
}

/// `openssl crl -verify` against the chain; asserts "verify OK".
fn check_crl_verifies(openssl: &Openssl, what: &str) {
    let run = openssl.run(&[
        "crl",
        "-in",
        "crl.pem",
        "-CAfile",
        "chain.pem",
        "-verify",
        "-noout",
    ]);
    assert!(run.success, "{what}: {}", run.output());
    assert!(
        run.output().contains("verify OK"),
        "{what}: {}",
        run.output()
    );
}

#[test]
fn openssl_accepts_our_crl_and_refuses_a_revoked_certificate() {
    for backend in backends() {
        let what = backend.name();
        let ca = new_ca(backend);
        let openssl = Openssl::new();
        write_ca(&openssl, &ca);
        let revoked = issue_p256(&ca, "CN=revoked device");
        let kept = issue_p256(&ca, "CN=kept device");
        openssl.write("revoked.pem", revoked.to_pem().unwrap());
        openssl.write("kept.pem", kept.to_pem().unwrap());
        let crl_check = ["-crl_check", "-CRLfile", "crl.pem"];

        // An empty CRL first: both verify with CRL checking on.
        let now = OffsetDateTime::now_utc();
        openssl.write("crl.pem", ca.crl(now).unwrap().to_pem().unwrap());
        check_crl_verifies(&openssl, what);
        let text = openssl
            .ok(&["crl", "-in", "crl.pem", "-noout", "-text"])
            .stdout;
        assert!(text.contains("No Revoked Certificates."), "{what}: {text}");
        assert!(text.contains("Version 2 (0x1)"), "{what}: {text}");
        for leaf in ["revoked.pem", "kept.pem"] {
            let run = verify(&openssl, leaf, &crl_check);
            assert!(run.success, "{what} {leaf}: {}", run.output());
        }

        // Revoked, the next CRL lists it and OpenSSL refuses the certificate.
        let serial = revoked.serial().unwrap();
        ca.revoke(&serial, RevocationReason::KeyCompromise, now)
            .unwrap();
        let crl = ca.crl(OffsetDateTime::now_utc()).unwrap();
        openssl.write("crl.pem", crl.to_pem().unwrap());
        check_crl_verifies(&openssl, what);
        let text = openssl
            .ok(&["crl", "-in", "crl.pem", "-noout", "-text"])
            .stdout;
        assert!(
            text.contains(&format!("Serial Number: {serial}")),
            "{what}: {text}"
        );
        assert!(text.contains("Key Compromise"), "{what}: {text}");
        assert!(
            !text.contains(&kept.serial().unwrap().to_string()),
            "{what}: {text}"
        );

        let run = verify(&openssl, "revoked.pem", &crl_check);
        assert!(!run.success, "{what}: a revoked certificate verified");
        assert_eq!(run.code, Some(2), "{what}: {}", run.output());
        assert!(
            run.output().contains("certificate revoked"),
            "{what}: {}",
            run.output()
        );
        let run = verify(&openssl, "kept.pem", &crl_check);
        assert!(run.success, "{what}: {}", run.output());
        assert_eq!(run.stdout.trim(), "kept.pem: OK", "{what}");

        // A CRL signed by someone else is refused by OpenSSL.
        let other = new_ca(backend);
        openssl.write("other-chain.pem", other.chain_pem().unwrap());
        let run = openssl.run(&[
            "crl",
            "-in",
            "crl.pem",
            "-CAfile",
            "other-chain.pem",
            "-verify",
            "-noout",
        ]);
        assert!(
            !run.output().contains("verify OK"),
            "{what}: {}",
            run.output()
        );
    }
}

#[test]
fn crl_numbers_increase_as_openssl_reads_them() {
    for backend in backends() {
        let ca = new_ca(backend);
        let openssl = Openssl::new();
        write_ca(&openssl, &ca);
        let mut last = 0u64;
        for _ in 0..4 {
            let crl = ca.crl(OffsetDateTime::now_utc()).unwrap();
            openssl.write("crl.pem", crl.to_pem().unwrap());
            check_crl_verifies(&openssl, backend.name());
            let out = openssl
                .ok(&["crl", "-in", "crl.pem", "-noout", "-crlnumber"])
                .stdout;
            let hex = out.trim().strip_prefix("crlNumber=").unwrap();
            let hex = hex.strip_prefix("0x").unwrap_or(hex);
            let number = u64::from_str_radix(hex, 16).unwrap();
            assert!(number > last, "{}: {number} after {last}", backend.name());
            assert_eq!(crl.number(), Some(number));
            last = number;
        }
    }
}

#[test]
fn rsa_1024_request_is_too_small() {
    for backend in backends() {
        let openssl = Openssl::new();
        let pem = openssl_request(&openssl, DeviceKey::Rsa1024, None, "utf8only", "-sha256");
        let err = parse(&pem, &KeyPolicy::default(), backend).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeyTooSmall {
                    bits: 1024,
                    minimum: 2048
                }
            ),
            "{}: {err:?}",
            backend.name()
        );
        // A policy that allows it gets past the key check and verifies the signature.
        let lax = KeyPolicy {
            min_rsa_bits: 1024,
            ..KeyPolicy::default()
        };
        let request = parse(&pem, &lax, backend).unwrap();
        assert_eq!(
            request.public_key().algorithm(),
            DeviceKey::Rsa1024.algorithm()
        );
    }
}

#[test]
fn sha1_request_is_refused_unless_allowed() {
    for backend in backends() {
        for key in [DeviceKey::Rsa2048, DeviceKey::P256] {
            let what = format!("{} {key:?}", backend.name());
            let openssl = Openssl::new();
            let pem = openssl_request(&openssl, key, Some("secret123"), "utf8only", "-sha1");
            let err = parse(&pem, &KeyPolicy::default(), backend).unwrap_err();
            let expected = match key {
                DeviceKey::P256 => "ecdsa-with-SHA1",
                _ => "sha1WithRSAEncryption",
            };
            match (key, &err) {
                (DeviceKey::Rsa2048, Error::WeakSignatureAlgorithm { algorithm }) => {
                    assert_eq!(*algorithm, expected, "{what}");
                }
                // ecdsa-with-SHA1 is not implemented at all; it must still be refused.
                (DeviceKey::P256, Error::UnsupportedSignatureAlgorithm { oid }) => {
                    assert!(oid.contains("1.2.840.10045.4.1"), "{what}: {oid}");
                }
                _ => panic!("{what}: {err:?}"),
            }
            if key == DeviceKey::Rsa2048 {
                let allow = KeyPolicy {
                    allow_sha1: true,
                    ..KeyPolicy::default()
                };
                let request =
                    parse(&pem, &allow, backend).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    request.signature_algorithm(),
                    SignatureAlgorithm::RsaPkcs1Sha1
                );
                assert_eq!(request.challenge_password(), Some("secret123"));
            }
        }
    }
}

#[test]
fn md5_request_is_weak() {
    for backend in backends() {
        let openssl = Openssl::new();
        let pem = openssl_request(&openssl, DeviceKey::Rsa2048, None, "utf8only", "-md5");
        let text = openssl
            .ok(&["req", "-in", "device.csr", "-noout", "-text"])
            .stdout;
        assert!(text.contains("md5WithRSAEncryption"), "{text}");
        for policy in [
            KeyPolicy::default(),
            KeyPolicy {
                allow_sha1: true,
                ..KeyPolicy::default()
            },
        ] {
            let err = parse(&pem, &policy, backend).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::WeakSignatureAlgorithm {
                        algorithm: "md5WithRSAEncryption"
                    }
                ),
                "{}: {err:?}",
                backend.name()
            );
        }
    }
}

/// What the MD5 request gives today: refused, but under the wrong variant.
#[test]
fn md5_request_is_refused() {
    for backend in backends() {
        let openssl = Openssl::new();
        let pem = openssl_request(&openssl, DeviceKey::Rsa2048, None, "utf8only", "-md5");
        let allow = KeyPolicy {
            allow_sha1: true,
            ..KeyPolicy::default()
        };
        let err = parse(&pem, &allow, backend).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WeakSignatureAlgorithm { .. } | Error::UnsupportedSignatureAlgorithm { .. }
            ),
            "{}: {err:?}",
            backend.name()
        );
        assert!(err.to_string().contains("md5"), "{err}");
    }
}

/// `openssl req -new` for `key` with a minimal config (`subject` as its one
/// RDN, none if empty) and extra arguments; returns the PEM.
fn openssl_req_with(openssl: &Openssl, key: DeviceKey, cn: &str, extra: &[&str]) -> Vec<u8> {
    openssl.write("device.key", key.pem());
    openssl.write(
        "req.cnf",
        "[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = placeholder\n",
    );
    let subject = if cn.is_empty() {
        "/".to_owned()
    } else {
        format!("/CN={cn}")
    };
    let mut args = vec![
        "req",
        "-new",
        "-key",
        "device.key",
        "-config",
        "req.cnf",
        "-subj",
        &subject,
        "-out",
        "device.csr",
    ];
    args.extend_from_slice(extra);
    openssl.ok(&args);
    openssl.read("device.csr")
}

#[test]
fn requested_extensions_other_than_subject_alt_name_are_ignored() {
    for backend in backends() {
        let what = backend.name();
        let ca = new_ca(backend);
        let openssl = Openssl::new();
        write_ca(&openssl, &ca);
        let csr = openssl_req_with(
            &openssl,
            DeviceKey::P256,
            "device",
            &[
                "-addext",
                "subjectAltName=email:alice@example.com,URI:urn:device:42",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-addext",
                "extendedKeyUsage=serverAuth,codeSigning",
            ],
        );
        let request = ca.parse_request(&csr).unwrap();
        assert!(request.subject_alt_name().is_some(), "{what}");
        let cert = ca.issue(&request, &IssueOptions::default()).unwrap();
        openssl.write("leaf.pem", cert.to_pem().unwrap());
        let text = x509_text(&openssl, "leaf.pem");
        for expected in [
            "X509v3 Subject Alternative Name:\nemail:alice@example.com, URI:urn:device:42\n",
            "X509v3 Basic Constraints: critical\nCA:FALSE\n",
            "X509v3 Key Usage: critical\nDigital Signature\n",
            "X509v3 Extended Key Usage:\nTLS Web Client Authentication\n",
        ] {
            assert!(
                text.contains(expected),
                "{what}: no {expected:?} in\n{text}"
            );
        }
        for refused in [
            "CA:TRUE",
            "Certificate Sign",
            "Code Signing",
            "Server Authentication",
        ] {
            assert!(!text.contains(refused), "{what}: {refused} in\n{text}");
        }
        let run = verify(&openssl, "leaf.pem", &["-purpose", "sslclient"]);
        assert!(run.success, "{what}: {}", run.output());

        // The device cannot act as a CA: OpenSSL refuses what it signs.
        openssl.ok(&[
            "req",
            "-new",
            "-key",
            "device.key",
            "-subj",
            "/CN=grandchild",
            "-config",
            "req.cnf",
            "-out",
            "grandchild.csr",
        ]);
        openssl.ok(&[
            "x509",
            "-req",
            "-in",
            "grandchild.csr",
            "-CA",
            "leaf.pem",
            "-CAkey",
            "device.key",
            "-days",
            "1",
            "-out",
            "grandchild.pem",
        ]);
        openssl.write(
            "untrusted.pem",
            format!(
                "{}{}",
                ca.intermediate().to_pem().unwrap(),
                cert.to_pem().unwrap()
            ),
        );
        let run = openssl.run(&[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "untrusted.pem",
            "grandchild.pem",
        ]);
        assert!(
            !run.success,
            "{what}: a certificate signed by a device verified"
        );
    }
}

#[test]
fn an_empty_subject_needs_a_subject_alt_name_which_becomes_critical() {
    for backend in backends() {
        let what = backend.name();
        let ca = new_ca(backend);
        let openssl = Openssl::new();
        write_ca(&openssl, &ca);
        let csr = openssl_req_with(&openssl, DeviceKey::P256, "", &[]);
        let err = ca.parse_request(&csr).unwrap_err();
        assert!(
            matches!(err, Error::RequestRefused { .. }),
            "{what}: {err:?}"
        );

        let csr = openssl_req_with(
            &openssl,
            DeviceKey::P256,
            "",
            &["-addext", "subjectAltName=URI:urn:device:42"],
        );
        let request = ca.parse_request(&csr).unwrap();
        assert!(request.subject().is_empty(), "{what}");
        let cert = ca.issue(&request, &IssueOptions::default()).unwrap();
        openssl.write("leaf.pem", cert.to_pem().unwrap());
        let text = x509_text(&openssl, "leaf.pem");
        assert!(
            text.contains("X509v3 Subject Alternative Name: critical\nURI:urn:device:42\n"),
            "{what}: {text}"
        );
        let run = verify(&openssl, "leaf.pem", &["-purpose", "sslclient"]);
        assert!(run.success, "{what}: {}", run.output());
    }
}

#[test]
fn other_digests_and_rsa_pss_requests() {
    let allowed: [(DeviceKey, &[&str], SignatureAlgorithm); 5] = [
        (
            DeviceKey::Rsa2048,
            &["-sha384"],
            SignatureAlgorithm::RsaPkcs1Sha384,
        ),
        (
            DeviceKey::Rsa2048,
            &["-sha512"],
            SignatureAlgorithm::RsaPkcs1Sha512,
        ),
        (
            DeviceKey::P384,
            &["-sha384"],
            SignatureAlgorithm::EcdsaSha384,
        ),
        (
            DeviceKey::P256,
            &["-sha512"],
            SignatureAlgorithm::EcdsaSha512,
        ),
        (
            DeviceKey::Rsa2048,
            &[
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
            SignatureAlgorithm::RsaPssSha256,
        ),
    ];
    for backend in backends() {
        let ca = new_ca(backend);
        for (key, args, expected) in allowed {
            let what = format!("{} {key:?} {args:?}", backend.name());
            let openssl = Openssl::new();
            write_ca(&openssl, &ca);
            let csr = openssl_req_with(&openssl, key, "device", args);
            let request = ca
                .parse_request(&csr)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(request.signature_algorithm(), expected, "{what}");
            let cert = ca.issue(&request, &IssueOptions::default()).unwrap();
            openssl.write("leaf.pem", cert.to_pem().unwrap());
            let run = verify(&openssl, "leaf.pem", &[]);
            assert!(run.success, "{what}: {}", run.output());
        }
        // PSS with OpenSSL's default (maximum) salt length is not one we accept.
        let openssl = Openssl::new();
        let csr = openssl_req_with(
            &openssl,
            DeviceKey::Rsa2048,
            "device",
            &["-sigopt", "rsa_padding_mode:pss"],
        );
        let err = ca.parse_request(&csr).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedSignatureAlgorithm { .. }),
            "{}: {err:?}",
            backend.name()
        );
    }
}

#[test]
fn crl_distribution_point_and_validity_as_openssl_reads_them() {
    for backend in backends() {
        let what = backend.name();
        let config = CaConfig {
            crl_distribution_point: Some("http://ca.example.com/intermediate.crl".into()),
            ..CaConfig::default()
        };
        let ca = Ca::create(config, backend, std::sync::Arc::new(MemoryLedger::new()))
            .unwrap()
            .ca;
        let openssl = Openssl::new();
        write_ca(&openssl, &ca);
        let csr = openssl_req_with(&openssl, DeviceKey::P256, "device", &[]);
        let request = ca.parse_request(&csr).unwrap();
        let options = IssueOptions {
            validity_days: Some(30),
            ..IssueOptions::default()
        };
        let cert = ca.issue(&request, &options).unwrap();
        openssl.write("leaf.pem", cert.to_pem().unwrap());
        let text = x509_text(&openssl, "leaf.pem");
        assert!(
            text.contains(
                "X509v3 CRL Distribution Points:\nFull Name:\nURI:http://ca.example.com/intermediate.crl"
            ),
            "{what}: {text}"
        );
        let run = verify(&openssl, "leaf.pem", &["-purpose", "sslclient"]);
        assert!(run.success, "{what}: {}", run.output());
        // OpenSSL reads the same validity we wrote: 30 days and the 300 s backdate.
        let dates = openssl.ok(&[
            "x509",
            "-in",
            "leaf.pem",
            "-noout",
            "-startdate",
            "-enddate",
        ]);
        let format = time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
        );
        let date = |key: &str| {
            let line = dates
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap();
            time::PrimitiveDateTime::parse(line, &format)
                .unwrap_or_else(|e| panic!("{line:?}: {e}"))
                .assume_utc()
        };
        assert_eq!(date("notBefore="), cert.not_before(), "{what}");
        assert_eq!(date("notAfter="), cert.not_after(), "{what}");
        assert_eq!(
            cert.not_after() - cert.not_before(),
            time::Duration::days(30) + time::Duration::seconds(300),
            "{what}"
        );
        // Without a configured URL there is no distribution point.
        let plain = issue_p256(&new_ca(backend), "CN=device");
        openssl.write("plain.pem", plain.to_pem().unwrap());
        let text = x509_text(&openssl, "plain.pem");
        assert!(!text.contains("CRL Distribution Points"), "{what}: {text}");
    }
}

#[test]
fn private_keys_in_every_form_openssl_writes() {
    let openssl = Openssl::new();
    openssl.ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.pem",
    ]);
    openssl.ok(&[
        "pkey",
        "-in",
        "rsa.pem",
        "-traditional",
        "-out",
        "rsa-pkcs1.pem",
    ]);
    openssl.ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        "ec-sec1-params.pem",
    ]);
    openssl.ok(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        "ec384-sec1.pem",
    ]);
    openssl.ok(&["pkey", "-in", "ec-sec1-params.pem", "-out", "ec-pkcs8.pem"]);
    openssl.ok(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "rsa.pem", "-outform", "DER", "-out", "rsa.der",
    ]);
    for (file, pkcs8_twin) in [
        ("rsa.pem", "rsa.pem"),
        ("rsa-pkcs1.pem", "rsa.pem"),
        ("ec-sec1-params.pem", "ec-pkcs8.pem"),
        ("ec384-sec1.pem", "ec384-sec1.pem"),
    ] {
        let key = devicetrust_pki::PrivateKey::from_pem(&openssl.read(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        openssl.ok(&[
            "pkey", "-in", file, "-pubout", "-outform", "DER", "-out", "pub.der",
        ]);
        assert_eq!(
            key.public_key().spki_der(),
            openssl.read("pub.der"),
            "{file}"
        );
        let twin = devicetrust_pki::PrivateKey::from_pem(&openssl.read(pkcs8_twin)).unwrap();
        assert_eq!(key.public_key(), twin.public_key(), "{file}");
        for backend in backends() {
            let signer = backend.signer(&key).unwrap();
            let sig = signer.sign(b"message").unwrap();
            backend
                .verify(key.public_key(), signer.algorithm(), b"message", &sig)
                .unwrap_or_else(|e| panic!("{file} {}: {e}", backend.name()));
        }
    }
    let der = devicetrust_pki::PrivateKey::from_pkcs8_der(&openssl.read("rsa.der")).unwrap();
    let pem = devicetrust_pki::PrivateKey::from_pem(&openssl.read("rsa.pem")).unwrap();
    assert_eq!(der.pkcs8_der(), pem.pkcs8_der());
    // What we write, OpenSSL reads as the same key.
    openssl.write("ours.pem", pem.to_pem().unwrap().as_bytes());
    openssl.ok(&["pkey", "-in", "ours.pem", "-check", "-noout"]);
    // Encrypted keys are refused with a reason, not misread.
    openssl.ok(&[
        "pkey",
        "-in",
        "rsa.pem",
        "-aes-128-cbc",
        "-passout",
        "pass:secret",
        "-out",
        "enc.pem",
    ]);
    let err = devicetrust_pki::PrivateKey::from_pem(&openssl.read("enc.pem")).unwrap_err();
    assert!(matches!(err, Error::BadPrivateKey { .. }), "{err:?}");
}
