//! Certificate profiles: the extensions of the root, the intermediate, and
//! the management-attestation client certificates (RFC 5280, section 4.2).

use const_oid::AssociatedOid;
use const_oid::db::rfc5912;
use der::Encode;
use der::asn1::{Ia5String, OctetString};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectKeyIdentifier,
};

use crate::{Error, PublicKey, Result};

/// Encodes one extension.
pub(crate) fn extension<T: Encode + AssociatedOid>(value: &T, critical: bool) -> Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(Error::der("extension"))?)
            .map_err(Error::der("extension"))?,
    })
}

fn key_ids(subject: &PublicKey, issuer_key_id: Option<&[u8]>) -> Result<Vec<Extension>> {
    let mut out = vec![extension(
        &SubjectKeyIdentifier(OctetString::new(subject.key_id()).map_err(Error::der("key id"))?),
        false,
    )?];
    if let Some(id) = issuer_key_id {
        out.push(extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(id).map_err(Error::der("key id"))?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
            false,
        )?);
    }
    Ok(out)
}

fn crl_distribution_point(url: &str) -> Result<Extension> {
    let uri = Ia5String::new(url).map_err(Error::der("crl distribution point"))?;
    extension(
        &CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(uri),
            ])),
            reasons: None,
            crl_issuer: None,
        }]),
        false,
    )
}

/// A CA certificate: `cA` true (critical), keyCertSign and cRLSign (critical).
/// `path_len` 0 for the intermediate, which may only issue end-entity certificates.
pub(crate) fn ca(
    subject: &PublicKey,
    issuer_key_id: Option<&[u8]>,
    path_len: Option<u8>,
) -> Result<Vec<Extension>> {
    let mut out = vec![
        extension(
            &BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
            true,
        )?,
        extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true)?,
    ];
    out.extend(key_ids(subject, issuer_key_id)?);
    Ok(out)
}

/// The management-attestation client certificate: digitalSignature
/// (critical), clientAuth, `cA` false (critical), key identifiers, an
/// optional CRL distribution point, and the requester's subjectAltName.
pub(crate) fn management_attestation(
    subject: &PublicKey,
    issuer_key_id: &[u8],
    crl_url: Option<&str>,
    subject_alt_name: Option<&Extension>,
    subject_is_empty: bool,
) -> Result<Vec<Extension>> {
    let mut out = vec![
        extension(
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            true,
        )?,
        extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
        extension(&ExtendedKeyUsage(vec![rfc5912::ID_KP_CLIENT_AUTH]), false)?,
    ];
    out.extend(key_ids(subject, Some(issuer_key_id))?);
    if let Some(url) = crl_url {
        out.push(crl_distribution_point(url)?);
    }
    if let Some(san) = subject_alt_name {
        // RFC 5280, section 4.2.1.6: critical exactly when the subject is empty.
        out.push(Extension {
            critical: subject_is_empty,
            ..san.clone()
        });
    }
    Ok(out)
}

/// A certificate that signs and decrypts, CA:FALSE: the SCEP RA (it signs
/// CertRep replies and decrypts requests; certmonger checks both usages),
/// and a requester's throw-away self-signed certificate (RFC 8894,
/// section 2.3), which has no issuer key identifier.
pub(crate) fn sign_and_decrypt(
    subject: &PublicKey,
    issuer_key_id: Option<&[u8]>,
) -> Result<Vec<Extension>> {
    let mut out = vec![
        extension(
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            true,
        )?,
        extension(
            &KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            true,
        )?,
    ];
    out.extend(key_ids(subject, issuer_key_id)?);
    Ok(out)
}
