//! Where SCEP transactions are kept: transactionID → in progress, pending
//! approval, issued certificate, or refusal.
//!
//! The one operation that matters is [`ScepTransactions::claim`]: the first
//! request with a transactionID claims it atomically, and every later copy
//! finds the claim (answered PENDING while in progress) or the outcome (the
//! same certificate, or the same refusal). So exactly one request per
//! transaction reaches the challenge and the CA, however many copies arrive
//! at once, and after a restart when the store is persistent.
//!
//! [`MemoryScepTransactions`] is the default (bounded, in process memory);
//! the store crate keeps them in the database so they survive restarts.
//!
//! # Abandoned claims
//!
//! A claim is held only while one request is handled: a challenge check
//! (whose validator calls end within their HTTP timeouts, seconds) and an
//! issuance (milliseconds). One still in progress after the claim timeout
//! (five minutes by default) was left by a crash, and a resend with the
//! same key may take it over, so a crash never blocks a transaction for
//! good. This is safe because the timeout is far longer than any live
//! request holds a claim, and because only the current holder records an
//! outcome ([`ScepTransactions::update`] expects its claim token): a
//! request that somehow outlived its claim cannot overwrite the outcome of
//! the one that took it over, and is answered with that outcome. The cost
//! of a crash between issuance and recording is at most one more
//! certificate for the same key, never one for another key.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use super::{ChallengeKind, FailInfo};
use crate::{IssuanceLedger, IssuedCertificate};

/// Where one SCEP transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum TransactionState {
    /// A request is being handled (challenge check, issuance) by whoever
    /// holds `claim`; copies are answered PENDING meanwhile.
    InProgress {
        /// A random token naming the holder, so only it records the outcome.
        claim: String,
    },
    /// Admitted, and held for an admin's approval.
    Pending {
        /// The PKCS#10 request, DER, hex.
        request_der_hex: String,
        /// Its subject, RFC 4514 text (for the admin's list).
        subject: String,
        /// What admitted it.
        challenge: ChallengeKind,
    },
    /// A certificate was issued; every resend gets this same certificate.
    Issued {
        /// The certificate, PEM.
        certificate_pem: String,
    },
    /// Refused; every resend gets the same refusal.
    Rejected {
        /// The failInfo sent.
        fail_info: FailInfo,
        /// Why.
        reason: String,
    },
}

impl TransactionState {
    /// A short name, for an indexed column: `inProgress`, `pending`, `issued`, `rejected`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InProgress { .. } => "inProgress",
            Self::Pending { .. } => "pending",
            Self::Issued { .. } => "issued",
            Self::Rejected { .. } => "rejected",
        }
    }

    /// Whether the transaction has its final outcome (issued or rejected).
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Issued { .. } | Self::Rejected { .. })
    }
}

/// One SCEP transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionRecord {
    /// The SCEP transactionID.
    pub transaction_id: String,
    /// SHA-256 of the requested public key, hex: a resend must carry the same key.
    pub key_sha256: String,
    /// Where it stands.
    pub state: TransactionState,
    /// When it was first claimed.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When its state last changed (a claim's age is measured from here).
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

/// The bounds a store applies when a transaction is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionLimits {
    /// Most transactions kept; past it the oldest finished ones are dropped,
    /// and a claim is refused when none is finished.
    pub max_transactions: usize,
    /// Finished transactions older than this are dropped.
    pub retention: Duration,
    /// A claim left in progress this long is abandoned (its holder crashed)
    /// and may be taken over by a resend with the same key.
    pub claim_timeout: Duration,
}

/// What [`ScepTransactions::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The transaction was unknown (or its claim abandoned): the caller holds it now.
    Claimed,
    /// The transaction is known: as it stands (possibly another key's).
    Existing(TransactionRecord),
}

/// The state [`ScepTransactions::update`] expects to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected<'a> {
    /// In progress under this claim.
    Claim(&'a str),
    /// Pending approval.
    Pending,
}

impl Expected<'_> {
    /// Whether `state` is the one expected.
    pub fn matches(&self, state: &TransactionState) -> bool {
        match (self, state) {
            (Self::Claim(want), TransactionState::InProgress { claim }) => want == claim,
            (Self::Pending, TransactionState::Pending { .. }) => true,
            _ => false,
        }
    }
}

