//! What an admin sees of an uploaded CA certificate.

use devicetrust_pki::Certificate;
use time::OffsetDateTime;

/// The details of one CA certificate, as listed for an upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaDetails {
    /// SHA-256 of the DER, hex: the identity of an upload.
    pub fingerprint: String,
    /// Subject, RFC 4514 text.
    pub subject: String,
    /// Issuer, RFC 4514 text.
    pub issuer: String,
    /// Serial number, hex (empty if it does not parse).
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The key, as `p256`, `rsa2048`, ...
    pub key: String,
    /// basicConstraints pathLenConstraint, if any.
    pub path_len: Option<u8>,
    /// Whether subject and issuer are the same name.
    pub self_issued: bool,
}

impl CaDetails {
    /// Describes `cert`.
    pub fn of(cert: &Certificate) -> Self {
        Self {
            fingerprint: cert.fingerprint(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.serial().map(|s| s.to_string()).unwrap_or_default(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
            key: cert.public_key().algorithm().to_string(),
            path_len: cert
                .basic_constraints()
                .ok()
                .flatten()
                .and_then(|b| b.path_len_constraint),
            self_issued: cert.subject() == cert.issuer(),
        }
    }
}
