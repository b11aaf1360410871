//! Devices' own keys: parsing the key a device registers, and verifying
//! the signature on each of its requests.
//!
//! A device registers a SubjectPublicKeyInfo (PEM `PUBLIC KEY`, or DER):
//! RSA of 2048 to 8192 bits, or ECDSA on P-256 or P-384. It signs requests
//! with the algorithm its key implies: ECDSA with SHA-256 (P-256) or SHA-384
//! (P-384), DER-encoded `ECDSA-Sig-Value`; RSA PKCS#1 v1.5 with SHA-256.

use devicetrust_devices::DeviceId;
use devicetrust_pki::encoding::der_or_pem;
use devicetrust_pki::{Backend, KeyPolicy, PublicKey};
use devicetrust_store::DeviceKeyRecord;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What every request signature starts with (domain separation).
pub const REQUEST_CONTEXT: &str = "devicetrust-request-v1";

/// What a registration's proof of possession starts with (domain separation:
/// it can never pass for a request signature, nor one for it).
pub const REGISTER_CONTEXT: &str = "devicetrust-register-v1";

/// Why a key or a signature was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceKeyError {
    /// Not a public key we accept.
    #[error("publicKey: {0}")]
    BadKey(String),
    /// The device registered no key (or does not exist).
    #[error("device {0} has no registered key")]
    NoKey(String),
    /// The signature does not verify with the device's key.
    #[error("the request signature does not verify with device {0}'s key")]
    BadSignature(String),
    /// Storage failed.
    #[error("device key storage: {0}")]
    Store(#[from] devicetrust_store::Error),
}

impl devicetrust_errors::HasKind for DeviceKeyError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        match self {
            Self::BadKey(_) => devicetrust_errors::ErrorKind::Invalid,
            Self::NoKey(_) | Self::BadSignature(_) => {
                devicetrust_errors::ErrorKind::Unauthenticated
            }
            Self::Store(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

/// Parses and checks a device's public key (PEM or DER SPKI).
pub fn parse_public_key(input: &[u8]) -> Result<PublicKey, DeviceKeyError> {
    let der =
        der_or_pem(input, &["PUBLIC KEY"]).map_err(|e| DeviceKeyError::BadKey(e.to_string()))?;
    let key = PublicKey::from_spki_der(&der).map_err(|e| DeviceKeyError::BadKey(e.to_string()))?;
    KeyPolicy::default()
        .check_key(&key)
        .map_err(|e| DeviceKeyError::BadKey(e.to_string()))?;
    Ok(key)
}

/// The stored form of `key`.
pub fn record(key: &PublicKey, now: OffsetDateTime) -> DeviceKeyRecord {
    DeviceKeyRecord {
        key_id: key.fingerprint(),
        spki_hex: hex::encode(key.spki_der()),
        created: now,
    }
}

/// A stored key, parsed.
pub fn parse_stored(stored: &DeviceKeyRecord) -> Result<PublicKey, DeviceKeyError> {
    let der = hex::decode(&stored.spki_hex).map_err(|e| DeviceKeyError::BadKey(e.to_string()))?;
    PublicKey::from_spki_der(&der).map_err(|e| DeviceKeyError::BadKey(e.to_string()))
}

/// The text a device signs for one request.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    ts: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{REQUEST_CONTEXT}\n{method}\n{path_and_query}\n{ts}\n{nonce}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

/// The text a new device key signs at registration, proving that the caller
/// holds the private key of the public key it registers: bound to the
/// one-time enrollment token (by digest, so the token itself never reaches a
/// signing API), to the time, and to the key.
pub fn registration_message(ts: &str, enrollment_token: &str, key_id: &str) -> String {
    format!(
        "{REGISTER_CONTEXT}\n{ts}\n{}\n{key_id}",
        hex::encode(Sha256::digest(enrollment_token.as_bytes()))
    )
}

/// Verifies `signature` over `message` with `key`, in the algorithm the key implies.
pub fn verify(
    backend: &dyn Backend,
    key: &PublicKey,
    device: &DeviceId,
    message: &[u8],
    signature: &[u8],
) -> Result<(), DeviceKeyError> {
    backend
        .verify(
            key,
            key.algorithm().signature_algorithm(),
            message,
            signature,
        )
        .map_err(|_| DeviceKeyError::BadSignature(device.to_string()))
}
