//! The embedded SQLite store: one database file, WAL, `synchronous=FULL`.
//!
//! `synchronous=FULL` fsyncs the write-ahead log on every commit, so an
//! acknowledged transition (and the certificate revocations it made)
//! survives a power cut, not only a process crash: for a registry that
//! revokes certificates, losing an acknowledged revocation is not acceptable.
//!
//! An fsync costs milliseconds, so commits are grouped: each write runs in
//! its own savepoint inside a shared transaction, and the last writer in the
//! queue commits the group with one fsync. Every writer returns only after
//! the commit that holds its savepoint, so nothing is acknowledged before
//! it is durable; a lone writer commits at once, as without grouping. A
//! failed write rolls back its savepoint only; a failed group commit fails
//! every write in the group. Reads go to read connections, which see only
//! committed groups.
//!
//! A few writes only need to be atomic and seen by every connection and
//! process at once, not fsynced on their own: a SCEP transaction's claim,
//! whose every consequence is committed later, durably, behind it. Those
//! commit with `synchronous=NORMAL` ([`Durability::Relaxed`]): no fsync, and
//! since the WAL is written in order, the next durable commit makes them
//! durable too. A power cut can lose such a write only together with
//! everything that came after it.

mod device_api;
mod ledger;
mod migrations;
mod scep;
mod tx;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::{Error, Result, Store, Tx};
pub use migrations::latest as latest_schema_version;
use tx::SqliteTx;

/// The most writes in one group: past it the group commits even with
/// writers queued, so a steady stream cannot hold acknowledgements back.
const MAX_GROUP: usize = 64;

/// Failed group commits remembered for waiters, at most this many.
const MAX_REMEMBERED_FAILURES: usize = 1024;
/// Read connections: at least two, so one slow read never stalls the
/// request path, and at most eight (each has its own page cache).
const MIN_READERS: usize = 2;
const MAX_READERS: usize = 8;

/// When a write may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Once fsynced (`synchronous=FULL`).
    Durable,
    /// Once committed, seen by every connection and surviving a crash of
    /// this process; fsynced with the next durable commit. Only for writes
    /// whose consequences are all written durably after them.
    Relaxed,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    /// The group (by number) whose transaction is open, if any.
    open_group: Option<u64>,
    /// Whether the open group commits without an fsync (only relaxed writes joined it).
    open_relaxed: bool,
    /// Whether the connection is at `synchronous=FULL` (it can only change
    /// between transactions, so a group's durability is set when it opens).
    synchronous_full: bool,
    /// Writes in the open group.
    group_len: usize,
    /// The number the next group gets.
    next_group: u64,
    /// Every group up to this one has finished (committed or failed).
    finished_through: u64,
    /// Groups whose commit failed, with the reason.
    failed: BTreeMap<u64, String>,
}

/// The SQLite store. One connection, serialised by a mutex: SQLite allows
/// one writer at a time anyway, and this keeps every call's transaction
/// boundaries obvious.
#[derive(Debug)]
pub struct SqliteStore {
    inner: Mutex<Inner>,
    /// Read-only connections: in WAL mode each reads the last committed
    /// state without waiting for a writer's COMMIT (and fsync), so a read on
    /// the request path takes microseconds, never a disk flush. One per
    /// core (at least two), so concurrent requests read in parallel instead
    /// of queueing on one connection.
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free connection.
    next_reader: AtomicUsize,
    /// Signalled when a group finishes.
    finished: Condvar,
    /// Callers waiting for the lock: while there are any, a writer leaves
    /// the group open for the last of them to commit.
    queued: AtomicUsize,
    path: PathBuf,
}

