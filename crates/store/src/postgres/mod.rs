//! The PostgreSQL store: one database shared by every replica.
//!
//! **The client.** [`tokio_postgres`] with a [`deadpool_postgres`] pool: the
//! maintained pure-Rust client and its usual pool. The [`Store`] trait is
//! synchronous (the registry's rules run inside one closure per
//! transaction), so the store owns a small tokio runtime whose thread
//! drives the connections' sockets, and each statement blocks its caller
//! until the answer arrives, as a SQLite statement blocks on the disk. The
//! blocking `postgres` crate cannot serve here: it starts a runtime per
//! call, which panics on the server's own runtime threads.
//!
//! **Writers.** Every write transaction first takes one transaction-scoped
//! advisory lock ([`WRITE_LOCK`]), so writers run one at a time across all
//! replicas, as SQLite's do on one machine. Each statement then reads the
//! latest committed state (`READ COMMITTED`), and no other writer can slip
//! between a check and the act it guards: a token consumed twice, a
//! transition on a stale status or two devices for one hardware id would
//! need two writers at once. The lock is released by COMMIT, after the WAL
//! is flushed, so an acknowledged write is durable
//! (`synchronous_commit = on`). Reads take no lock: each is one
//! `REPEATABLE READ, READ ONLY` snapshot.
//!
//! **Failures.** A database that cannot be reached, or a connection lost
//! mid-transaction, is [`Error::Unavailable`] (the API answers 503); the
//! pool opens fresh connections when the server is back, with no restart.
//! A connection whose transaction did not end cleanly is discarded, never
//! returned to the pool, so the server rolls it back.
//!
//! **TLS.** Over TCP the connection is TLS with the server's certificate
//! verified, unless the URL says `sslmode=disable` ([`tls`]).

mod migrations;
mod tls;
mod tx;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};

use tx::PgTx;

use crate::{Error, Result, Store, Tx};

/// The advisory lock every write transaction holds (an arbitrary constant, "devicetrust write").
const WRITE_LOCK: i64 = 0x6474_7772_6974_6500;

/// How long a caller waits for a connection, or for a new one to open,
/// before the database counts as unavailable: sign-in must fail fast, not hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a statement may wait for a lock (the write lock included)
/// before it fails: a writer stuck on a dead peer must not stall every request.
const LOCK_TIMEOUT: &str = "10s";

