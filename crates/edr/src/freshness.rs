//! Collection times and maximum ages: when a provider's signals stop being
//! evidence about the device.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::signals::ProviderSignals;
use crate::zta::ZtaSignals;

/// One provider's signals and when they were collected.
///
/// `collected_at` should be a time we trust: the server's receipt time for
/// payloads the device reports itself, or the signed `iat` for ZTA tokens.
#[derive(Debug)]
pub struct SignalSet {
    collected_at: OffsetDateTime,
    valid_until: Option<OffsetDateTime>,
    signals: Box<dyn ProviderSignals>,
}

impl SignalSet {
    /// Signals collected at `collected_at`.
    pub fn new(collected_at: OffsetDateTime, signals: impl ProviderSignals) -> Self {
        Self {
            collected_at,
            valid_until: None,
            signals: Box::new(signals),
        }
    }

    /// Signals already boxed, as [`parse_payload`](crate::parse_payload) returns them.
    #[must_use]
    pub fn from_boxed(collected_at: OffsetDateTime, signals: Box<dyn ProviderSignals>) -> Self {
        Self {
            collected_at,
            valid_until: None,
            signals,
        }
    }

    /// Also stop trusting the signals at `valid_until` (a token's `exp`),
    /// even if the maximum age would allow longer.
    #[must_use]
    pub const fn with_valid_until(mut self, valid_until: OffsetDateTime) -> Self {
        self.valid_until = Some(valid_until);
        self
    }

    /// The provider id (`"wsc"`, ...).
    #[must_use]
    pub fn provider(&self) -> &'static str {
        self.signals.schema().id
    }

    /// When the signals were collected.
    #[must_use]
    pub const fn collected_at(&self) -> OffsetDateTime {
        self.collected_at
    }

    /// The issuer's own end of validity, if any.
    #[must_use]
    pub const fn valid_until(&self) -> Option<OffsetDateTime> {
        self.valid_until
    }

    /// The signals themselves.
    #[must_use]
    pub fn signals(&self) -> &dyn ProviderSignals {
        &*self.signals
    }
}

impl From<ZtaSignals> for SignalSet {
    /// A ZTA assessment is collected when issued and valid until it expires.
    fn from(s: ZtaSignals) -> Self {
        let (iat, exp) = (s.issued_at(), s.expires_at());
        Self::new(iat, s).with_valid_until(exp)
    }
}

/// Maximum ages, per provider, after which signals are stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    default_max_age: Duration,
    per_provider: BTreeMap<String, Duration>,
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_AGE)
    }
}

impl Freshness {
    /// Maximum age of any provider's signals unless configured otherwise.
    pub const DEFAULT_MAX_AGE: Duration = Duration::hours(8);

    /// Every provider may be at most `default_max_age` old (sign ignored).
    #[must_use]
    pub fn new(default_max_age: Duration) -> Self {
        Self {
            default_max_age: default_max_age.abs(),
            per_provider: BTreeMap::new(),
        }
    }

    /// `provider`'s signals may be at most `max_age` old (sign ignored).
    #[must_use]
    pub fn with_max_age(mut self, provider: &str, max_age: Duration) -> Self {
        self.per_provider.insert(provider.to_owned(), max_age.abs());
        self
    }

    /// The maximum age configured for `provider`.
    #[must_use]
    pub fn max_age(&self, provider: &str) -> Duration {
        self.per_provider
            .get(provider)
            .copied()
            .unwrap_or(self.default_max_age)
    }

    /// The maximum age that applies to `set`: the configured one, shortened
    /// to the set's own validity if that ends sooner.
    #[must_use]
    pub fn effective_max_age(&self, set: &SignalSet) -> Duration {
        let configured = self.max_age(set.provider());
        set.valid_until
            .map(|end| end - set.collected_at)
            .map_or(configured, |validity| configured.min(validity))
    }

    /// `Some(max_age)` if `set` is stale at `now`, with the maximum age it
    /// exceeded; `None` if it is fresh.
    #[must_use]
    pub fn stale(&self, set: &SignalSet, now: OffsetDateTime) -> Option<Duration> {
        let max_age = self.effective_max_age(set);
        (now - set.collected_at > max_age).then_some(max_age)
    }
}
