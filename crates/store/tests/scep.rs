//! SCEP transactions and one-time challenges on each engine: claimed and
//! consumed atomically (also from many threads, and on PostgreSQL from
//! stores opened one after another on one database, as replicas are), kept
//! per configuration, surviving a close and reopen, and bounded by pruning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::sync::Arc;

use devicetrust_pki::scep::{
    ChallengeUse, Claim, Expected, FailInfo, OneTimeChallenges, ScepTransactions, TransactionError,
    TransactionLimits, TransactionState,
};
use devicetrust_pki::{IssuanceLedger as _, IssuedCertificate, MemoryLedger, SerialNumber};
use devicetrust_store::{SqliteStore, Store, StoredChallenges, StoredScepTransactions};
use time::{Duration, OffsetDateTime};

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

/// Runs the generic test `$test` on SQLite, then on PostgreSQL, each with
/// an opener of one fresh database (called again: a restart, or a replica).
macro_rules! on_each_engine {
    ($test:ident) => {{
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        $test(&|| Arc::new(SqliteStore::open(&path).unwrap()));
        #[cfg(feature = "postgres")]
        {
            let url = pg::fresh_database();
            $test(&|| Arc::new(devicetrust_store::PostgresStore::open(&url).unwrap()));
        }
    }};
}

/// What the tests need of a store.
trait Engine: Store + devicetrust_pki::IssuanceLedger + std::fmt::Debug + 'static {}
impl<S: Store + devicetrust_pki::IssuanceLedger + std::fmt::Debug + 'static> Engine for S {}

fn transactions_of<S: Engine>(store: &Arc<S>, configuration: &str) -> StoredScepTransactions<S> {
    StoredScepTransactions::new(store.clone(), configuration)
}

fn challenges_of<S: Engine>(store: &Arc<S>, configuration: &str) -> StoredChallenges<S> {
    StoredChallenges::new(store.clone(), configuration)
}

fn limits(max: usize) -> TransactionLimits {
    TransactionLimits {
        max_transactions: max,
        retention: Duration::days(30),
        claim_timeout: Duration::minutes(5),
    }
}

fn issued() -> TransactionState {
    TransactionState::Issued {
        certificate_pem: "-----BEGIN CERTIFICATE-----".into(),
    }
}

#[test]
fn a_claim_and_its_outcome_survive_a_reopen() {
    on_each_engine!(a_claim_and_its_outcome_survive_a_reopen_on);
}

fn a_claim_and_its_outcome_survive_a_reopen_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let l = limits(100);
    {
        let store = open();
        let txs = transactions_of(&store, "scep1");
        assert_eq!(
            txs.claim("tx", "key", "c1", now, &l).unwrap(),
            Claim::Claimed
        );
    }
    let store = open();
    let txs = transactions_of(&store, "scep1");
    let Claim::Existing(found) = txs.claim("tx", "key", "c2", now, &l).unwrap() else {
        panic!("the claim was lost on reopen");
    };
    assert_eq!(
        found.state,
        TransactionState::InProgress { claim: "c1".into() }
    );
    assert_eq!(found.key_sha256, "key");
    // Only the holder records the outcome.
    assert!(
        txs.update("tx", Expected::Claim("c2"), issued(), now)
            .unwrap()
            .is_none()
    );
    assert!(
        txs.update("tx", Expected::Claim("c1"), issued(), now)
            .unwrap()
            .is_some()
    );
    drop(txs);
    drop(store);

    let store = open();
    let txs = transactions_of(&store, "scep1");
    assert_eq!(txs.get("tx").unwrap().unwrap().state, issued());
    // Another configuration's transaction of the same ID is its own.
    let other = transactions_of(&store, "scep2");
    assert!(other.get("tx").unwrap().is_none());
    assert_eq!(
        other.claim("tx", "key", "c3", now, &l).unwrap(),
        Claim::Claimed
    );
}

#[test]
fn one_of_many_concurrent_claims_wins() {
    on_each_engine!(one_of_many_concurrent_claims_wins_on);
}

/// Sixteen claims at once, from two stores on one database (two replicas).
fn one_of_many_concurrent_claims_wins_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let stores = [open(), open()];
    let now = OffsetDateTime::now_utc();
    let l = limits(100);
    let claimed = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let txs = transactions_of(&stores[i % 2], "scep1");
                scope.spawn(move || txs.claim("tx", "key", &format!("c{i}"), now, &l).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|c| *c == Claim::Claimed)
            .count()
    });
    assert_eq!(claimed, 1);
}

#[test]
fn abandoned_claims_are_taken_over_after_the_timeout_and_released_ones_are_gone() {
    on_each_engine!(
        abandoned_claims_are_taken_over_after_the_timeout_and_released_ones_are_gone_on
    );
}

