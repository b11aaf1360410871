//! Signature and digest algorithms, and their `AlgorithmIdentifier`s.
//!
//! ```text
//! AlgorithmIdentifier  ::=  SEQUENCE  {
//!      algorithm               OBJECT IDENTIFIER,
//!      parameters              ANY DEFINED BY algorithm OPTIONAL  }
//! ```
//! (RFC 5280, section 4.1.1.2). RSA PKCS#1 v1.5 identifiers carry an explicit
//! NULL parameter; ECDSA identifiers carry none (RFC 5758, section 3.2).

use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Any, Decode, Encode, Sequence, asn1::Null};
use spki::{AlgorithmIdentifierOwned, AlgorithmIdentifierRef};

use crate::{Error, Result};

/// A message digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1: only where a policy allows it (old SCEP clients).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The name GetCACaps and OpenSSL use (`SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest's OID (as used in `DigestAlgorithmIdentifier`).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => rfc5912::ID_SHA_1,
            Self::Sha256 => rfc5912::ID_SHA_256,
            Self::Sha384 => rfc5912::ID_SHA_384,
            Self::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The digest for an OID, if it is one we implement.
    pub fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.oid() == oid)
    }
}

/// A signature algorithm this crate can verify (and, for most, produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// `sha1WithRSAEncryption`: verify only, and only where allowed.
    RsaPkcs1Sha1,
    /// `sha256WithRSAEncryption`.
    RsaPkcs1Sha256,
    /// `sha384WithRSAEncryption`.
    RsaPkcs1Sha384,
    /// `sha512WithRSAEncryption`.
    RsaPkcs1Sha512,
    /// `id-RSASSA-PSS` with SHA-256, MGF1-SHA-256 and a 32-byte salt: verify only.
    RsaPssSha256,
    /// `id-RSASSA-PSS` with SHA-384, MGF1-SHA-384 and a 48-byte salt: verify only.
    RsaPssSha384,
    /// `id-RSASSA-PSS` with SHA-512, MGF1-SHA-512 and a 64-byte salt: verify only.
    RsaPssSha512,
    /// `ecdsa-with-SHA256`.
    EcdsaSha256,
    /// `ecdsa-with-SHA384`.
    EcdsaSha384,
    /// `ecdsa-with-SHA512`: verify only.
    EcdsaSha512,
}

/// `RSASSA-PSS-params` (RFC 4055, section 3.1):
/// ```text
/// RSASSA-PSS-params  ::=  SEQUENCE  {
///     hashAlgorithm      [0] HashAlgorithm DEFAULT sha1Identifier,
///     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
///     saltLength         [2] INTEGER DEFAULT 20,
///     trailerField       [3] INTEGER DEFAULT 1  }
/// ```
/// Defaults mean SHA-1, which we refuse, so every field we accept is explicit.
#[derive(Debug, Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u32>,
}

const MD5_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.2.4");
const MD5_WITH_RSA_PKCS1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4");
const MD2_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.2");

