//! Backend equivalence: what one backend signs the other verifies, keys made
//! by one work in the other, and PKCS#1 v1.5 decryption (with implicit
//! rejection) behaves the same way on both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use common::{DeviceKey, Openssl};
use devicetrust_pki::{
    Error, KeyAlgorithm, PrivateKey, SignatureAlgorithm, backend_by_name, backends, default_backend,
};
use rsa::pkcs1::DecodeRsaPublicKey;

const MESSAGE: &[u8] = b"management attestation for dev-42";

/// An RSA-2048 key from OpenSSL, and P-256 and P-384 keys from each backend.
fn keys() -> Vec<(String, PrivateKey)> {
    let mut keys = vec![(
        "rsa2048 openssl".to_owned(),
        DeviceKey::Rsa2048.private_key(),
    )];
    for backend in backends() {
        for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::EcP384] {
            keys.push((
                format!("{alg} {}", backend.name()),
                backend.generate(alg).unwrap(),
            ));
        }
    }
    keys
}

#[test]
fn every_backend_is_listed_and_named() {
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    assert_eq!(names[0], default_backend().name());
    assert_eq!(names[0], "rustcrypto");
    #[cfg(feature = "aws-lc")]
    assert_eq!(names, ["rustcrypto", "aws-lc"]);
    for name in names {
        assert_eq!(backend_by_name(name).unwrap().name(), name);
    }
    assert!(backend_by_name("openssl").is_none());
}

#[test]
fn a_signature_by_one_backend_verifies_on_every_other() {
    for (name, key) in keys() {
        for signer_backend in backends() {
            let signer = signer_backend.signer(&key).unwrap();
            let alg = signer.algorithm();
            assert_eq!(alg, key.algorithm().signature_algorithm());
            assert_eq!(signer.public_key(), key.public_key());
            let signature = signer.sign(MESSAGE).unwrap();
            for verifier in backends() {
                let what = format!("{name}: {} -> {}", signer_backend.name(), verifier.name());
                verifier
                    .verify(key.public_key(), alg, MESSAGE, &signature)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let err = verifier
                    .verify(key.public_key(), alg, b"another message", &signature)
                    .unwrap_err();
                assert!(matches!(err, Error::BadSignature { .. }), "{what}: {err:?}");
                let mut bent = signature.clone();
                let mid = bent.len() / 2;
                bent[mid] ^= 0x40;
                let err = verifier
                    .verify(key.public_key(), alg, MESSAGE, &bent)
                    .unwrap_err();
                assert!(matches!(err, Error::BadSignature { .. }), "{what}: {err:?}");
            }
        }
    }
}

#[test]
fn rsa_pkcs1_signatures_are_identical_across_backends() {
    // PKCS#1 v1.5 is deterministic: two correct implementations agree bit for bit.
    let key = DeviceKey::Rsa2048.private_key();
    let signatures: Vec<Vec<u8>> = backends()
        .iter()
        .map(|b| b.signer(&key).unwrap().sign(MESSAGE).unwrap())
        .collect();
    assert_eq!(signatures[0].len(), 256);
    assert!(signatures.windows(2).all(|w| w[0] == w[1]));
    // And OpenSSL agrees.
    let openssl = Openssl::new();
    openssl.write("key.pem", DeviceKey::Rsa2048.pem());
    openssl.write("message", MESSAGE);
    openssl.ok(&[
        "dgst", "-sha256", "-sign", "key.pem", "-out", "sig", "message",
    ]);
    assert_eq!(openssl.read("sig"), signatures[0]);
}

#[test]
fn openssl_signatures_verify_on_every_backend() {
    for key in DeviceKey::ACCEPTED {
        let openssl = Openssl::new();
        openssl.write("key.pem", key.pem());
        openssl.write("message", MESSAGE);
        let digest = match key {
            DeviceKey::P384 => "-sha384",
            _ => "-sha256",
        };
        openssl.ok(&["dgst", digest, "-sign", "key.pem", "-out", "sig", "message"]);
        let signature = openssl.read("sig");
        let public = key.private_key().public_key().clone();
        for backend in backends() {
            backend
                .verify(
                    &public,
                    key.algorithm().signature_algorithm(),
                    MESSAGE,
                    &signature,
                )
                .unwrap_or_else(|e| panic!("{key:?} {}: {e}", backend.name()));
        }
    }
}