fn exec(conn: &Connection, context: &'static str, sql: &str) -> Result<()> {
    conn.execute_batch(sql).map_err(Error::storage(context))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// The database and its `-wal` and `-shm` files are made private (0600)
    /// whatever the umask: SQLite gives the two the main file's mode.
    pub fn open(path: &Path) -> Result<Self> {
        make_private(path)?;
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
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let readers = (0..cores.clamp(MIN_READERS, MAX_READERS))
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(Error::storage("opening a read connection"))?;
                reader
                    .busy_timeout(Duration::from_secs(5))
                    .map_err(Error::storage("setting the busy timeout"))?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            readers,
            next_reader: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                conn,
                open_group: None,
                open_relaxed: false,
                synchronous_full: true,
                group_len: 0,
                next_group: 1,
                finished_through: 0,
                failed: BTreeMap::new(),
            }),
            finished: Condvar::new(),
            queued: AtomicUsize::new(0),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A free read connection, or (all busy) the next one in turn.
    fn reader(&self) -> Result<MutexGuard<'_, Connection>> {
        let count = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..count {
            let Some(reader) = self.readers.get(start.wrapping_add(i) % count) else {
                continue;
            };
            match reader.try_lock() {
                Ok(conn) => return Ok(conn),
                Err(std::sync::TryLockError::WouldBlock) => {}
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Ok(Self::recover(reader, poisoned.into_inner()));
                }
            }
        }
        let reader = self
            .readers
            .get(start % count.max(1))
            .ok_or_else(Self::poisoned)?;
        Ok(reader
            .lock()
            .unwrap_or_else(|poisoned| Self::recover(reader, poisoned.into_inner())))
    }

    /// A read connection whose last user panicked may still be inside its
    /// read transaction, which would pin a snapshot (the WAL could never be
    /// checkpointed): end it and use the connection again. Reads change
    /// nothing, so there is nothing else to undo.
    fn recover<'a>(
        reader: &'a Mutex<Connection>,
        conn: MutexGuard<'a, Connection>,
    ) -> MutexGuard<'a, Connection> {
        if !conn.is_autocommit() {
            let _ended = exec(&conn, "ending an abandoned read", "ROLLBACK");
        }
        reader.clear_poison();
        conn
    }

    fn poisoned() -> Error {
        Error::Corrupt {
            what: "sqlite store",
            reason: "connection lock poisoned by a panic in another thread".into(),
        }
    }

    /// Takes the connection, counted as queued while waiting.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let guard = self.inner.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        guard.map_err(|_| Self::poisoned())
    }

    /// Commits the open group, if any, and wakes its writers.
    fn commit_group(&self, inner: &mut Inner) {
        let Some(group) = inner.open_group.take() else {
            return;
        };
        inner.group_len = 0;
        inner.open_relaxed = false;
        if let Err(e) = exec(&inner.conn, "committing", "COMMIT") {
            // Leave no transaction behind; the group's writes are all lost together.
            let _ignored = exec(&inner.conn, "rolling back", "ROLLBACK");
            inner.failed.insert(group, e.to_string());
            while inner.failed.len() > MAX_REMEMBERED_FAILURES {
                inner.failed.pop_first();
            }
        }
        inner.finished_through = group;
        self.finished.notify_all();
    }

    /// Commits the group unless someone queued behind us will (and it is not full).
    fn commit_unless_queued(&self, inner: &mut Inner) {
        if self.queued.load(Ordering::SeqCst) == 0 || inner.group_len >= MAX_GROUP {
            self.commit_group(inner);
        }
    }

    /// A write: `f` in a savepoint of the open group (opening one if
    /// needed); returns once that group has committed, and for a durable
    /// write, once it is fsynced.
    fn write_grouped<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut SqliteTx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut inner = self.lock()?;
        if durability == Durability::Durable && inner.open_relaxed {
            // A durable write never joins a group that commits without an fsync.
            self.commit_group(&mut inner);
        }
        let group = match inner.open_group {
            Some(group) => group,
            None => {
                let full = durability == Durability::Durable;
                if inner.synchronous_full != full {
                    let level = if full { "FULL" } else { "NORMAL" };
                    inner
                        .conn
                        .pragma_update(None, "synchronous", level)
                        .map_err(Error::storage("setting the commit's durability"))?;
                    inner.synchronous_full = full;
                }
                // IMMEDIATE takes the write lock up front, so no statement fails on a lock upgrade.
                exec(&inner.conn, "beginning a transaction", "BEGIN IMMEDIATE")?;
                let group = inner.next_group;
                inner.next_group = group.saturating_add(1);
                inner.open_group = Some(group);
                inner.open_relaxed = !full;
                group
            }
        };
        inner.group_len = inner.group_len.saturating_add(1);
        let out = match exec(&inner.conn, "opening a savepoint", "SAVEPOINT write") {
            Ok(()) => {
                let out = f(&mut SqliteTx::new(&inner.conn, false));
                let end = if out.is_ok() {
                    "RELEASE write"
                } else {
                    "ROLLBACK TO write; RELEASE write"
                };
                exec(&inner.conn, "closing a savepoint", end).and(out)
            }
            Err(e) => Err(e),
        };
        self.commit_unless_queued(&mut inner);
        let out = out?;
        while inner.finished_through < group {
            inner = self.finished.wait(inner).map_err(|_| Self::poisoned())?;
        }
        match inner.failed.get(&group) {
            Some(reason) => Err(Error::Storage {
                context: "group commit",
                source: reason.clone().into(),
            }),
            None => Ok(out),
        }
    }

    /// A read of the last committed state, on the read connection: it sees
    /// only durable data, and every write acknowledged to its caller (writes
    /// return after their group commits), without waiting for a group
    /// still committing.
    fn read_committed<T>(&self, f: impl FnOnce(&mut SqliteTx<'_>) -> Result<T>) -> Result<T> {
        let conn = self.reader()?;
        exec(&conn, "beginning a read", "BEGIN")?;
        let out = f(&mut SqliteTx::new(&conn, true));
        let end = exec(&conn, "ending a read", "ROLLBACK");
        let out = out?;
        end.map(|()| out)
    }

    /// The revision of the settings document `name`: one autocommitted
    /// statement on the read connection (no BEGIN/ROLLBACK), since a single
    /// statement is its own consistent snapshot. Every admin request and
    /// every decision asks it, so it must cost one indexed lookup.
    pub fn settings_revision(&self, name: &str) -> Result<Option<i64>> {
        let conn = self.reader()?;
        conn.prepare_cached("SELECT revision FROM settings_documents WHERE name = ?1")
            .and_then(|mut s| {
                rusqlite::OptionalExtension::optional(s.query_row([name], |r| r.get(0)))
            })
            .map_err(Error::storage("reading the settings revision"))
    }

    /// Calls `f` with every row of `table` (its `columns`, in order), from
    /// one snapshot; returns how many. For `devicetrust migrate`: the table
    /// and column names are the crate's own constants, never input.
    #[cfg(feature = "postgres")]
    pub(crate) fn each_row(
        &self,
        table: &str,
        columns: &[(&str, crate::copy::Column)],
        mut f: impl FnMut(&[crate::copy::Cell]) -> Result<()>,
    ) -> Result<u64> {
        use crate::copy::{Cell, Column};
        const WHAT: &str = "reading a table to copy";
        self.read_committed(|tx| {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let sql = format!("SELECT {} FROM {table}", names.join(", "));
            let mut stmt = tx.conn().prepare(&sql).map_err(Error::storage(WHAT))?;
            let mut rows = stmt.query([]).map_err(Error::storage(WHAT))?;
            let mut copied = 0u64;
            let mut cells = Vec::with_capacity(columns.len());
            while let Some(row) = rows.next().map_err(Error::storage(WHAT))? {
                cells.clear();
                for (i, (_, column)) in columns.iter().enumerate() {
                    cells.push(match column {
                        Column::Int => Cell::Int(row.get(i).map_err(Error::storage(WHAT))?),
                        Column::Text => Cell::Text(row.get(i).map_err(Error::storage(WHAT))?),
                    });
                }
                f(&cells)?;
                copied = copied.saturating_add(1);
            }
            Ok(copied)
        })
    }

    fn transact<T>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut SqliteTx<'_>) -> Result<T>,
    ) -> Result<T> {
        if read_only {
            self.read_committed(f)
        } else {
            self.write_grouped(Durability::Durable, f)
        }
    }
}

