//! A lenient reading of CMS `SignedData`, field by field.
//!
//! The strict types refuse what real requesters send: certmonger's
//! self-signed certificate has a 32-octet serial (over RFC 5280's 20), which
//! also appears in the SignerInfo's `issuerAndSerialNumber`. Those bytes only
//! identify the signer among the certificates in the same message, so they
//! are compared as raw INTEGER contents, never interpreted.

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;

use super::{ScepError, der_error};
use crate::Certificate;

/// How a SignerInfo names its certificate.
#[derive(Debug, Clone)]
pub(crate) enum SignerId {
    /// issuerAndSerialNumber, the serial as raw INTEGER contents.
    IssuerSerial { issuer: Name, serial: Vec<u8> },
    /// subjectKeyIdentifier.
    KeyId(Vec<u8>),
}

impl SignerId {
    pub(crate) fn matches(&self, cert: &Certificate) -> bool {
        match self {
            Self::IssuerSerial { issuer, serial } => {
                issuer == cert.issuer() && serial.as_slice() == cert.raw_serial()
            }
            Self::KeyId(id) => {
                cert.subject_key_id().ok().flatten().as_deref() == Some(id.as_slice())
            }
        }
    }
}

/// The parts of a SignerInfo SCEP needs.
#[derive(Debug, Clone)]
pub(crate) struct SignerInfoParts {
    pub sid: SignerId,
    pub digest_oid: ObjectIdentifier,
    /// The signed attributes exactly as received, re-tagged as a SET.
    pub signed_attrs: Option<Vec<u8>>,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: Vec<u8>,
}

/// The parts of a SignedData SCEP needs.
#[derive(Debug, Clone)]
pub(crate) struct SignedParts {
    pub content_type: ObjectIdentifier,
    pub content: Option<Vec<u8>>,
    pub certificates: Vec<Certificate>,
    pub signer_infos: Vec<SignerInfoParts>,
}

const MAX_CERTIFICATES: usize = 8;
const MAX_SIGNERS: usize = 4;

fn context(n: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(n),
    }
}

/// The TLVs inside a constructed value.
fn children<'a>(
    value: &'a [u8],
    what: &'static str,
    max: usize,
) -> Result<Vec<AnyRef<'a>>, ScepError> {
    let mut reader = SliceReader::new(value).map_err(der_error(what))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        if out.len() == max {
            return Err(ScepError::Malformed { what });
        }
        out.push(reader.decode::<AnyRef<'a>>().map_err(der_error(what))?);
    }
    Ok(out)
}

fn signer_info(tlv: &AnyRef<'_>) -> Result<SignerInfoParts, ScepError> {
    const WHAT: &str = "signer info";
    let fields = children(tlv.value(), WHAT, 7)?;
    let mut it = fields.iter();
    let _version = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
    let sid_tlv = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
    let sid = if sid_tlv.tag() == Tag::Sequence {
        let parts = children(sid_tlv.value(), "issuer and serial number", 2)?;
        let (Some(issuer), Some(serial)) = (parts.first(), parts.get(1)) else {
            return Err(ScepError::Malformed {
                what: "issuer and serial number",
            });
        };
        if serial.tag() != Tag::Integer || serial.value().is_empty() || serial.value().len() > 64 {
            return Err(ScepError::Malformed {
                what: "signer serial",
            });
        }
        SignerId::IssuerSerial {
            issuer: Name::from_der(&issuer.to_der().map_err(der_error(WHAT))?)
                .map_err(der_error("signer issuer"))?,
            serial: serial.value().to_vec(),
        }
    } else if sid_tlv.tag() == context(0, false) {
        SignerId::KeyId(sid_tlv.value().to_vec())
    } else {
        return Err(ScepError::Malformed {
            what: "signer identifier",
        });
    };
    let digest = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
    let digest_oid = AlgorithmIdentifierOwned::from_der(&digest.to_der().map_err(der_error(WHAT))?)
        .map_err(der_error("digest algorithm"))?
        .oid;
    let mut next = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
    let signed_attrs = if next.tag() == context(0, true) {
        let set = AnyRef::new(Tag::Set, next.value())
            .and_then(|a| a.to_der())
            .map_err(der_error("signed attributes"))?;
        next = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
        Some(set)
    } else {
        None
    };
    let signature_algorithm =
        AlgorithmIdentifierOwned::from_der(&next.to_der().map_err(der_error(WHAT))?)
            .map_err(der_error("signature algorithm"))?;
    let signature = it.next().ok_or(ScepError::Malformed { what: WHAT })?;
    if signature.tag() != Tag::OctetString {
        return Err(ScepError::Malformed { what: "signature" });
    }
    Ok(SignerInfoParts {
        sid,
        digest_oid,
        signed_attrs,
        signature_algorithm,
        signature: signature.value().to_vec(),
    })
}

/// Reads the content of a `ContentInfo` of type signedData.
pub(crate) fn signed_data(der: &[u8]) -> Result<SignedParts, ScepError> {
    const WHAT: &str = "signed data";
    let outer = AnyRef::from_der(der).map_err(der_error(WHAT))?;
    if outer.tag() != Tag::Sequence {
        return Err(ScepError::Malformed { what: WHAT });
    }
    let fields = children(outer.value(), WHAT, 6)?;
    let encap = fields.get(2).ok_or(ScepError::Malformed { what: WHAT })?;
    let encap = cms::signed_data::EncapsulatedContentInfo::from_der(
        &encap.to_der().map_err(der_error(WHAT))?,
    )
    .map_err(der_error("encapsulated content"))?;
    let content = encap
        .econtent
        .as_ref()
        .map(|any| {
            any.decode_as::<OctetString>()
                .map(|o| o.into_bytes().into_vec())
        })
        .transpose()
        .map_err(der_error("encapsulated content"))?;
    let mut certificates = Vec::new();
    let mut signer_infos = Vec::new();
    for field in fields.iter().skip(3) {
        if field.tag() == context(0, true) {
            for cert in children(field.value(), "certificates", MAX_CERTIFICATES)? {
                if cert.tag() == Tag::Sequence {
                    certificates.push(Certificate::from_der(
                        &cert.to_der().map_err(der_error("certificate"))?,
                    )?);
                }
            }
        } else if field.tag() == Tag::Set {
            for si in children(field.value(), "signer infos", MAX_SIGNERS)? {
                signer_infos.push(signer_info(&si)?);
            }
        }
    }
    Ok(SignedParts {
        content_type: encap.econtent_type,
        content,
        certificates,
        signer_infos,
    })
}

/// Decodes signed attributes (a SET-tagged DER) into attributes.
pub(crate) fn attributes(set: &[u8]) -> Result<Vec<Attribute>, ScepError> {
    let parsed: der::asn1::SetOfVec<Attribute> =
        der::asn1::SetOfVec::from_der(set).map_err(der_error("signed attributes"))?;
    Ok(parsed.into_vec())
}
