//! One device's latest signals and the attribute view over them.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::freshness::{Freshness, SignalSet};
use crate::view::{Lookup, SignalSource};

/// What [`DeviceRecord::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// The set is now the provider's latest.
    Latest,
    /// A set collected later was already held; the new one was dropped, so a
    /// delayed or replayed report cannot roll the device's state back.
    KeptNewer,
}

/// The latest signal set of each provider for one device.
#[derive(Debug, Default)]
pub struct DeviceRecord {
    sets: BTreeMap<&'static str, SignalSet>,
}

impl DeviceRecord {
    /// A device with no signals yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep `set` if it is the newest for its provider.
    pub fn insert(&mut self, set: SignalSet) -> Stored {
        match self.sets.get(set.provider()) {
            Some(held) if held.collected_at() > set.collected_at() => Stored::KeptNewer,
            _ => {
                self.sets.insert(set.provider(), set);
                Stored::Latest
            }
        }
    }

    /// The latest set of `provider`, fresh or not.
    #[must_use]
    pub fn get(&self, provider: &str) -> Option<&SignalSet> {
        self.sets.get(provider)
    }

    /// The newest collection time over all providers.
    #[must_use]
    pub fn last_collected(&self) -> Option<OffsetDateTime> {
        self.sets.values().map(SignalSet::collected_at).max()
    }

    /// The attribute view at `now`: stale providers read as
    /// [`Lookup::Stale`].
    #[must_use]
    pub const fn view<'a>(
        &'a self,
        now: OffsetDateTime,
        freshness: &'a Freshness,
    ) -> DeviceSignals<'a> {
        DeviceSignals {
            record: Some(self),
            now,
            freshness,
        }
    }
}

/// A device's signals as the policy engine sees them at one instant.
///
/// Cheap to make (three references) and copies nothing on lookup.
#[derive(Debug, Clone, Copy)]
pub struct DeviceSignals<'a> {
    record: Option<&'a DeviceRecord>,
    now: OffsetDateTime,
    freshness: &'a Freshness,
}

impl<'a> DeviceSignals<'a> {
    /// The view of a device we hold no signals for: every lookup is absent.
    #[must_use]
    pub const fn empty(now: OffsetDateTime, freshness: &'a Freshness) -> Self {
        Self {
            record: None,
            now,
            freshness,
        }
    }

    /// The instant this view judges freshness at.
    #[must_use]
    pub const fn now(&self) -> OffsetDateTime {
        self.now
    }
}

impl SignalSource for DeviceSignals<'_> {
    fn lookup(&self, provider: &str, attribute: &str) -> Lookup<'_> {
        let Some(set) = self.record.and_then(|r| r.get(provider)) else {
            return Lookup::Absent;
        };
        if let Some(max_age) = self.freshness.stale(set, self.now) {
            return Lookup::Stale {
                collected_at: set.collected_at(),
                max_age,
            };
        }
        set.signals()
            .value(attribute)
            .map_or(Lookup::Absent, Lookup::Present)
    }
}
