//! CMS `SignedData` (RFC 5652, section 5) as SCEP uses it: signed with
//! signed attributes, and degenerate (certificates only).
//!
//! ```text
//! SignedData ::= SEQUENCE {
//!   version CMSVersion,
//!   digestAlgorithms DigestAlgorithmIdentifiers,
//!   encapContentInfo EncapsulatedContentInfo,
//!   certificates [0] IMPLICIT CertificateSet OPTIONAL,
//!   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!   signerInfos SignerInfos }
//!
//! SignerInfo ::= SEQUENCE {
//!   version CMSVersion,
//!   sid SignerIdentifier,
//!   digestAlgorithm DigestAlgorithmIdentifier,
//!   signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
//!   signatureAlgorithm SignatureAlgorithmIdentifier,
//!   signature SignatureValue,
//!   unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
//! ```
//! The signature covers the DER of the signed attributes with a SET tag.
//! We take those bytes from the message as received (see [`raw_signed_attributes`]),
//! because re-encoding a decoded SET would sort it and break signatures of
//! senders that did not.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

use super::{ScepError, der_error};
use crate::{Backend, Certificate, HashAlgorithm, KeyPolicy, SignatureAlgorithm, Signer};

fn content_info(
    der: &[u8],
    expected: ObjectIdentifier,
    what: &'static str,
) -> Result<ContentInfo, ScepError> {
    let info: ContentInfo = crate::encoding::decode_der(der, what).map_err(ScepError::Pki)?;
    if info.content_type != expected {
        return Err(ScepError::BadAttribute {
            attribute: "contentType",
            reason: format!("{what} has content type {}", info.content_type),
        });
    }
    Ok(info)
}

/// The single value of attribute `oid`, if present.
pub(crate) fn attribute(
    attributes: &[Attribute],
    oid: ObjectIdentifier,
) -> Result<Option<&Any>, ScepError> {
    let mut found = attributes.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(a), None) => {
            let mut values = a.values.iter();
            match (values.next(), values.next()) {
                (Some(v), None) => Ok(Some(v)),
                _ => Err(ScepError::BadAttribute {
                    attribute: "signed attribute",
                    reason: format!("{oid} must have exactly one value"),
                }),
            }
        }
        (Some(_), Some(_)) => Err(ScepError::BadAttribute {
            attribute: "signed attribute",
            reason: format!("{oid} appears more than once"),
        }),
    }
}

fn signature_algorithm(
    id: &AlgorithmIdentifierOwned,
    digest: HashAlgorithm,
) -> Result<SignatureAlgorithm, ScepError> {
    // Many SCEP clients name the key algorithm (rsaEncryption) instead of the
    // signature algorithm; the digest algorithm then says which hash.
    if id.oid == rfc5912::RSA_ENCRYPTION {
        return Ok(match digest {
            HashAlgorithm::Sha1 => SignatureAlgorithm::RsaPkcs1Sha1,
            HashAlgorithm::Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            HashAlgorithm::Sha384 => SignatureAlgorithm::RsaPkcs1Sha384,
            HashAlgorithm::Sha512 => SignatureAlgorithm::RsaPkcs1Sha512,
        });
    }
    let der = id.to_der().map_err(der_error("signature algorithm"))?;
    let parsed =
        spki::AlgorithmIdentifierRef::from_der(&der).map_err(der_error("signature algorithm"))?;
    Ok(SignatureAlgorithm::from_identifier(&parsed)?)
}

