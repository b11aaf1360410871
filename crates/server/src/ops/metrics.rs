//! Prometheus metrics, kept in process and rendered as the text exposition
//! format at `/metrics`: request counts and latencies by route, SCEP and
//! device enrollments by outcome, and decisions by access.
//!
//! Labels come from a closed set (matched route templates, not raw paths),
//! so a scanner hitting random URLs cannot grow the series without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count = count.saturating_add(1);
            }
        }
        self.count = self.count.saturating_add(1);
        self.sum += seconds;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// By route, then method and status: a route's series are found with
    /// a borrowed `&str`, so no key is allocated once a route was seen.
    requests: BTreeMap<String, BTreeMap<(&'static str, u16), u64>>,
    durations: BTreeMap<String, Histogram>,
    enrollments: BTreeMap<(&'static str, &'static str), u64>,
    decisions: BTreeMap<&'static str, u64>,
    in_flight: i64,
    /// Refused before any handler ran: by route family (or `connection`)
    /// and reason.
    refused: BTreeMap<(&'static str, &'static str), u64>,
    connections_open: i64,
}

/// Counts another part of the service keeps itself, read at each scrape:
/// `(kind, outcome, count)` for `devicetrust_enrollments_total`.
pub type EnrollmentSource = Box<dyn Fn() -> Vec<(&'static str, &'static str, u64)> + Send + Sync>;

