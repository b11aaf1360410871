//! What can go wrong on the way to Intune, and what it means for a SCEP request.

use devicetrust_pki::scep::ChallengeError;

/// Why a call to Intune (or Entra ID, or Graph) did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntuneError {
    /// The settings are unusable.
    #[error("intune settings: {0}")]
    Config(String),
    /// No connection, a timeout, or a broken exchange.
    #[error("{url}: {reason}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// A non-2xx status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// Where.
        url: String,
        /// The status.
        status: u16,
    },
    /// A body over the response limit ([`MAX_RESPONSE`](super::MAX_RESPONSE)).
    #[error("{url}: response over {limit} bytes")]
    TooLarge {
        /// Where.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// A body that is not the JSON expected.
    #[error("{url}: unexpected response: {reason}")]
    BadJson {
        /// Where.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// Entra ID refused the client credentials.
    #[error("token request refused (HTTP {status}): {error:?}")]
    Token {
        /// The status.
        status: u16,
        /// The OAuth error code, e.g. `invalid_client`.
        error: String,
    },
    /// Graph lists no validation service.
    #[error("graph lists no {service} endpoint for Intune")]
    NotDiscovered {
        /// The service looked for.
        service: &'static str,
    },
    /// The service answered with a code other than `Success`.
    #[error("{code}: {description}")]
    Refused {
        /// Its code, e.g. `ChallengeExpired`.
        code: String,
        /// Its description.
        description: String,
    },
    /// Something of ours broke (a poisoned lock, no randomness).
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<IntuneError> for ChallengeError {
    fn from(e: IntuneError) -> Self {
        match e {
            IntuneError::Refused { .. } => Self::Refused(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}
