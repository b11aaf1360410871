//! X.509 certificates: parsing, inspecting, verifying and signing.
//!
//! ```text
//! Certificate  ::=  SEQUENCE  {
//!      tbsCertificate       TBSCertificate,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertificate  ::=  SEQUENCE  {
//!      version         [0]  EXPLICIT Version DEFAULT v1,
//!      serialNumber         CertificateSerialNumber,
//!      signature            AlgorithmIdentifier,
//!      issuer               Name,
//!      validity             Validity,
//!      subject              Name,
//!      subjectPublicKeyInfo SubjectPublicKeyInfo,
//!      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      extensions      [3]  EXPLICIT Extensions OPTIONAL }
//! ```
//! (RFC 5280, section 4.1.)

use const_oid::AssociatedOid;
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::time::Validity;

use crate::encoding::{decode_der, der_or_pem, pem_blocks, to_pem};
use crate::signed::{Signed, sign};
use crate::{
    Backend, Error, KeyPolicy, PublicKey, Result, SerialNumber, SignatureAlgorithm, Signer,
    x509_time,
};

/// The certificate structure as parsed: x509-cert's `Raw` profile, so that
/// certificates we did not issue, such as SCEP requesters' self-signed ones
/// with 32-octet serials (certmonger), still parse. What we issue conforms.
pub type X509Certificate = x509_cert::certificate::CertificateInner<x509_cert::certificate::Raw>;

/// A parsed certificate, with the exact bytes it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    inner: X509Certificate,
    signed: Signed,
    public_key: PublicKey,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject().to_string())
            .field("issuer", &self.issuer().to_string())
            .field("serial", &self.serial().ok())
            .finish()
    }
}

