//! The accept loop: plain HTTP/1.1 or TLS (rustls), with a deadline for
//! the TLS handshake and for each request's headers (slow clients are cut
//! off instead of holding a connection), and graceful shutdown that stops
//! accepting, lets requests in flight finish, then closes.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Time allowed for a TLS handshake and for each request's headers.
    pub header_timeout: Duration,
    /// Time allowed, after shutdown starts, for requests in flight to finish.
    pub drain_timeout: Duration,
    /// TLS, if set.
    pub tls: Option<Arc<ServerConfig>>,
    /// Connections open at once. Past it, a new connection is answered
    /// 503 with `Retry-After` and closed (over TLS: closed before the
    /// handshake, which is the expensive part).
    pub max_connections: usize,
    /// The largest read buffer of a connection: it bounds a request's
    /// headers (larger gets 431) and what an idle or refused connection
    /// holds, so that `max_connections` bounds memory.
    pub max_buffer: usize,
    /// Where refused and open connections are counted, if anywhere.
    pub metrics: Option<Arc<super::Metrics>>,
    /// Proxies believed about the client they forward for
    /// ([`super::proxy`]); none by default.
    pub trusted_proxies: Arc<super::proxy::TrustedProxies>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            tls: None,
            max_connections: 2048,
            max_buffer: 64 * 1024,
            metrics: None,
            trusted_proxies: Arc::default(),
        }
    }
}

/// The answer to a connection past the cap, written without waiting: it
/// fits in any socket buffer. Its text is every 503's.
fn refused_answer() -> Vec<u8> {
    use crate::api::UNAVAILABLE;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Retry-After: 1\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{UNAVAILABLE}",
        UNAVAILABLE.len()
    )
    .into_bytes()
}

/// How long, and for how many bytes, a connection being closed keeps
/// reading what its client still sends.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_BYTES: u64 = 2 * 1024 * 1024;

/// A socket that, when closed, first sends its FIN, then reads and drops
/// what the client is still sending (up to [`LINGER`] and [`LINGER_BYTES`])
/// before it is closed. Closing a socket with unread data makes the kernel
/// send a reset, which destroys the answer still in flight to the client:
/// a 401 or 413 to a large body, refused before the body was read, would
/// reach the client as "connection reset" instead.
struct Lingering<S> {
    inner: S,
    closing: Option<(std::pin::Pin<Box<tokio::time::Sleep>>, u64)>,
}

impl<S> Lingering<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            closing: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.closing.is_none() {
            std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.closing = Some((Box::pin(tokio::time::sleep(LINGER)), LINGER_BYTES));
        }
        let Some((deadline, left)) = this.closing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 4096];
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = tokio::io::ReadBuf::new(&mut scratch);
            match std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                // The client's end, or an error: nothing more to wait for.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    *left = left.saturating_sub(buf.filled().len() as u64);
                    if *left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

/// A connection's hold on its slot; counted in the metrics while held.
struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    metrics: Option<Arc<super::Metrics>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.connection(false);
        }
    }
}

/// TLS setup failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file did not read as PEM certificates.
    #[error("{path}: no usable PEM certificate: {reason}")]
    Certificates {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The key file did not read as a PEM private key.
    #[error("{path}: no usable PEM private key: {reason}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A rustls server configuration (TLS 1.2 and 1.3, ring provider) from PEM
/// files: the certificate chain, leaf first, and its private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| TlsError::Certificates {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificates {
            path: cert.display().to_string(),
            reason: "the file holds no certificate".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connections the kernel may hold for us before we accept them. Tokio's
/// `TcpListener::bind` asks for 1,024, fewer than
/// [`ListenOptions::max_connections`]: a burst would overflow the queue,
/// and its clients see resets instead of our answer (503 past the cap).
/// The kernel lowers it to `net.core.somaxconn` if that is smaller.
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with a backlog of [`BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio do: a restarted server binds while old sockets linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let acceptor = options.tls.clone().map(TlsAcceptor::from);
    let router = if acceptor.is_some() {
        router.layer(axum::middleware::map_response(super::headers::over_tls))
    } else {
        router
    };
    let router = if options.trusted_proxies.is_empty() {
        router
    } else {
        router.layer(axum::middleware::from_fn_with_state(
            options.trusted_proxies.clone(),
            super::proxy::real_client,
        ))
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let refused = refused_answer();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Some(m) = &options.metrics {
                m.refused("connection", "busy");
            }
            if acceptor.is_none() {
                // Best effort: a full socket buffer just means no answer.
                let _ = stream.try_write(&refused);
            }
            drop(stream);
            continue;
        };
        if let Some(m) = &options.metrics {
            m.connection(true);
        }
        let slot = Slot {
            _permit: permit,
            metrics: options.metrics.clone(),
        };
        let _ = stream.set_nodelay(true);
        let stream = Lingering::new(stream);
        // Each request knows its peer, for the failure limiters' keys.
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .max_buf_size(options.max_buffer.max(8192))
            .keep_alive(true);
        match &acceptor {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                let deadline = options.header_timeout;
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.drain_timeout) => {
            tracing::warn!(timeout = ?options.drain_timeout, "some connections outlived the drain timeout");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
