//! HTTP for devicetrust: the SCEP endpoints (RFC 8894) and NDES-style
//! challenge URLs, as an axum [`Router`](axum::Router) you can mount in your
//! own app, plus the data folder that `devicetrust serve` runs from.
//!
//! ```
//! use std::sync::Arc;
//! use devicetrust_pki::scep::{ScepConfig, ScepService, StaticChallenge};
//! use devicetrust_pki::{default_backend, Ca, CaConfig, KeyAlgorithm, MemoryLedger};
//! use devicetrust_server::{scep_router, ScepEndpoint, ScepEndpoints};
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
mod data_dir;
mod endpoints;
pub mod http_client;
pub mod intune;
pub mod message_param;
pub mod ops;
mod scep_routes;
mod secret_file;
pub mod service;

pub use data_dir::{
    DataDir, DataError, DesktopIntegration, NewChallenge, NewIntegration, StoredChallenge,
};
pub use endpoints::{ScepEndpoint, ScepEndpoints};
pub use scep_routes::{MAX_BODY, router as scep_router};
pub use service::{Opened, Service, ServiceOptions};

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
