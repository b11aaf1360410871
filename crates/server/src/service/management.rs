//! The latest management proof of each device, in memory.
//!
//! Managed-ness is proved per authentication (a signed nonce with the MDM's
//! certificate, or the managementHint), not stored: a proof counts for
//! [`DeviceApiOptions::proof_max_age`](super::device_api::DeviceApiOptions)
//! and is lost on restart, after which the device proves it again. A failed
//! proof replaces an earlier success, so a device that can no longer prove
//! management stops counting as managed at once. The table is bounded; when
//! full, expired proofs go first, then the oldest (losing one only means
//! the device must prove again).

use std::collections::HashMap;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// One reason a proof failed: a stable kind and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofReason {
    /// Machine-readable kind (`revoked`, `nonce_replayed`, `hint_mismatch`, ...).
    pub kind: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A device's latest management proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofRecord {
    /// Whether it succeeded.
    pub managed: bool,
    /// The configuration that attested the device, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<String>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why it failed (empty on success).
    pub reasons: Vec<ProofReason>,
}

impl ProofRecord {
    /// Until when a successful proof counts.
    pub fn managed_until(&self, max_age: Duration) -> Option<OffsetDateTime> {
        self.managed.then(|| self.at.saturating_add(max_age))
    }

    /// Whether the device counts as managed at `now`.
    pub fn is_fresh(&self, max_age: Duration, now: OffsetDateTime) -> bool {
        self.managed_until(max_age)
            .is_some_and(|until| now <= until)
            && self.at <= now
    }
}

/// The latest proof per device id, bounded.
#[derive(Debug)]
pub struct ManagementProofs {
    capacity: usize,
    entries: HashMap<String, ProofRecord>,
}

impl ManagementProofs {
    /// A table of at most `capacity` devices.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// Records `device`'s latest proof.
    pub fn record(&mut self, device: &str, proof: ProofRecord, max_age: Duration) {
        if !self.entries.contains_key(device) && self.entries.len() >= self.capacity {
            let now = proof.at;
            self.entries.retain(|_, p| p.is_fresh(max_age, now));
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, p)| p.at)
                    .map(|(id, _)| id.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(device.to_owned(), proof);
    }

    /// `device`'s latest proof.
    pub fn get(&self, device: &str) -> Option<&ProofRecord> {
        self.entries.get(device)
    }

    /// Forgets `device`'s proof (its key was replaced).
    pub fn forget(&mut self, device: &str) {
        self.entries.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(managed: bool, at: OffsetDateTime) -> ProofRecord {
        ProofRecord {
            managed,
            configuration_id: None,
            at,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn a_proof_counts_for_its_max_age_and_a_failure_replaces_it() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let max = Duration::hours(8);
        let mut table = ManagementProofs::new(10);
        table.record("d1", proof(true, t), max);
        let p = table.get("d1").unwrap();
        assert!(p.is_fresh(max, t + Duration::hours(8)));
        assert!(!p.is_fresh(max, t + Duration::hours(8) + Duration::seconds(1)));
        table.record("d1", proof(false, t + Duration::minutes(1)), max);
        assert!(
            !table
                .get("d1")
                .unwrap()
                .is_fresh(max, t + Duration::minutes(2))
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let max = Duration::hours(8);
        let mut table = ManagementProofs::new(2);
        table.record("d1", proof(true, t), max);
        table.record("d2", proof(true, t + Duration::seconds(1)), max);
        table.record("d3", proof(true, t + Duration::seconds(2)), max);
        assert!(table.get("d1").is_none());
        assert!(table.get("d2").is_some() && table.get("d3").is_some());
    }
}
