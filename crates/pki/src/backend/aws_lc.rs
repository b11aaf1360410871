//! The aws-lc-rs backend: AWS-LC's assembly-optimised RSA and ECDSA.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::{Backend, Decrypter, Signer, rejection_key, select_or_synthetic};
use crate::{Error, KeyAlgorithm, PrivateKey, PublicKey, Result, SignatureAlgorithm};

/// AWS-LC through `aws-lc-rs` (feature `aws-lc`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

const NAME: &str = "aws-lc";

fn backend_error(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> Error + '_ {
    move |_| Error::Backend {
        backend: NAME,
        reason: what.to_owned(),
    }
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> Error {
    Error::BadPrivateKey {
        reason: format!("aws-lc rejected the key: {e}"),
    }
}

enum LcKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct LcSigner {
    key: LcKey,
    public: PublicKey,
    algorithm: SignatureAlgorithm,
    rng: SystemRandom,
}

impl std::fmt::Debug for LcSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcSigner")
            .field("public", &self.public)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Signer for LcSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match &self.key {
            LcKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(backend_error("rsa signing"))?;
                Ok(sig)
            }
            LcKey::Ec(k) => Ok(k
                .sign(&self.rng, message)
                .map_err(backend_error("ecdsa signing"))?
                .as_ref()
                .to_vec()),
        }
    }
}

struct LcDecrypter {
    key: Pkcs1PrivateDecryptingKey,
    kdk: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LcDecrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcDecrypter").finish_non_exhaustive()
    }
}

impl Decrypter for LcDecrypter {
    fn decrypt_pkcs1v15(
        &self,
        ciphertext: &[u8],
        expected_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if ciphertext.len() != self.key.key_size_bytes() {
            return Err(Error::Backend {
                backend: NAME,
                reason: format!(
                    "rsa ciphertext of {} bytes for a {}-byte key",
                    ciphertext.len(),
                    self.key.key_size_bytes()
                ),
            });
        }
        // AWS-LC checks the padding in constant time but reports failure; the
        // synthetic value is computed either way so both paths do the same work.
        let mut buf = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let (real, valid): (&[u8], u8) = match self.key.decrypt(ciphertext, &mut buf) {
            Ok(plain) => (plain, 1),
            Err(_) => (&[], 0),
        };
        Ok(select_or_synthetic(
            &self.kdk,
            ciphertext,
            real,
            subtle::Choice::from(valid),
            expected_len,
        ))
    }
}

fn ec_signing_alg(key: KeyAlgorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match key {
        KeyAlgorithm::EcP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeyAlgorithm::EcP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeyAlgorithm::Rsa { .. } => None,
    }
}

impl Backend for AwsLc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn generate(&self, algorithm: KeyAlgorithm) -> Result<PrivateKey> {
        let der = match algorithm {
            KeyAlgorithm::Rsa { bits } => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    _ => {
                        return Err(Error::UnsupportedKey {
                            detail: format!("cannot generate {algorithm}"),
                        });
                    }
                };
                let key =
                    RsaKeyPair::generate(size).map_err(backend_error("rsa key generation"))?;
                Zeroizing::new(
                    key.as_der()
                        .map_err(backend_error("rsa key encoding"))?
                        .as_ref()
                        .to_vec(),
                )
            }
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
                let alg = ec_signing_alg(algorithm).ok_or_else(|| Error::UnsupportedKey {
                    detail: algorithm.to_string(),
                })?;
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
                    .map_err(backend_error("ec key generation"))?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        PrivateKey::from_pkcs8_der(&der)
    }

    fn signer(&self, key: &PrivateKey) -> Result<Box<dyn Signer>> {
        let lc = match ec_signing_alg(key.algorithm()) {
            Some(alg) => {
                LcKey::Ec(EcdsaKeyPair::from_pkcs8(alg, key.pkcs8_der()).map_err(rejected)?)
            }
            None => LcKey::Rsa(RsaKeyPair::from_pkcs8(key.pkcs8_der()).map_err(rejected)?),
        };
        // Guard against a key whose embedded public half disagrees with ours.
        let public_ok = match &lc {
            LcKey::Ec(k) => k.public_key().as_ref() == key.public_key().key_bytes(),
            LcKey::Rsa(k) => k.public_key().as_ref() == key.public_key().key_bytes(),
        };
        if !public_ok {
            return Err(Error::BadPrivateKey {
                reason: "public key embedded in the private key does not match".into(),
            });
        }
        Ok(Box::new(LcSigner {
            key: lc,
            public: key.public_key().clone(),
            algorithm: key.algorithm().signature_algorithm(),
            rng: SystemRandom::new(),
        }))
    }

    fn decrypter(&self, key: &PrivateKey) -> Result<Box<dyn Decrypter>> {
        if !matches!(key.algorithm(), KeyAlgorithm::Rsa { .. }) {
            return Err(Error::UnsupportedKey {
                detail: format!("{} keys cannot decrypt", key.algorithm()),
            });
        }
        let private = PrivateDecryptingKey::from_pkcs8(key.pkcs8_der()).map_err(rejected)?;
        Ok(Box::new(LcDecrypter {
            key: Pkcs1PrivateDecryptingKey::new(private).map_err(backend_error("rsa key"))?,
            kdk: Zeroizing::new(rejection_key(key)),
        }))
    }

    fn verify(
        &self,
        key: &PublicKey,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        use SignatureAlgorithm as S;
        if !key.algorithm().fits(algorithm) {
            return Err(Error::AlgorithmKeyMismatch {
                algorithm,
                key: key.algorithm(),
            });
        }
        let params: &'static dyn signature::VerificationAlgorithm =
            match (key.algorithm(), algorithm) {
                (KeyAlgorithm::Rsa { .. }, S::RsaPkcs1Sha1) => {
                    &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
                }
                (KeyAlgorithm::Rsa { .. }, S::RsaPkcs1Sha256) => {
                    &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (KeyAlgorithm::Rsa { .. }, S::RsaPkcs1Sha384) => {
                    &signature::RSA_PKCS1_2048_8192_SHA384
                }
                (KeyAlgorithm::Rsa { .. }, S::RsaPkcs1Sha512) => {
                    &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                }
                (KeyAlgorithm::Rsa { .. }, S::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
                (KeyAlgorithm::Rsa { .. }, S::RsaPssSha384) => &signature::RSA_PSS_2048_8192_SHA384,
                (KeyAlgorithm::Rsa { .. }, S::RsaPssSha512) => &signature::RSA_PSS_2048_8192_SHA512,
                (KeyAlgorithm::EcP256, S::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
                (KeyAlgorithm::EcP256, S::EcdsaSha384) => &signature::ECDSA_P256_SHA384_ASN1,
                (KeyAlgorithm::EcP256, S::EcdsaSha512) => &signature::ECDSA_P256_SHA512_ASN1,
                (KeyAlgorithm::EcP384, S::EcdsaSha256) => &signature::ECDSA_P384_SHA256_ASN1,
                (KeyAlgorithm::EcP384, S::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
                (KeyAlgorithm::EcP384, S::EcdsaSha512) => &signature::ECDSA_P384_SHA512_ASN1,
                _ => {
                    return Err(Error::AlgorithmKeyMismatch {
                        algorithm,
                        key: key.algorithm(),
                    });
                }
            };
        UnparsedPublicKey::new(params, key.key_bytes())
            .verify(message, sig)
            .map_err(|_| Error::BadSignature {
                what: "message",
                algorithm,
            })
    }
}
