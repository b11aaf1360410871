//! The embedded SQLite store: one database file, WAL, `synchronous=FULL`.
//!
//! `synchronous=FULL` fsyncs the write-ahead log on every commit, so an
//! acknowledged transition (and the certificate revocations it made)
//! survives a power cut, not only a process crash: for a registry that
//! revokes certificates, losing an acknowledged revocation is not acceptable.

mod ledger;
mod migrations;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::{Error, Result, Store, Tx};
pub use migrations::latest as latest_schema_version;
use tx::SqliteTx;

/// The SQLite store. One connection, serialised by a mutex: SQLite allows
/// one writer at a time anyway, and this keeps every call's transaction
/// boundaries obvious.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(Error::storage("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(Error::storage("setting the busy timeout"))?;
        // journal_mode answers with a row, so it is queried, not executed.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(Error::storage("enabling WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt {
                what: "database",
                reason: format!("journal mode is {mode}, WAL could not be enabled"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(Error::storage("setting synchronous=FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(Error::storage("enabling foreign keys"))?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| Error::Corrupt {
            what: "sqlite store",
            reason: "connection lock poisoned by a panic in another thread".into(),
        })
    }

    /// Runs `f` in a transaction: IMMEDIATE (takes the write lock up front,
    /// so it cannot fail half-way on a lock upgrade) for writes, DEFERRED for reads.
    fn transact<T>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut SqliteTx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock()?;
        let behavior = if read_only {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        };
        let tx = conn
            .transaction_with_behavior(behavior)
            .map_err(Error::storage("beginning a transaction"))?;
        let out = f(&mut SqliteTx::new(&tx, read_only))?;
        if read_only {
            // Nothing to keep: ending a read transaction either way is the same.
            tx.rollback().map_err(Error::storage("ending a read"))?;
        } else {
            tx.commit().map_err(Error::storage("committing"))?;
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(false, |tx| f(tx))
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(true, |tx| f(tx))
    }
}
