//! What keys and signature algorithms the CA accepts from requesters.

use crate::{Error, KeyAlgorithm, PublicKey, Result, SignatureAlgorithm};

/// Key and algorithm policy for requests (and, by the attestation crate, chains).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyPolicy {
    /// Smallest RSA modulus accepted (default 2048).
    pub min_rsa_bits: usize,
    /// Largest RSA modulus accepted (default 8192): bounds verification cost.
    pub max_rsa_bits: usize,
    /// Accept P-256 keys (default yes).
    pub allow_p256: bool,
    /// Accept P-384 keys (default yes).
    pub allow_p384: bool,
    /// Accept SHA-1 signatures (default no; some SCEP clients still need it).
    pub allow_sha1: bool,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            min_rsa_bits: 2048,
            max_rsa_bits: 8192,
            allow_p256: true,
            allow_p384: true,
            allow_sha1: false,
        }
    }
}

impl KeyPolicy {
    /// Checks a public key against the policy.
    pub fn check_key(&self, key: &PublicKey) -> Result<()> {
        match key.algorithm() {
            KeyAlgorithm::Rsa { bits } if bits < self.min_rsa_bits => Err(Error::KeyTooSmall {
                bits,
                minimum: self.min_rsa_bits,
            }),
            KeyAlgorithm::Rsa { bits } if bits > self.max_rsa_bits => Err(Error::KeyTooLarge {
                bits,
                maximum: self.max_rsa_bits,
            }),
            KeyAlgorithm::EcP256 if !self.allow_p256 => Err(Error::KeyNotAllowed {
                key: key.algorithm(),
            }),
            KeyAlgorithm::EcP384 if !self.allow_p384 => Err(Error::KeyNotAllowed {
                key: key.algorithm(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks a signature algorithm against the policy.
    pub fn check_signature_algorithm(&self, algorithm: SignatureAlgorithm) -> Result<()> {
        if algorithm.hash() == crate::HashAlgorithm::Sha1 && !self.allow_sha1 {
            return Err(Error::WeakSignatureAlgorithm {
                algorithm: algorithm.name(),
            });
        }
        Ok(())
    }
}
