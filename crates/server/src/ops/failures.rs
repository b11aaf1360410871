//! Failed authentications, limited per key (a source address, a username):
//! each key may fail `burst` times, and earns one more try every `refill`.
//! A key out of tries is refused (429) before its credential is checked,
//! so guessing costs the guesser time and costs us nothing.
//!
//! One token bucket per key, in memory, per replica: a replica behind a
//! balancer limits what reaches it (docs/api.md says how a shared limit
//! would work). The table is bounded: past [`MAX_KEYS`] keys, buckets that
//! have refilled (which hold no information) are dropped first, then the
//! fullest.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath};
use devicetrust_service::auth_failures::{AuthFailureLog, Credential};
use time::OffsetDateTime;

/// The most keys tracked at once (about 64 bytes each).
pub const MAX_KEYS: usize = 65_536;

/// How many failures a key may have, and how fast it earns them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureQuota {
    /// Failures allowed in a burst.
    pub burst: u32,
    /// One more allowed failure per this much time.
    pub refill: Duration,
}

impl Default for FailureQuota {
    /// 10 failures at once, then one every 6 s (10 a minute).
    fn default() -> Self {
        Self {
            burst: 10,
            refill: Duration::from_secs(6),
        }
    }
}

/// A key out of tries: when it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Time until the next try.
    pub retry_after: Duration,
    /// The quota's burst (for `X-Rate-Limit-Limit`).
    pub limit: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tries left at `at`, in units of one failure.
    tries: f64,
    at: Instant,
}

/// The failure limiter of one kind of credential.
#[derive(Debug)]
pub struct FailureLimiter {
    quota: FailureQuota,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Failures recorded, and requests refused for want of tries (for metrics).
    failures: AtomicU64,
    throttled: AtomicU64,
}

impl FailureLimiter {
    /// A limiter with `quota`.
    pub fn new(quota: FailureQuota) -> Self {
        Self {
            quota,
            buckets: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64()
            / self.quota.refill.as_secs_f64().max(f64::EPSILON);
        (bucket.tries + earned).min(f64::from(self.quota.burst))
    }

    fn throttled(&self, tries: f64) -> Throttled {
        let missing = (1.0 - tries).max(0.0);
        Throttled {
            retry_after: self.quota.refill.mul_f64(missing),
            limit: self.quota.burst,
        }
    }

    /// Whether `key` may try now (it costs nothing: only failures count).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Throttled> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match buckets.get(key) {
            Some(bucket) => {
                let tries = self.refilled(*bucket, now);
                if tries >= 1.0 {
                    Ok(())
                } else {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    Err(self.throttled(tries))
                }
            }
            None => Ok(()),
        }
    }

    /// Failures recorded, and requests refused (429), since it was made.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.failures.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }

    /// Records a failure of `key`; `Err` when it has no tries left now.
    pub fn failed(&self, key: &str, now: Instant) -> Result<(), Throttled> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            self.make_room(&mut buckets, now);
        }
        let full = f64::from(self.quota.burst);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tries: full,
            at: now,
        });
        let tries = (self.refilled(*bucket, now) - 1.0).max(0.0);
        *bucket = Bucket { tries, at: now };
        if tries >= 1.0 {
            Ok(())
        } else {
            Err(self.throttled(tries))
        }
    }

    /// Drops refilled buckets, or else the fullest tenth, so a flood of new
    /// keys cannot grow the table without bound.
    fn make_room(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full = f64::from(self.quota.burst);
        buckets.retain(|_, b| self.refilled(*b, now) < full);
        if buckets.len() < MAX_KEYS {
            return;
        }
        let mut by_tries: Vec<(f64, String)> = buckets
            .iter()
            .map(|(k, b)| (self.refilled(*b, now), k.clone()))
            .collect();
        by_tries.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, key) in by_tries.into_iter().take(MAX_KEYS / 10) {
            buckets.remove(&key);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Okta's rate-limit headers, and `Retry-After`, for a throttled answer.
pub fn rate_limit_headers(headers: &mut axum::http::HeaderMap, throttled: Throttled) {
    use axum::http::HeaderValue;
    let wait =
        throttled.retry_after.as_secs() + u64::from(throttled.retry_after.subsec_nanos() > 0);
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_add(wait);
    headers.insert("x-rate-limit-limit", HeaderValue::from(throttled.limit));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(0u32));
    headers.insert("x-rate-limit-reset", HeaderValue::from(reset));
    headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
}

