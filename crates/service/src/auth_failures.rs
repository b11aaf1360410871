//! Failed authentications, for the System Log: every failure of an admin
//! token, a challenge-URL password, a SCEP request or a device signature,
//! with its source, route and reason (never the credential).
//!
//! Failures are folded as they happen: within [`FOLD_WINDOW`], the
//! failures of one credential from one source on one route for one reason
//! are one record with a count, so a guesser adds a record a minute, not
//! one a try. Folds are kept in memory for at most a flush interval, then
//! written to the store (in their own table, at most [`MAX_RECORDS`] per
//! org), where every replica's System Log reads them.
//!
//! ```
//! use std::sync::Arc;
//! use devicetrust_devices::OrgId;
//! use devicetrust_service::auth_failures::{AuthFailureLog, Credential};
//! use devicetrust_store::{Database, SqliteStore, Store as _};
//! use time::OffsetDateTime;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(Database::Sqlite(SqliteStore::open(&dir.path().join("db"))?));
//! let log = AuthFailureLog::new(store.clone(), OrgId::new("default")?);
//! let now = OffsetDateTime::now_utc();
//! for _ in 0..5 {
//!     log.failed(Credential::AdminToken, "192.0.2.7", "/api/v1/devices", "invalid token", now);
//! }
//! log.flush(now)?;
//! let stored = store.read(|tx| tx.auth_failures(&OrgId::new("default")?, now, None, 10))?;
//! assert_eq!((stored.len(), stored[0].failures), (1, 5));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use devicetrust_devices::OrgId;
use devicetrust_store::{Database, Store as _};
use time::{Duration, OffsetDateTime};

pub use devicetrust_store::auth_failures::AuthFailureRecord;

/// How long failures fold into one record.
pub const FOLD_WINDOW: Duration = Duration::minutes(1);

/// The most records kept per org: the oldest go first.
pub const MAX_RECORDS: usize = 10_000;

/// The most folds held between flushes. Past it (a flood from many
/// sources), further sources' failures are folded into one record whose
/// source is [`OTHER_SOURCES`].
pub const MAX_PENDING: usize = 4096;

/// The source of the fold that takes failures past [`MAX_PENDING`].
pub const OTHER_SOURCES: &str = "*";

/// The reason a throttled request is recorded with.
pub const THROTTLED: &str = "throttled after repeated failures";

/// A credential that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credential {
    /// An admin API token.
    AdminToken,
    /// The dynamic SCEP challenge URL's Basic auth.
    ChallengeUrl,
    /// A SCEP PKIOperation (its challenge, or the message itself).
    ScepRequest,
    /// A device API request's signature.
    DeviceSignature,
    /// An enrollment token presented to register a device.
    EnrollmentToken,
}

impl Credential {
    /// Its name in records and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::AdminToken => "adminToken",
            Self::ChallengeUrl => "challengeUrl",
            Self::ScepRequest => "scepRequest",
            Self::DeviceSignature => "deviceSignature",
            Self::EnrollmentToken => "enrollmentToken",
        }
    }

    /// The System Log event type of its failures.
    pub fn event_type(name: &str) -> &'static str {
        match name {
            "adminToken" => "system.api_token.authenticate",
            "challengeUrl" => "pki.scep.challenge_url.authenticate",
            "scepRequest" => "pki.scep.request.authenticate",
            "deviceSignature" => "device.signature.authenticate",
            "enrollmentToken" => "device.enrollment.authenticate",
            _ => "security.authenticate",
        }
    }
}

type Key = (Credential, String, String, String);

/// Failures being folded, and where they are flushed.
pub struct AuthFailureLog {
    store: Arc<Database>,
    org: OrgId,
    pending: Mutex<HashMap<Key, Fold>>,
    flush_scheduled: AtomicBool,
}

impl std::fmt::Debug for AuthFailureLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFailureLog")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Fold {
    record: AuthFailureRecord,
    /// Changed since it was last written.
    dirty: bool,
}

