//! Certificate revocation lists (X.509 v2 CRLs).
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  {
//!      tbsCertList          TBSCertList,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL,  -- if present, MUST be v2
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE  {
//!           userCertificate         CertificateSerialNumber,
//!           revocationDate          Time,
//!           crlEntryExtensions      Extensions OPTIONAL  }  OPTIONAL,
//!      crlExtensions           [0]  EXPLICIT Extensions OPTIONAL  }
//! ```
//! (RFC 5280, section 5.1.) Ours always carry the CRL number and the
//! authority key identifier, which RFC 5280 requires of conforming CAs.

use std::collections::HashMap;

use der::Encode;
use der::asn1::OctetString;
use time::OffsetDateTime;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::ext::pkix::crl::{CrlNumber, CrlReason};

use crate::encoding::{decode_der, der_or_pem, to_pem};
use crate::profile::extension;
use crate::signed::{Signed, sign};
use crate::{
    Backend, Certificate, Error, KeyPolicy, Result, Revocation, RevocationReason, SerialNumber,
    Signer, x509_time,
};

/// A parsed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    list: CertificateList,
    signed: Signed,
    number: Option<u64>,
    entries: HashMap<SerialNumber, Revocation>,
}

impl Crl {
    /// Parses DER (bounded; no trailing bytes).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let signed = Signed::parse(der, "crl")?;
        let list: CertificateList = decode_der(der, "crl")?;
        let number = list
            .tbs_cert_list
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == const_oid::db::rfc5912::ID_CE_CRL_NUMBER)
            .map(|e| decode_der::<CrlNumber>(e.extn_value.as_bytes(), "crl number"))
            .transpose()?
            .and_then(|n| {
                let bytes = n.0.as_bytes();
                (bytes.len() <= 8)
                    .then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            });
        let mut entries = HashMap::new();
        for entry in list.tbs_cert_list.revoked_certificates.iter().flatten() {
            let serial = SerialNumber::from_der_integer(entry.serial_number.as_bytes())?;
            let reason = entry
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == const_oid::db::rfc5912::ID_CE_CRL_REASONS)
                .map(|e| decode_der::<CrlReason>(e.extn_value.as_bytes(), "crl reason"))
                .transpose()?
                .map_or(RevocationReason::Unspecified, RevocationReason::from_x509);
            entries.insert(
                serial,
                Revocation {
                    reason,
                    revoked_at: x509_time::from_x509(entry.revocation_date),
                },
            );
        }
        Ok(Self {
            der: der.to_vec(),
            list,
            signed,
            number,
            entries,
        })
    }

    /// Parses DER or PEM (`X509 CRL`).
    pub fn parse(input: &[u8]) -> Result<Self> {
        Self::from_der(&der_or_pem(input, &["X509 CRL"])?)
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text.
    pub fn to_pem(&self) -> Result<String> {
        to_pem("X509 CRL", &self.der)
    }

    /// The decoded structure.
    pub fn x509(&self) -> &CertificateList {
        &self.list
    }

    /// The CRL number extension, if present and at most 64 bits.
    pub fn number(&self) -> Option<u64> {
        self.number
    }

    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        x509_time::from_x509(self.list.tbs_cert_list.this_update)
    }

    /// nextUpdate, if present.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.list
            .tbs_cert_list
            .next_update
            .map(x509_time::from_x509)
    }

    /// The revocation of `serial`, if listed.
    pub fn revocation(&self, serial: &SerialNumber) -> Option<Revocation> {
        self.entries.get(serial).copied()
    }

    /// How many certificates are listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no certificate is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Verifies that `issuer` signed this CRL, names it as issuer, and is current at `time`.
    pub fn verify(
        &self,
        issuer: &Certificate,
        time: OffsetDateTime,
        policy: &KeyPolicy,
        backend: &dyn Backend,
    ) -> Result<()> {
        if self.list.tbs_cert_list.issuer != *issuer.subject() {
            return Err(Error::WrongIssuer {
                issuer: self.list.tbs_cert_list.issuer.to_string(),
                expected: issuer.subject().to_string(),
            });
        }
        self.signed
            .verify("crl", issuer.public_key(), policy, backend)?;
        if time < self.this_update() {
            return Err(Error::NotYetValid {
                what: "crl",
                time,
                not_before: self.this_update(),
            });
        }
        match self.next_update() {
            Some(next) if time > next => Err(Error::Expired {
                what: "crl",
                time,
                not_after: next,
            }),
            _ => Ok(()),
        }
    }
}

/// Builds and signs a v2 CRL.
pub(crate) fn build(
    issuer: &Certificate,
    signer: &dyn Signer,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: &[(SerialNumber, Revocation)],
) -> Result<Crl> {
    let mut entries = Vec::with_capacity(revoked.len());
    for (serial, revocation) in revoked {
        // RFC 5280, section 5.3.1: omit the reason code rather than write unspecified.
        let extensions = match revocation.reason {
            RevocationReason::Unspecified => None,
            reason => Some(vec![extension(&reason.to_x509(), false)?]),
        };
        entries.push(RevokedCert {
            serial_number: serial.to_x509()?,
            revocation_date: x509_time::to_x509(revocation.revoked_at)?,
            crl_entry_extensions: extensions,
        });
    }
    let issuer_key_id = issuer.public_key().key_id();
    let number_bytes = number.to_be_bytes();
    let tbs = TbsCertList {
        version: x509_cert::certificate::Version::V2,
        signature: signer.algorithm().identifier()?,
        issuer: issuer.subject().clone(),
        this_update: x509_time::to_x509(this_update)?,
        next_update: Some(x509_time::to_x509(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            extension(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(
                        OctetString::new(issuer_key_id).map_err(Error::der("key id"))?,
                    ),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
                false,
            )?,
            extension(
                &CrlNumber(der::asn1::Uint::new(&number_bytes).map_err(Error::der("crl number"))?),
                false,
            )?,
        ]),
    };
    let der = sign(&tbs.to_der().map_err(Error::der("tbs crl"))?, signer)?;
    Crl::from_der(&der)
}
