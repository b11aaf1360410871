//! Content-encryption algorithms real SCEP clients use (RFC 8894, section 3.5.2).
//!
//! ```text
//! desCBC      OBJECT IDENTIFIER ::= { 1 3 14 3 2 7 }            -- micromdm's scepclient
//! des-ede3-cbc OBJECT IDENTIFIER ::= { 1 2 840 113549 3 7 }     -- macOS, iOS
//! id-aes128-CBC OBJECT IDENTIFIER ::= { aes 2 }                 -- certmonger, strongSwan
//! id-aes192-CBC OBJECT IDENTIFIER ::= { aes 22 }
//! id-aes256-CBC OBJECT IDENTIFIER ::= { aes 42 }
//! -- parameters: the IV, an OCTET STRING of the block size
//! ```

use std::fmt;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::ScepError;

/// A block cipher in CBC mode with PKCS#7 padding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// Single DES: broken; accepted only if the configured minimum allows it.
    #[serde(rename = "DES-CBC")]
    DesCbc,
    /// Triple DES.
    #[serde(rename = "DES-EDE3-CBC")]
    DesEde3Cbc,
    /// AES-128.
    #[serde(rename = "AES-128-CBC")]
    Aes128Cbc,
    /// AES-192.
    #[serde(rename = "AES-192-CBC")]
    Aes192Cbc,
    /// AES-256.
    #[serde(rename = "AES-256-CBC")]
    Aes256Cbc,
}

const ALL: [ContentEncryption; 5] = [
    ContentEncryption::DesCbc,
    ContentEncryption::DesEde3Cbc,
    ContentEncryption::Aes128Cbc,
    ContentEncryption::Aes192Cbc,
    ContentEncryption::Aes256Cbc,
];

impl ContentEncryption {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(match self {
            Self::DesCbc => "1.3.14.3.2.7",
            Self::DesEde3Cbc => "1.2.840.113549.3.7",
            Self::Aes128Cbc => "2.16.840.1.101.3.4.1.2",
            Self::Aes192Cbc => "2.16.840.1.101.3.4.1.22",
            Self::Aes256Cbc => "2.16.840.1.101.3.4.1.42",
        })
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::DesCbc => 8,
            Self::DesEde3Cbc | Self::Aes192Cbc => 24,
            Self::Aes128Cbc => 16,
            Self::Aes256Cbc => 32,
        }
    }

    /// IV (block) length in bytes.
    pub fn iv_len(self) -> usize {
        match self {
            Self::DesCbc | Self::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// OpenSSL's name, e.g. `DES-EDE3-CBC`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DesCbc => "DES-CBC",
            Self::DesEde3Cbc => "DES-EDE3-CBC",
            Self::Aes128Cbc => "AES-128-CBC",
            Self::Aes192Cbc => "AES-192-CBC",
            Self::Aes256Cbc => "AES-256-CBC",
        }
    }

    /// Parses an `AlgorithmIdentifier` into the algorithm and its IV.
    pub fn from_identifier(id: &AlgorithmIdentifierOwned) -> Result<(Self, Vec<u8>), ScepError> {
        let alg = ALL.into_iter().find(|a| a.oid() == id.oid).ok_or_else(|| {
            ScepError::UnsupportedAlgorithm {
                what: "content encryption",
                oid: id.oid.to_string(),
            }
        })?;
        let iv = id
            .parameters
            .as_ref()
            .and_then(|p| p.to_der().ok())
            .and_then(|der| OctetString::from_der(&der).ok())
            .map(|o| o.into_bytes().into_vec())
            .filter(|iv| iv.len() == alg.iv_len())
            .ok_or(ScepError::Malformed {
                what: "content encryption iv",
            })?;
        Ok((alg, iv))
    }

    /// The `AlgorithmIdentifier` with `iv`.
    pub fn identifier(self, iv: &[u8]) -> Result<AlgorithmIdentifierOwned, ScepError> {
        let iv = OctetString::new(iv).map_err(|_| ScepError::Malformed { what: "iv" })?;
        Ok(AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: Some(
                Any::encode_from(&iv).map_err(|_| ScepError::Malformed { what: "iv" })?,
            ),
        })
    }

    /// Encrypts with PKCS#7 padding.
    pub fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ScepError> {
        let bad = |_| ScepError::Malformed {
            what: "cipher key or iv",
        };
        Ok(match self {
            Self::DesCbc => cbc::Encryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
            Self::DesEde3Cbc => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
            Self::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
            Self::Aes192Cbc => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
            Self::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
        })
    }

    /// Decrypts and removes PKCS#7 padding.
    pub fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ScepError> {
        let bad = |_| ScepError::Malformed {
            what: "cipher key or iv",
        };
        let padding = |_| ScepError::DecryptionFailed;
        let plain = match self {
            Self::DesCbc => cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<Pkcs7>(ciphertext),
            Self::DesEde3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<Pkcs7>(ciphertext),
            Self::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<Pkcs7>(ciphertext),
            Self::Aes192Cbc => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<Pkcs7>(ciphertext),
            Self::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<Pkcs7>(ciphertext),
        };
        plain.map(Zeroizing::new).map_err(padding)
    }
}

impl fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
