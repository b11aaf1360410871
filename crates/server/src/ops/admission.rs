//! How much the service takes on at once, so that load it cannot serve is
//! refused at once (503 with `Retry-After`) instead of queueing in memory:
//! requests in flight per route family, and the bytes of SCEP bodies being
//! read. SCEP bodies carry their own authentication, so they are read
//! before anything can be checked; they must keep up a byte rate, so a
//! slow sender cannot hold the budget. (Open connections are capped by the
//! accept loop, [`super::ListenOptions::max_connections`].)

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::Metrics;
use crate::api::body::declared_length;
use crate::api::{ApiError, UNAVAILABLE};

/// Routes that share a cap on requests in flight: a flood of one cannot
/// starve the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// `/api/v1/…` but the decision API.
    Admin,
    /// `/device/v1/…`, what Okta Verify calls.
    Device,
    /// `/api/v1/authorize`.
    Decision,
    /// `/scep/…`.
    Scep,
    /// The rest: `/healthz`, unknown paths.
    Other,
}

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Admin,
        Self::Device,
        Self::Decision,
        Self::Scep,
        Self::Other,
    ];

    /// The family `path` belongs to.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/scep/") {
            Self::Scep
        } else if path.starts_with("/device/") {
            Self::Device
        } else if path == "/api/v1/authorize" || path.starts_with("/api/v1/authorize/") {
            Self::Decision
        } else if path.starts_with("/api/") {
            Self::Admin
        } else {
            Self::Other
        }
    }

    /// Its name in metrics and on the command line.
    pub fn label(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Device => "device",
            Self::Decision => "decision",
            Self::Scep => "scep",
            Self::Other => "other",
        }
    }
}

/// A name that is no [`Family`].
#[derive(Debug, thiserror::Error)]
#[error("unknown route family {0:?}: expected admin, device, decision, scep or other")]
pub struct UnknownFamily(String);

impl FromStr for Family {
    type Err = UnknownFamily;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.label() == s)
            .ok_or_else(|| UnknownFamily(s.chars().take(32).collect()))
    }
}

/// One value per route family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerFamily<T> {
    admin: T,
    device: T,
    decision: T,
    scep: T,
    other: T,
}

impl<T> PerFamily<T> {
    /// The value of `family`.
    pub fn of(&self, family: Family) -> &T {
        match family {
            Family::Admin => &self.admin,
            Family::Device => &self.device,
            Family::Decision => &self.decision,
            Family::Scep => &self.scep,
            Family::Other => &self.other,
        }
    }

    fn of_mut(&mut self, family: Family) -> &mut T {
        match family {
            Family::Admin => &mut self.admin,
            Family::Device => &mut self.device,
            Family::Decision => &mut self.decision,
            Family::Scep => &mut self.scep,
            Family::Other => &mut self.other,
        }
    }

    fn map<U>(self, f: impl Fn(T) -> U) -> PerFamily<U> {
        PerFamily {
            admin: f(self.admin),
            device: f(self.device),
            decision: f(self.decision),
            scep: f(self.scep),
            other: f(self.other),
        }
    }
}

/// Requests in flight allowed per family.
pub type Concurrency = PerFamily<usize>;

impl Default for Concurrency {
    /// Admin and SCEP requests are few and heavy (SCEP costs RSA operations
    /// on two cores); device and decision requests are many and light.
    /// Each admin request may hold a 1 MiB body, each device one 64 KiB:
    /// 64 MiB and 32 MiB at most.
    fn default() -> Self {
        Self {
            admin: 64,
            device: 512,
            decision: 512,
            scep: 64,
            other: 64,
        }
    }
}

impl Concurrency {
    /// Sets the cap of `family` (at least 1).
    pub fn set(&mut self, family: Family, cap: usize) {
        *self.of_mut(family) = cap.max(1);
    }
}

/// The caps in force, for [`admit`].
pub(crate) struct Gates {
    families: PerFamily<Arc<Semaphore>>,
    metrics: Arc<Metrics>,
}

impl Gates {
    pub(crate) fn new(caps: Concurrency, metrics: Arc<Metrics>) -> Self {
        Self {
            families: caps.map(|n| Arc::new(Semaphore::new(n))),
            metrics,
        }
    }
}

