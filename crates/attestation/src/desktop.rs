//! A desktop configuration's trust: which CAs issue managed devices'
//! certificates, their CRLs, and (for our own CA) the issuance ledger.

use std::sync::Arc;

use devicetrust_pki::{Ca, Certificate, Crl, IssuanceLedger};
use time::OffsetDateTime;

use crate::chain::{ChainVerifier, VerifiedChain};
use crate::details::CaDetails;
use crate::revocation::HeldCrl;
use crate::upload::{UploadError, check_upload};
use crate::{CheckError, binding, revocation};

/// Where a desktop configuration's CAs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CaSource {
    /// Our own CA: the anchor is the pki intermediate.
    Ours,
    /// "Use my own": the admin uploads intermediate CAs.
    Uploaded,
}

/// The result of uploading one CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// The certificate's details.
    pub details: CaDetails,
    /// False when the same certificate (same fingerprint) was already there.
    pub added: bool,
}

/// The CAs a desktop configuration trusts.
#[derive(Debug, Clone)]
pub struct DesktopTrust {
    source: CaSource,
    anchors: Vec<Certificate>,
    crls: Vec<HeldCrl>,
    ledger: Option<Arc<dyn IssuanceLedger>>,
}

/// What a device presents for the desktop check.
#[derive(Debug, Clone, Copy)]
pub struct DesktopEvidence<'a> {
    /// Its client certificate.
    pub leaf: &'a Certificate,
    /// Intermediates it sent along (may be empty).
    pub intermediates: &'a [Certificate],
    /// The registered device's ID, if known: checked against the certificate.
    pub device_id: Option<&'a str>,
    /// The identifier the device's MDM knows it by (UDID), which a
    /// certificate may name instead of `device_id`.
    pub hardware_id: Option<&'a str>,
}

impl DesktopTrust {
    /// Trusts our own CA: its intermediate, with its ledger for revocations.
    pub fn our_ca(ca: &Ca) -> Self {
        Self::our_intermediate(ca.intermediate().clone(), Some(Arc::clone(ca.ledger())))
    }

    /// Trusts our intermediate given as a certificate (and ledger, if at hand).
    pub fn our_intermediate(
        intermediate: Certificate,
        ledger: Option<Arc<dyn IssuanceLedger>>,
    ) -> Self {
        Self {
            source: CaSource::Ours,
            anchors: vec![intermediate],
            crls: Vec::new(),
            ledger,
        }
    }

    /// A "use my own" configuration with no CA uploaded yet.
    pub fn uploaded() -> Self {
        Self {
            source: CaSource::Uploaded,
            anchors: Vec::new(),
            crls: Vec::new(),
            ledger: None,
        }
    }

    /// Where the CAs come from.
    pub fn source(&self) -> CaSource {
        self.source
    }

    /// Checks and adds an upload (one or more CA certificates). Uploading a
    /// certificate already present changes nothing. Nothing is added unless
    /// every certificate in the upload is acceptable.
    pub fn upload(&mut self, input: &[u8]) -> Result<Vec<Uploaded>, UploadError> {
        if self.source == CaSource::Ours {
            return Err(UploadError::OwnCa);
        }
        let certs = check_upload(input)?;
        let mut results = Vec::with_capacity(certs.len());
        for cert in certs {
            let details = CaDetails::of(&cert);
            let added = !self.anchors.iter().any(|a| a.der() == cert.der());
            if added {
                self.anchors.push(cert);
            }
            results.push(Uploaded { details, added });
        }
        Ok(results)
    }

    /// Removes an uploaded CA by SHA-256 fingerprint; true if it was there.
    pub fn remove(&mut self, fingerprint: &str) -> bool {
        let before = self.anchors.len();
        self.anchors
            .retain(|a| !a.fingerprint().eq_ignore_ascii_case(fingerprint));
        before != self.anchors.len()
    }

    /// The trusted CA certificates.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// The chain details of every trusted CA, as listed for an upload.
    pub fn details(&self) -> Vec<CaDetails> {
        self.anchors.iter().map(CaDetails::of).collect()
    }

    /// Sets the current CRL of one issuer, replacing any earlier CRL with the
    /// same issuer name. It is verified when used, against the issuer on the path.
    pub fn set_crl(&mut self, crl: Crl) {
        let issuer = crl.x509().tbs_cert_list.issuer.clone();
        self.crls
            .retain(|c| c.crl().x509().tbs_cert_list.issuer != issuer);
        self.crls.push(HeldCrl::new(crl));
    }

    /// The CRLs held.
    pub fn crls(&self) -> &[HeldCrl] {
        &self.crls
    }

    /// The desktop check at `time`: every failure, or the verified chain.
    pub fn check<'c>(
        &'c self,
        verifier: &ChainVerifier<'_>,
        evidence: &DesktopEvidence<'c>,
        time: OffsetDateTime,
    ) -> Result<VerifiedChain<'c>, Vec<CheckError>> {
        let mut errors = verifier.check_leaf(evidence.leaf, time);
        if let Some(device) = evidence.device_id
            && let Err(e) = binding::check_binding_to(evidence.leaf, device, evidence.hardware_id)
        {
            errors.push(e);
        }
        match verifier.build_path(evidence.leaf, evidence.intermediates, &self.anchors, time) {
            Ok(chain) => {
                errors.extend(revocation::check_revocation(
                    verifier,
                    &chain,
                    &self.crls,
                    self.ledger.as_deref(),
                    time,
                ));
                if errors.is_empty() {
                    return Ok(chain);
                }
            }
            Err(e) => errors.push(e),
        }
        Err(errors)
    }
}
