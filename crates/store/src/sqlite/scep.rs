//! SCEP state on SQLite: the [`crate::Tx`] primitives the engine-generic
//! rules (`crate::scep`) run on. A configuration's transaction count is
//! kept by triggers (migration 7), so a claim reads one row instead of
//! counting up to the bound.

use devicetrust_devices::{from_unix_millis, unix_millis};
use devicetrust_pki::scep::{ChallengeUse, TransactionRecord};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::tx::SqliteTx;
use crate::columns::{decode, encode, to_count};
use crate::{Error, Result};

impl SqliteTx<'_> {
    pub(super) fn scep_transaction_row(
        &self,
        configuration: &str,
        transaction_id: &str,
    ) -> Result<Option<TransactionRecord>> {
        let text: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT body FROM scep_transactions
                 WHERE configuration_id = ?1 AND transaction_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![configuration, transaction_id], |r| r.get(0))
                    .optional()
            })
            .map_err(Error::storage("reading a scep transaction"))?;
        text.map(|t| decode("scep transaction", &t)).transpose()
    }

    pub(super) fn put_scep_transaction_row(
        &self,
        configuration: &str,
        record: &TransactionRecord,
    ) -> Result<()> {
        self.exec(
            "writing a scep transaction",
            "INSERT INTO scep_transactions
                 (configuration_id, transaction_id, state, updated_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (configuration_id, transaction_id) DO UPDATE SET
                 state = excluded.state, updated_ms = excluded.updated_ms, body = excluded.body",
            params![
                configuration,
                record.transaction_id,
                record.state.name(),
                unix_millis(record.updated),
                encode("scep transaction", record)?,
            ],
        )?;
        Ok(())
    }

    pub(super) fn delete_scep_transaction_row(
        &self,
        configuration: &str,
        transaction_id: &str,
    ) -> Result<()> {
        self.exec(
            "releasing a scep transaction",
            "DELETE FROM scep_transactions WHERE configuration_id = ?1 AND transaction_id = ?2",
            params![configuration, transaction_id],
        )?;
        Ok(())
    }

    /// The count the triggers keep (one row read).
    pub(super) fn scep_transaction_count_row(&self, configuration: &str) -> Result<usize> {
        let n: Option<i64> = self
            .conn()
            .prepare_cached("SELECT held FROM scep_transaction_counts WHERE configuration_id = ?1")
            .and_then(|mut s| s.query_row(params![configuration], |r| r.get(0)).optional())
            .map_err(Error::storage("counting scep transactions"))?;
        Ok(to_count(n.unwrap_or(0)))
    }

    pub(super) fn forget_finished_scep_transaction_rows(
        &self,
        configuration: &str,
        updated_by: OffsetDateTime,
        oldest: usize,
    ) -> Result<()> {
        self.exec(
            "pruning scep transactions",
            "DELETE FROM scep_transactions
             WHERE configuration_id = ?1 AND state IN ('issued', 'rejected') AND updated_ms <= ?2",
            params![configuration, unix_millis(updated_by)],
        )?;
        if oldest > 0 {
            self.exec(
                "pruning scep transactions",
                "DELETE FROM scep_transactions
                 WHERE configuration_id = ?1 AND transaction_id IN (
                     SELECT transaction_id FROM scep_transactions
                     WHERE configuration_id = ?1 AND state IN ('issued', 'rejected')
                     ORDER BY updated_ms LIMIT ?2)",
                params![configuration, i64::try_from(oldest).unwrap_or(i64::MAX)],
            )?;
        }
        Ok(())
    }

    pub(super) fn pending_scep_transaction_rows(
        &self,
        configuration: &str,
        limit: usize,
    ) -> Result<Vec<TransactionRecord>> {
        const WHAT: &str = "listing pending scep transactions";
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT body FROM scep_transactions
                 WHERE configuration_id = ?1 AND state = 'pending'
                 ORDER BY updated_ms LIMIT ?2",
            )
            .map_err(Error::storage(WHAT))?;
        let rows = stmt
            .query_map(
                params![configuration, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0),
            )
            .map_err(Error::storage(WHAT))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(
                "scep transaction",
                &row.map_err(Error::storage(WHAT))?,
            )?);
        }
        Ok(out)
    }

    pub(super) fn insert_scep_challenge_row(
        &self,
        configuration: &str,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.exec(
            "storing a scep challenge",
            "INSERT INTO scep_challenges (configuration_id, digest, used, expires_ms)
             VALUES (?1, ?2, 0, ?3)",
            params![configuration, digest, unix_millis(expires_at)],
        )?;
        Ok(())
    }

    pub(super) fn forget_expired_scep_challenge_rows(
        &self,
        configuration: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.exec(
            "pruning scep challenges",
            "DELETE FROM scep_challenges WHERE configuration_id = ?1 AND expires_ms <= ?2",
            params![configuration, unix_millis(now)],
        )?;
        Ok(())
    }

    pub(super) fn scep_challenge_count_row(&self, configuration: &str) -> Result<usize> {
        let n: i64 = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM scep_challenges WHERE configuration_id = ?1")
            .and_then(|mut s| s.query_row(params![configuration], |r| r.get(0)))
            .map_err(Error::storage("counting scep challenges"))?;
        Ok(to_count(n))
    }

    pub(super) fn use_scep_challenge_row(
        &self,
        configuration: &str,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse> {
        // The check and the use are one statement.
        let used = self.exec(
            "using a scep challenge",
            "UPDATE scep_challenges SET used = 1
             WHERE configuration_id = ?1 AND digest = ?2 AND used = 0 AND expires_ms > ?3",
            params![configuration, digest, unix_millis(now)],
        )?;
        if used == 1 {
            return Ok(ChallengeUse::Consumed);
        }
        let found: Option<(i64, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT used, expires_ms FROM scep_challenges
                 WHERE configuration_id = ?1 AND digest = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![configuration, digest], |r| {
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
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "tests: a panic is a failed test"
    )]

    use std::sync::Arc;

    use devicetrust_pki::scep::{
        Claim, Expected, ScepTransactions as _, TransactionLimits, TransactionState,
    };
    use time::OffsetDateTime;

    use crate::{SqliteStore, StoredScepTransactions};

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
        let kept = StoredScepTransactions::new(store.clone(), configuration_id)
            .count()
            .unwrap();
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
            let txs = StoredScepTransactions::new(store.clone(), config);
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
                let txs = StoredScepTransactions::new(store.clone(), config);
                for i in 0..n {
                    txs.claim(&format!("tx{i}"), "key", "c", now, &limits)
                        .unwrap();
                }
            }
            // Back to schema 6 (the later migrations undone too), rows kept.
            let inner = store.lock().unwrap();
            inner
                .conn
                .execute_batch(
                    "DROP TRIGGER scep_transactions_counted_in;
                     DROP TRIGGER scep_transactions_counted_out;
                     DROP TABLE scep_transaction_counts;
                     DROP TABLE auth_failures;
                     DELETE FROM schema_migrations WHERE version >= 7;",
                )
                .unwrap();
        }
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        assert_eq!(counted(&store, "a"), (3, 3));
        assert_eq!(counted(&store, "b"), (7, 7));
    }
}
