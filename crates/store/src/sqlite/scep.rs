//! SCEP state on the database, per configuration: its transactions
//! (transactionID → in progress, pending, issued certificate, refusal) and
//! its one-time dynamic challenges (as digests). Kept here, every check and
//! the change it guards share one database transaction, so a transaction is
//! decided once and a challenge used once, across restarts.

use std::sync::Arc;

use devicetrust_devices::{from_unix_millis, unix_millis};
use devicetrust_pki::scep::{
    ChallengeError, ChallengeUse, Claim, Expected, OneTimeChallenges, ScepTransactions,
    TransactionError, TransactionLimits, TransactionRecord, TransactionState, claim_is_abandoned,
    finish_issued_in_two_steps,
};
use devicetrust_pki::{IssuanceLedger, IssuedCertificate};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::{Durability, SqliteStore};
use crate::{Error, Result, Tx as _};

/// The SCEP transactions of one configuration, on a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteScepTransactions {
    store: Arc<SqliteStore>,
    configuration_id: String,
}

/// The one-time challenges of one dynamic SCEP configuration, on a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteChallenges {
    store: Arc<SqliteStore>,
    configuration_id: String,
}

impl SqliteStore {
    /// The SCEP transactions of configuration `configuration_id`.
    pub fn scep_transactions(self: &Arc<Self>, configuration_id: &str) -> SqliteScepTransactions {
        SqliteScepTransactions {
            store: self.clone(),
            configuration_id: configuration_id.to_owned(),
        }
    }

    /// The one-time challenges of configuration `configuration_id`.
    pub fn scep_challenges(self: &Arc<Self>, configuration_id: &str) -> SqliteChallenges {
        SqliteChallenges {
            store: self.clone(),
            configuration_id: configuration_id.to_owned(),
        }
    }
}

fn to_transaction_error(e: Error) -> TransactionError {
    match e {
        Error::LimitReached { limit, .. } => TransactionError::Full { limit },
        other => TransactionError::Storage(Box::new(other)),
    }
}

fn encode(record: &TransactionRecord) -> Result<String> {
    serde_json::to_string(record).map_err(|e| Error::Corrupt {
        what: "scep transaction",
        reason: e.to_string(),
    })
}

fn decode(text: &str) -> Result<TransactionRecord> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what: "scep transaction",
        reason: e.to_string(),
    })
}

impl SqliteScepTransactions {
    /// The configuration these belong to.
    pub fn configuration_id(&self) -> &str {
        &self.configuration_id
    }

    /// How many transactions of this configuration are kept.
    pub fn count(&self) -> Result<usize> {
        self.store.transact(true, |tx| self.count_in(tx.conn()))
    }

    /// The count the triggers keep (one row read, where counting the rows
    /// costs up to the bound).
    fn count_in(&self, conn: &Connection) -> Result<usize> {
        let n: Option<i64> = conn
            .prepare_cached("SELECT held FROM scep_transaction_counts WHERE configuration_id = ?1")
            .and_then(|mut s| {
                s.query_row(params![self.configuration_id], |r| r.get(0))
                    .optional()
            })
            .map_err(Error::storage("counting scep transactions"))?;
        Ok(usize::try_from(n.unwrap_or(0)).unwrap_or(usize::MAX))
    }