fn abandoned_claims_are_taken_over_after_the_timeout_and_released_ones_are_gone_on<S: Engine>(
    open: &dyn Fn() -> Arc<S>,
) {
    let store = open();
    let txs = transactions_of(&store, "scep1");
    let now = OffsetDateTime::now_utc();
    let l = limits(100);
    txs.claim("tx", "key", "c1", now, &l).unwrap();
    assert!(matches!(
        txs.claim("tx", "key", "c2", now + Duration::minutes(4), &l)
            .unwrap(),
        Claim::Existing(_)
    ));
    assert!(matches!(
        txs.claim("tx", "other", "c2", now + Duration::minutes(6), &l)
            .unwrap(),
        Claim::Existing(_)
    ));
    assert_eq!(
        txs.claim("tx", "key", "c2", now + Duration::minutes(6), &l)
            .unwrap(),
        Claim::Claimed
    );
    assert!(!txs.release("tx", "c1").unwrap(), "the old holder lost it");
    assert!(txs.release("tx", "c2").unwrap());
    assert!(txs.get("tx").unwrap().is_none());
}

#[test]
fn pending_requests_are_listed_approved_once_and_rejected() {
    on_each_engine!(pending_requests_are_listed_approved_once_and_rejected_on);
}

fn pending_requests_are_listed_approved_once_and_rejected_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let store = open();
    let txs = transactions_of(&store, "scep1");
    let now = OffsetDateTime::now_utc();
    let l = limits(100);
    let pending = TransactionState::Pending {
        request_der_hex: "3000".into(),
        subject: "CN=device".into(),
        challenge: devicetrust_pki::scep::ChallengeKind::Static,
    };
    for id in ["a", "b"] {
        txs.claim(id, "key", "c", now, &l).unwrap();
        txs.update(id, Expected::Claim("c"), pending.clone(), now)
            .unwrap()
            .unwrap();
    }
    assert_eq!(txs.pending(10).unwrap().len(), 2);
    assert_eq!(txs.pending(1).unwrap().len(), 1);
    let taking = TransactionState::InProgress {
        claim: "approve".into(),
    };
    assert!(
        txs.update("a", Expected::Pending, taking.clone(), now)
            .unwrap()
            .is_some()
    );
    assert!(
        txs.update("a", Expected::Pending, taking, now)
            .unwrap()
            .is_none(),
        "taken once"
    );
    let rejected = TransactionState::Rejected {
        fail_info: FailInfo::BadRequest,
        reason: "no".into(),
    };
    assert!(
        txs.update("b", Expected::Pending, rejected.clone(), now)
            .unwrap()
            .is_some()
    );
    assert_eq!(txs.get("b").unwrap().unwrap().state, rejected);
    assert!(txs.pending(10).unwrap().is_empty());
}

#[test]
fn pruning_bounds_the_table() {
    on_each_engine!(pruning_bounds_the_table_on);
}

fn pruning_bounds_the_table_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let store = open();
    let txs = transactions_of(&store, "scep1");
    let now = OffsetDateTime::now_utc();
    let l = limits(5);
    for i in 0..20 {
        let id = format!("tx{i}");
        let at = now + Duration::seconds(i);
        assert_eq!(txs.claim(&id, "key", "c", at, &l).unwrap(), Claim::Claimed);
        txs.update(&id, Expected::Claim("c"), issued(), at)
            .unwrap()
            .unwrap();
        assert!(txs.count().unwrap() <= 5);
    }
    // The oldest finished went first.
    assert!(txs.get("tx0").unwrap().is_none());
    assert!(txs.get("tx19").unwrap().is_some());

    // In progress ones are never dropped: full means refused.
    let busy = transactions_of(&store, "scep-busy");
    for i in 0..5 {
        busy.claim(&format!("tx{i}"), "key", "c", now, &l).unwrap();
    }
    assert!(matches!(
        busy.claim("tx5", "key", "c", now, &l),
        Err(TransactionError::Full { limit: 5 })
    ));

    // Retention drops finished ones by age.
    let later = now + Duration::days(31);
    txs.claim("fresh", "key", "c", later, &limits(100)).unwrap();
    assert_eq!(txs.count().unwrap(), 1, "only the fresh claim is left");
}

#[test]
fn challenges_are_used_once_across_a_reopen_and_bounded() {
    on_each_engine!(challenges_are_used_once_across_a_reopen_and_bounded_on);
}