/// Creates `path` empty with mode 0600 if it does not exist, and sets 0600
/// on it and on its WAL and shared-memory files if they do.
fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::storage("creating the database file")(e)),
        }
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        for file in files {
            let mode = match std::fs::metadata(&file) {
                Ok(meta) => meta.permissions().mode(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::storage("reading the database's mode")(e)),
            };
            // Only a file others can reach is changed, so a database already
            // private (whoever set it) opens without needing to own it.
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(Error::storage("making the database private"))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Store for SqliteStore {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(false, |tx| f(tx))
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(true, |tx| f(tx))
    }

    fn write_relaxed<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.write_grouped(Durability::Relaxed, |tx| f(tx))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "tests: a panic is a failed test"
    )]

    use super::*;

    /// A read that panics poisons its connection mid-transaction; every
    /// later read still works, on that connection too.
    #[test]
    fn a_read_that_panicked_does_not_break_later_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        for _ in 0..store.readers.len() {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.read(|_| -> Result<()> { panic!("a bug inside a read") })
            }));
            assert!(panicked.is_err());
        }
        for _ in 0..2 * store.readers.len() {
            assert_eq!(store.settings_revision("none").unwrap(), None);
            store.read(|tx| tx.settings_revision("none")).unwrap();
        }
        assert!(store.readers.iter().all(|r| !r.is_poisoned()));
        assert!(
            store
                .readers
                .iter()
                .all(|r| r.lock().unwrap().is_autocommit()),
            "a read transaction was left open"
        );
    }

    fn synchronous(tx: &SqliteTx<'_>) -> Result<i64> {
        tx.conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(Error::storage("reading synchronous"))
    }

    /// A relaxed write commits without an fsync (NORMAL = 1); a durable
    /// write after it, and one joining a group a relaxed write left open,
    /// commits with one (FULL = 2).
    #[test]
    fn durable_writes_always_commit_with_an_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let level = |d| store.write_grouped(d, |tx| synchronous(tx)).unwrap();
        assert_eq!(level(Durability::Durable), 2);
        assert_eq!(level(Durability::Relaxed), 1);
        assert_eq!(level(Durability::Durable), 2);
        assert_eq!(level(Durability::Relaxed), 1);
        // A relaxed group still open (its writer's queued follower will
        // commit it) is committed first, not joined, by a durable write.
        let mut inner = store.lock().unwrap();
        exec(
            &inner.conn,
            "setup",
            "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
        )
        .unwrap();
        inner.synchronous_full = false;
        inner.open_group = Some(inner.next_group);
        inner.next_group += 1;
        inner.open_relaxed = true;
        drop(inner);
        assert_eq!(level(Durability::Durable), 2);
        // A relaxed write joins an open durable group (and is fsynced with it).
        let mut inner = store.lock().unwrap();
        exec(
            &inner.conn,
            "setup",
            "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
        )
        .unwrap();
        inner.synchronous_full = true;
        inner.open_group = Some(inner.next_group);
        inner.next_group += 1;
        drop(inner);
        assert_eq!(level(Durability::Relaxed), 2);
    }
}
