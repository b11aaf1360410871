//! Key algorithms, public keys (SPKI) and private keys (PKCS#8).
//!
//! ```text
//! SubjectPublicKeyInfo  ::=  SEQUENCE  {
//!      algorithm            AlgorithmIdentifier,
//!      subjectPublicKey     BIT STRING  }
//! ```
//! (RFC 5280, section 4.1.2.7). Private keys are kept as PKCS#8 DER
//! (RFC 5208 `PrivateKeyInfo`), zeroed on drop, and written to disk with mode 0600.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Decode, Encode};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use crate::encoding::{decode_der, pem_blocks};
use crate::{Error, Result, SignatureAlgorithm};

/// The kind and size of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
}

impl KeyAlgorithm {
    /// RSA-2048.
    pub const RSA2048: Self = Self::Rsa { bits: 2048 };
    /// RSA-3072.
    pub const RSA3072: Self = Self::Rsa { bits: 3072 };
    /// RSA-4096.
    pub const RSA4096: Self = Self::Rsa { bits: 4096 };

    /// The algorithm this crate signs with for a key of this kind.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::EcP256 => SignatureAlgorithm::EcdsaSha256,
            Self::EcP384 => SignatureAlgorithm::EcdsaSha384,
            Self::Rsa { .. } => SignatureAlgorithm::RsaPkcs1Sha256,
        }
    }

    /// Whether `alg` can be made by a key of this kind.
    pub fn fits(self, alg: SignatureAlgorithm) -> bool {
        match self {
            Self::EcP256 | Self::EcP384 => alg.is_ecdsa(),
            Self::Rsa { .. } => alg.is_rsa(),
        }
    }

    /// The kinds of key this crate can generate.
    pub const GENERATABLE: [Self; 5] = [
        Self::EcP256,
        Self::EcP384,
        Self::RSA2048,
        Self::RSA3072,
        Self::RSA4096,
    ];
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcP256 => f.write_str("p256"),
            Self::EcP384 => f.write_str("p384"),
            Self::Rsa { bits } => write!(f, "rsa{bits}"),
        }
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::GENERATABLE
            .into_iter()
            .find(|k| k.to_string() == s)
            .ok_or_else(|| {
                format!("unknown key type {s:?}: expected p256, p384, rsa2048, rsa3072 or rsa4096")
            })
    }
}

impl serde::Serialize for KeyAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A public key as a parsed, checked SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    key_bytes: Vec<u8>,
}