impl AuthFailureLog {
    /// An empty log of `org`'s failures, flushed to `store`.
    pub fn new(store: Arc<Database>, org: OrgId) -> Self {
        Self {
            store,
            org,
            pending: Mutex::new(HashMap::new()),
            flush_scheduled: AtomicBool::new(false),
        }
    }

    /// Records one failure. True when no flush is scheduled yet: the
    /// caller should schedule one ([`AuthFailureLog::flush`] soon).
    pub fn failed(
        &self,
        credential: Credential,
        source: &str,
        route: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> bool {
        self.fold(credential, source, route, reason, now, |r| {
            r.failures = r.failures.saturating_add(1);
        })
    }

    /// Records one request refused (429) without its credential being
    /// looked at; see [`AuthFailureLog::failed`].
    pub fn throttled(
        &self,
        credential: Credential,
        source: &str,
        route: &str,
        now: OffsetDateTime,
    ) -> bool {
        self.fold(credential, source, route, THROTTLED, now, |r| {
            r.throttled = r.throttled.saturating_add(1);
        })
    }

    fn fold(
        &self,
        credential: Credential,
        source: &str,
        route: &str,
        reason: &str,
        now: OffsetDateTime,
        count: impl FnOnce(&mut AuthFailureRecord),
    ) -> bool {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut key: Key = (
            credential,
            source.to_owned(),
            route.to_owned(),
            reason.to_owned(),
        );
        if !pending.contains_key(&key) && pending.len() >= MAX_PENDING {
            key.1 = OTHER_SOURCES.to_owned();
        }
        let kept_source = key.1.clone();
        let fold = pending.entry(key).or_insert_with(|| Fold {
            record: AuthFailureRecord {
                id: fold_id(),
                org: self.org.clone(),
                credential: credential.name().to_owned(),
                source: kept_source,
                route: route.to_owned(),
                reason: reason.to_owned(),
                failures: 0,
                throttled: 0,
                first: now,
                last: now,
            },
            dirty: true,
        });
        count(&mut fold.record);
        fold.record.last = now;
        fold.dirty = true;
        !self.flush_scheduled.swap(true, Ordering::AcqRel)
    }

    /// Writes the folds changed since the last flush, in one transaction,
    /// and forgets those whose window has ended. On a store failure they
    /// stay, for the next flush.
    pub fn flush(&self, now: OffsetDateTime) -> Result<(), devicetrust_store::Error> {
        self.flush_scheduled.store(false, Ordering::Release);
        let dirty: Vec<(Key, AuthFailureRecord)> = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let dirty = pending
                .iter_mut()
                .filter(|(_, f)| f.dirty)
                .map(|(key, f)| {
                    f.dirty = false;
                    (key.clone(), f.record.clone())
                })
                .collect();
            pending.retain(|_, f| f.dirty || f.record.first + FOLD_WINDOW > now);
            dirty
        };
        if dirty.is_empty() {
            return Ok(());
        }
        let records: Vec<AuthFailureRecord> = dirty.iter().map(|(_, r)| r.clone()).collect();
        let written = self
            .store
            .write(|tx| tx.put_auth_failures(&self.org, &records, MAX_RECORDS));
        if let Err(e) = written {
            // Kept for the next flush: marked again, or put back if their
            // window ended meanwhile (a newer fold of the key stays).
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (key, record) in dirty {
                pending
                    .entry(key)
                    .and_modify(|f| f.dirty = true)
                    .or_insert(Fold {
                        record,
                        dirty: true,
                    });
            }
            return Err(e);
        }
        Ok(())
    }