/// SCEP transaction store failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// Every kept transaction is still in progress or pending: nothing may be dropped.
    #[error("too many SCEP transactions in progress or pending (limit {limit}); try again later")]
    Full {
        /// The bound.
        limit: usize,
    },
    /// A stored transaction could not be read back.
    #[error("corrupt SCEP transaction {transaction_id:?}: {reason}")]
    Corrupt {
        /// Which.
        transaction_id: String,
        /// Why.
        reason: String,
    },
    /// The storage behind the store failed.
    #[error("SCEP transaction storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where a SCEP responder keeps its transactions. Each call must be atomic
/// (and durable before it returns, for a persistent store): the check and
/// the change it guards happen in one transaction. One exception: a
/// [`claim`](Self::claim) may be made durable by the next durable write
/// instead, since everything it guards (the outcome, the certificate) is
/// written durably after it; it must still be seen by every other caller,
/// in any process, once it returns.
pub trait ScepTransactions: Send + Sync + fmt::Debug {
    /// Claims `transaction_id` for a request whose key has SHA-256 `key_sha256`.
    ///
    /// Atomically: an unknown transaction is recorded in progress under
    /// `claim` and [`Claim::Claimed`] returned. One in progress under a claim
    /// not updated for `limits.claim_timeout`, with the same key, is taken
    /// over the same way. Any other is returned as it stands
    /// ([`Claim::Existing`]), unchanged. Before recording, finished
    /// transactions older than `limits.retention` may be dropped, and past
    /// `limits.max_transactions` the oldest finished ones must be;
    /// [`TransactionError::Full`] when none is left to drop.
    fn claim(
        &self,
        transaction_id: &str,
        key_sha256: &str,
        claim: &str,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<Claim, TransactionError>;

    /// Replaces the state of `transaction_id` with `state` if its current
    /// state is `expected`, atomically. Returns the record as it was, or
    /// `None` (and changes nothing) when it is unknown or in another state.
    fn update(
        &self,
        transaction_id: &str,
        expected: Expected<'_>,
        state: TransactionState,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>, TransactionError>;

    /// Ends `transaction_id`, in progress under `claim`, by issuing
    /// `certificate`: records it in `ledger` and the transaction as issued
    /// with it. Returns the record as it was, or `None` when `claim` no
    /// longer holds the transaction (and then, in a store that does both
    /// in one transaction, records nothing).
    ///
    /// The default does it in two steps ([`finish_issued_in_two_steps`]). A
    /// store that also holds `ledger` overrides it to do both in one
    /// database transaction: the certificate exists exactly when the
    /// transaction answers with it, and an enrollment costs one durable
    /// write instead of two.
    fn finish_issued(
        &self,
        transaction_id: &str,
        claim: &str,
        certificate: &IssuedCertificate,
        ledger: &dyn IssuanceLedger,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>, TransactionError> {
        finish_issued_in_two_steps(self, transaction_id, claim, certificate, ledger, now)
    }

    /// Forgets `transaction_id` if it is in progress under `claim` (the
    /// request got no answer, e.g. its validator was unavailable): a resend
    /// then claims it afresh. Returns whether it did.
    fn release(&self, transaction_id: &str, claim: &str) -> Result<bool, TransactionError>;

    /// A transaction as it stands.
    fn get(&self, transaction_id: &str) -> Result<Option<TransactionRecord>, TransactionError>;

    /// Transactions pending approval, oldest first, at most `limit`.
    fn pending(&self, limit: usize) -> Result<Vec<TransactionRecord>, TransactionError>;
}

/// [`ScepTransactions::finish_issued`] for a ledger kept elsewhere: records
/// the certificate, then the outcome if `claim` still holds the transaction.
/// A crash between the two leaves an issued certificate that no
/// transaction answers with, and the claim is taken over after its timeout.
pub fn finish_issued_in_two_steps<T: ScepTransactions + ?Sized>(
    transactions: &T,
    transaction_id: &str,
    claim: &str,
    certificate: &IssuedCertificate,
    ledger: &dyn IssuanceLedger,
    now: OffsetDateTime,
) -> Result<Option<TransactionRecord>, TransactionError> {
    ledger
        .record_issued(certificate.clone())
        .map_err(|e| TransactionError::Storage(Box::new(e)))?;
    transactions.update(
        transaction_id,
        Expected::Claim(claim),
        TransactionState::Issued {
            certificate_pem: certificate.certificate_pem.clone(),
        },
        now,
    )
}

/// Whether `record` is an abandoned claim that a request with `key_sha256`
/// may take over at `now`.
pub fn claim_is_abandoned(
    record: &TransactionRecord,
    key_sha256: &str,
    now: OffsetDateTime,
    claim_timeout: Duration,
) -> bool {
    matches!(record.state, TransactionState::InProgress { .. })
        && record.key_sha256 == key_sha256
        && record.updated + claim_timeout <= now
}

#[derive(Debug, Default)]
struct MemoryState {
    transactions: HashMap<String, TransactionRecord>,
    /// Transaction IDs, oldest claim first.
    order: VecDeque<String>,
}

impl MemoryState {
    /// Drops finished transactions past `retention` and, while at `max`,
    /// the oldest finished one. False when still at `max`.
    fn make_room(&mut self, now: OffsetDateTime, limits: &TransactionLimits) -> bool {
        // Oldest claims first: drop expired finished ones from the front,
        // stopping at the first that stays (the bound below covers the rest).
        let cutoff = now - limits.retention;
        while let Some(id) = self.order.front() {
            let expired = self
                .transactions
                .get(id)
                .is_none_or(|tx| tx.state.is_finished() && tx.updated <= cutoff);
            if !expired {
                break;
            }
            if let Some(id) = self.order.pop_front() {
                self.transactions.remove(&id);
            }
        }
        let max = limits.max_transactions.max(1);
        while self.transactions.len() >= max {
            let oldest_finished = self.order.iter().position(|id| {
                self.transactions
                    .get(id)
                    .is_none_or(|tx| tx.state.is_finished())
            });
            let Some(at) = oldest_finished else {
                return false;
            };
            if let Some(id) = self.order.remove(at) {
                self.transactions.remove(&id);
            }
        }
        true
    }
}

/// SCEP transactions in process memory, bounded: the default, for a
/// responder without a database. They do not survive a restart.
#[derive(Debug, Default)]
pub struct MemoryScepTransactions {
    state: Mutex<MemoryState>,
}

impl MemoryScepTransactions {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut MemoryState) -> Result<T, TransactionError>,
    ) -> Result<T, TransactionError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| TransactionError::Storage("SCEP transaction lock poisoned".into()))?;
        f(&mut guard)
    }
}

