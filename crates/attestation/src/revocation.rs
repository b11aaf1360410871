//! Revocation: CRLs from each issuer on the path, and our issuance ledger.
//!
//! A CRL counts for a certificate when it names the certificate's issuer and
//! verifies under that issuer's key (the one on the verified path, not any
//! certificate with the same name). A CRL that names the issuer but does not
//! verify, or is not current, leaves revocation status unknown; we refuse
//! rather than guess. No CRL at all for an issuer means no CRL check for it
//! (the admin chose not to publish one).
//!
//! The issuance ledger is our own CA's record: it revokes a deactivated
//! device's certificate at once, without waiting for the next CRL.

use devicetrust_pki::{Certificate, Crl, IssuanceLedger};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::cache::{SignatureCache, Signed};
use crate::chain::{ChainVerifier, VerifiedChain};
use crate::{CheckError, RevocationSource};

/// A CRL held by a configuration, with the SHA-256 of its DER computed once:
/// the signature cache is keyed by it, so a large CRL is not re-hashed on
/// every attestation.
#[derive(Debug, Clone)]
pub struct HeldCrl {
    crl: Crl,
    digest: [u8; 32],
}

impl HeldCrl {
    /// Holds `crl`.
    pub fn new(crl: Crl) -> Self {
        let digest = Sha256::digest(crl.der()).into();
        Self { crl, digest }
    }

    /// The CRL.
    pub fn crl(&self) -> &Crl {
        &self.crl
    }
}

impl From<Crl> for HeldCrl {
    fn from(crl: Crl) -> Self {
        Self::new(crl)
    }
}

/// Checks every certificate on `chain` below the anchor against the CRLs of
/// its issuer, and the leaf against `ledger` if given. Returns every failure.
pub fn check_revocation(
    verifier: &ChainVerifier<'_>,
    chain: &VerifiedChain,
    crls: &[HeldCrl],
    ledger: Option<&dyn IssuanceLedger>,
    time: OffsetDateTime,
) -> Vec<CheckError> {
    let mut errors = Vec::new();
    for pair in chain.certificates().windows(2) {
        let [cert, issuer] = pair else { continue };
        for held in crls
            .iter()
            .filter(|c| c.crl.x509().tbs_cert_list.issuer == *issuer.subject())
        {
            let crl = &held.crl;
            if let Err(e) = verify_crl(verifier, held, issuer, time) {
                errors.push(e);
                continue;
            }
            let serial = match cert.serial() {
                Ok(s) => s,
                Err(source) => {
                    errors.push(CheckError::Malformed {
                        what: "serial number",
                        source,
                    });
                    continue;
                }
            };
            if let Some(r) = crl.revocation(&serial) {
                // A listed certificate is revoked whatever the revocation date says.
                errors.push(CheckError::Revoked {
                    subject: cert.subject().to_string(),
                    serial,
                    revoked_at: r.revoked_at,
                    reason: r.reason,
                    found_in: RevocationSource::Crl,
                });
            }
        }
    }
    if let (Some(ledger), Some(leaf)) = (ledger, chain.leaf()) {
        match leaf.serial() {
            Ok(serial) => match ledger.get(&serial) {
                Ok(issued) => {
                    if let Some(r) = issued.and_then(|c| c.revocation)
                        && r.revoked_at <= time
                    {
                        errors.push(CheckError::Revoked {
                            subject: leaf.subject().to_string(),
                            serial,
                            revoked_at: r.revoked_at,
                            reason: r.reason,
                            found_in: RevocationSource::Ledger,
                        });
                    }
                }
                Err(e) => errors.push(CheckError::Ledger(e)),
            },
            Err(source) => errors.push(CheckError::Malformed {
                what: "serial number",
                source,
            }),
        }
    }
    errors
}

/// Verifies a CRL against its issuer: signature (cached), then currency at `time`.
fn verify_crl(
    verifier: &ChainVerifier<'_>,
    held: &HeldCrl,
    issuer: &Certificate,
    time: OffsetDateTime,
) -> Result<(), CheckError> {
    let crl = &held.crl;
    let invalid = |source| CheckError::CrlInvalid {
        issuer: issuer.subject().to_string(),
        source,
    };
    check_crl_extensions(crl, issuer)?;
    let key = SignatureCache::key(Signed::Crl, &held.digest, issuer.public_key().spki_der());
    if let Some(cache) = verifier.cache
        && cache.contains(&key)
    {
        // The signature is known good; the time window is checked each time.
        if time < crl.this_update() {
            return Err(invalid(devicetrust_pki::Error::NotYetValid {
                what: "crl",
                time,
                not_before: crl.this_update(),
            }));
        }
        if let Some(next) = crl.next_update()
            && time > next
        {
            return Err(invalid(devicetrust_pki::Error::Expired {
                what: "crl",
                time,
                not_after: next,
            }));
        }
        return Ok(());
    }
    crl.verify(issuer, time, &verifier.options.key_policy, verifier.backend)
        .map_err(invalid)?;
    if let Some(cache) = verifier.cache {
        cache.insert(key);
    }
    Ok(())
}

/// CRL extensions whose meaning we act on (or that carry no constraint).
const UNDERSTOOD_CRL_EXTENSIONS: [const_oid::ObjectIdentifier; 2] = [
    const_oid::db::rfc5912::ID_CE_CRL_NUMBER,
    const_oid::db::rfc5912::ID_CE_AUTHORITY_KEY_IDENTIFIER,
];

/// RFC 5280, 5.2 and 5.3: a CRL with a critical extension we do not process
/// (a delta CRL indicator, an issuing distribution point scoping it, an
/// indirect CRL's certificate issuer) must not be used to decide revocation.
/// We refuse rather than read it wrongly.
fn check_crl_extensions(crl: &Crl, issuer: &Certificate) -> Result<(), CheckError> {
    let list = &crl.x509().tbs_cert_list;
    let crl_level = list
        .crl_extensions
        .iter()
        .flatten()
        .find(|e| e.critical && !UNDERSTOOD_CRL_EXTENSIONS.contains(&e.extn_id));
    let entry_level = list
        .revoked_certificates
        .iter()
        .flatten()
        .flat_map(|r| r.crl_entry_extensions.iter().flatten())
        .find(|e| e.critical);
    match crl_level.or(entry_level) {
        Some(e) => Err(CheckError::CrlUnhandledCriticalExtension {
            issuer: issuer.subject().to_string(),
            oid: e.extn_id.to_string(),
        }),
        None => Ok(()),
    }
}