    /// `org`'s stored records whose last failure is in `[since, until)`, latest first.
    pub fn stored(
        &self,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuthFailureRecord>, devicetrust_store::Error> {
        self.store
            .read(|tx| tx.auth_failures(&self.org, since, until, limit))
    }
}

fn fold_id() -> String {
    let mut raw = [0u8; 10];
    match getrandom::fill(&mut raw) {
        Ok(()) => format!("aft{}", hex::encode(raw)),
        // A log row still needs an ID; the clock is unique enough for one.
        Err(_) => format!("aft{:x}", OffsetDateTime::now_utc().unix_timestamp_nanos()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "tests: a panic is a failed test"
    )]

    use super::*;
    use devicetrust_store::SqliteStore;

    fn log() -> (tempfile::TempDir, AuthFailureLog) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Database::Sqlite(
            SqliteStore::open(&dir.path().join("db")).unwrap(),
        ));
        (
            dir,
            AuthFailureLog::new(store, OrgId::new("default").unwrap()),
        )
    }

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-12-08 09:14 UTC)
    }

    #[test]
    fn failures_fold_per_source_and_window_and_a_flush_is_asked_for_once() {
        let (_dir, log) = log();
        let admin = Credential::AdminToken;
        assert!(log.failed(admin, "192.0.2.1", "/api/v1/devices", "invalid token", t0()));
        assert!(!log.failed(admin, "192.0.2.1", "/api/v1/devices", "invalid token", t0()));
        log.failed(admin, "192.0.2.2", "/api/v1/devices", "invalid token", t0());
        log.throttled(admin, "192.0.2.1", "/api/v1/devices", t0());
        log.flush(t0()).unwrap();
        // Another failure in the window updates the same record.
        let later = t0() + Duration::seconds(30);
        assert!(log.failed(
            admin,
            "192.0.2.1",
            "/api/v1/devices",
            "invalid token",
            later
        ));
        log.flush(later).unwrap();
        let stored = log.stored(t0(), None, 100).unwrap();
        let of = |source: &str, reason: &str| {
            stored
                .iter()
                .find(|r| r.source == source && r.reason == reason)
                .map(|r| (r.failures, r.throttled))
        };
        assert_eq!(stored.len(), 3, "{stored:?}");
        assert_eq!(of("192.0.2.1", "invalid token"), Some((3, 0)));
        assert_eq!(of("192.0.2.2", "invalid token"), Some((1, 0)));
        assert_eq!(of("192.0.2.1", THROTTLED), Some((0, 1)));
        // After the window, a failure starts a new record.
        let next = t0() + FOLD_WINDOW + Duration::seconds(1);
        log.flush(next).unwrap();
        log.failed(admin, "192.0.2.1", "/api/v1/devices", "invalid token", next);
        log.flush(next).unwrap();
        assert_eq!(log.stored(t0(), None, 100).unwrap().len(), 4);
    }

    /// A write that fails keeps what it was writing for the next flush,
    /// even folds whose window ended meanwhile.
    #[test]
    fn a_failed_flush_keeps_its_folds_for_the_next() {
        let (dir, log) = log();
        log.failed(
            Credential::ChallengeUrl,
            "192.0.2.9",
            "/scep/c/mscep_admin/",
            "wrong",
            t0(),
        );
        let side = rusqlite::Connection::open(dir.path().join("db")).unwrap();
        side.execute_batch("ALTER TABLE auth_failures RENAME TO hidden")
            .unwrap();
        let after_window = t0() + FOLD_WINDOW + Duration::seconds(1);
        assert!(log.flush(after_window).is_err());
        side.execute_batch("ALTER TABLE hidden RENAME TO auth_failures")
            .unwrap();
        log.flush(after_window).unwrap();
        let stored = log.stored(t0(), None, 10).unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].failures, 1);
    }

    #[test]
    fn a_flood_of_sources_is_held_in_bounded_memory() {
        let (_dir, log) = log();
        for i in 0..MAX_PENDING + 100 {
            log.failed(
                Credential::DeviceSignature,
                &format!("10.0.{}.{}", i / 256, i % 256),
                "/device/v1/me",
                "bad signature",
                t0(),
            );
        }
        assert_eq!(log.pending.lock().unwrap().len(), MAX_PENDING + 1);
        log.flush(t0()).unwrap();
        let other = log
            .stored(t0(), None, MAX_RECORDS)
            .unwrap()
            .into_iter()
            .find(|r| r.source == OTHER_SOURCES)
            .unwrap();
        assert_eq!(other.failures, 100);
    }
}