fn challenges_are_used_once_across_a_reopen_and_bounded_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let live = [1u8; 32];
    let short = [2u8; 32];
    {
        let store = open();
        let challenges = challenges_of(&store, "scep1");
        challenges
            .insert(&live, now + Duration::hours(1), now, 4)
            .unwrap();
        challenges
            .insert(&short, now + Duration::seconds(1), now, 4)
            .unwrap();
    }
    let store = open();
    let challenges = challenges_of(&store, "scep1");
    assert_eq!(
        challenges_of(&store, "scep2").consume(&live, now).unwrap(),
        ChallengeUse::Unknown,
        "per configuration"
    );
    let used = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| challenges.consume(&live, now).unwrap()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|u| *u == ChallengeUse::Consumed)
            .count()
    });
    assert_eq!(used, 1);
    drop(challenges);
    drop(store);
    let store = open();
    let challenges = challenges_of(&store, "scep1");
    assert_eq!(
        challenges.consume(&live, now).unwrap(),
        ChallengeUse::AlreadyUsed
    );
    assert!(matches!(
        challenges
            .consume(&short, now + Duration::seconds(2))
            .unwrap(),
        ChallengeUse::Expired { .. }
    ));
    assert_eq!(
        challenges.consume(&[3u8; 32], now).unwrap(),
        ChallengeUse::Unknown
    );

    // Bounded: expired ones are swept to make room, live ones are not.
    challenges
        .insert(&[4u8; 32], now + Duration::hours(1), now, 3)
        .unwrap();
    assert!(
        challenges
            .insert(&[5u8; 32], now + Duration::hours(1), now, 3)
            .is_err()
    );
    let later = now + Duration::seconds(2);
    challenges
        .insert(&[5u8; 32], later + Duration::hours(1), later, 3)
        .unwrap();
    assert_eq!(challenges.held().unwrap(), 3);
}

fn certificate(serial: &SerialNumber) -> IssuedCertificate {
    let now = OffsetDateTime::now_utc();
    IssuedCertificate {
        serial: serial.clone(),
        subject: "CN=device".into(),
        not_before: now,
        not_after: now + Duration::days(1),
        certificate_pem: format!("-----BEGIN CERTIFICATE----- {serial}"),
        revocation: None,
    }
}

/// On the CA's own store, the certificate and the transaction's outcome
/// commit together: nothing for a lost claim, nothing half-done when the
/// ledger refuses. With a ledger elsewhere, both still happen, in two steps.
#[test]
fn an_issued_certificate_and_its_outcome_commit_together() {
    on_each_engine!(an_issued_certificate_and_its_outcome_commit_together_on);
}

fn an_issued_certificate_and_its_outcome_commit_together_on<S: Engine>(open: &dyn Fn() -> Arc<S>) {
    let store = open();
    let now = OffsetDateTime::now_utc();
    let l = limits(100);
    let txs = transactions_of(&store, "scep1");
    let first = SerialNumber::random().unwrap();
    let cert = certificate(&first);

    assert_eq!(
        txs.claim("tx1", "key", "c1", now, &l).unwrap(),
        Claim::Claimed
    );
    // Another claim's holder records nothing, certificate included.
    assert!(
        txs.finish_issued("tx1", "c2", &cert, store.as_ref(), now)
            .unwrap()
            .is_none()
    );
    assert!(
        store.get(&first).unwrap().is_none(),
        "nothing recorded for a lost claim"
    );
    let before = txs
        .finish_issued("tx1", "c1", &cert, store.as_ref(), now)
        .unwrap()
        .unwrap();
    assert_eq!(
        before.state,
        TransactionState::InProgress { claim: "c1".into() }
    );
    assert_eq!(
        txs.get("tx1").unwrap().unwrap().state,
        TransactionState::Issued {
            certificate_pem: cert.certificate_pem.clone()
        }
    );
    assert_eq!(store.get(&first).unwrap().unwrap(), cert);

    // A ledger refusal (the same serial again) rolls the outcome back too.
    assert_eq!(
        txs.claim("tx2", "key", "c3", now, &l).unwrap(),
        Claim::Claimed
    );
    assert!(
        txs.finish_issued("tx2", "c3", &cert, store.as_ref(), now)
            .is_err()
    );
    assert_eq!(
        txs.get("tx2").unwrap().unwrap().state,
        TransactionState::InProgress { claim: "c3".into() }
    );

    // A ledger that is not this store gets the certificate, and the
    // transaction its outcome.
    let elsewhere = MemoryLedger::new();
    let second = SerialNumber::random().unwrap();
    assert_eq!(
        txs.claim("tx3", "key", "c4", now, &l).unwrap(),
        Claim::Claimed
    );
    txs.finish_issued("tx3", "c4", &certificate(&second), &elsewhere, now)
        .unwrap()
        .unwrap();
    assert!(elsewhere.get(&second).unwrap().is_some());
    assert!(store.get(&second).unwrap().is_none());
    assert!(matches!(
        txs.get("tx3").unwrap().unwrap().state,
        TransactionState::Issued { .. }
    ));
}