#[test]
fn keys_made_by_one_backend_work_in_every_other() {
    for maker in backends() {
        // RSA key generation is slow in pure Rust; let only the other backends make RSA keys.
        let algorithms: &[KeyAlgorithm] = if maker.name() == "rustcrypto" {
            &[KeyAlgorithm::EcP256, KeyAlgorithm::EcP384]
        } else {
            &[
                KeyAlgorithm::EcP256,
                KeyAlgorithm::EcP384,
                KeyAlgorithm::RSA2048,
            ]
        };
        for &alg in algorithms {
            let key = maker.generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            // Through PEM and back, as a CA folder stores it.
            let key = PrivateKey::from_pem(key.to_pem().unwrap().as_bytes()).unwrap();
            for user in backends() {
                let signer = user.signer(&key).unwrap();
                let signature = signer.sign(MESSAGE).unwrap();
                for verifier in backends() {
                    verifier
                        .verify(key.public_key(), signer.algorithm(), MESSAGE, &signature)
                        .unwrap_or_else(|e| {
                            panic!("{alg} by {} used by {}: {e}", maker.name(), user.name())
                        });
                }
            }
        }
    }
}

#[test]
fn a_signature_algorithm_that_does_not_fit_the_key_is_refused() {
    let ec = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let rsa = DeviceKey::Rsa2048.private_key();
    for backend in backends() {
        let sig = backend.signer(&ec).unwrap().sign(MESSAGE).unwrap();
        let err = backend
            .verify(
                ec.public_key(),
                SignatureAlgorithm::RsaPkcs1Sha256,
                MESSAGE,
                &sig,
            )
            .unwrap_err();
        assert!(matches!(err, Error::AlgorithmKeyMismatch { .. }), "{err:?}");
        let err = backend
            .verify(
                rsa.public_key(),
                SignatureAlgorithm::EcdsaSha256,
                MESSAGE,
                &sig,
            )
            .unwrap_err();
        assert!(matches!(err, Error::AlgorithmKeyMismatch { .. }), "{err:?}");
        // EC keys cannot decrypt.
        let err = backend.decrypter(&ec).unwrap_err();
        assert!(matches!(err, Error::UnsupportedKey { .. }), "{err:?}");
    }
}

fn rsa_public(key: &PrivateKey) -> rsa::PublicKey {
    rsa::PublicKey::from_pkcs1_der(key.public_key().key_bytes()).unwrap()
}