const MAX_RSA_BITS: usize = 8192;

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo: RSA (1024 to 8192 bits; policy
    /// decides what is enough), or EC on P-256 or P-384.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let spki: SubjectPublicKeyInfoRef<'_> = decode_der(der, "subject public key info")?;
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self> {
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::UnsupportedKey {
                detail: "public key bit string has unused bits".into(),
            })?
            .to_vec();
        let algorithm = match spki.algorithm.oid {
            rfc5912::RSA_ENCRYPTION => {
                let rsa = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(&key_bytes)
                    .map_err(|e| Error::UnsupportedKey {
                        detail: format!("malformed rsa public key: {e}"),
                    })?;
                let modulus = rsa.modulus.as_bytes();
                let bits = match modulus.first() {
                    Some(&top) if top != 0 => {
                        modulus.len() * 8 - usize::try_from(top.leading_zeros()).unwrap_or(0)
                    }
                    _ => 0,
                };
                if bits > MAX_RSA_BITS {
                    return Err(Error::KeyTooLarge {
                        bits,
                        maximum: MAX_RSA_BITS,
                    });
                }
                let e = rsa.public_exponent.as_bytes();
                let odd = e.last().is_some_and(|b| b & 1 == 1);
                if bits < 512 || !odd || e.len() > 8 || e == [1] {
                    return Err(Error::UnsupportedKey {
                        detail: format!("rsa key of {bits} bits with a bad exponent or modulus"),
                    });
                }
                KeyAlgorithm::Rsa { bits }
            }
            rfc5912::ID_EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as().ok())
                    .ok_or_else(|| Error::UnsupportedKey {
                        detail: "ec key without a named curve".into(),
                    })?;
                let (alg, len) = match curve {
                    rfc5912::SECP_256_R_1 => (KeyAlgorithm::EcP256, 65),
                    rfc5912::SECP_384_R_1 => (KeyAlgorithm::EcP384, 97),
                    other => {
                        return Err(Error::UnsupportedKey {
                            detail: format!("ec curve {other}"),
                        });
                    }
                };
                // Uncompressed points only: what every client we know sends.
                if key_bytes.len() != len || key_bytes.first() != Some(&4) {
                    return Err(Error::UnsupportedKey {
                        detail: format!("{alg} point is not an uncompressed point"),
                    });
                }
                alg
            }
            other => {
                return Err(Error::UnsupportedKey {
                    detail: format!("public key algorithm {other}"),
                });
            }
        };
        Ok(Self {
            algorithm,
            spki_der: spki
                .to_der()
                .map_err(Error::der("subject public key info"))?,
            key_bytes,
        })
    }

    /// The key's kind and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The whole SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The `subjectPublicKey` bits: a PKCS#1 RSAPublicKey, or an uncompressed EC point.
    pub fn key_bytes(&self) -> &[u8] {
        &self.key_bytes
    }

    /// The SubjectPublicKeyInfo as an owned structure.
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        SubjectPublicKeyInfoOwned::from_der(&self.spki_der)
            .map_err(Error::der("subject public key info"))
    }

    /// Key identifier: the leftmost 160 bits of the SHA-256 of the key bits
    /// (RFC 7093, section 2, method 1), so no SHA-1 is needed.
    pub fn key_id(&self) -> Vec<u8> {
        let mut id = crate::HashAlgorithm::Sha256.digest(&self.key_bytes);
        id.truncate(20);
        id
    }

    /// SHA-256 of the SubjectPublicKeyInfo, hex: a stable fingerprint to show people.
    pub fn fingerprint(&self) -> String {
        hex::encode(crate::HashAlgorithm::Sha256.digest(&self.spki_der))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("sha256", &self.fingerprint())
            .finish()
    }
}

/// A private key: PKCS#8 DER, zeroed on drop, with its public key.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl PrivateKey {
    /// Parses PKCS#8 DER (`PrivateKeyInfo`, v1 or v2) and derives its public key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let public = crate::backend::rustcrypto::public_key_of_pkcs8(der)?;
        Ok(Self {
            pkcs8: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    /// Parses PEM: PKCS#8 (`PRIVATE KEY`), or the legacy PKCS#1 (`RSA PRIVATE KEY`)
    /// and SEC1 (`EC PRIVATE KEY`) forms that older OpenSSL commands write.
    /// Encrypted keys are refused: decrypt them first.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let blocks = pem_blocks(pem)?;
        let mut keys = blocks.into_iter().filter(|b| b.label != "EC PARAMETERS");
        let (Some(block), None) = (keys.next(), keys.next()) else {
            return Err(Error::Pem {
                reason: "expected exactly one private key block".into(),
            });
        };
        let der = Zeroizing::new(block.der);
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                let pkcs8 = crate::backend::rustcrypto::legacy_to_pkcs8(&block.label, &der)?;
                Self::from_pkcs8_der(&pkcs8)
            }
            "ENCRYPTED PRIVATE KEY" => Err(Error::BadPrivateKey {
                reason: "encrypted private keys are not supported; decrypt it first".into(),
            }),
            other => Err(Error::PemLabel {
                expected: "PRIVATE KEY",
                found: other.to_owned(),
            }),
        }
    }

    /// Reads a PEM key file.
    pub fn read_pem_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read(path).map_err(Error::io(path))?);
        Self::from_pem(&text)
    }

    /// The PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        crate::encoding::to_pem("PRIVATE KEY", &self.pkcs8).map(Zeroizing::new)
    }

    /// Writes the key as PEM to a new file with mode 0600, refusing to overwrite.
    ///
    /// The file is created with its final mode, so the key is never readable by
    /// others, not even for an instant.
    pub fn write_pem_file(&self, path: &Path) -> Result<()> {
        let pem = self.to_pem()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(Error::io(path))?;
        file.write_all(pem.as_bytes()).map_err(Error::io(path))?;
        file.sync_all().map_err(Error::io(path))
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's kind and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}
