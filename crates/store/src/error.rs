//! Store errors: the registry's refusals, and storage failures.

use devicetrust_devices::DeviceError;
use devicetrust_pki::LedgerError;

/// Why a registry or store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry refused the request (bad input, unknown id, illegal transition).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The issuance ledger refused (unknown or duplicate serial).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error("storage: {context}: {source}")]
    Storage {
        /// What was being done.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database cannot be reached, or the connection was lost: a
    /// transient failure (the API answers 503), unlike [`Error::Storage`].
    #[error("database unavailable: {context}: {source}")]
    Unavailable {
        /// What was being done.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store's configuration is invalid (a malformed database URL).
    #[error("invalid {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// Why (with any password removed).
        reason: String,
    },
    /// A stored row could not be read back.
    #[error("corrupt {what} in storage: {reason}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer version of this software.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The database was written by an older version of this software, and
    /// the caller may not migrate it (a command beside running replicas).
    #[error(
        "database schema version {found} is older than this build's ({expected}): start `devicetrust serve` of this version on it first"
    )]
    SchemaTooOld {
        /// The version in the database.
        found: i64,
        /// The version this build writes.
        expected: i64,
    },
    /// A bounded table is full.
    #[error("too many {what} (limit {limit})")]
    LimitReached {
        /// What is bounded.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
    /// A write was attempted inside a read-only transaction (a bug in the caller).
    #[error("write attempted in a read-only transaction")]
    ReadOnly,
}

impl devicetrust_errors::HasKind for Error {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::Device(e) => e.kind(),
            Self::Ledger(e) => e.kind(),
            Self::LimitReached { .. } => K::LimitReached,
            Self::Unavailable { .. } => K::Unavailable,
            Self::Config { .. } => K::Invalid,
            Self::Storage { .. }
            | Self::Corrupt { .. }
            | Self::SchemaTooNew { .. }
            | Self::SchemaTooOld { .. }
            | Self::ReadOnly => K::Internal,
        }
    }
}

impl Error {
    /// Wraps an engine error with what was being done.
    pub fn storage<E: std::error::Error + Send + Sync + 'static>(
        context: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |e| Self::Storage {
            context,
            source: Box::new(e),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