#[test]
fn pkcs1v15_decryption_is_the_same_on_every_backend() {
    let key = DeviceKey::Rsa2048.private_key();
    let public = rsa_public(&key);
    let plaintext: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let ciphertext = public.pkcs1v15_encrypt(&plaintext).unwrap();
    // Also a ciphertext made by OpenSSL.
    let openssl = Openssl::new();
    openssl.write("key.pem", DeviceKey::Rsa2048.pem());
    openssl.write("plain", &plaintext);
    openssl.ok(&[
        "pkeyutl",
        "-encrypt",
        "-inkey",
        "key.pem",
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
        "-in",
        "plain",
        "-out",
        "ct",
    ]);
    let from_openssl = openssl.read("ct");
    assert_eq!(from_openssl.len(), 256);

    let mut wrong_length = Vec::new();
    for backend in backends() {
        let decrypter = backend.decrypter(&key).unwrap();
        for ct in [&ciphertext, &from_openssl] {
            let out = decrypter.decrypt_pkcs1v15(ct, plaintext.len()).unwrap();
            assert_eq!(out.as_slice(), plaintext.as_slice(), "{}", backend.name());
        }
        // The right padding but another length than expected: synthetic bytes, no error.
        let out = decrypter.decrypt_pkcs1v15(&ciphertext, 16).unwrap();
        assert_eq!(out.len(), 16);
        assert_ne!(out.as_slice(), &plaintext[..16]);
        wrong_length.push(out.to_vec());
    }
    // Those synthetic bytes come from the key and the ciphertext alone, not the backend.
    assert!(wrong_length.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_corrupted_ciphertext_gives_deterministic_synthetic_bytes() {
    let key = DeviceKey::Rsa2048.private_key();
    let public = rsa_public(&key);
    let plaintext = [0x42u8; 24];
    let ciphertext = public.pkcs1v15_encrypt(&plaintext).unwrap();
    // Flipping bits in the low-order bytes keeps the value below the modulus,
    // so the RSA operation succeeds and only the padding check fails.
    let corrupted: Vec<Vec<u8>> = [255usize, 200, 128]
        .into_iter()
        .map(|i| {
            let mut c = ciphertext.clone();
            c[i] ^= 0x80;
            c
        })
        .collect();
    for backend in backends() {
        let decrypter = backend.decrypter(&key).unwrap();
        let mut outputs = Vec::new();
        for ct in &corrupted {
            let first = decrypter.decrypt_pkcs1v15(ct, plaintext.len()).unwrap();
            let second = decrypter.decrypt_pkcs1v15(ct, plaintext.len()).unwrap();
            assert_eq!(first.len(), plaintext.len(), "{}", backend.name());
            assert_eq!(first, second, "{}", backend.name());
            assert_ne!(first.as_slice(), plaintext.as_slice(), "{}", backend.name());
            outputs.push(first.to_vec());
        }
        // A different ciphertext gives different bytes.
        assert_ne!(outputs[0], outputs[1], "{}", backend.name());
        assert_ne!(outputs[1], outputs[2], "{}", backend.name());
        // A fresh decrypter for the same key gives the same bytes again.
        let again = backend.decrypter(&key).unwrap();
        let out = again
            .decrypt_pkcs1v15(&corrupted[0], plaintext.len())
            .unwrap();
        assert_eq!(out.as_slice(), outputs[0].as_slice(), "{}", backend.name());
        // A ciphertext of the wrong size is a caller error, reported as such.
        let err = decrypter
            .decrypt_pkcs1v15(&ciphertext[1..], plaintext.len())
            .unwrap_err();
        assert!(
            matches!(err, Error::Backend { .. }),
            "{}: {err:?}",
            backend.name()
        );
    }
}

fn fixture_key_and_bad_ciphertext() -> (PrivateKey, Vec<u8>) {
    let key = PrivateKey::from_pem(&common::fixture("decrypt/rsa2048-test-only.pem")).unwrap();
    let hex_text = String::from_utf8(common::fixture("decrypt/bad-padding-16.hex")).unwrap();
    let ciphertext = hex::decode(hex_text.trim()).unwrap();
    assert_eq!(ciphertext.len(), 256);
    (key, ciphertext)
}

#[test]
fn bad_padding_gives_deterministic_bytes_of_the_expected_length() {
    let (key, ciphertext) = fixture_key_and_bad_ciphertext();
    for backend in backends() {
        let decrypter = backend.decrypter(&key).unwrap();
        for expected_len in [16, 32] {
            let first = decrypter
                .decrypt_pkcs1v15(&ciphertext, expected_len)
                .unwrap();
            let second = decrypter
                .decrypt_pkcs1v15(&ciphertext, expected_len)
                .unwrap();
            assert_eq!(first.len(), expected_len, "{}", backend.name());
            assert_eq!(first, second, "{}", backend.name());
        }
    }
}

/// The RustCrypto backend trusts the `rsa` crate's implicit rejection and
/// only checks the length, so when `rsa`'s synthetic message happens to have
/// the expected length (about 1 bad ciphertext in 200 here) it returns that,
/// while aws-lc returns the crate's own HMAC-derived bytes. Both are
/// deterministic and reveal nothing, but the backends disagree.
#[test]
#[ignore = "known difference: on about 1 in 200 bad paddings the backends return different (each deterministic) synthetic keys; see Decrypter::decrypt_pkcs1v15"]
fn bad_padding_gives_the_same_bytes_on_every_backend() {
    let (key, ciphertext) = fixture_key_and_bad_ciphertext();
    let outputs: Vec<Vec<u8>> = backends()
        .iter()
        .map(|b| {
            b.decrypter(&key)
                .unwrap()
                .decrypt_pkcs1v15(&ciphertext, 16)
                .unwrap()
                .to_vec()
        })
        .collect();
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "{outputs:02x?}");
}