    fn read(&self, conn: &Connection, transaction_id: &str) -> Result<Option<TransactionRecord>> {
        let text: Option<String> = conn
            .prepare_cached(
                "SELECT body FROM scep_transactions
                 WHERE configuration_id = ?1 AND transaction_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![self.configuration_id, transaction_id], |r| r.get(0))
                    .optional()
            })
            .map_err(Error::storage("reading a scep transaction"))?;
        text.map(|t| decode(&t)).transpose()
    }

    fn write(&self, conn: &Connection, record: &TransactionRecord) -> Result<()> {
        let body = encode(record)?;
        conn.prepare_cached(
            "INSERT INTO scep_transactions
                 (configuration_id, transaction_id, state, updated_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (configuration_id, transaction_id) DO UPDATE SET
                 state = excluded.state, updated_ms = excluded.updated_ms, body = excluded.body",
        )
        .and_then(|mut s| {
            s.execute(params![
                self.configuration_id,
                record.transaction_id,
                record.state.name(),
                unix_millis(record.updated),
                body,
            ])
        })
        .map_err(Error::storage("writing a scep transaction"))?;
        Ok(())
    }

    /// Sets the state of `transaction_id` if it is `expected`, in the
    /// caller's transaction; the record as it was, or `None` (nothing
    /// changed) when unknown or in another state.
    fn replace_state(
        &self,
        conn: &Connection,
        transaction_id: &str,
        expected: Expected<'_>,
        state: TransactionState,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>> {
        let Some(before) = self.read(conn, transaction_id)? else {
            return Ok(None);
        };
        if !expected.matches(&before.state) {
            return Ok(None);
        }
        let after = TransactionRecord {
            state,
            updated: now,
            ..before.clone()
        };
        self.write(conn, &after)?;
        Ok(Some(before))
    }

    /// Drops finished transactions past the retention, then the oldest
    /// finished ones while at the bound; `LimitReached` if still at it.
    fn make_room(
        &self,
        conn: &Connection,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<()> {
        let cutoff = unix_millis(now - limits.retention);
        conn.prepare_cached(
            "DELETE FROM scep_transactions
             WHERE configuration_id = ?1 AND state IN ('issued', 'rejected') AND updated_ms <= ?2",
        )
        .and_then(|mut s| s.execute(params![self.configuration_id, cutoff]))
        .map_err(Error::storage("pruning scep transactions"))?;
        let max = limits.max_transactions.max(1);
        let held = self.count_in(conn)?;
        if held < max {
            return Ok(());
        }
        let excess = i64::try_from(held - max + 1).unwrap_or(i64::MAX);
        conn.prepare_cached(
            "DELETE FROM scep_transactions
             WHERE configuration_id = ?1 AND transaction_id IN (
                 SELECT transaction_id FROM scep_transactions
                 WHERE configuration_id = ?1 AND state IN ('issued', 'rejected')
                 ORDER BY updated_ms LIMIT ?2)",
        )
        .and_then(|mut s| s.execute(params![self.configuration_id, excess]))
        .map_err(Error::storage("pruning scep transactions"))?;
        if self.count_in(conn)? >= max {
            return Err(Error::LimitReached {
                what: "scep transactions in progress or pending",
                limit: limits.max_transactions,
            });
        }
        Ok(())
    }
}

impl ScepTransactions for SqliteScepTransactions {
    fn claim(
        &self,
        transaction_id: &str,
        key_sha256: &str,
        claim: &str,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<Claim, TransactionError> {
        let in_progress = TransactionState::InProgress {
            claim: claim.to_owned(),
        };
        // Relaxed: the claim is atomic and every process sees it when this
        // returns, but it is not fsynced on its own. Everything it guards
        // (the certificate, the outcome) commits durably after it, so a
        // power cut that loses the claim loses all of that too: nothing was
        // issued or answered under it.
        self.store
            .write_grouped(Durability::Relaxed, |tx| {
                let conn = tx.conn_for_write()?;
                if let Some(mut existing) = self.read(conn, transaction_id)? {
                    if !claim_is_abandoned(&existing, key_sha256, now, limits.claim_timeout) {
                        return Ok(Claim::Existing(existing));
                    }
                    existing.state = in_progress;
                    existing.updated = now;
                    self.write(conn, &existing)?;
                    return Ok(Claim::Claimed);
                }
                self.make_room(conn, now, limits)?;
                self.write(
                    conn,
                    &TransactionRecord {
                        transaction_id: transaction_id.to_owned(),
                        key_sha256: key_sha256.to_owned(),
                        state: in_progress,
                        created: now,
                        updated: now,
                    },
                )?;
                Ok(Claim::Claimed)
            })
            .map_err(to_transaction_error)
    }

    fn update(
        &self,
        transaction_id: &str,
        expected: Expected<'_>,
        state: TransactionState,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>, TransactionError> {
        self.store
            .transact(false, |tx| {
                self.replace_state(tx.conn_for_write()?, transaction_id, expected, state, now)
            })
            .map_err(to_transaction_error)
    }

    fn finish_issued(
        &self,
        transaction_id: &str,
        claim: &str,
        certificate: &IssuedCertificate,
        ledger: &dyn IssuanceLedger,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>, TransactionError> {
        // One transaction only when the CA's ledger is this very store (the
        // data folder's CA); any other ledger is recorded in two steps.
        if !std::ptr::addr_eq(ledger, Arc::as_ptr(&self.store)) {
            return finish_issued_in_two_steps(
                self,
                transaction_id,
                claim,
                certificate,
                ledger,
                now,
            );
        }
        self.store
            .transact(false, |tx| {
                let issued = TransactionState::Issued {
                    certificate_pem: certificate.certificate_pem.clone(),
                };
                let before = self.replace_state(
                    tx.conn_for_write()?,
                    transaction_id,
                    Expected::Claim(claim),
                    issued,
                    now,
                )?;
                // Same transaction: a ledger refusal undoes the outcome too.
                if before.is_some() {
                    tx.ledger_record_issued(certificate)?;
                }
                Ok(before)
            })
            .map_err(to_transaction_error)
    }

    fn release(&self, transaction_id: &str, claim: &str) -> Result<bool, TransactionError> {
        self.store
            .transact(false, |tx| {
                let conn = tx.conn_for_write()?;
                let held = self
                    .read(conn, transaction_id)?
                    .is_some_and(|r| Expected::Claim(claim).matches(&r.state));
                if held {
                    conn.prepare_cached(
                        "DELETE FROM scep_transactions
                         WHERE configuration_id = ?1 AND transaction_id = ?2",
                    )
                    .and_then(|mut s| s.execute(params![self.configuration_id, transaction_id]))
                    .map_err(Error::storage("releasing a scep transaction"))?;
                }
                Ok(held)
            })
            .map_err(to_transaction_error)
    }

    fn get(&self, transaction_id: &str) -> Result<Option<TransactionRecord>, TransactionError> {
        self.store
            .transact(true, |tx| self.read(tx.conn(), transaction_id))
            .map_err(to_transaction_error)
    }

    fn pending(&self, limit: usize) -> Result<Vec<TransactionRecord>, TransactionError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store
            .transact(true, |tx| {
                let mut stmt = tx
                    .conn()
                    .prepare_cached(
                        "SELECT body FROM scep_transactions
                         WHERE configuration_id = ?1 AND state = 'pending'
                         ORDER BY updated_ms LIMIT ?2",
                    )
                    .map_err(Error::storage("listing pending scep transactions"))?;
                let rows = stmt
                    .query_map(params![self.configuration_id, limit], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(Error::storage("listing pending scep transactions"))?;
                let mut out = Vec::new();
                for row in rows {
                    let text = row.map_err(Error::storage("listing pending scep transactions"))?;
                    out.push(decode(&text)?);
                }
                Ok(out)
            })
            .map_err(to_transaction_error)
    }
}

fn to_challenge_error(e: Error) -> ChallengeError {
    match e {
        Error::LimitReached { limit, .. } => ChallengeError::Full { capacity: limit },
        other => ChallengeError::Unavailable(other.to_string()),
    }
}

impl SqliteChallenges {
    fn count_in(&self, conn: &Connection) -> Result<usize> {
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM scep_challenges WHERE configuration_id = ?1")
            .and_then(|mut s| s.query_row(params![self.configuration_id], |r| r.get(0)))
            .map_err(Error::storage("counting scep challenges"))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

impl OneTimeChallenges for SqliteChallenges {
    fn insert(
        &self,
        digest: &[u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        capacity: usize,
    ) -> Result<(), ChallengeError> {
        self.store
            .transact(false, |tx| {
                let conn = tx.conn_for_write()?;
                // Expired challenges are useless, used or not: swept on every
                // insert, so the table holds at most `capacity` live ones.
                conn.prepare_cached(
                    "DELETE FROM scep_challenges WHERE configuration_id = ?1 AND expires_ms <= ?2",
                )
                .and_then(|mut s| s.execute(params![self.configuration_id, unix_millis(now)]))
                .map_err(Error::storage("pruning scep challenges"))?;
                if self.count_in(conn)? >= capacity {
                    return Err(Error::LimitReached {
                        what: "outstanding scep challenges",
                        limit: capacity,
                    });
                }
                conn.prepare_cached(
                    "INSERT INTO scep_challenges (configuration_id, digest, used, expires_ms)
                     VALUES (?1, ?2, 0, ?3)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        self.configuration_id,
                        hex_digest(digest),
                        unix_millis(expires_at)
                    ])
                })
                .map_err(Error::storage("storing a scep challenge"))?;
                Ok(())
            })
            .map_err(to_challenge_error)
    }

    fn consume(
        &self,
        digest: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<ChallengeUse, ChallengeError> {
        let digest = hex_digest(digest);
        self.store
            .transact(false, |tx| {
                let conn = tx.conn_for_write()?;
                // The check and the use are one statement: a challenge is
                // used at most once however many requests carry it.
                let used = conn
                    .prepare_cached(
                        "UPDATE scep_challenges SET used = 1
                         WHERE configuration_id = ?1 AND digest = ?2 AND used = 0
                           AND expires_ms > ?3",
                    )
                    .and_then(|mut s| {
                        s.execute(params![self.configuration_id, digest, unix_millis(now)])
                    })
                    .map_err(Error::storage("using a scep challenge"))?;
                if used == 1 {
                    return Ok(ChallengeUse::Consumed);
                }
                let found: Option<(i64, i64)> = conn
                    .prepare_cached(
                        "SELECT used, expires_ms FROM scep_challenges
                         WHERE configuration_id = ?1 AND digest = ?2",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![self.configuration_id, digest], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()
                    })
                    .map_err(Error::storage("reading a scep challenge"))?;
                Ok(match found {
                    None => ChallengeUse::Unknown,
                    Some((used, _)) if used != 0 => ChallengeUse::AlreadyUsed,
                    Some((_, expires_ms)) => ChallengeUse::Expired {
                        expired_at: from_unix_millis(expires_ms).unwrap_or(now),
                    },
                })
            })
            .map_err(to_challenge_error)
    }

    fn held(&self) -> Result<usize, ChallengeError> {
        self.store
            .transact(true, |tx| self.count_in(tx.conn()))
            .map_err(to_challenge_error)
    }
}

fn hex_digest(digest: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _infallible = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "tests: a panic is a failed test"
    )]

    use super::*;

    fn counted(store: &Arc<SqliteStore>, configuration_id: &str) -> (usize, usize) {
        let inner = store.lock().unwrap();
        let rows: i64 = inner
            .conn
            .query_row(
                "SELECT COUNT(*) FROM scep_transactions WHERE configuration_id = ?1",
                [configuration_id],
                |r| r.get(0),
            )
            .unwrap();
        drop(inner);
        let kept = store.scep_transactions(configuration_id).count().unwrap();
        (usize::try_from(rows).unwrap(), kept)
    }

    /// The kept count follows every insert and delete: claims, takeovers,
    /// outcomes, releases and pruning, per configuration.
    #[test]
    fn the_kept_count_is_the_row_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let now = OffsetDateTime::now_utc();
        let limits = TransactionLimits {
            max_transactions: 5,
            retention: time::Duration::days(1),
            claim_timeout: time::Duration::minutes(5),
        };
        let issued = TransactionState::Issued {
            certificate_pem: "pem".into(),
        };
        for (config, rounds) in [("a", 12), ("b", 3)] {
            let txs = store.scep_transactions(config);
            for i in 0..rounds {
                let id = format!("tx{i}");
                let claim = format!("c{i}");
                assert_eq!(
                    txs.claim(&id, "key", &claim, now, &limits).unwrap(),
                    Claim::Claimed
                );
                // A copy finds it: no row added.
                assert!(matches!(
                    txs.claim(&id, "key", "other", now, &limits).unwrap(),
                    Claim::Existing(_)
                ));
                if i % 3 == 2 {
                    assert!(txs.release(&id, &claim).unwrap());
                } else {
                    txs.update(&id, Expected::Claim(&claim), issued.clone(), now)
                        .unwrap()
                        .unwrap();
                }
                let (rows, kept) = counted(&store, config);
                assert_eq!(rows, kept, "{config} after {i}");
                assert!(kept <= limits.max_transactions, "pruned to the bound");
            }
        }
        assert_eq!(
            counted(&store, "a").1,
            4,
            "the bound's room, one left for a claim"
        );
        assert_eq!(counted(&store, "b").1, 2);
        assert_eq!(counted(&store, "none"), (0, 0));
    }

    /// A database from before the counts (schema 6) gets them from its rows.
    #[test]
    fn the_migration_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let now = OffsetDateTime::now_utc();
        let limits = TransactionLimits {
            max_transactions: 100,
            retention: time::Duration::days(1),
            claim_timeout: time::Duration::minutes(5),
        };
        {
            let store = Arc::new(SqliteStore::open(&path).unwrap());
            for (config, n) in [("a", 3), ("b", 7)] {
                let txs = store.scep_transactions(config);
                for i in 0..n {
                    txs.claim(&format!("tx{i}"), "key", "c", now, &limits)
                        .unwrap();
                }
            }
            // Back to schema 6, rows kept.
            let inner = store.lock().unwrap();
            inner
                .conn
                .execute_batch(
                    "DROP TRIGGER scep_transactions_counted_in;
                     DROP TRIGGER scep_transactions_counted_out;
                     DROP TABLE scep_transaction_counts;
                     DELETE FROM schema_migrations WHERE version = 7;",
                )
                .unwrap();
        }
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        assert_eq!(counted(&store, "a"), (3, 3));
        assert_eq!(counted(&store, "b"), (7, 7));
    }
}