impl SignatureAlgorithm {
    /// The digest this algorithm signs.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1Sha1 => HashAlgorithm::Sha1,
            Self::RsaPkcs1Sha256 | Self::RsaPssSha256 | Self::EcdsaSha256 => HashAlgorithm::Sha256,
            Self::RsaPkcs1Sha384 | Self::RsaPssSha384 | Self::EcdsaSha384 => HashAlgorithm::Sha384,
            Self::RsaPkcs1Sha512 | Self::RsaPssSha512 | Self::EcdsaSha512 => HashAlgorithm::Sha512,
        }
    }

    /// Whether this is an RSA algorithm (PKCS#1 v1.5 or PSS).
    pub fn is_rsa(self) -> bool {
        !self.is_ecdsa()
    }

    /// Whether this is an ECDSA algorithm.
    pub fn is_ecdsa(self) -> bool {
        matches!(
            self,
            Self::EcdsaSha256 | Self::EcdsaSha384 | Self::EcdsaSha512
        )
    }

    /// The `AlgorithmIdentifier` OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::RsaPkcs1Sha1 => rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            Self::RsaPkcs1Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            Self::RsaPkcs1Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            Self::RsaPkcs1Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512 => rfc5912::ID_RSASSA_PSS,
            Self::EcdsaSha256 => rfc5912::ECDSA_WITH_SHA_256,
            Self::EcdsaSha384 => rfc5912::ECDSA_WITH_SHA_384,
            Self::EcdsaSha512 => rfc5912::ECDSA_WITH_SHA_512,
        }
    }

    /// The `AlgorithmIdentifier` we write when signing with this algorithm.
    pub fn identifier(self) -> Result<AlgorithmIdentifierOwned> {
        let parameters = if self.is_ecdsa() {
            None
        } else if matches!(
            self,
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512
        ) {
            Some(pss_params(self.hash())?)
        } else {
            Some(Any::from(Null))
        };
        Ok(AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        })
    }

    /// Parses an `AlgorithmIdentifier`. SHA-1 is recognised here and refused
    /// (or not) by the caller's policy; MD5 and MD2 are refused outright.
    pub fn from_identifier(id: &AlgorithmIdentifierRef<'_>) -> Result<Self> {
        let oid = id.oid;
        if oid == MD5_WITH_RSA_PKCS1 || oid == MD5_WITH_RSA {
            return Err(Error::WeakSignatureAlgorithm {
                algorithm: "md5WithRSAEncryption",
            });
        }
        if oid == MD2_WITH_RSA {
            return Err(Error::WeakSignatureAlgorithm {
                algorithm: "md2WithRSAEncryption",
            });
        }
        let simple = [
            Self::RsaPkcs1Sha1,
            Self::RsaPkcs1Sha256,
            Self::RsaPkcs1Sha384,
            Self::RsaPkcs1Sha512,
            Self::EcdsaSha256,
            Self::EcdsaSha384,
            Self::EcdsaSha512,
        ];
        if let Some(alg) = simple.into_iter().find(|a| a.oid() == oid) {
            // RFC 4055: absent or NULL for PKCS#1 v1.5; RFC 5758: absent for ECDSA.
            let params_ok = match id.parameters {
                None => true,
                Some(p) => alg.is_rsa() && p.is_null(),
            };
            if !params_ok {
                return Err(Error::UnsupportedSignatureAlgorithm {
                    oid: format!("{oid} with unexpected parameters"),
                });
            }
            return Ok(alg);
        }
        if oid == rfc5912::ID_RSASSA_PSS {
            return Self::from_pss_params(id);
        }
        Err(Error::UnsupportedSignatureAlgorithm {
            oid: oid.to_string(),
        })
    }

    fn from_pss_params(id: &AlgorithmIdentifierRef<'_>) -> Result<Self> {
        let unsupported = |why: &str| Error::UnsupportedSignatureAlgorithm {
            oid: format!("id-RSASSA-PSS ({why})"),
        };
        let params = id.parameters.ok_or_else(|| unsupported("no parameters"))?;
        let params = PssParams::from_der(&params.to_der().map_err(Error::der("pss parameters"))?)
            .map_err(Error::der("pss parameters"))?;
        let hash_oid = params
            .hash
            .map(|h| h.oid)
            .ok_or_else(|| unsupported("sha-1"))?;
        let hash = HashAlgorithm::from_oid(hash_oid).ok_or_else(|| unsupported("unknown hash"))?;
        let alg = match hash {
            HashAlgorithm::Sha256 => Self::RsaPssSha256,
            HashAlgorithm::Sha384 => Self::RsaPssSha384,
            HashAlgorithm::Sha512 => Self::RsaPssSha512,
            HashAlgorithm::Sha1 => return Err(unsupported("sha-1")),
        };
        let mgf = params.mask_gen.ok_or_else(|| unsupported("mgf1-sha-1"))?;
        let mgf_hash = mgf
            .parameters
            .and_then(|p| AlgorithmIdentifierOwned::from_der(&p.to_der().ok()?).ok())
            .map(|a| a.oid);
        if mgf.oid != rfc5912::ID_MGF_1 || mgf_hash != Some(hash_oid) {
            return Err(unsupported("mask generation differs from the hash"));
        }
        let salt_ok = params.salt_len.map(|s| s as usize) == Some(hash.output_len());
        if !salt_ok || params.trailer.unwrap_or(1) != 1 {
            return Err(unsupported("salt length must equal the hash length"));
        }
        Ok(alg)
    }

    /// The name OpenSSL prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1Sha1 => "sha1WithRSAEncryption",
            Self::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            Self::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            Self::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            Self::RsaPssSha256 => "rsassaPss-sha256",
            Self::RsaPssSha384 => "rsassaPss-sha384",
            Self::RsaPssSha512 => "rsassaPss-sha512",
            Self::EcdsaSha256 => "ecdsa-with-SHA256",
            Self::EcdsaSha384 => "ecdsa-with-SHA384",
            Self::EcdsaSha512 => "ecdsa-with-SHA512",
        }
    }
}

fn pss_params(hash: HashAlgorithm) -> Result<Any> {
    let hash_id = AlgorithmIdentifierOwned {
        oid: hash.oid(),
        parameters: None,
    };
    let mgf = AlgorithmIdentifierOwned {
        oid: rfc5912::ID_MGF_1,
        parameters: Some(Any::encode_from(&hash_id).map_err(Error::der("pss parameters"))?),
    };
    let salt_len = u32::try_from(hash.output_len()).unwrap_or(u32::MAX);
    let params = PssParams {
        hash: Some(hash_id),
        mask_gen: Some(mgf),
        salt_len: Some(salt_len),
        trailer: None,
    };
    Any::encode_from(&params).map_err(Error::der("pss parameters"))
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
