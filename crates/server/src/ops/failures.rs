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

use devicetrust_service::auth_failures::{AuthFailureLog, Credential};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

    /// Records a failure (or, without a `reason`, a throttled request) in
    /// the System Log, when these limiters are [`AuthLimiters::audited`].
    pub(crate) fn audit(
        &self,
        credential: Credential,
        source: &str,
        route: &str,
        reason: Option<&str>,
    ) {
        if let Some(log) = &self.log {
            audit(log, credential, source, route, reason);
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

/// How long failures are folded in memory before they are written.
pub const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Records a failed authentication for the System Log, or, without a
/// `reason`, a request throttled before its credential was looked at; the
/// first since the last write schedules the next, [`FLUSH_AFTER`] later.
pub(crate) fn audit(
    log: &Arc<AuthFailureLog>,
    credential: Credential,
    source: &str,
    route: &str,
    reason: Option<&str>,
) {
    let now = time::OffsetDateTime::now_utc();
    let first = match reason {
        Some(reason) => log.failed(credential, source, route, reason, now),
        None => log.throttled(credential, source, route, now),
    };
    if !first {
        return;
    }
    // Outside a runtime (a router driven by hand), the next failure inside one flushes.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let log = log.clone();
    runtime.spawn(async move {
        tokio::time::sleep(FLUSH_AFTER).await;
        let flushed =
            tokio::task::spawn_blocking(move || log.flush(time::OffsetDateTime::now_utc())).await;
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
