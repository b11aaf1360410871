//! SCEP state in the store, per configuration, on any engine: its
//! transactions (transactionID → in progress, pending, issued certificate,
//! refusal) and its one-time dynamic challenges (as digests). The rules are
//! here once, over [`Tx`] primitives; every check and the change it guards
//! share one database transaction, so a transaction is decided once and a
//! challenge used once, across restarts and, on a shared database, across
//! replicas.

use std::fmt;
use std::sync::Arc;

use devicetrust_pki::IssuanceLedger;
use devicetrust_pki::IssuedCertificate;
use devicetrust_pki::scep::{
    ChallengeError, ChallengeUse, Claim, Expected, OneTimeChallenges, ScepTransactions,
    TransactionError, TransactionLimits, TransactionRecord, TransactionState, claim_is_abandoned,
    finish_issued_in_two_steps,
};
use time::OffsetDateTime;

use crate::{Error, Result, Store, Tx};

/// The SCEP transactions of one configuration, in a store.
pub struct StoredScepTransactions<S> {
    store: Arc<S>,
    configuration_id: String,
}

/// The one-time challenges of one dynamic SCEP configuration, in a store.
pub struct StoredChallenges<S> {
    store: Arc<S>,
    configuration_id: String,
}

impl<S> Clone for StoredScepTransactions<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            configuration_id: self.configuration_id.clone(),
        }
    }
}

impl<S> fmt::Debug for StoredScepTransactions<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredScepTransactions")
            .field("configuration_id", &self.configuration_id)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for StoredChallenges<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredChallenges")
            .field("configuration_id", &self.configuration_id)
            .finish_non_exhaustive()
    }
}

fn to_transaction_error(e: Error) -> TransactionError {
    match e {
        Error::LimitReached { limit, .. } => TransactionError::Full { limit },
        other => TransactionError::Storage(Box::new(other)),
    }
}

fn to_challenge_error(e: Error) -> ChallengeError {
    match e {
        Error::LimitReached { limit, .. } => ChallengeError::Full { capacity: limit },
        other => ChallengeError::Unavailable(other.to_string()),
    }
}

impl<S: Store> StoredScepTransactions<S> {
    /// The transactions of configuration `configuration_id` in `store`.
    pub fn new(store: Arc<S>, configuration_id: &str) -> Self {
        Self {
            store,
            configuration_id: configuration_id.to_owned(),
        }
    }

    /// The configuration these belong to.
    pub fn configuration_id(&self) -> &str {
        &self.configuration_id
    }

    /// How many transactions of this configuration are kept.
    pub fn count(&self) -> Result<usize> {
        self.store
            .read(|tx| tx.scep_transaction_count(&self.configuration_id))
    }