/// The PostgreSQL store. Cheap to share behind an `Arc`; every method is
/// safe to call from any thread, the server's async worker threads included.
pub struct PostgresStore {
    pool: Pool,
    round_trips: AtomicU64,
    /// Drives the connections. An `Option` only so that `Drop` can shut it
    /// down without blocking (dropping a runtime inside another one panics).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("connections", &status.size)
            .field("idle", &status.available)
            .field("max", &status.max_size)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The kind of transaction [`PostgresStore::transact`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    /// A write committed without waiting for the WAL flush
    /// (`synchronous_commit = off`): atomic and seen by every replica at
    /// once; the next durable commit flushes it too.
    RelaxedWrite,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db`, or any
    /// form `tokio_postgres::Config` reads, a Unix socket folder as host
    /// included) and migrates it. Over TCP it speaks TLS and verifies the
    /// server's certificate against the URL's `sslrootcert` unless the URL
    /// says `sslmode=disable` (see the `tls` module). Fails with
    /// [`Error::Config`] for a URL it cannot use, and with
    /// [`Error::Unavailable`] when the server cannot be reached (or its
    /// certificate is refused) within a few seconds.
    pub fn open(url: &str) -> Result<Self> {
        let (store, mut client) = Self::connect(url)?;
        store.run(migrations::migrate(&mut client))?;
        drop(client);
        Ok(store)
    }

    /// Like [`PostgresStore::open`], but never migrates: a database whose
    /// schema is not this build's is refused ([`Error::SchemaTooOld`] or
    /// [`Error::SchemaTooNew`]). For commands run beside live replicas
    /// (`devices`, `integrations list`), which must not change the schema
    /// under them.
    pub fn open_current(url: &str) -> Result<Self> {
        let (store, client) = Self::connect(url)?;
        store.run(migrations::check(&client))?;
        drop(client);
        Ok(store)
    }

    fn connect(url: &str) -> Result<(Self, Object)> {
        let (url, tls) = tls::split(url)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::Config {
            what: "database URL",
            reason: redact(&url, &e),
        })?;
        let tls = tls::connector(&mut config, &tls)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("devicetrust");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("devicetrust-postgres")
            .enable_all()
            .build()
            .map_err(Error::storage("starting the database client's runtime"))?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let pool = Pool::builder(manager)
            .max_size(cores.saturating_mul(4).clamp(8, 32))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(Error::storage("building the connection pool"))?;
        let store = Self {
            pool,
            round_trips: AtomicU64::new(0),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        };
        // Shown to the operator starting the service: with every cause (a
        // TLS refusal says why), which request-time errors keep to themselves.
        let client = store.connection().map_err(|e| match e {
            Error::Unavailable { context, source } => Error::Unavailable {
                context,
                source: causes(source.as_ref()).into(),
            },
            other => other,
        })?;
        Ok((store, client))
    }

    /// Runs `future` to completion on this thread, with the store's runtime
    /// as the context (sockets, timers and spawned connection tasks are
    /// driven by its thread, not the caller's).
    fn run<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle.enter();
        futures_executor::block_on(future)
    }

    fn connection(&self) -> Result<Object> {
        self.run(self.pool.get()).map_err(|e| Error::Unavailable {
            context: "connecting to the database",
            source: Box::new(e),
        })
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled
    /// back otherwise.
    ///
    /// Round trips are what a request pays, so the transaction costs none
    /// of its own beyond the end of a write: BEGIN (and a writer's lock)
    /// travels with the first statement, pipelined; a write waits for its
    /// COMMIT (the acknowledgement must be durable); a read's ROLLBACK is
    /// sent without waiting, the connection returning to the pool once it
    /// is done. A one-statement read is one round trip.
    fn transact<T>(&self, kind: Kind, f: impl FnOnce(&mut PgTx<'_>) -> Result<T>) -> Result<T> {
        let mut open = OpenTransaction {
            client: Some(self.connection()?),
            ended: false,
        };
        let begin = match kind {
            Kind::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_owned(),
            Kind::Write => format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';
                 SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ),
            Kind::RelaxedWrite => format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';
                 SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ),
        };
        let (out, begun) = {
            let mut tx = PgTx::new(self, open.client()?, kind == Kind::Read, begin);
            let out = f(&mut tx);
            (out, tx.begun())
        };
        if !begun {
            // No statement ran: there is no transaction to end.
            open.ended = true;
            return out;
        }
        if kind == Kind::Read {
            if let Some(client) = open.client.take() {
                open.ended = true;
                self.handle.spawn(async move {
                    // A connection that cannot end its read is not reused.
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            return out;
        }
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let client = open.client()?;
        self.round_trip();
        self.run(client.batch_execute(end))
            .map_err(tx::pg_error("ending a transaction"))?;
        open.ended = true;
        out
    }

    /// Counts one round trip a caller waits for.
    pub(super) fn round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Round trips to the database that callers waited for, since the
    /// store opened: for the figures (`devicetrust_database_round_trips_total`).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The revision of the settings document `name` (one indexed read).
    pub fn settings_revision(&self, name: &str) -> Result<Option<i64>> {
        self.transact(Kind::Read, |tx| tx.settings_revision(name))
    }

    /// How many certificates the ledger holds (revoked ones included).
    pub fn ledger_count(&self) -> Result<u64> {
        self.transact(Kind::Read, |tx| tx.ledger_count())
    }

    /// Copies everything the embedded database `from` holds into this
    /// one, which must hold no data yet, in one transaction (under the
    /// write lock, so no replica writes meanwhile): `devicetrust migrate`.
    pub fn copy_from_sqlite(&self, from: &crate::SqliteStore) -> Result<crate::CopyReport> {
        self.transact(Kind::Write, |tx| tx.copy_from_sqlite(from))
    }

    /// Drops every table this store created, the migrations' record
    /// included: for tests and `devicetrust migrate`'s rehearsals, never
    /// called by the service.
    #[doc(hidden)]
    pub fn drop_schema_for_tests(&self) -> Result<()> {
        let client = self.connection()?;
        self.run(client.batch_execute(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC",
        ))
        .map_err(tx::pg_error("dropping the schema"))
    }
}

/// The URL's parse error, without the password the URL may carry.
/// `e` and its sources, joined: `error performing TLS handshake: invalid
/// peer certificate: UnknownIssuer`.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let shown = cause.to_string();
        if !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        next = cause.source();
    }
    text
}

fn redact(url: &str, e: &tokio_postgres::Error) -> String {
    let shown = match url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
    {
        Some((credentials, _)) if credentials.contains(':') => "(a URL with a password)",
        _ => url,
    };
    format!("{shown}: {e}")
}

/// A connection inside a transaction: unless the transaction ended cleanly,
/// the connection is detached from the pool and closed, which rolls it back.
struct OpenTransaction {
    client: Option<Object>,
    ended: bool,
}

impl OpenTransaction {
    fn client(&self) -> Result<&Object> {
        self.client.as_ref().ok_or(Error::Corrupt {
            what: "postgres store",
            reason: "transaction without a connection".into(),
        })
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if !self.ended
            && let Some(client) = self.client.take()
        {
            drop(Object::take(client));
        }
    }
}

impl Store for PostgresStore {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(Kind::Write, |tx| f(tx))
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(Kind::Read, |tx| f(tx))
    }

    fn write_relaxed<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.transact(Kind::RelaxedWrite, |tx| f(tx))
    }
}

// The CA's issuance ledger on the shared database: every replica's CA
// records into, revokes in and numbers CRLs from the same rows, so CRL
// numbers strictly increase across replicas.
crate::ledger::store_is_issuance_ledger!(PostgresStore);
