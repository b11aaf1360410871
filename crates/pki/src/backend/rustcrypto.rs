//! The pure-Rust backend on RustCrypto's `rsa`, `p256` and `p384`.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::Decode;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, PrivateKeyInfoRef};
use signature::hazmat::PrehashVerifier;
use zeroize::Zeroizing;

use super::{Backend, Decrypter, Signer, rejection_key, select_or_synthetic};
use crate::{Error, KeyAlgorithm, PrivateKey, PublicKey, Result, SignatureAlgorithm};

/// Pure-Rust crypto (RustCrypto). Always available; the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

const NAME: &str = "rustcrypto";

fn backend_error(reason: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: NAME,
        reason: reason.to_string(),
    }
}

fn bad_key(reason: impl std::fmt::Display) -> Error {
    Error::BadPrivateKey {
        reason: reason.to_string(),
    }
}

enum ParsedKey {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

fn parse_pkcs8(der: &[u8]) -> Result<ParsedKey> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(|e| bad_key(format!("pkcs#8: {e}")))?;
    match info.algorithm.oid {
        rfc5912::RSA_ENCRYPTION => rsa::PrivateKey::from_pkcs8_der(der)
            .map(|k| ParsedKey::Rsa(Box::new(k)))
            .map_err(|e| bad_key(format!("rsa: {e}"))),
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve: Option<ObjectIdentifier> =
                info.algorithm.parameters.and_then(|p| p.decode_as().ok());
            match curve {
                Some(rfc5912::SECP_256_R_1) => p256::SecretKey::from_pkcs8_der(der)
                    .map(|k| ParsedKey::P256(k.into()))
                    .map_err(|e| bad_key(format!("p256: {e}"))),
                Some(rfc5912::SECP_384_R_1) => p384::SecretKey::from_pkcs8_der(der)
                    .map(|k| ParsedKey::P384(k.into()))
                    .map_err(|e| bad_key(format!("p384: {e}"))),
                other => Err(Error::UnsupportedKey {
                    detail: format!("ec curve {other:?}"),
                }),
            }
        }
        other => Err(Error::UnsupportedKey {
            detail: format!("private key algorithm {other}"),
        }),
    }
}

fn public_of(key: &ParsedKey) -> Result<PublicKey> {
    let doc = match key {
        ParsedKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        ParsedKey::P256(k) => k.verifying_key().to_public_key_der(),
        ParsedKey::P384(k) => k.verifying_key().to_public_key_der(),
    }
    .map_err(backend_error)?;
    PublicKey::from_spki_der(doc.as_bytes())
}

/// The public key of a PKCS#8 private key.
pub(crate) fn public_key_of_pkcs8(der: &[u8]) -> Result<PublicKey> {
    public_of(&parse_pkcs8(der)?)
}

/// Converts PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) DER to PKCS#8 DER.
pub(crate) fn legacy_to_pkcs8(label: &str, der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let doc = if label == "RSA PRIVATE KEY" {
        use pkcs1::DecodeRsaPrivateKey;
        rsa::PrivateKey::from_pkcs1_der(der)
            .map_err(|e| bad_key(format!("pkcs#1: {e}")))?
            .to_pkcs8_der()
    } else if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
        k.to_pkcs8_der()
    } else {
        p384::SecretKey::from_sec1_der(der)
            .map_err(|e| bad_key(format!("sec1: {e}")))?
            .to_pkcs8_der()
    }
    .map_err(backend_error)?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

struct RcSigner {
    key: ParsedKey,
    public: PublicKey,
    algorithm: SignatureAlgorithm,
}

impl std::fmt::Debug for RcSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustCryptoSigner")
            .field("public", &self.public)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Signer for RcSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        use signature::Signer as _;
        match &self.key {
            ParsedKey::Rsa(k) => k
                .pkcs1v15_sign::<sha2::Sha256>(message)
                .map_err(backend_error),
            ParsedKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(backend_error)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            ParsedKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(backend_error)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

struct RcDecrypter {
    key: rsa::PrivateKey,
    kdk: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for RcDecrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustCryptoDecrypter")
            .finish_non_exhaustive()
    }
}

impl Decrypter for RcDecrypter {
    fn decrypt_pkcs1v15(
        &self,
        ciphertext: &[u8],
        expected_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        // rsa 0.10 already applies implicit rejection to the padding; we add the
        // length check on top, also without a data-dependent branch.
        let real =
            Zeroizing::new(
                self.key
                    .pkcs1v15_decrypt(ciphertext)
                    .map_err(|e| Error::Backend {
                        backend: NAME,
                        reason: format!("rsa decryption: {e}"),
                    })?,
            );
        Ok(select_or_synthetic(
            &self.kdk,
            ciphertext,
            &real,
            subtle::Choice::from(1),
            expected_len,
        ))
    }
}

