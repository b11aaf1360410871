//! SCEP (RFC 8894): the PKIMessage codec and the CA side of the protocol.
//!
//! A SCEP request is a CMS `SignedData` (signed by the requester's key,
//! usually with a throw-away self-signed certificate) whose content is an
//! `EnvelopedData` encrypted to the CA (or RA) certificate, which in turn
//! holds the PKCS#10 request. The reply (`CertRep`) is the same shape in the
//! other direction, holding a certs-only `SignedData` with the new certificate.
//!
//! ```text
//! pkiMessage = SignedData {
//!     encapContentInfo { id-data, pkcsPKIEnvelope = EnvelopedData {
//!         recipientInfos { KeyTransRecipientInfo (RSA PKCS#1 v1.5) },
//!         encryptedContentInfo { id-data, DES | 3DES | AES-CBC, messageData } } },
//!     certificates { signer certificate },
//!     signerInfos { signedAttributes { contentType, messageDigest, messageType,
//!         transactionID, senderNonce, [recipientNonce], [pkiStatus], [failInfo] } } }
//! ```

mod attributes;
mod ber;
mod challenge;
mod cipher;
pub mod client;
mod cms;
mod envelope;
#[doc(hidden)]
pub mod fuzzing;
mod loose;
mod message;
mod service;
mod transactions;

pub use attributes::{FailInfo, MessageType, PkiStatus};
pub use challenge::{
    Challenge, ChallengeContext, ChallengeCredentials, ChallengeError, ChallengeKind, ChallengeUse,
    DynamicChallenges, MemoryChallenges, OneTimeChallenges, StaticChallenge, ndes_admin_page,
};
pub use cipher::ContentEncryption;
pub use cms::{degenerate_certs_only, parse_certs_only};
pub use message::{CertRep, PkiMessage, Rejected, ReplyTo, RequestMessage, ScepPolicy};
pub use service::{Outcome, OutcomeCounts, PendingRequest, ScepConfig, ScepEvent, ScepService};
pub use transactions::{
    Claim, Expected, MemoryScepTransactions, ScepTransactions, TransactionError, TransactionLimits,
    TransactionRecord, TransactionState, claim_is_abandoned, finish_issued_in_two_steps,
};

/// Why a SCEP message was refused. Each maps to the `failInfo` RFC 8894 asks for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScepError {
    /// Input too large.
    #[error("scep message of {len} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A structure did not decode.
    #[error("malformed {what}")]
    Malformed {
        /// What.
        what: &'static str,
    },
    /// A structure did not decode, with the decoder's reason.
    #[error("malformed {what}: {source}")]
    Der {
        /// What.
        what: &'static str,
        /// The decoder's reason.
        #[source]
        source: der::Error,
    },
    /// An algorithm we do not implement.
    #[error("unsupported {what} algorithm {oid}")]
    UnsupportedAlgorithm {
        /// Which kind of algorithm.
        what: &'static str,
        /// Its OID.
        oid: String,
    },
    /// An algorithm the configuration forbids.
    #[error("{what} algorithm {name} is forbidden by the configuration")]
    ForbiddenAlgorithm {
        /// Which kind of algorithm.
        what: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// The message signature or message digest did not verify.
    #[error("message integrity check failed: {reason}")]
    BadMessageCheck {
        /// Why.
        reason: String,
    },
    /// The envelope is not encrypted to any of our certificates.
    #[error("the envelope is encrypted to another recipient")]
    NotForUs,
    /// The envelope did not decrypt (wrong key, or tampered).
    #[error("the envelope did not decrypt")]
    DecryptionFailed,
    /// A required attribute is missing.
    #[error("missing {attribute} attribute")]
    MissingAttribute {
        /// Which.
        attribute: &'static str,
    },
    /// An attribute has a bad value.
    #[error("bad {attribute} attribute: {reason}")]
    BadAttribute {
        /// Which.
        attribute: &'static str,
        /// Why.
        reason: String,
    },
    /// An approval or rejection named a transaction that is not pending
    /// (unknown, already decided, or being decided by another admin).
    #[error("no pending SCEP request has transactionID {transaction_id:?}")]
    NotPending {
        /// The transactionID named.
        transaction_id: String,
    },
    /// An error from the CA (the request itself, or issuance).
    #[error(transparent)]
    Pki(#[from] crate::Error),
    /// The transaction store failed or is full.
    #[error(transparent)]
    Transactions(#[from] TransactionError),
}

impl ScepError {
    /// The `failInfo` to answer with.
    pub fn fail_info(&self) -> FailInfo {
        use crate::Error as E;
        match self {
            Self::UnsupportedAlgorithm { .. } | Self::ForbiddenAlgorithm { .. } => FailInfo::BadAlg,
            Self::Pki(
                E::UnsupportedSignatureAlgorithm { .. } | E::WeakSignatureAlgorithm { .. },
            ) => FailInfo::BadAlg,
            Self::BadMessageCheck { .. } | Self::NotForUs | Self::DecryptionFailed => {
                FailInfo::BadMessageCheck
            }
            Self::Pki(E::BadSignature { .. }) => FailInfo::BadMessageCheck,
            _ => FailInfo::BadRequest,
        }
    }
}

pub(crate) fn der_error(what: &'static str) -> impl FnOnce(der::Error) -> ScepError {
    move |source| ScepError::Der { what, source }
}
