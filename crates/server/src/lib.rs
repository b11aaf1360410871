//! HTTP for devicetrust: the SCEP endpoints (RFC 8894) and NDES-style
//! challenge URLs, the admin, device and decision APIs over the
//! `devicetrust-service` use cases, as an axum [`Router`](axum::Router) you
//! can serve or mount in your own app.
//!
//! ```
//! use std::sync::Arc;
//! use devicetrust_pki::scep::{ScepConfig, ScepService, StaticChallenge};
//! use devicetrust_pki::{default_backend, Ca, CaConfig, KeyAlgorithm, MemoryLedger};
//! use devicetrust_server::scep_router;
//! use devicetrust_service::{ScepEndpoint, ScepEndpoints};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = default_backend();
//! let ca = Arc::new(Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca);
//! let ra_key = backend.generate(KeyAlgorithm::RSA2048)?;
//! let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=SCEP RA")?;
//! let (challenge, secret) = StaticChallenge::generate()?;
//! let endpoints = Arc::new(ScepEndpoints::new());
//! endpoints.insert(ScepEndpoint {
//!     id: "macos".into(),
//!     service: ScepService::new(ca, ra_cert, &ra_key, Arc::new(challenge), ScepConfig::default())?,
//!     dynamic: None,
//! });
//! // Serves /scep/macos/pkiclient.exe; merge it into your own Router.
//! let app: axum::Router = scep_router(endpoints);
//! # let _ = (app, secret);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod api;
pub mod capture;
pub mod message_param;
pub mod ops;
mod scep_routes;

// The use cases this crate serves; `crate::service::…` reads as the layer below.
use devicetrust_service as service;

pub use scep_routes::{MAX_BODY, router as scep_router};

/// Serves `router` on `listener` (plain HTTP, default deadlines) until
/// Ctrl-C or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    ops::serve_until(
        listener,
        router,
        ops::ListenOptions::default(),
        ops::shutdown_signal(),
    )
    .await
}