impl Certificate {
    /// Parses one DER certificate (bounded; no trailing bytes).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let signed = Signed::parse(der, "certificate")?;
        let inner: X509Certificate = decode_der(der, "certificate")?;
        let spki = inner
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(Error::der("certificate"))?;
        let public_key = PublicKey::from_spki_der(&spki)?;
        Ok(Self {
            der: der.to_vec(),
            inner,
            signed,
            public_key,
        })
    }

    /// Parses one certificate given as DER or PEM.
    pub fn parse(input: &[u8]) -> Result<Self> {
        Self::from_der(&der_or_pem(input, &["CERTIFICATE"])?)
    }

    /// Parses every `CERTIFICATE` block of a PEM file (a chain), in order.
    pub fn parse_pem_chain(input: &[u8]) -> Result<Vec<Self>> {
        pem_blocks(input)?
            .into_iter()
            .map(|b| {
                if b.label == "CERTIFICATE" {
                    Self::from_der(&b.der)
                } else {
                    Err(Error::PemLabel {
                        expected: "CERTIFICATE",
                        found: b.label,
                    })
                }
            })
            .collect()
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text.
    pub fn to_pem(&self) -> Result<String> {
        to_pem("CERTIFICATE", &self.der)
    }

    /// The decoded structure, for anything not exposed here.
    pub fn x509(&self) -> &X509Certificate {
        &self.inner
    }

    /// As the RFC 5280 profile's type (for CMS structures), when it conforms.
    pub fn to_rfc5280(&self) -> Result<x509_cert::Certificate> {
        decode_der(&self.der, "certificate")
    }

    /// Serial number.
    pub fn serial(&self) -> Result<SerialNumber> {
        SerialNumber::from_der_integer(self.inner.tbs_certificate().serial_number().as_bytes())
    }

    /// The serial number exactly as encoded, for matching certificates we did
    /// not issue (which may carry serials [`Certificate::serial`] refuses).
    pub fn raw_serial(&self) -> &[u8] {
        self.inner.tbs_certificate().serial_number().as_bytes()
    }

    /// Subject name.
    pub fn subject(&self) -> &Name {
        self.inner.tbs_certificate().subject()
    }

    /// Issuer name.
    pub fn issuer(&self) -> &Name {
        self.inner.tbs_certificate().issuer()
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        x509_time::from_x509(self.inner.tbs_certificate().validity().not_before)
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        x509_time::from_x509(self.inner.tbs_certificate().validity().not_after)
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The signature algorithm, or why it is not supported.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm> {
        self.signed.algorithm()
    }

    /// SHA-256 of the DER, hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(crate::HashAlgorithm::Sha256.digest(&self.der))
    }

    /// Verifies that `issuer_key` signed this certificate.
    pub fn verify_signature(
        &self,
        issuer_key: &PublicKey,
        policy: &KeyPolicy,
        backend: &dyn Backend,
    ) -> Result<()> {
        self.signed
            .verify("certificate", issuer_key, policy, backend)
            .map(|_| ())
    }

    /// Checks `time` is within the validity period.
    pub fn check_validity(&self, time: OffsetDateTime) -> Result<()> {
        if time < self.not_before() {
            return Err(Error::NotYetValid {
                what: "certificate",
                time,
                not_before: self.not_before(),
            });
        }
        if time > self.not_after() {
            return Err(Error::Expired {
                what: "certificate",
                time,
                not_after: self.not_after(),
            });
        }
        Ok(())
    }

    /// A decoded extension (first of its type), or `None` if absent.
    pub fn extension<'a, T: Decode<'a, Error = der::Error> + AssociatedOid>(
        &'a self,
    ) -> Result<Option<(bool, T)>> {
        self.inner
            .tbs_certificate()
            .get_extension::<T>()
            .map_err(Error::der("certificate extension"))
    }

    /// basicConstraints `cA`, and its pathLenConstraint.
    pub fn basic_constraints(&self) -> Result<Option<BasicConstraints>> {
        Ok(self.extension::<BasicConstraints>()?.map(|(_, v)| v))
    }

    /// keyUsage, if present.
    pub fn key_usage(&self) -> Result<Option<KeyUsage>> {
        Ok(self.extension::<KeyUsage>()?.map(|(_, v)| v))
    }

    /// extendedKeyUsage, if present.
    pub fn extended_key_usage(&self) -> Result<Option<ExtendedKeyUsage>> {
        Ok(self.extension::<ExtendedKeyUsage>()?.map(|(_, v)| v))
    }

    /// subjectKeyIdentifier bytes, if present.
    pub fn subject_key_id(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .extension::<SubjectKeyIdentifier>()?
            .map(|(_, v)| v.0.as_bytes().to_vec()))
    }

    /// authorityKeyIdentifier keyIdentifier bytes, if present.
    pub fn authority_key_id(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .extension::<AuthorityKeyIdentifier>()?
            .and_then(|(_, v)| v.key_identifier.map(|k| k.as_bytes().to_vec())))
    }

    /// A self-signed certificate for `signer`'s key, valid for `days` from five
    /// minutes ago: what a SCEP requester signs its first request with.
    pub fn self_signed(subject: &str, signer: &dyn Signer, days: u32) -> Result<Self> {
        use std::str::FromStr;
        let name = Name::from_str(subject).map_err(Error::der("subject name"))?;
        let now = x509_time::whole_seconds(OffsetDateTime::now_utc());
        CertificateTemplate {
            serial: SerialNumber::random()?,
            issuer: name.clone(),
            subject: name,
            not_before: now - time::Duration::minutes(5),
            not_after: now + time::Duration::days(i64::from(days)),
            public_key: signer.public_key().clone(),
            extensions: crate::profile::sign_and_decrypt(signer.public_key(), None)?,
        }
        .sign(signer)
    }

    /// Whether basicConstraints says this is a CA.
    pub fn is_ca(&self) -> Result<bool> {
        Ok(self.basic_constraints()?.is_some_and(|b| b.ca))
    }
}

/// `TBSCertificate` for encoding. x509-cert keeps its fields private, so we
/// mirror the RFC structure; the bytes are identical, and we parse what we
/// sign back through x509-cert before handing it out.
#[derive(Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: x509_cert::certificate::Version,
    serial_number: x509_cert::serial_number::SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

/// What goes into a certificate; [`CertificateTemplate::sign`] makes it.
#[derive(Debug, Clone)]
pub(crate) struct CertificateTemplate {
    pub serial: SerialNumber,
    pub issuer: Name,
    pub subject: Name,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub public_key: PublicKey,
    pub extensions: Vec<Extension>,
}

impl CertificateTemplate {
    pub(crate) fn sign(self, signer: &dyn Signer) -> Result<Certificate> {
        let tbs = TbsCertificate {
            version: x509_cert::certificate::Version::V3,
            serial_number: self.serial.to_x509()?,
            signature: signer.algorithm().identifier()?,
            issuer: self.issuer,
            validity: Validity::new(
                x509_time::to_x509(self.not_before)?,
                x509_time::to_x509(self.not_after)?,
            ),
            subject: self.subject,
            subject_public_key_info: self.public_key.spki()?,
            extensions: self.extensions,
        };
        let der = sign(
            &tbs.to_der().map_err(Error::der("tbs certificate"))?,
            signer,
        )?;
        Certificate::from_der(&der)
    }
}
