//! TLS to PostgreSQL, configured with libpq's URL parameters.
//!
//! - `sslmode=disable` sends everything in clear; `require`, `verify-ca` and
//!   `verify-full` all mean TLS with the server's certificate verified
//!   against `sslrootcert` and its name checked against the host. libpq's
//!   `require` verifies nothing and its `verify-ca` checks no name; here a
//!   certificate is verified or the connection refused. `prefer` and
//!   `allow` are refused: a man in the middle could strip TLS unnoticed.
//! - Without `sslmode`: `disable` when every host is a Unix socket (no
//!   network in between), `require` as soon as one is reached over TCP.
//! - `sslrootcert=PATH`: a PEM file of the CA certificates that sign the
//!   server's; `sslrootcert=system`: the system's roots (`SSL_CERT_FILE`, or
//!   the distribution's bundle).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Error, Result};

/// The largest root bundle read (Debian's is about 220 KB).
const MAX_ROOTS_FILE: u64 = 4 * 1024 * 1024;

/// Where distributions keep the system's root bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The TLS parameters taken out of a database URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TlsParams {
    /// `sslmode`, as written.
    mode: Option<String>,
    /// `sslrootcert`, decoded.
    root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `url` (a `postgres://` URL or
/// `key=value` pairs), returning the rest for `tokio_postgres::Config`.
pub(super) fn split(url: &str) -> Result<(String, TlsParams)> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: String| -> bool {
        match key {
            "sslmode" => params.mode = Some(value),
            "sslrootcert" => params.root_cert = Some(value),
            _ => return false,
        }
        true
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_decode(value)?;
                    if !take(key, value) {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        url.split_whitespace()
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value.trim_matches('\'').to_owned())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok((rest, params))
}

/// Sets `config`'s TLS mode from `params`, and returns the connector.
pub(super) fn connector(
    config: &mut tokio_postgres::Config,
    params: &TlsParams,
) -> Result<MakeRustlsConnect> {
    let over_tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)));
    let required = match params.mode.as_deref() {
        None => over_tcp,
        Some("disable") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(invalid(format!(
                "sslmode={other}: use disable, or require (verify-ca and verify-full are the \
                 same here: the server's certificate and name are always verified)"
            )));
        }
    };
    let roots = if required {
        config.ssl_mode(SslMode::Require);
        match params.root_cert.as_deref() {
            None => {
                return Err(invalid(
                    "TLS to PostgreSQL needs sslrootcert=PATH (a PEM file of the CA \
                     certificates that sign the server's) or sslrootcert=system; \
                     sslmode=disable sends everything in clear"
                        .into(),
                ));
            }
            Some("system") => system_roots()?,
            Some(path) => roots_from(Path::new(path))?,
        }
    } else {
        config.ssl_mode(SslMode::Disable);
        RootCertStore::empty()
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}

fn roots_from(path: &Path) -> Result<RootCertStore> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?
        .len();
    if size > MAX_ROOTS_FILE {
        return Err(invalid(format!(
            "sslrootcert {shown}: {size} bytes, over the {MAX_ROOTS_FILE}-byte limit"
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?
    {
        let cert = cert.map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(format!("sslrootcert {shown} holds no certificate")));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore> {
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        })
        .ok_or_else(|| {
            invalid("sslrootcert=system: no system root bundle (set SSL_CERT_FILE)".into())
        })?;
    roots_from(&bundle)
}

fn percent_decode(value: &str) -> Result<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| invalid("a URL parameter is not UTF-8 once decoded".into()))
}

fn invalid(reason: String) -> Error {
    Error::Config {
        what: "database TLS",
        reason,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() {
        let (rest, params) = split(
            "postgres://u:p@db:5432/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(params.mode.as_deref(), Some("verify-full"));
        assert_eq!(params.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, params) = split("postgres://u@db/x?sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://u@db/x");
        assert_eq!(params.mode.as_deref(), Some("disable"));
        let (rest, params) = split("host=db user=u sslmode=require sslrootcert=system").unwrap();
        assert_eq!(rest, "host=db user=u");
        assert_eq!(params.root_cert.as_deref(), Some("system"));
    }

    fn mode(url: &str) -> Result<SslMode> {
        let (rest, params) = split(url)?;
        let mut config: tokio_postgres::Config = rest.parse().unwrap();
        connector(&mut config, &params)?;
        Ok(config.get_ssl_mode())
    }

    #[test]
    fn tcp_needs_verified_tls_unless_disabled_and_sockets_default_to_none() {
        assert_eq!(mode("postgres://u@%2Ftmp/x").unwrap(), SslMode::Disable);
        assert_eq!(
            mode("postgres://u@db/x?sslmode=disable").unwrap(),
            SslMode::Disable
        );
        for url in [
            "postgres://u@db/x",
            "postgres://u@db/x?sslmode=require",
            "postgres://u@db/x?sslmode=verify-full",
        ] {
            let e = mode(url).unwrap_err().to_string();
            assert!(e.contains("sslrootcert"), "{url}: {e}");
        }
        for weak in ["prefer", "allow", "bogus"] {
            let e = mode(&format!("postgres://u@db/x?sslmode={weak}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("sslmode={weak}")), "{e}");
        }
        let e = mode("postgres://u@db/x?sslrootcert=/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = mode(&format!(
            "postgres://u@db/x?sslrootcert={}",
            empty.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
