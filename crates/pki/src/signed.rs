//! The shape shared by certificates, CRLs and PKCS#10 requests: signed bytes,
//! an algorithm and a signature.
//!
//! ```text
//! SIGNED{ToBeSigned} ::= SEQUENCE {
//!     toBeSigned           ToBeSigned,
//!     algorithmIdentifier  AlgorithmIdentifier,
//!     signature            BIT STRING }
//! ```
//! The signature covers the exact bytes received, so we keep them as they
//! came (`AnyRef` re-encodes to the same bytes, since the decoder already
//! insisted on DER) instead of re-encoding a decoded structure.

use der::asn1::{AnyRef, BitStringRef};
use der::{Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, AlgorithmIdentifierRef};

use crate::encoding::decode_der;
use crate::{Backend, Error, KeyPolicy, PublicKey, Result, SignatureAlgorithm};

#[derive(Sequence)]
struct RawSigned<'a> {
    tbs: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// The three parts of a signed object, with the algorithm parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub tbs: Vec<u8>,
    pub algorithm_id: AlgorithmIdentifierOwned,
    pub signature: Vec<u8>,
}

impl Signed {
    pub(crate) fn parse(der: &[u8], what: &'static str) -> Result<Self> {
        let raw: RawSigned<'_> = decode_der(der, what)?;
        let signature = raw
            .signature
            .as_bytes()
            .ok_or_else(|| Error::Der {
                what,
                source: der::Tag::BitString.value_error().into(),
            })?
            .to_vec();
        // An unsupported algorithm does not fail parsing: the object can still
        // be shown, and verifying it reports the typed error.
        Ok(Self {
            tbs: raw.tbs.to_der().map_err(Error::der(what))?,
            algorithm_id: AlgorithmIdentifierOwned {
                oid: raw.algorithm.oid,
                parameters: raw.algorithm.parameters.map(Into::into),
            },
            signature,
        })
    }

    /// The signature algorithm, or why it is refused.
    pub(crate) fn algorithm(&self) -> Result<SignatureAlgorithm> {
        SignatureAlgorithm::from_identifier(&AlgorithmIdentifierRef {
            oid: self.algorithm_id.oid,
            parameters: self.algorithm_id.parameters.as_ref().map(Into::into),
        })
    }

    /// Verifies the signature with `key` under `policy`.
    pub(crate) fn verify(
        &self,
        what: &'static str,
        key: &PublicKey,
        policy: &KeyPolicy,
        backend: &dyn Backend,
    ) -> Result<SignatureAlgorithm> {
        let algorithm = self.algorithm()?;
        policy.check_signature_algorithm(algorithm)?;
        backend
            .verify(key, algorithm, &self.tbs, &self.signature)
            .map_err(|e| match e {
                Error::BadSignature { algorithm, .. } => Error::BadSignature { what, algorithm },
                other => other,
            })?;
        Ok(algorithm)
    }
}

/// Assembles `SIGNED{…}` from DER of the to-be-signed part and a signer.
pub(crate) fn sign(tbs: &[u8], signer: &dyn crate::Signer) -> Result<Vec<u8>> {
    let algorithm = signer.algorithm().identifier()?;
    let signature = signer.sign(tbs)?;
    let raw = RawSigned {
        tbs: AnyRef::try_from(tbs).map_err(Error::der("to-be-signed"))?,
        algorithm: AlgorithmIdentifierRef {
            oid: algorithm.oid,
            parameters: algorithm.parameters.as_ref().map(Into::into),
        },
        signature: BitStringRef::from_bytes(&signature).map_err(Error::der("signature"))?,
    };
    raw.to_der().map_err(Error::der("signed object"))
}