/// The failure limiters of the API, shared by its routes.
#[derive(Debug)]
pub struct AuthLimiters {
    /// Admin token failures, per source.
    pub admin: FailureLimiter,
    /// SCEP challenge-URL (Basic auth) failures, per source and per
    /// configuration and username.
    pub challenge: FailureLimiter,
    /// Refused SCEP PKIOperations (a wrong challenge costs us two RSA
    /// private-key operations), per source.
    pub scep: FailureLimiter,
    /// Device API signatures that did not verify, per source.
    pub device: FailureLimiter,
    /// Where failures are recorded for the System Log, if anywhere.
    log: Option<Arc<AuthFailureLog>>,
}

impl AuthLimiters {
    /// `(credential, failures, throttled)` for each limiter, for metrics.
    pub fn counts(&self) -> Vec<(&'static str, u64, u64)> {
        [
            ("admin", &self.admin),
            ("challenge_url", &self.challenge),
            ("scep", &self.scep),
            ("device", &self.device),
        ]
        .into_iter()
        .map(|(name, limiter)| {
            let (failed, throttled) = limiter.counts();
            (name, failed, throttled)
        })
        .collect()
    }

    /// Limiters with `quota`.
    pub fn new(quota: FailureQuota) -> Self {
        Self {
            admin: FailureLimiter::new(quota),
            challenge: FailureLimiter::new(quota),
            scep: FailureLimiter::new(quota),
            device: FailureLimiter::new(quota),
            log: None,
        }
    }

    /// The same limiters, recording every failure in `log`.
    #[must_use]
    pub fn audited(mut self, log: Arc<AuthFailureLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The limiter of `credential`'s failures.
    fn limiter(&self, credential: Credential) -> &FailureLimiter {
        match credential {
            Credential::AdminToken => &self.admin,
            Credential::ChallengeUrl => &self.challenge,
            Credential::ScepRequest => &self.scep,
            // Signatures and enrollment tokens: what a device presents.
            _ => &self.device,
        }
    }
}

/// A source address as a limiter key: IPv4 as itself, IPv6 by its /64 (one
/// host usually holds a whole /64, so single addresses would be free).
pub fn source_key(peer: Option<SocketAddr>) -> String {
    match peer.map(|p| p.ip()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_owned(),
    }
}

/// What a guarded request's audit names as its route.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// The matched route template (cheap to keep: it is only written out
    /// on a failure).
    Template(Option<MatchedPath>),
    /// A path of the caller's making (a SCEP configuration's).
    Path(String),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Self::Template(Some(template)) => template.as_str(),
            Self::Template(None) => "unmatched",
            Self::Path(path) => path,
        }
    }
}

/// A request presenting `credential`, under that credential's failure
/// limiter: a source out of tries is refused ([`Guard::check`]) before its
/// credential is looked at; each failure ([`Guard::failed`]) counts
/// against every key of the request (its source, and, for the challenge
/// URL, the username guessed at). Every failure and every throttled
/// request is recorded for the System Log.
///
/// Without its peer (a router mounted without the accept loop's
/// `ConnectInfo`), a request is not limited, since keying every unknown
/// source together would let one guesser lock out everyone; its failures
/// are still recorded.
pub(crate) struct Guard {
    limiters: Option<Arc<AuthLimiters>>,
    limited: bool,
    credential: Credential,
    source: String,
    /// A key beside the source (the challenge URL's username).
    also: Option<String>,
    route: Route,
}

impl Guard {
    /// The guard of a request from `peer`, with the router's `limiters`.
    pub(crate) fn new(
        peer: Option<SocketAddr>,
        limiters: Option<Arc<AuthLimiters>>,
        credential: Credential,
        route: Route,
    ) -> Self {
        Self {
            limiters,
            limited: peer.is_some(),
            credential,
            source: source_key(peer),
            also: None,
            route,
        }
    }

    /// The guard of a request with these extensions (its peer, the
    /// router's limiters and its matched route).
    pub(crate) fn of(extensions: &axum::http::Extensions, credential: Credential) -> Self {
        Self::new(
            extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            extensions.get::<Arc<AuthLimiters>>().cloned(),
            credential,
            Route::Template(extensions.get::<MatchedPath>().cloned()),
        )
    }