impl Backend for RustCrypto {
    fn name(&self) -> &'static str {
        NAME
    }

    fn generate(&self, algorithm: KeyAlgorithm) -> Result<PrivateKey> {
        use p256::elliptic_curve::Generate;
        let mut rng = getrandom::SysRng;
        let doc = match algorithm {
            KeyAlgorithm::EcP256 => p256::SecretKey::try_generate_from_rng(&mut rng)
                .map_err(|e| Error::Random(e.to_string()))?
                .to_pkcs8_der(),
            KeyAlgorithm::EcP384 => p384::SecretKey::try_generate_from_rng(&mut rng)
                .map_err(|e| Error::Random(e.to_string()))?
                .to_pkcs8_der(),
            KeyAlgorithm::Rsa {
                bits: bits @ (2048 | 3072 | 4096),
            } => rsa::PrivateKey::new(&mut rng, bits)
                .map_err(backend_error)?
                .to_pkcs8_der(),
            KeyAlgorithm::Rsa { .. } => {
                return Err(Error::UnsupportedKey {
                    detail: format!("cannot generate {algorithm}"),
                });
            }
        }
        .map_err(backend_error)?;
        PrivateKey::from_pkcs8_der(doc.as_bytes())
    }

    fn signer(&self, key: &PrivateKey) -> Result<Box<dyn Signer>> {
        let parsed = parse_pkcs8(key.pkcs8_der())?;
        Ok(Box::new(RcSigner {
            key: parsed,
            public: key.public_key().clone(),
            algorithm: key.algorithm().signature_algorithm(),
        }))
    }

    fn decrypter(&self, key: &PrivateKey) -> Result<Box<dyn Decrypter>> {
        match parse_pkcs8(key.pkcs8_der())? {
            ParsedKey::Rsa(k) => Ok(Box::new(RcDecrypter {
                key: *k,
                kdk: Zeroizing::new(rejection_key(key)),
            })),
            _ => Err(Error::UnsupportedKey {
                detail: format!("{} keys cannot decrypt", key.algorithm()),
            }),
        }
    }

    fn verify(
        &self,
        key: &PublicKey,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        if !key.algorithm().fits(algorithm) {
            return Err(Error::AlgorithmKeyMismatch {
                algorithm,
                key: key.algorithm(),
            });
        }
        let bad = || Error::BadSignature {
            what: "message",
            algorithm,
        };
        let hash = algorithm.hash().digest(message);
        match key.algorithm() {
            KeyAlgorithm::Rsa { .. } => {
                use pkcs1::DecodeRsaPublicKey;
                let pk = rsa::PublicKey::from_pkcs1_der(key.key_bytes()).map_err(|e| {
                    Error::UnsupportedKey {
                        detail: format!("rsa public key: {e}"),
                    }
                })?;
                let ok = match algorithm {
                    SignatureAlgorithm::RsaPkcs1Sha1 => {
                        pk.pkcs1v15_verify_prehash::<sha1::Sha1>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPkcs1Sha256 => {
                        pk.pkcs1v15_verify_prehash::<sha2::Sha256>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPkcs1Sha384 => {
                        pk.pkcs1v15_verify_prehash::<sha2::Sha384>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPkcs1Sha512 => {
                        pk.pkcs1v15_verify_prehash::<sha2::Sha512>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPssSha256 => {
                        pk.pss_verify_prehash::<sha2::Sha256>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPssSha384 => {
                        pk.pss_verify_prehash::<sha2::Sha384>(&hash, signature)
                    }
                    SignatureAlgorithm::RsaPssSha512 => {
                        pk.pss_verify_prehash::<sha2::Sha512>(&hash, signature)
                    }
                    _ => return Err(bad()),
                };
                ok.map_err(|_| bad())
            }
            KeyAlgorithm::EcP256 => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.key_bytes())
                    .map_err(|_| bad())?;
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
                vk.verify_prehash(&hash, &sig).map_err(|_| bad())
            }
            KeyAlgorithm::EcP384 => {
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key.key_bytes())
                    .map_err(|_| bad())?;
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
                vk.verify_prehash(&hash, &sig).map_err(|_| bad())
            }
        }
    }
}
