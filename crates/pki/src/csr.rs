//! PKCS#10 certification requests: parsed, checked against the key policy,
//! and signature-verified before anything else may look at them.
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!      certificationRequestInfo CertificationRequestInfo,
//!      signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
//!      signature          BIT STRING }
//!
//! CertificationRequestInfo ::= SEQUENCE {
//!      version       INTEGER { v1(0) } (v1,...),
//!      subject       Name,
//!      subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
//!      attributes    [0] Attributes{{ CRIAttributes }} }
//! ```
//! (RFC 2986, section 4.) The `challengePassword` attribute (PKCS#9,
//! RFC 2985 section 5.4.1) carries the SCEP challenge.

use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::{SetOfVec, Utf8StringRef};
use der::{Any, Encode, Tagged};
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReqInfo, Version};
use zeroize::Zeroizing;

use crate::encoding::{decode_der, der_or_pem};
use crate::signed::{Signed, sign};
use crate::{Backend, Error, KeyPolicy, PublicKey, Result, SignatureAlgorithm, Signer};

const CHALLENGE_PASSWORD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// Most attributes a request may carry.
const MAX_ATTRIBUTES: usize = 16;

/// A PKCS#10 request whose self-signature verified and whose key passed the policy.
#[derive(Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    subject: Name,
    public_key: PublicKey,
    signature_algorithm: SignatureAlgorithm,
    challenge_password: Option<Zeroizing<String>>,
    subject_alt_name: Option<Extension>,
}

impl std::fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRequest")
            .field("subject", &self.subject.to_string())
            .field("public_key", &self.public_key)
            .field("signature_algorithm", &self.signature_algorithm)
            .field(
                "challenge_password",
                &self.challenge_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl CertificateRequest {
    /// Parses and verifies DER.
    pub fn from_der(der: &[u8], policy: &KeyPolicy, backend: &dyn Backend) -> Result<Self> {
        const WHAT: &str = "certificate request";
        let signed = Signed::parse(der, WHAT)?;
        let info: CertReqInfo = decode_der(&signed.tbs, "certification request info")?;
        if info.version != Version::V1 {
            return Err(Error::RequestRefused {
                reason: "request version is not v1".into(),
            });
        }
        let public_key =
            PublicKey::from_spki_der(&info.public_key.to_der().map_err(Error::der(WHAT))?)?;
        policy.check_key(&public_key)?;
        let signature_algorithm = signed.verify(WHAT, &public_key, policy, backend)?;
        if info.attributes.len() > MAX_ATTRIBUTES {
            return Err(Error::RequestRefused {
                reason: format!(
                    "{} attributes, over the limit of {MAX_ATTRIBUTES}",
                    info.attributes.len()
                ),
            });
        }
        let challenge_password = attribute_value(&info.attributes, CHALLENGE_PASSWORD)?
            .map(|v| directory_string(&v).map(Zeroizing::new))
            .transpose()?;
        let subject_alt_name = match attribute_value(&info.attributes, EXTENSION_REQUEST)? {
            None => None,
            Some(value) => {
                let extensions: Vec<Extension> =
                    value.decode_as().map_err(Error::der("extension request"))?;
                let san = extensions
                    .into_iter()
                    .find(|e| e.extn_id == rfc5912::ID_CE_SUBJECT_ALT_NAME);
                if let Some(ext) = &san {
                    // Copied into the certificate, so it must at least be well-formed.
                    decode_der::<x509_cert::ext::pkix::SubjectAltName>(
                        ext.extn_value.as_bytes(),
                        "subjectAltName",
                    )?;
                }
                san
            }
        };
        if info.subject.is_empty() && subject_alt_name.is_none() {
            return Err(Error::RequestRefused {
                reason: "the request has neither a subject nor a subjectAltName".into(),
            });
        }
        Ok(Self {
            der: der.to_vec(),
            subject: info.subject,
            public_key,
            signature_algorithm,
            challenge_password,
            subject_alt_name,
        })
    }

    /// Parses DER or PEM (`CERTIFICATE REQUEST`, or the older `NEW CERTIFICATE REQUEST`).
    pub fn parse(input: &[u8], policy: &KeyPolicy, backend: &dyn Backend) -> Result<Self> {
        let der = der_or_pem(input, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"])?;
        Self::from_der(&der, policy, backend)
    }

    /// The request as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The requested subject.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The key to certify.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The algorithm the request was signed with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// The `challengePassword` attribute, if any.
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref().map(String::as_str)
    }

    /// The subjectAltName extension the requester asked for, if any.
    pub fn subject_alt_name(&self) -> Option<&Extension> {
        self.subject_alt_name.as_ref()
    }
}

/// The single value of the attribute `oid`; a repeated attribute or one with
/// several values is refused, since which one counts would be ambiguous.
fn attribute_value(attributes: &SetOfVec<Attribute>, oid: ObjectIdentifier) -> Result<Option<Any>> {
    let mut found = attributes.iter().filter(|a| a.oid == oid);
    let (Some(attr), None) = (found.next(), found.next()) else {
        return match attributes.iter().filter(|a| a.oid == oid).count() {
            0 => Ok(None),
            _ => Err(Error::RequestRefused {
                reason: format!("attribute {oid} appears more than once"),
            }),
        };
    };
    let mut values = attr.values.iter();
    match (values.next(), values.next()) {
        (Some(v), None) => Ok(Some(v.clone())),
        _ => Err(Error::RequestRefused {
            reason: format!("attribute {oid} must have exactly one value"),
        }),
    }
}

/// `DirectoryString` (and IA5String, which some clients use for the challenge).
///
/// ```text
/// DirectoryString ::= CHOICE {
///       teletexString           TeletexString (SIZE (1..MAX)),
///       printableString         PrintableString (SIZE (1..MAX)),
///       universalString         UniversalString (SIZE (1..MAX)),
///       utf8String              UTF8String (SIZE (1..MAX)),
///       bmpString               BMPString (SIZE (1..MAX)) }
/// ```
/// OpenSSL writes Latin-1 text as T61String (read here as Latin-1, as
/// OpenSSL does) and anything wider as BMPString (UTF-16BE).
fn directory_string(value: &Any) -> Result<String> {
    let refused = |what: &str| Error::RequestRefused {
        reason: format!("challengePassword {what}"),
    };
    let bytes = value.value();
    let text = match value.tag() {
        der::Tag::Utf8String => std::str::from_utf8(bytes)
            .map_err(|_| refused("is not valid utf-8"))?
            .to_owned(),
        der::Tag::PrintableString | der::Tag::Ia5String | der::Tag::VisibleString => {
            if !bytes.is_ascii() {
                return Err(refused("has non-ascii characters in an ascii string type"));
            }
            bytes.iter().map(|b| char::from(*b)).collect()
        }
        der::Tag::TeletexString => bytes.iter().map(|b| char::from(*b)).collect(),
        der::Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return Err(refused("is a BMPString of odd length"));
            }
            let units = bytes
                .chunks_exact(2)
                .map(|c| c.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b)));
            char::decode_utf16(units)
                .collect::<std::result::Result<String, _>>()
                .map_err(|_| refused("is not valid utf-16"))?
        }
        _ => return Err(refused("is not a supported string type")),
    };
    Ok(text)
}

