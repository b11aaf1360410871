//! The store a deployment runs on, chosen when it starts: SQLite in the
//! data folder (one process, nothing to install), or PostgreSQL (many
//! replicas on one database). The service holds a [`Database`] and never
//! names an engine.

#[cfg(feature = "postgres")]
use crate::PostgresStore;
use crate::{Result, SqliteStore, Store, Tx};

/// A deployment's store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Database {
    /// The embedded database in the data folder.
    Sqlite(SqliteStore),
    /// One PostgreSQL database shared by every replica.
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Calls `$call` on whichever engine `$db` holds.
macro_rules! on_engine {
    ($db:expr, $store:ident => $call:expr) => {
        match $db {
            Database::Sqlite($store) => $call,
            #[cfg(feature = "postgres")]
            Database::Postgres($store) => $call,
        }
    };
}

impl Database {
    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
        }
    }

    /// The revision of the settings document `name`, by the engine's
    /// cheapest read (every request asks it).
    pub fn settings_revision(&self, name: &str) -> Result<Option<i64>> {
        on_engine!(self, s => s.settings_revision(name))
    }

    /// Round trips to PostgreSQL that callers waited for; `None` on SQLite,
    /// which has none (its statements run in process).
    pub fn round_trips(&self) -> Option<u64> {
        match self {
            Self::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Some(s.round_trips()),
        }
    }

    /// How many certificates the ledger holds (revoked ones included).
    pub fn ledger_count(&self) -> Result<u64> {
        on_engine!(self, s => s.ledger_count())
    }
}

impl Store for Database {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        on_engine!(self, s => s.write(f))
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        on_engine!(self, s => s.read(f))
    }

    fn write_relaxed<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        on_engine!(self, s => s.write_relaxed(f))
    }
}

// Through the engine's own transactions (`Store for Database`).
crate::ledger::store_is_issuance_ledger!(Database);