    /// Sets the state of `transaction_id` if it is `expected`, in the
    /// caller's transaction; the record as it was, or `None` (nothing
    /// changed) when unknown or in another state.
    fn replace_state(
        &self,
        tx: &mut dyn Tx,
        transaction_id: &str,
        expected: Expected<'_>,
        state: TransactionState,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>> {
        let Some(before) = tx.scep_transaction(&self.configuration_id, transaction_id)? else {
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
        tx.put_scep_transaction(&self.configuration_id, &after)?;
        Ok(Some(before))
    }

    /// Drops finished transactions past the retention, then the oldest
    /// finished ones while at the bound; `LimitReached` if still at it.
    fn make_room(
        &self,
        tx: &mut dyn Tx,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<()> {
        let config = self.configuration_id.as_str();
        let cutoff = now - limits.retention;
        tx.forget_finished_scep_transactions(config, cutoff, 0)?;
        let max = limits.max_transactions.max(1);
        let held = tx.scep_transaction_count(config)?;
        if held < max {
            return Ok(());
        }
        tx.forget_finished_scep_transactions(config, cutoff, held - max + 1)?;
        if tx.scep_transaction_count(config)? >= max {
            return Err(Error::LimitReached {
                what: "scep transactions in progress or pending",
                limit: limits.max_transactions,
            });
        }
        Ok(())
    }
}

impl<S: Store + IssuanceLedger + 'static> ScepTransactions for StoredScepTransactions<S> {
    fn claim(
        &self,
        transaction_id: &str,
        key_sha256: &str,
        claim: &str,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<Claim, TransactionError> {
        let config = self.configuration_id.as_str();
        let in_progress = TransactionState::InProgress {
            claim: claim.to_owned(),
        };
        // Relaxed: the claim is atomic and every process sees it when this
        // returns, but it need not be durable on its own. Everything it
        // guards (the certificate, the outcome) commits durably after it,
        // so a crash that loses the claim loses all of that too: nothing
        // was issued or answered under it.
        self.store
            .write_relaxed(|tx| {
                if let Some(mut existing) = tx.scep_transaction(config, transaction_id)? {
                    if !claim_is_abandoned(&existing, key_sha256, now, limits.claim_timeout) {
                        return Ok(Claim::Existing(existing));
                    }
                    existing.state = in_progress;
                    existing.updated = now;
                    tx.put_scep_transaction(config, &existing)?;
                    return Ok(Claim::Claimed);
                }
                self.make_room(tx, now, limits)?;
                tx.put_scep_transaction(
                    config,
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
            .write(|tx| self.replace_state(tx, transaction_id, expected, state, now))
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
        // deployment's own CA); any other ledger is recorded in two steps.
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
            .write(|tx| {
                let issued = TransactionState::Issued {
                    certificate_pem: certificate.certificate_pem.clone(),
                };
                let before =
                    self.replace_state(tx, transaction_id, Expected::Claim(claim), issued, now)?;
                // Same transaction: a ledger refusal undoes the outcome too.
                if before.is_some() {
                    tx.ledger_record_issued(certificate)?;
                }
                Ok(before)
            })
            .map_err(to_transaction_error)
    }

    fn release(&self, transaction_id: &str, claim: &str) -> Result<bool, TransactionError> {
        let config = self.configuration_id.as_str();
        self.store
            .write(|tx| {
                let held = tx
                    .scep_transaction(config, transaction_id)?
                    .is_some_and(|r| Expected::Claim(claim).matches(&r.state));
                if held {
                    tx.delete_scep_transaction(config, transaction_id)?;
                }
                Ok(held)
            })
            .map_err(to_transaction_error)
    }

    fn get(&self, transaction_id: &str) -> Result<Option<TransactionRecord>, TransactionError> {
        self.store
            .read(|tx| tx.scep_transaction(&self.configuration_id, transaction_id))
            .map_err(to_transaction_error)
    }

    fn pending(&self, limit: usize) -> Result<Vec<TransactionRecord>, TransactionError> {
        self.store
            .read(|tx| tx.pending_scep_transactions(&self.configuration_id, limit))
            .map_err(to_transaction_error)
    }
}

impl<S: Store> StoredChallenges<S> {
    /// The one-time challenges of configuration `configuration_id` in `store`.
    pub fn new(store: Arc<S>, configuration_id: &str) -> Self {
        Self {
            store,
            configuration_id: configuration_id.to_owned(),
        }
    }
}

impl<S: Store + 'static> OneTimeChallenges for StoredChallenges<S> {
    fn insert(
        &self,
        digest: &[u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        capacity: usize,
    ) -> Result<(), ChallengeError> {
        let config = self.configuration_id.as_str();
        let digest = hex::encode(digest);
        self.store
            .write(|tx| {
                // Expired challenges are useless, used or not: swept on every
                // insert, so the table holds at most `capacity` live ones.
                tx.forget_expired_scep_challenges(config, now)?;
                if tx.scep_challenge_count(config)? >= capacity {
                    return Err(Error::LimitReached {
                        what: "outstanding scep challenges",
                        limit: capacity,
                    });
                }
                tx.insert_scep_challenge(config, &digest, expires_at)
            })
            .map_err(to_challenge_error)
    }

    fn consume(
        &self,
        digest: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<ChallengeUse, ChallengeError> {
        let digest = hex::encode(digest);
        self.store
            .write(|tx| tx.use_scep_challenge(&self.configuration_id, &digest, now))
            .map_err(to_challenge_error)
    }

    fn held(&self) -> Result<usize, ChallengeError> {
        self.store
            .read(|tx| tx.scep_challenge_count(&self.configuration_id))
            .map_err(to_challenge_error)
    }
}
