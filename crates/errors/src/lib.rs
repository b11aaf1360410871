//! What kind of failure an error is, stated once per variant by the crate
//! that owns the error, so that every API (the admin API, the device API,
//! the CLI's exit codes) turns the same error into the same answer.
//!
//! ```
//! use devicetrust_errors::{ErrorKind, HasKind};
//!
//! #[derive(Debug)]
//! enum TokenError {
//!     Expired,
//!     TooMany { limit: usize },
//! }
//!
//! impl HasKind for TokenError {
//!     fn kind(&self) -> ErrorKind {
//!         match self {
//!             Self::Expired => ErrorKind::Unauthenticated,
//!             Self::TooMany { .. } => ErrorKind::LimitReached,
//!         }
//!     }
//! }
//!
//! assert_eq!(TokenError::TooMany { limit: 10 }.kind(), ErrorKind::LimitReached);
//! assert!(!TokenError::Expired.kind().is_internal());
//! ```
#![forbid(unsafe_code)]

/// The kinds of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule of its own (the caller can fix it).
    Invalid,
    /// Missing, wrong, used or revoked credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// No such resource.
    NotFound,
    /// The resource's current state forbids it.
    Conflict,
    /// A bound was reached; retrying later may work.
    LimitReached,
    /// Something we depend on is unavailable; retrying later may work.
    Unavailable,
    /// Our fault: storage failed, data is corrupt, a bug. Callers are told
    /// no more than that; the cause is logged.
    Internal,
}

impl ErrorKind {
    /// Whether the cause must stay in our logs rather than reach the caller.
    pub const fn is_internal(self) -> bool {
        matches!(self, Self::Internal)
    }
}

/// An error that knows its kind.
pub trait HasKind {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}
