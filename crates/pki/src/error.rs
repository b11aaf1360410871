//! The one error type of this crate.
//!
//! Variants keep the evidence: the values that made a check fail, so that a
//! caller (or an admin reading a log line) can see *why* without a debugger.

use crate::{KeyAlgorithm, SerialNumber, SignatureAlgorithm};

/// Everything that can go wrong in the CA, its codecs and its crypto backends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input is larger than the parser accepts.
    #[error("{what} is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was being parsed.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// DER did not decode (truncated, malformed, wrong type).
    #[error("malformed {what}: {source}")]
    Der {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's reason.
        #[source]
        source: der::Error,
    },
    /// Bytes follow a complete DER value.
    #[error("{trailing} trailing bytes after the {what}")]
    TrailingData {
        /// What was decoded.
        what: &'static str,
        /// How many bytes follow it.
        trailing: usize,
    },
    /// PEM text is not valid (not UTF-8, bad base64, wrong or missing label).
    #[error("bad PEM: {reason}")]
    Pem {
        /// Why.
        reason: String,
    },
    /// A PEM block carries a label we did not ask for.
    #[error("expected PEM label {expected}, found {found:?}")]
    PemLabel {
        /// The labels that were acceptable.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// The signature algorithm is not one we implement.
    #[error("unsupported signature algorithm {oid}")]
    UnsupportedSignatureAlgorithm {
        /// Its OID.
        oid: String,
    },
    /// A known-broken algorithm (MD5, or SHA-1 when not allowed).
    #[error("signature algorithm {algorithm} is refused as weak")]
    WeakSignatureAlgorithm {
        /// Its name.
        algorithm: &'static str,
    },
    /// The public key algorithm or curve is not one we implement.
    #[error("unsupported public key: {detail}")]
    UnsupportedKey {
        /// What was found.
        detail: String,
    },
    /// An RSA key below the policy.
    #[error("rsa key of {bits} bits is below the {minimum}-bit minimum")]
    KeyTooSmall {
        /// Its size.
        bits: usize,
        /// The policy minimum.
        minimum: usize,
    },
    /// An RSA key above what we are willing to spend time on.
    #[error("rsa key of {bits} bits is above the {maximum}-bit maximum")]
    KeyTooLarge {
        /// Its size.
        bits: usize,
        /// The maximum.
        maximum: usize,
    },
    /// The key algorithm is not allowed by the policy.
    #[error("key {key} is not allowed by the key policy")]
    KeyNotAllowed {
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// A signature algorithm does not fit the key that should have made it.
    #[error("signature algorithm {algorithm} does not fit a {key} key")]
    AlgorithmKeyMismatch {
        /// The signature algorithm.
        algorithm: SignatureAlgorithm,
        /// The key.
        key: KeyAlgorithm,
    },
    /// A signature did not verify.
    #[error("bad signature on the {what} ({algorithm})")]
    BadSignature {
        /// What was signed.
        what: &'static str,
        /// With which algorithm.
        algorithm: SignatureAlgorithm,
    },
    /// Private-key material could not be used.
    #[error("bad private key: {reason}")]
    BadPrivateKey {
        /// Why.
        reason: String,
    },
    /// The crypto backend failed on an operation that should not fail.
    #[error("crypto backend {backend} failed: {reason}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// Its message.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// A request is structurally acceptable but asks for something we refuse.
    #[error("certificate request refused: {reason}")]
    RequestRefused {
        /// Why.
        reason: String,
    },
    /// A certificate or CRL is not valid yet.
    #[error("{what} is not valid before {not_before} (checked at {time})")]
    NotYetValid {
        /// What.
        what: &'static str,
        /// The time of the check.
        time: time::OffsetDateTime,
        /// Its notBefore.
        not_before: time::OffsetDateTime,
    },
    /// A certificate or CRL has expired.
    #[error("{what} expired at {not_after} (checked at {time})")]
    Expired {
        /// What.
        what: &'static str,
        /// The time of the check.
        time: time::OffsetDateTime,
        /// Its notAfter (or a CRL's nextUpdate).
        not_after: time::OffsetDateTime,
    },
    /// A certificate was not issued by the expected issuer.
    #[error("certificate issuer {issuer} is not {expected}")]
    WrongIssuer {
        /// The certificate's issuer name.
        issuer: String,
        /// The expected issuer name.
        expected: String,
    },
    /// A certificate lacks what its role needs.
    #[error("certificate {subject} is not usable: {reason}")]
    BadCertificate {
        /// Its subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The certificate is on a CRL or revoked in the ledger.
    #[error("certificate {serial} was revoked at {revoked_at} ({reason})")]
    Revoked {
        /// Its serial number.
        serial: SerialNumber,
        /// When.
        revoked_at: time::OffsetDateTime,
        /// Why.
        reason: crate::RevocationReason,
    },
    /// No certificate with this serial number was issued here.
    #[error("no certificate with serial {serial} was issued by this ca")]
    UnknownSerial {
        /// The serial.
        serial: SerialNumber,
    },
    /// A serial number given as text is not valid hex of 1 to 20 octets.
    #[error("bad serial number {input:?}: {reason}")]
    BadSerial {
        /// What was given.
        input: String,
        /// Why.
        reason: &'static str,
    },
    /// A time does not fit an X.509 time field.
    #[error("time {time} cannot be encoded in a certificate")]
    BadTime {
        /// The time.
        time: String,
    },
    /// The issuance ledger failed.
    #[error("issuance ledger: {0}")]
    Ledger(#[from] crate::LedgerError),
    /// A CA folder is missing files or holds corrupt ones.
    #[error("ca folder {path}: {reason}")]
    CaDir {
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// File-system error with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn der(what: &'static str) -> impl FnOnce(der::Error) -> Error {
        move |source| Error::Der { what, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