/// A parsed `SignedData` whose signature is not checked yet.
#[derive(Debug, Clone)]
pub(crate) struct ParsedSigned {
    pub content_type: ObjectIdentifier,
    pub content: Option<Vec<u8>>,
    pub signer: Certificate,
    pub attributes: Vec<Attribute>,
    digest_oid: ObjectIdentifier,
    signature_algorithm: AlgorithmIdentifierOwned,
    signed_attrs: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses a `ContentInfo` holding `SignedData` with exactly one signer whose
/// certificate is in the message. Nothing is trusted until [`ParsedSigned::verify`].
pub(crate) fn parse_signed(der: &[u8]) -> Result<ParsedSigned, ScepError> {
    let der = super::ber::to_der(der)?;
    let info = content_info(&der, rfc5911::ID_SIGNED_DATA, "pki message")?;
    let signed_der = info.content.to_der().map_err(der_error("signed data"))?;
    let parts = super::loose::signed_data(&signed_der)?;
    let mut signers = parts.signer_infos.into_iter();
    let (Some(si), None) = (signers.next(), signers.next()) else {
        return Err(ScepError::Malformed {
            what: "signed data (expected exactly one signer)",
        });
    };
    let signer = parts
        .certificates
        .into_iter()
        .find(|c| si.sid.matches(c))
        .ok_or(ScepError::BadMessageCheck {
            reason: "the signer's certificate is not in the message".into(),
        })?;
    let signed_attrs = si.signed_attrs.ok_or(ScepError::MissingAttribute {
        attribute: "signed attributes",
    })?;
    let attributes = super::loose::attributes(&signed_attrs)?;
    Ok(ParsedSigned {
        content_type: parts.content_type,
        content: parts.content,
        signer,
        attributes,
        digest_oid: si.digest_oid,
        signature_algorithm: si.signature_algorithm,
        signed_attrs,
        signature: si.signature,
    })
}

impl ParsedSigned {
    /// Checks the digest algorithm against `policy`, the contentType and
    /// messageDigest attributes against the content, and the signature.
    /// Returns the digest and signature algorithms.
    pub(crate) fn verify(
        &self,
        policy: &KeyPolicy,
        backend: &dyn Backend,
    ) -> Result<(HashAlgorithm, SignatureAlgorithm), ScepError> {
        let digest = HashAlgorithm::from_oid(self.digest_oid).ok_or_else(|| {
            ScepError::UnsupportedAlgorithm {
                what: "digest",
                oid: self.digest_oid.to_string(),
            }
        })?;
        if digest == HashAlgorithm::Sha1 && !policy.allow_sha1 {
            return Err(ScepError::ForbiddenAlgorithm {
                what: "digest",
                name: "SHA-1",
            });
        }
        let content_type: ObjectIdentifier = attribute(&self.attributes, rfc5911::ID_CONTENT_TYPE)?
            .ok_or(ScepError::MissingAttribute {
                attribute: "contentType",
            })?
            .decode_as()
            .map_err(der_error("contentType attribute"))?;
        if content_type != self.content_type {
            return Err(ScepError::BadMessageCheck {
                reason: "contentType attribute differs from the content's type".into(),
            });
        }
        let message_digest: OctetString = attribute(&self.attributes, rfc5911::ID_MESSAGE_DIGEST)?
            .ok_or(ScepError::MissingAttribute {
                attribute: "messageDigest",
            })?
            .decode_as()
            .map_err(der_error("messageDigest attribute"))?;
        let expected = digest.digest(self.content.as_deref().unwrap_or_default());
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            message_digest.as_bytes(),
            expected.as_slice(),
        )) {
            return Err(ScepError::BadMessageCheck {
                reason: "messageDigest does not match the content".into(),
            });
        }
        let algorithm = signature_algorithm(&self.signature_algorithm, digest)?;
        policy.check_signature_algorithm(algorithm)?;
        let key = self.signer.public_key();
        backend
            .verify(key, algorithm, &self.signed_attrs, &self.signature)
            .or_else(|first| {
                // RFC 5652 signs the DER (sorted) encoding; some encoders
                // (Go's pkcs7) sign that but send the SET unsorted, others
                // sign what they send. Re-encode only when the first fails.
                let Ok(canonical) =
                    SetOfVec::try_from(self.attributes.clone()).and_then(|set| set.to_der())
                else {
                    return Err(first);
                };
                if canonical == self.signed_attrs {
                    return Err(first);
                }
                backend.verify(key, algorithm, &canonical, &self.signature)
            })
            .map_err(|e| ScepError::BadMessageCheck {
                reason: format!("signer signature: {e}"),
            })?;
        Ok((digest, algorithm))
    }
}