impl ScepTransactions for MemoryScepTransactions {
    fn claim(
        &self,
        transaction_id: &str,
        key_sha256: &str,
        claim: &str,
        now: OffsetDateTime,
        limits: &TransactionLimits,
    ) -> Result<Claim, TransactionError> {
        self.with(|s| {
            let in_progress = TransactionState::InProgress {
                claim: claim.to_owned(),
            };
            if let Some(existing) = s.transactions.get_mut(transaction_id) {
                if claim_is_abandoned(existing, key_sha256, now, limits.claim_timeout) {
                    existing.state = in_progress;
                    existing.updated = now;
                    return Ok(Claim::Claimed);
                }
                return Ok(Claim::Existing(existing.clone()));
            }
            if !s.make_room(now, limits) {
                return Err(TransactionError::Full {
                    limit: limits.max_transactions,
                });
            }
            s.transactions.insert(
                transaction_id.to_owned(),
                TransactionRecord {
                    transaction_id: transaction_id.to_owned(),
                    key_sha256: key_sha256.to_owned(),
                    state: in_progress,
                    created: now,
                    updated: now,
                },
            );
            s.order.push_back(transaction_id.to_owned());
            Ok(Claim::Claimed)
        })
    }

    fn update(
        &self,
        transaction_id: &str,
        expected: Expected<'_>,
        state: TransactionState,
        now: OffsetDateTime,
    ) -> Result<Option<TransactionRecord>, TransactionError> {
        self.with(|s| {
            let Some(tx) = s.transactions.get_mut(transaction_id) else {
                return Ok(None);
            };
            if !expected.matches(&tx.state) {
                return Ok(None);
            }
            let before = tx.clone();
            tx.state = state;
            tx.updated = now;
            Ok(Some(before))
        })
    }

