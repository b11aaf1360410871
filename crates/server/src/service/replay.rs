//! The request-nonce replay cache: a signed device request's `nonce` is
//! accepted once.
//!
//! A nonce is remembered until its request's `ts` leaves the accepted clock
//! window; after that the request is refused as stale anyway. The cache is
//! bounded overall and per device, so one device cannot crowd out the
//! others. When a bound is reached we refuse new requests rather than
//! forget a live nonce: forgetting one would allow a replay.

use std::collections::HashMap;

use time::OffsetDateTime;

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Seen before, within its window.
    #[error("request nonce was already used")]
    Replayed,
    /// The device has too many live nonces.
    #[error("too many requests from this device; retry in a few minutes")]
    DeviceFull,
    /// The cache is full of live nonces.
    #[error("too many requests; retry in a few minutes")]
    Full,
}

/// Live request nonces per device, with the time each can be forgotten.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    per_device: usize,
    len: usize,
    devices: HashMap<String, HashMap<String, OffsetDateTime>>,
}

impl ReplayCache {
    /// A cache of at most `capacity` nonces, `per_device` of them per device.
    pub fn new(capacity: usize, per_device: usize) -> Self {
        Self {
            capacity,
            per_device,
            len: 0,
            devices: HashMap::new(),
        }
    }

    /// Accepts `nonce` for `device` once, remembering it until `forget_at`.
    pub fn check_and_insert(
        &mut self,
        device: &str,
        nonce: &str,
        forget_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), ReplayError> {
        self.prune_device(device, now);
        if let Some(seen) = self.devices.get(device) {
            if seen.contains_key(nonce) {
                return Err(ReplayError::Replayed);
            }
            if seen.len() >= self.per_device {
                return Err(ReplayError::DeviceFull);
            }
        }
        if self.len >= self.capacity {
            self.prune_all(now);
            if self.len >= self.capacity {
                return Err(ReplayError::Full);
            }
        }
        self.devices
            .entry(device.to_owned())
            .or_default()
            .insert(nonce.to_owned(), forget_at);
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// Forgets a device (its key was replaced, or it was deleted).
    pub fn forget_device(&mut self, device: &str) {
        if let Some(seen) = self.devices.remove(device) {
            self.len = self.len.saturating_sub(seen.len());
        }
    }

    /// Live nonces held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn prune_device(&mut self, device: &str, now: OffsetDateTime) {
        let mut emptied = false;
        if let Some(seen) = self.devices.get_mut(device) {
            let before = seen.len();
            seen.retain(|_, forget_at| *forget_at > now);
            self.len = self.len.saturating_sub(before - seen.len());
            emptied = seen.is_empty();
        }
        if emptied {
            self.devices.remove(device);
        }
    }

    fn prune_all(&mut self, now: OffsetDateTime) {
        let mut len = 0usize;
        self.devices.retain(|_, seen| {
            seen.retain(|_, forget_at| *forget_at > now);
            len = len.saturating_add(seen.len());
            !seen.is_empty()
        });
        self.len = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_nonce_is_accepted_once_until_its_window_passes() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let mut cache = ReplayCache::new(10, 3);
        let later = now + Duration::minutes(5);
        assert_eq!(cache.check_and_insert("d1", "n1", later, now), Ok(()));
        assert_eq!(
            cache.check_and_insert("d1", "n1", later, now),
            Err(ReplayError::Replayed)
        );
        // Another device may use the same nonce text.
        assert_eq!(cache.check_and_insert("d2", "n1", later, now), Ok(()));
        // Past the window the nonce is forgotten (the request would be stale anyway).
        let after = later + Duration::seconds(1);
        assert_eq!(cache.check_and_insert("d1", "n1", after, after), Ok(()));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bounds_refuse_rather_than_forget() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let later = now + Duration::minutes(5);
        let mut cache = ReplayCache::new(4, 2);
        cache.check_and_insert("d1", "a", later, now).unwrap();
        cache.check_and_insert("d1", "b", later, now).unwrap();
        assert_eq!(
            cache.check_and_insert("d1", "c", later, now),
            Err(ReplayError::DeviceFull)
        );
        cache.check_and_insert("d2", "a", later, now).unwrap();
        cache.check_and_insert("d3", "a", later, now).unwrap();
        assert_eq!(
            cache.check_and_insert("d4", "a", later, now),
            Err(ReplayError::Full)
        );
        // Once they expire there is room again, and d1's old nonces are gone.
        let after = later + Duration::seconds(1);
        cache
            .check_and_insert("d4", "a", after + Duration::minutes(5), after)
            .unwrap();
        assert_eq!(cache.len(), 1);
        cache.forget_device("d4");
        assert_eq!(cache.len(), 0);
    }
}