/// Signs `content` (or nothing, for a FAILURE or PENDING reply) with
/// `signer`, adding contentType and messageDigest to `attributes`.
pub(crate) fn build_signed(
    content: Option<&[u8]>,
    signer_cert: &Certificate,
    signer: &dyn Signer,
    mut attributes: Vec<Attribute>,
) -> Result<Vec<u8>, ScepError> {
    let digest = signer.algorithm().hash();
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    attributes.push(single(
        rfc5911::ID_CONTENT_TYPE,
        Any::encode_from(&rfc5911::ID_DATA).map_err(der_error("contentType"))?,
    )?);
    let message_digest = OctetString::new(digest.digest(content.unwrap_or_default()))
        .map_err(der_error("digest"))?;
    attributes.push(single(
        rfc5911::ID_MESSAGE_DIGEST,
        Any::encode_from(&message_digest).map_err(der_error("digest"))?,
    )?);
    let signed_attrs = SetOfVec::try_from(attributes).map_err(der_error("signed attributes"))?;
    let signature = signer.sign(
        &signed_attrs
            .to_der()
            .map_err(der_error("signed attributes"))?,
    )?;
    // strongSwan insists on rsaEncryption here, and RFC 5652 allows it.
    let signature_algorithm = if signer.algorithm().is_rsa() {
        AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        }
    } else {
        signer.algorithm().identifier()?
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer_cert.issuer().clone(),
            serial_number: x509_cert::serial_number::SerialNumber::new(signer_cert.raw_serial())
                .map_err(der_error("signer serial"))?,
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(der_error("signature"))?,
        unsigned_attrs: None,
    };
    let econtent = content
        .map(|c| OctetString::new(c).and_then(|o| Any::encode_from(&o)))
        .transpose()
        .map_err(der_error("content"))?;
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms
        .insert(digest_alg)
        .map_err(der_error("digest algorithms"))?;
    let mut certs = SetOfVec::new();
    certs
        .insert(CertificateChoices::Certificate(signer_cert.to_rfc5280()?))
        .map_err(der_error("certificates"))?;
    let mut signer_infos = SetOfVec::new();
    signer_infos
        .insert(signer_info)
        .map_err(der_error("signer infos"))?;
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent,
        },
        certificates: Some(CertificateSet(certs)),
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    };
    wrap(rfc5911::ID_SIGNED_DATA, &signed)
}

pub(crate) fn single(oid: ObjectIdentifier, value: Any) -> Result<Attribute, ScepError> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(der_error("attribute"))?;
    Ok(Attribute { oid, values })
}

pub(crate) fn wrap<T: der::EncodeValue + der::Tagged>(
    content_type: ObjectIdentifier,
    content: &T,
) -> Result<Vec<u8>, ScepError> {
    ContentInfo {
        content_type,
        content: Any::encode_from(content).map_err(der_error("content info"))?,
    }
    .to_der()
    .map_err(der_error("content info"))
}

/// A degenerate, certificates-only `SignedData` (RFC 8894, section 3.4):
/// how GetCACert returns an RA and CA, and how CertRep carries the new certificate.
pub fn degenerate_certs_only(certs: &[&Certificate]) -> Result<Vec<u8>, ScepError> {
    let mut set = SetOfVec::new();
    for cert in certs {
        set.insert(CertificateChoices::Certificate(cert.to_rfc5280()?))
            .map_err(der_error("certificates"))?;
    }
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(set)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    wrap(rfc5911::ID_SIGNED_DATA, &signed)
}

/// The certificates of a degenerate `SignedData`.
pub fn parse_certs_only(der: &[u8]) -> Result<Vec<Certificate>, ScepError> {
    let der = super::ber::to_der(der)?;
    let info = content_info(&der, rfc5911::ID_SIGNED_DATA, "certs-only message")?;
    let signed_der = info.content.to_der().map_err(der_error("signed data"))?;
    Ok(super::loose::signed_data(&signed_der)?.certificates)
}