/// Round trips to a shared database that callers waited for, read at each
/// scrape: `(engine, count)`, or `None` for an embedded database.
pub type RoundTripSource = Box<dyn Fn() -> Option<(&'static str, u64)> + Send + Sync>;

/// Failed authentications and throttled requests, read at each scrape:
/// `(credential, failures, throttled)`.
pub type AuthFailureSource = Box<dyn Fn() -> Vec<(&'static str, u64, u64)> + Send + Sync>;

/// The service's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    sources: Mutex<Vec<EnrollmentSource>>,
    round_trips: Mutex<Option<RoundTripSource>>,
    auth_failures: Mutex<Option<AuthFailureSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    let slot = map.entry(key).or_insert(0);
    *slot = slot.saturating_add(1);
}

impl Metrics {
    /// No observations yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Records one finished request.
    pub fn request(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        self.with(|m| {
            match m.requests.get_mut(route) {
                Some(series) => bump(series, (method, status)),
                None => bump(
                    m.requests.entry(route.to_owned()).or_default(),
                    (method, status),
                ),
            }
            match m.durations.get_mut(route) {
                Some(h) => h.observe(took.as_secs_f64()),
                None => m
                    .durations
                    .entry(route.to_owned())
                    .or_default()
                    .observe(took.as_secs_f64()),
            }
        });
    }

    /// Records an enrollment: `kind` is `scep` or `device`, `outcome` e.g. `issued`, `refused`.
    pub fn enrollment(&self, kind: &'static str, outcome: &'static str) {
        self.with(|m| bump(&mut m.enrollments, (kind, outcome)));
    }

    /// Adds counts kept elsewhere (SCEP outcomes) to `devicetrust_enrollments_total`.
    pub fn add_enrollment_source(&self, source: EnrollmentSource) {
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(source);
    }

    /// Reads `devicetrust_database_round_trips_total` from `source` at each scrape.
    pub fn set_round_trip_source(&self, source: RoundTripSource) {
        *self
            .round_trips
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(source);
    }

    /// Reads `devicetrust_auth_failures_total` and
    /// `devicetrust_auth_throttled_total` from `source` at each scrape.
    pub fn set_auth_failure_source(&self, source: AuthFailureSource) {
        *self
            .auth_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(source);
    }

    /// Records a policy decision (`ALLOW` or `DENY`).
    pub fn decision(&self, access: &'static str) {
        self.with(|m| bump(&mut m.decisions, access));
    }

    /// The number of requests recorded for `route` (any method and status).
    pub fn requests_for(&self, route: &str) -> u64 {
        self.with(|m| {
            m.requests
                .get(route)
                .map_or(0, |series| series.values().sum())
        })
    }

    /// Counts a request or connection refused for load: `family` is a
    /// route family or `connection`, `reason` why (`busy`, `budget`,
    /// `too_slow`).
    pub fn refused(&self, family: &'static str, reason: &'static str) {
        self.with(|m| bump(&mut m.refused, (family, reason)));
    }

    /// Counts a connection accepted (`opened`) or ended.
    pub fn connection(&self, opened: bool) {
        self.with(|m| {
            m.connections_open = if opened {
                m.connections_open.saturating_add(1)
            } else {
                m.connections_open.saturating_sub(1)
            };
        });
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let external: Vec<(&'static str, &'static str, u64)> = self
            .sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .flat_map(|source| source())
            .collect();
        let round_trips = self
            .round_trips
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .and_then(|source| source());
        let auth_failures = self
            .auth_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map(|source| source())
            .unwrap_or_default();
        self.with(|m| {
            let mut enrollments = m.enrollments.clone();
            for (kind, outcome, n) in external {
                let slot = enrollments.entry((kind, outcome)).or_insert(0);
                *slot = slot.saturating_add(n);
            }
            let mut out = String::new();
            let _ = writeln!(
                out,
                "# HELP devicetrust_http_requests_total HTTP requests by route template, method and status.\n# TYPE devicetrust_http_requests_total counter"
            );
            for (route, series) in &m.requests {
                let route = escape(route);
                for ((method, status), n) in series {
                    let _ = writeln!(
                        out,
                        "devicetrust_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                    );
                }
            }
            let _ = writeln!(
                out,
                "# HELP devicetrust_http_request_duration_seconds Time from request to response headers.\n# TYPE devicetrust_http_request_duration_seconds histogram"
            );
            for (route, h) in &m.durations {
                let route = escape(route);
                for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "devicetrust_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "devicetrust_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\ndevicetrust_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\ndevicetrust_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count, h.sum, h.count
                );
            }
            let _ = writeln!(
                out,
                "# HELP devicetrust_http_requests_in_flight Requests being handled.\n# TYPE devicetrust_http_requests_in_flight gauge\ndevicetrust_http_requests_in_flight {}",
                m.in_flight
            );
            let _ = writeln!(
                out,
                "# HELP devicetrust_connections_open Connections accepted and not yet closed.\n# TYPE devicetrust_connections_open gauge\ndevicetrust_connections_open {}",
                m.connections_open
            );
            let _ = writeln!(
                out,
                "# HELP devicetrust_refused_total Requests and connections refused for load, by route family (or connection) and reason.\n# TYPE devicetrust_refused_total counter"
            );
            for ((family, reason), n) in &m.refused {
                let _ = writeln!(
                    out,
                    "devicetrust_refused_total{{family=\"{family}\",reason=\"{reason}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP devicetrust_enrollments_total Enrollments by kind (scep, device) and outcome.\n# TYPE devicetrust_enrollments_total counter"
            );
            for ((kind, outcome), n) in &enrollments {
                let _ = writeln!(
                    out,
                    "devicetrust_enrollments_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP devicetrust_decisions_total Policy decisions by access.\n# TYPE devicetrust_decisions_total counter"
            );
            for (access, n) in &m.decisions {
                let _ = writeln!(out, "devicetrust_decisions_total{{access=\"{access}\"}} {n}");
            }
            if !auth_failures.is_empty() {
                let _ = writeln!(
                    out,
                    "# HELP devicetrust_auth_failures_total Failed authentications by credential.\n# TYPE devicetrust_auth_failures_total counter"
                );
                for (credential, failed, _) in &auth_failures {
                    let _ = writeln!(
                        out,
                        "devicetrust_auth_failures_total{{credential=\"{credential}\"}} {failed}"
                    );
                }
                let _ = writeln!(
                    out,
                    "# HELP devicetrust_auth_throttled_total Requests refused (429) after too many failures from their source, by credential.\n# TYPE devicetrust_auth_throttled_total counter"
                );
                for (credential, _, throttled) in &auth_failures {
                    let _ = writeln!(
                        out,
                        "devicetrust_auth_throttled_total{{credential=\"{credential}\"}} {throttled}"
                    );
                }
            }
            if let Some((engine, n)) = round_trips {
                let _ = writeln!(
                    out,
                    "# HELP devicetrust_database_round_trips_total Round trips to the shared database that requests waited for.\n# TYPE devicetrust_database_round_trips_total counter\ndevicetrust_database_round_trips_total{{engine=\"{engine}\"}} {n}"
                );
            }
            out
        })
    }
}

/// Label values escape `\`, `"` and newlines (Prometheus text format).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Middleware: counts, times and logs every request by its route template.
/// The log line holds the method, route template, status and latency, never
/// the path, headers or body: SCEP GET requests carry the message in the
/// query, and headers carry tokens.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    metrics.with(|m| m.in_flight = m.in_flight.saturating_add(1));
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.with(|m| m.in_flight = m.in_flight.saturating_sub(1));
    let took = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        method,
        route,
        status,
        latency_us = took.as_micros(),
        "request"
    );
    metrics.request(&route, method, status, took);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_buckets_and_escapes_labels() {
        let m = Metrics::new();
        m.request("/a\"b", "GET", 200, Duration::from_micros(300));
        m.request("/a\"b", "GET", 200, Duration::from_millis(20));
        m.enrollment("scep", "issued");
        m.decision("DENY");
        let text = m.render();
        assert!(
            text.contains(
                r#"devicetrust_http_requests_total{route="/a\"b",method="GET",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"devicetrust_http_request_duration_seconds_bucket{route="/a\"b",le="0.0005"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"devicetrust_http_request_duration_seconds_bucket{route="/a\"b",le="0.025"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"devicetrust_enrollments_total{kind="scep",outcome="issued"} 1"#));
        assert!(text.contains(r#"devicetrust_decisions_total{access="DENY"} 1"#));
        assert_eq!(m.requests_for("/a\"b"), 2);
    }
}