/// Builds a PKCS#10 request: what a device (or our SCEP client) sends.
#[derive(Debug, Clone, Default)]
pub struct RequestBuilder {
    subject: String,
    challenge_password: Option<String>,
}

impl RequestBuilder {
    /// A request for `subject`, RFC 4514 text such as `CN=alice@example.com`.
    pub fn new(subject: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            challenge_password: None,
        }
    }

    /// Adds a `challengePassword` attribute (a UTF8String).
    pub fn challenge_password(mut self, password: &str) -> Self {
        self.challenge_password = Some(password.to_owned());
        self
    }

    /// Signs the request with `signer` and returns its DER.
    pub fn sign(&self, signer: &dyn Signer) -> Result<Vec<u8>> {
        let subject = Name::from_str(&self.subject).map_err(Error::der("subject name"))?;
        let public_key = signer.public_key().spki()?;
        let mut attributes = SetOfVec::new();
        if let Some(password) = &self.challenge_password {
            let value = Any::encode_from(
                &Utf8StringRef::new(password).map_err(Error::der("challenge password"))?,
            )
            .map_err(Error::der("challenge password"))?;
            let mut values = SetOfVec::new();
            values
                .insert(value)
                .map_err(Error::der("challenge password"))?;
            attributes
                .insert(Attribute {
                    oid: CHALLENGE_PASSWORD,
                    values,
                })
                .map_err(Error::der("attributes"))?;
        }
        let info = CertReqInfo {
            version: Version::V1,
            subject,
            public_key,
            attributes,
        };
        sign(
            &info
                .to_der()
                .map_err(Error::der("certification request info"))?,
            signer,
        )
    }
}
