//! Why a device was not attested: one variant per check, carrying its evidence.
//!
//! A refusal names the check that failed and the values it saw (the time
//! and `not_after`, the serial and revocation date, the issuer name and key
//! identifier...), so an admin can tell why from a log line alone.
//! [`CheckError::kind`] gives a stable short name for each variant, for
//! JSON output and for the data-driven tests.

use devicetrust_pki::{RevocationReason, SerialNumber};
use time::OffsetDateTime;

use crate::nonce::NonceError;
use crate::upload::UploadError;

/// Where a revocation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RevocationSource {
    /// A CRL signed by the certificate's issuer.
    Crl,
    /// Our own issuance ledger (the device was deactivated, or the key reported lost).
    Ledger,
}

impl std::fmt::Display for RevocationSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Crl => "crl",
            Self::Ledger => "issuance ledger",
        })
    }
}

/// One failed check of an attestation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Input did not parse as what it should be.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The parser's reason.
        #[source]
        source: devicetrust_pki::Error,
    },
    /// A certificate in the chain expired before the time of the check.
    #[error("certificate {subject} expired at {not_after} (checked at {time})")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// The time of the check.
        time: OffsetDateTime,
        /// Its notAfter.
        not_after: OffsetDateTime,
    },
    /// A certificate in the chain is not valid yet at the time of the check.
    #[error("certificate {subject} is not valid before {not_before} (checked at {time})")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// The time of the check.
        time: OffsetDateTime,
        /// Its notBefore.
        not_before: OffsetDateTime,
    },
    /// No trusted or supplied certificate has the issuer's name (and key identifier).
    #[error("no trusted issuer {issuer} (key id {}) for {subject}", .authority_key_id.as_deref().unwrap_or("absent"))]
    UnknownIssuer {
        /// The certificate whose issuer was sought.
        subject: String,
        /// Its issuer name.
        issuer: String,
        /// Its authorityKeyIdentifier, hex, if present.
        authority_key_id: Option<String>,
    },
    /// A signature in the chain did not verify under the named issuer's key.
    #[error("signature on {subject} does not verify under {issuer}'s key: {source}")]
    BadSignature {
        /// The signed certificate's subject.
        subject: String,
        /// The issuer whose key was tried.
        issuer: String,
        /// The crypto layer's reason.
        #[source]
        source: devicetrust_pki::Error,
    },
    /// A signature algorithm or key the policy refuses (weak, unsupported, too small).
    #[error("certificate {subject} refused by the key policy: {source}")]
    KeyPolicy {
        /// The certificate concerned.
        subject: String,
        /// The policy's reason.
        #[source]
        source: devicetrust_pki::Error,
    },
    /// A certificate used as an issuer is not a CA (no basicConstraints `cA`).
    #[error("certificate {subject} issued another certificate but is not a ca")]
    NotCa {
        /// The would-be issuer.
        subject: String,
    },
    /// A CA certificate's keyUsage lacks keyCertSign.
    #[error("ca certificate {subject} lacks keyUsage keyCertSign")]
    NoKeyCertSign {
        /// The CA.
        subject: String,
    },
    /// A CA has more CA certificates below it than its pathLenConstraint allows.
    #[error(
        "ca {subject} allows {path_len} intermediate ca certificates below it, the chain has {below}"
    )]
    PathLenExceeded {
        /// The constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u8,
        /// How many CA certificates follow it in the chain.
        below: usize,
    },
    /// The device's certificate is a CA certificate.
    #[error("certificate {subject} is a ca, not a client certificate")]
    LeafIsCa {
        /// The leaf.
        subject: String,
    },
    /// The device's certificate has no keyUsage digitalSignature, so it cannot sign nonces.
    #[error("certificate {subject} lacks keyUsage digitalSignature")]
    NoDigitalSignature {
        /// The leaf.
        subject: String,
    },
    /// The device's certificate has an extendedKeyUsage without clientAuth or anyExtendedKeyUsage.
    #[error("certificate {subject} extendedKeyUsage {found:?} lacks clientAuth")]
    EkuNotClientAuth {
        /// The leaf.
        subject: String,
        /// The purposes it does list (OIDs).
        found: Vec<String>,
    },
    /// A critical extension this validator does not process (RFC 5280, section 4.2).
    #[error("certificate {subject} has critical extension {oid}, which is not processed")]
    UnhandledCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension's OID.
        oid: String,
    },
    /// A certificate in the chain is revoked.
    #[error(
        "certificate {serial} ({subject}) revoked at {revoked_at} ({reason}), per the {found_in}"
    )]
    Revoked {
        /// Its subject.
        subject: String,
        /// Its serial number.
        serial: SerialNumber,
        /// When.
        revoked_at: OffsetDateTime,
        /// Why.
        reason: RevocationReason,
        /// Where the revocation was found.
        found_in: RevocationSource,
    },
    /// A CRL from the issuer is present but does not verify or is not current.
    /// Revocation status is then unknown, which we treat as a refusal.
    #[error("crl from {issuer} is not usable: {source}")]
    CrlInvalid {
        /// The issuer named by the CRL.
        issuer: String,
        /// Why.
        #[source]
        source: devicetrust_pki::Error,
    },
    /// A CRL from the issuer has a critical extension we do not process
    /// (delta, scoped or indirect CRLs), so it cannot decide revocation.
    #[error("crl from {issuer} has critical extension {oid}, which is not processed")]
    CrlUnhandledCriticalExtension {
        /// The issuer named by the CRL.
        issuer: String,
        /// The extension's OID.
        oid: String,
    },
    /// The device ID in the certificate is not the device being attested.
    #[error("certificate is bound to device {found:?}, not {expected:?}")]
    DeviceMismatch {
        /// The device being attested.
        expected: String,
        /// The device named in the certificate.
        found: String,
    },
    /// Path building gave up: more signature checks than the budget allows.
    #[error("chain building exceeded its budget of {budget} signature checks")]
    BudgetExceeded {
        /// The budget.
        budget: usize,
    },
    /// No path within the maximum length.
    #[error("no chain of at most {max_depth} certificates")]
    PathTooLong {
        /// The maximum.
        max_depth: usize,
    },
    /// The issuance ledger could not be read (revocation status unknown).
    #[error("issuance ledger: {0}")]
    Ledger(#[source] devicetrust_pki::LedgerError),
    /// The nonce proof of possession failed.
    #[error("nonce: {0}")]
    Nonce(#[from] NonceError),
    /// No active configuration covers this platform.
    #[error("no active management configuration for {platform}")]
    NoConfiguration {
        /// The platform.
        platform: crate::Platform,
    },
    /// The managementHint does not match the configuration's secret key.
    #[error("managementHint does not match the secret key")]
    HintMismatch,
    /// An uploaded CA was refused.
    #[error("upload: {0}")]
    Upload(#[from] UploadError),
}

impl CheckError {
    /// A stable short name for the failed check (`expired`, `bad_signature`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::UnknownIssuer { .. } => "unknown_issuer",
            Self::BadSignature { .. } => "bad_signature",
            Self::KeyPolicy { .. } => "key_policy",
            Self::NotCa { .. } => "not_ca",
            Self::NoKeyCertSign { .. } => "no_key_cert_sign",
            Self::PathLenExceeded { .. } => "path_len_exceeded",
            Self::LeafIsCa { .. } => "leaf_is_ca",
            Self::NoDigitalSignature { .. } => "no_digital_signature",
            Self::EkuNotClientAuth { .. } => "eku_not_client_auth",
            Self::UnhandledCriticalExtension { .. } => "unhandled_critical_extension",
            Self::Revoked { .. } => "revoked",
            Self::CrlInvalid { .. } => "crl_invalid",
            Self::CrlUnhandledCriticalExtension { .. } => "crl_unhandled_critical_extension",
            Self::DeviceMismatch { .. } => "device_mismatch",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::PathTooLong { .. } => "path_too_long",
            Self::Ledger(_) => "ledger",
            Self::Nonce(e) => e.kind(),
            Self::NoConfiguration { .. } => "no_configuration",
            Self::HintMismatch => "hint_mismatch",
            Self::Upload(e) => e.kind(),
        }
    }
}