    fn release(&self, transaction_id: &str, claim: &str) -> Result<bool, TransactionError> {
        self.with(|s| {
            let held = s
                .transactions
                .get(transaction_id)
                .is_some_and(|tx| Expected::Claim(claim).matches(&tx.state));
            if held {
                s.transactions.remove(transaction_id);
                s.order.retain(|id| id != transaction_id);
            }
            Ok(held)
        })
    }

    fn get(&self, transaction_id: &str) -> Result<Option<TransactionRecord>, TransactionError> {
        self.with(|s| Ok(s.transactions.get(transaction_id).cloned()))
    }

    fn pending(&self, limit: usize) -> Result<Vec<TransactionRecord>, TransactionError> {
        self.with(|s| {
            Ok(s.order
                .iter()
                .filter_map(|id| s.transactions.get(id))
                .filter(|tx| matches!(tx.state, TransactionState::Pending { .. }))
                .take(limit)
                .cloned()
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    fn limits(max: usize) -> TransactionLimits {
        TransactionLimits {
            max_transactions: max,
            retention: Duration::days(30),
            claim_timeout: Duration::minutes(5),
        }
    }

    fn issued() -> TransactionState {
        TransactionState::Issued {
            certificate_pem: "pem".into(),
        }
    }

    #[test]
    fn first_claim_wins_and_copies_see_it() {
        let store = MemoryScepTransactions::new();
        let now = OffsetDateTime::now_utc();
        let l = limits(10);
        assert_eq!(
            store.claim("t", "k", "c1", now, &l).unwrap(),
            Claim::Claimed
        );
        let Claim::Existing(seen) = store.claim("t", "k", "c2", now, &l).unwrap() else {
            unreachable!("a second claim must find the first")
        };
        assert_eq!(
            seen.state,
            TransactionState::InProgress { claim: "c1".into() }
        );
        // Only the holder records the outcome.
        assert!(
            store
                .update("t", Expected::Claim("c2"), issued(), now)
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .update("t", Expected::Claim("c1"), issued(), now)
                .unwrap()
                .is_some()
        );
        assert!(!store.release("t", "c1").unwrap(), "finished: not released");
    }

    #[test]
    fn abandoned_claims_are_taken_over_only_by_the_same_key_after_the_timeout() {
        let store = MemoryScepTransactions::new();
        let now = OffsetDateTime::now_utc();
        let l = limits(10);
        store.claim("t", "k", "c1", now, &l).unwrap();
        let soon = now + Duration::minutes(4);
        assert!(matches!(
            store.claim("t", "k", "c2", soon, &l).unwrap(),
            Claim::Existing(_)
        ));
        let later = now + Duration::minutes(5);
        assert!(matches!(
            store.claim("t", "other", "c2", later, &l).unwrap(),
            Claim::Existing(_)
        ));
        assert_eq!(
            store.claim("t", "k", "c2", later, &l).unwrap(),
            Claim::Claimed
        );
        // The crashed holder can no longer record anything.
        assert!(
            store
                .update("t", Expected::Claim("c1"), issued(), later)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bounded_dropping_finished_ones_first() {
        let store = MemoryScepTransactions::new();
        let now = OffsetDateTime::now_utc();
        let l = limits(2);
        store.claim("a", "k", "ca", now, &l).unwrap();
        store.claim("b", "k", "cb", now, &l).unwrap();
        assert!(matches!(
            store.claim("c", "k", "cc", now, &l),
            Err(TransactionError::Full { limit: 2 })
        ));
        store
            .update("b", Expected::Claim("cb"), issued(), now)
            .unwrap();
        assert_eq!(
            store.claim("c", "k", "cc", now, &l).unwrap(),
            Claim::Claimed
        );
        assert!(store.get("a").unwrap().is_some(), "in progress: kept");
        assert!(store.get("b").unwrap().is_none(), "finished: dropped");
        // Retention drops finished ones by age, oldest first.
        store
            .update("a", Expected::Claim("ca"), issued(), now)
            .unwrap();
        store
            .update("c", Expected::Claim("cc"), issued(), now)
            .unwrap();
        store
            .claim("d", "k", "cd", now + Duration::days(31), &limits(10))
            .unwrap();
        assert!(store.get("a").unwrap().is_none());
        assert!(store.get("c").unwrap().is_none());
        assert!(store.get("d").unwrap().is_some());
    }
}