/// Middleware: a request past its family's cap is answered 503 at once.
pub(crate) async fn admit(
    State(gates): State<Arc<Gates>>,
    request: Request,
    next: Next,
) -> Response {
    let family = Family::of(request.uri().path());
    let gate = gates.families.of(family).clone();
    match gate.try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            gates.metrics.refused(family.label(), "busy");
            busy(family)
        }
    }
}

/// 503 with `Retry-After`: an Okta error object on the APIs, plain text on
/// SCEP (whose clients show the text).
pub(crate) fn busy(family: Family) -> Response {
    match family {
        Family::Scep => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (CONTENT_TYPE, "text/plain; charset=utf-8"),
                (RETRY_AFTER, "1"),
            ],
            UNAVAILABLE,
        )
            .into_response(),
        _ => ApiError::unavailable(UNAVAILABLE).into_response(),
    }
}

/// How SCEP bodies are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScepBodyLimits {
    /// Bytes of SCEP bodies held at once, counting each at its declared
    /// length (or the largest allowed, when it declares none).
    pub in_flight_bytes: usize,
    /// The slowest average rate a body may arrive at, after `grace`.
    pub min_bytes_per_second: u32,
    /// Time every body gets before the rate applies.
    pub grace: Duration,
}

impl Default for ScepBodyLimits {
    /// 16 MiB is 256 of the largest bodies; real clients send 2 to 8 KiB.
    /// At 8 KiB/s after 2 s, a 64 KiB body has 10 s, a typical one 3 s.
    fn default() -> Self {
        Self {
            in_flight_bytes: 16 * 1024 * 1024,
            min_bytes_per_second: 8 * 1024,
            grace: Duration::from_secs(2),
        }
    }
}

/// Why a SCEP body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyRefusal {
    /// Declared or sent more than the limit.
    #[error("the request body is over {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The in-flight budget is spent.
    #[error("{UNAVAILABLE}")]
    Busy,
    /// It arrived slower than the floor.
    #[error("the request body arrived slower than {min_bytes_per_second} bytes a second")]
    TooSlow {
        /// The floor.
        min_bytes_per_second: u32,
    },
    /// The connection failed while it was read.
    #[error("the request body could not be read")]
    Unreadable,
}

impl BodyRefusal {
    /// The status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unreadable => StatusCode::BAD_REQUEST,
        }
    }
}

/// The SCEP body budget, shared by every SCEP route of a router.
pub struct ScepBodies {
    budget: Arc<Semaphore>,
    limits: ScepBodyLimits,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for ScepBodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepBodies")
            .field("available", &self.budget.available_permits())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ScepBodies {
    /// A budget of `limits.in_flight_bytes`.
    pub fn new(limits: ScepBodyLimits) -> Self {
        Self {
            budget: Arc::new(Semaphore::new(
                limits.in_flight_bytes.min(Semaphore::MAX_PERMITS),
            )),
            limits,
            metrics: None,
        }
    }

    /// Counts refusals in `metrics` (`devicetrust_refused_total`).
    #[must_use]
    pub fn counted(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, reason: &'static str) {
        if let Some(m) = &self.metrics {
            m.refused(Family::Scep.label(), reason);
        }
    }

    /// Reads `body` (at most `max` bytes) within the budget and the rate
    /// floor. The body's share of the budget is held by the permit, which
    /// the caller keeps for as long as it keeps the bytes.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        mut body: Body,
        max: usize,
    ) -> Result<(Vec<u8>, OwnedSemaphorePermit), BodyRefusal> {
        let reserve = match declared_length(headers) {
            Some(n) if n > max as u64 => return Err(BodyRefusal::TooLarge { limit: max }),
            Some(n) => usize::try_from(n).unwrap_or(max),
            None => max,
        };
        // Never more than the whole budget, which a smaller budget than
        // `max` could otherwise never grant.
        let permits = u32::try_from(reserve.clamp(1, self.limits.in_flight_bytes.max(1)))
            .map_err(|_| BodyRefusal::TooLarge { limit: max })?;
        let Ok(permit) = self.budget.clone().try_acquire_many_owned(permits) else {
            self.count("budget");
            return Err(BodyRefusal::Busy);
        };
        let started = Instant::now();
        let rate = u64::from(self.limits.min_bytes_per_second.max(1));
        let mut read = Vec::with_capacity(reserve.min(max));
        loop {
            // Each byte received buys 1/rate seconds more.
            let earned = Duration::from_secs_f64(read.len() as f64 / rate as f64);
            let deadline = started + self.limits.grace + earned;
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    self.count("too_slow");
                    return Err(BodyRefusal::TooSlow {
                        min_bytes_per_second: self.limits.min_bytes_per_second,
                    });
                }
                Ok(None) => break,
                Ok(Some(Err(_))) => return Err(BodyRefusal::Unreadable),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Some(data) = frame.data_ref() {
                if read.len().saturating_add(data.len()) > max {
                    return Err(BodyRefusal::TooLarge { limit: max });
                }
                read.extend_from_slice(data);
            }
        }
        Ok((read, permit))
    }
}