    /// The same guard, also counting failures against `key`.
    #[must_use]
    pub(crate) fn with_key(mut self, key: String) -> Self {
        self.also = Some(key);
        self
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.source.as_str()).chain(self.also.as_deref())
    }

    /// Refuses a request one of whose keys is out of tries, recording it.
    pub(crate) fn check(&self) -> Result<(), Throttled> {
        let Some(limiters) = self.limiters.as_ref().filter(|_| self.limited) else {
            return Ok(());
        };
        let limiter = limiters.limiter(self.credential);
        for key in self.keys() {
            if let Err(throttled) = limiter.check(key, Instant::now()) {
                self.record(limiters, None);
                return Err(throttled);
            }
        }
        Ok(())
    }

    /// Counts a failure, for `reason` (never the credential), against
    /// every key, and records it.
    pub(crate) fn failed(&self, reason: &str) {
        let Some(limiters) = &self.limiters else {
            return;
        };
        tracing::warn!(credential = self.credential.name(), source = %self.source, reason,
            "authentication failed");
        self.record(limiters, Some(reason));
        if !self.limited {
            return;
        }
        let limiter = limiters.limiter(self.credential);
        for key in self.keys() {
            if let Err(throttled) = limiter.failed(key, Instant::now()) {
                tracing::warn!(credential = self.credential.name(), source = %self.source,
                    retry_after = ?throttled.retry_after, "authentication failures: throttled");
            }
        }
    }

    /// Records a failure or, without a `reason`, a throttled request; the
    /// first since the last write schedules the next, [`FLUSH_AFTER`] later.
    fn record(&self, limiters: &AuthLimiters, reason: Option<&str>) {
        let Some(log) = &limiters.log else {
            return;
        };
        let (source, route, now) = (&self.source, self.route.as_str(), OffsetDateTime::now_utc());
        let first = match reason {
            Some(reason) => log.failed(self.credential, source, route, reason, now),
            None => log.throttled(self.credential, source, route, now),
        };
        if first {
            schedule_flush(log.clone());
        }
    }
}

/// How long failures are folded in memory before they are written.
pub const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes `log`'s folds [`FLUSH_AFTER`] from now. Outside a runtime (a
/// router driven by hand), the next failure inside one does.
fn schedule_flush(log: Arc<AuthFailureLog>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        tokio::time::sleep(FLUSH_AFTER).await;
        let flushed =
            tokio::task::spawn_blocking(move || log.flush(OffsetDateTime::now_utc())).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "could not record failed authentications; retried with the next");
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    fn quota() -> FailureQuota {
        FailureQuota {
            burst: 3,
            refill: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_key_out_of_tries_is_refused_until_it_earns_one_back() {
        let limiter = FailureLimiter::new(quota());
        let t0 = Instant::now();
        assert!(limiter.check("a", t0).is_ok());
        assert!(limiter.failed("a", t0).is_ok());
        assert!(limiter.failed("a", t0).is_ok());
        let out = limiter.failed("a", t0).unwrap_err();
        assert_eq!(out.retry_after, Duration::from_secs(10));
        assert_eq!(out.limit, 3);
        assert!(limiter.check("a", t0).is_err());
        assert!(limiter.check("b", t0).is_ok(), "other keys are untouched");
        let half = t0 + Duration::from_secs(5);
        assert_eq!(
            limiter.check("a", half).unwrap_err().retry_after,
            Duration::from_secs(5)
        );
        assert!(limiter.check("a", t0 + Duration::from_secs(10)).is_ok());
        // One try earned, one failure: out again at once.
        assert!(limiter.failed("a", t0 + Duration::from_secs(10)).is_err());
        // A long quiet spell refills the whole burst, no more.
        let later = t0 + Duration::from_secs(1000);
        assert!(limiter.failed("a", later).is_ok());
        assert!(limiter.failed("a", later).is_ok());
        assert!(limiter.failed("a", later).is_err());
    }

    #[test]
    fn the_table_stays_bounded_under_a_flood_of_keys() {
        let limiter = FailureLimiter::new(quota());
        let t0 = Instant::now();
        limiter.failed("victim", t0).unwrap();
        limiter.failed("victim", t0).unwrap();
        for i in 0..(MAX_KEYS + 5_000) {
            let _ = limiter.failed(&format!("k{i}"), t0);
        }
        assert!(limiter.len() <= MAX_KEYS, "{}", limiter.len());
        assert!(
            limiter.failed("victim", t0).is_err(),
            "the key with the fewest tries left is kept"
        );
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:443".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:80".parse().unwrap();
        assert_eq!(source_key(Some(a)), source_key(Some(b)));
        assert_eq!(source_key(Some(a)), "2001:db8:1:2::/64");
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(source_key(Some(mapped)), "192.0.2.7");
        assert_eq!(source_key(None), "unknown");
    }
}
