//! A bounded, per-device cache of the latest signal set of each provider.
//!
//! Bounded twice over: at most `capacity` devices (the device updated
//! longest ago is evicted first) and at most one set per provider per
//! device. Device ids are capped in length so a caller cannot grow memory
//! through the keys.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;

use time::{Duration, OffsetDateTime};

use crate::device::{DeviceRecord, DeviceSignals, Stored};
use crate::freshness::{Freshness, SignalSet};

/// The longest device id accepted.
pub const MAX_DEVICE_ID_BYTES: usize = 256;

/// How far in the future a set's collection time may be (clock skew).
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

/// Why a signal set was not cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The device id is empty or longer than [`MAX_DEVICE_ID_BYTES`].
    #[error("device id is {len} bytes; it must be 1 to {max}")]
    BadDeviceId {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The set claims to be collected in the future: it would never go stale.
    #[error("signals collected at {collected_at}, after now ({now}) plus {FUTURE_TOLERANCE}")]
    FromTheFuture {
        /// The claimed collection time.
        collected_at: OffsetDateTime,
        /// The time of insertion.
        now: OffsetDateTime,
    },
}

#[derive(Debug)]
struct Entry {
    record: DeviceRecord,
    /// Position in the eviction order.
    tick: u64,
}

/// Latest signals per device and provider, for at most `capacity` devices.
#[derive(Debug)]
pub struct SignalCache {
    capacity: NonZeroUsize,
    devices: HashMap<String, Entry>,
    /// Eviction order: tick of last update -> device id.
    order: BTreeMap<u64, String>,
    next_tick: u64,
}

impl SignalCache {
    /// A cache holding at most `capacity` devices.
    #[must_use]
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            capacity,
            devices: HashMap::new(),
            order: BTreeMap::new(),
            next_tick: 0,
        }
    }

    /// Record `set` for `device_id`, received at `now`.
    ///
    /// # Errors
    /// [`CacheError`] if the device id is unusable or the set claims a
    /// collection time in the future.
    pub fn insert(
        &mut self,
        device_id: &str,
        set: SignalSet,
        now: OffsetDateTime,
    ) -> Result<Stored, CacheError> {
        if device_id.is_empty() || device_id.len() > MAX_DEVICE_ID_BYTES {
            return Err(CacheError::BadDeviceId {
                len: device_id.len(),
                max: MAX_DEVICE_ID_BYTES,
            });
        }
        if set.collected_at() - now > FUTURE_TOLERANCE {
            return Err(CacheError::FromTheFuture {
                collected_at: set.collected_at(),
                now,
            });
        }
        let tick = self.next_tick;
        self.next_tick = self.next_tick.wrapping_add(1);
        let stored = match self.devices.get_mut(device_id) {
            Some(entry) => {
                self.order.remove(&entry.tick);
                entry.tick = tick;
                entry.record.insert(set)
            }
            None => {
                let mut record = DeviceRecord::new();
                let stored = record.insert(set);
                self.devices
                    .insert(device_id.to_owned(), Entry { record, tick });
                stored
            }
        };
        self.order.insert(tick, device_id.to_owned());
        self.evict();
        Ok(stored)
    }

    fn evict(&mut self) {
        while self.devices.len() > self.capacity.get() {
            let Some((_, oldest)) = self.order.pop_first() else {
                return;
            };
            self.devices.remove(&oldest);
        }
    }

    /// `device_id`'s record, if cached.
    #[must_use]
    pub fn record(&self, device_id: &str) -> Option<&DeviceRecord> {
        self.devices.get(device_id).map(|e| &e.record)
    }

    /// The attribute view of `device_id` at `now`; a device we hold nothing
    /// for reads as all-absent.
    #[must_use]
    pub fn view<'a>(
        &'a self,
        device_id: &str,
        now: OffsetDateTime,
        freshness: &'a Freshness,
    ) -> DeviceSignals<'a> {
        self.record(device_id).map_or_else(
            || DeviceSignals::empty(now, freshness),
            |r| r.view(now, freshness),
        )
    }

    /// Forget `device_id` (for instance when the device is deleted).
    pub fn remove(&mut self, device_id: &str) -> Option<DeviceRecord> {
        let entry = self.devices.remove(device_id)?;
        self.order.remove(&entry.tick);
        Some(entry.record)
    }

    /// How many devices are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no device is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}