impl Default for ScepBodies {
    fn default() -> Self {
        Self::new(ScepBodyLimits::default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;
    use axum::body::Bytes;
    use axum::http::header::CONTENT_LENGTH;

    #[test]
    fn paths_fall_into_their_families() {
        for (path, family) in [
            ("/scep/macos/pkiclient.exe", Family::Scep),
            ("/device/v1/registrations", Family::Device),
            ("/api/v1/authorize", Family::Decision),
            ("/api/v1/authorizer", Family::Admin),
            ("/api/v1/devices", Family::Admin),
            ("/healthz", Family::Other),
            ("/scepx", Family::Other),
        ] {
            assert_eq!(Family::of(path), family, "{path}");
        }
        for family in Family::ALL {
            assert_eq!(family.label().parse::<Family>().unwrap(), family);
        }
        assert!("Admin".parse::<Family>().is_err());
    }

    fn limits(budget: usize) -> ScepBodyLimits {
        ScepBodyLimits {
            in_flight_bytes: budget,
            min_bytes_per_second: 1000,
            grace: Duration::from_millis(200),
        }
    }

    fn declaring(n: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, n.into());
        h
    }

    #[tokio::test]
    async fn the_budget_is_held_while_the_bytes_are_kept() {
        let bodies = ScepBodies::new(limits(100));
        let (first, permit) = bodies
            .read(&declaring(60), Body::from(vec![1u8; 60]), 1000)
            .await
            .unwrap();
        assert_eq!(first.len(), 60);
        let refused = bodies
            .read(&declaring(60), Body::from(vec![1u8; 60]), 1000)
            .await;
        assert_eq!(refused.unwrap_err(), BodyRefusal::Busy);
        drop(permit);
        assert!(
            bodies
                .read(&declaring(60), Body::from(vec![1u8; 60]), 1000)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn over_the_limit_is_refused_declared_or_not() {
        let bodies = ScepBodies::new(limits(10_000));
        let declared = bodies.read(&declaring(2000), Body::from("x"), 1000).await;
        assert_eq!(declared.unwrap_err(), BodyRefusal::TooLarge { limit: 1000 });
        let sent = bodies
            .read(&HeaderMap::new(), Body::from(vec![0u8; 1001]), 1000)
            .await;
        assert_eq!(sent.unwrap_err(), BodyRefusal::TooLarge { limit: 1000 });
    }

    #[tokio::test]
    async fn a_body_slower_than_the_floor_is_cut_off() {
        let bodies = ScepBodies::new(limits(10_000));
        let (tx, rx) = trickle();
        let sender = tokio::spawn(async move {
            // 10 bytes every 100 ms is 100 bytes a second, a tenth of the floor.
            for _ in 0..20 {
                if tx.send(Bytes::from_static(&[7u8; 10])).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = std::time::Instant::now();
        let refused = bodies.read(&declaring(200), rx, 1000).await;
        assert_eq!(
            refused.unwrap_err(),
            BodyRefusal::TooSlow {
                min_bytes_per_second: 1000
            }
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        sender.abort();
    }

    /// A body fed by a channel, one chunk at a time.
    struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(hyper::body::Frame::data(c))))
        }
    }

    fn trickle() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        (tx, Body::new(Trickle(rx)))
    }
}
