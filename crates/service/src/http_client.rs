//! Outbound HTTP(S): `ureq` agents that speak TLS with rustls (the ring
//! provider, as the listener does) and trust the system's root
//! certificates, or a PEM bundle given for one use.
//!
//! Every agent in the workspace is made here: a `ureq` agent without
//! explicit roots panics on its first `https` request, and a panic on a
//! URL a user typed is not an answer.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// Where Debian, Fedora and Alpine (and macOS's OpenSSL) keep the system bundle.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The largest bundle read.
const MAX_BUNDLE: u64 = 8 * 1024 * 1024;

/// Why a root bundle could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct RootsError {
    /// The bundle.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The certificates of a PEM bundle.
pub fn read_roots(path: &Path) -> Result<Vec<Certificate<'static>>, RootsError> {
    let fail = |reason: String| RootsError {
        path: path.display().to_string(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if len > MAX_BUNDLE {
        return Err(fail(format!("over the {MAX_BUNDLE}-byte limit")));
    }
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(cert) = item.map_err(|e| fail(e.to_string()))? {
            roots.push(cert);
        }
    }
    if roots.is_empty() {
        return Err(fail("no certificate in the bundle".into()));
    }
    Ok(roots)
}

/// The system's roots: `SSL_CERT_FILE` if set, else the first system bundle
/// found. Read once per process. Empty if there is none: `https` then fails
/// certificate verification, with an error, for every server.
pub fn system_roots() -> Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
            let candidates = from_env
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from));
            for path in candidates {
                match read_roots(&path) {
                    Ok(roots) => return Arc::new(roots),
                    Err(e) => tracing::debug!(error = %e, "no root bundle here"),
                }
            }
            tracing::warn!("no system root certificates found: https requests will fail");
            Arc::new(Vec::new())
        })
        .clone()
}

/// TLS settings: rustls with ring, trusting `roots`.
pub fn tls_config(roots: Arc<Vec<Certificate<'static>>>) -> TlsConfig {
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(roots))
        .build()
}

/// An agent: statuses are answers, not errors; every request ends within
/// `timeout`; redirects are not followed (a 3xx is an answer to report);
/// idle connections are dropped after 5 s, before a server's keep-alive
/// deadline (ours is 10 s) closes them under a request; `https` trusts
/// `roots` (the system's when `None`).
pub fn agent(timeout: Duration, roots: Option<Arc<Vec<Certificate<'static>>>>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_idle_age(Duration::from_secs(5))
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls_config(roots.unwrap_or_else(system_roots)))
        .build()
        .into()
}
