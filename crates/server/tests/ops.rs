//! Operations: deadlines for slow clients, body limits, metrics, TLS and
//! graceful shutdown, against a real listener on loopback.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use devicetrust_server::ops::{self, Limits, ListenOptions, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Running {
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn app() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "finished"
            }),
        )
        .route(
            "/echo",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .route("/ignores-body", post(|| async { "ignored" }))
        .route(
            "/page",
            get(|| async { axum::response::Html("<p>hello</p>") }),
        )
        .route(
            "/cached",
            get(|| async { ([(axum::http::header::CACHE_CONTROL, "max-age=60")], "x") }),
        )
}

#[expect(
    clippy::unwrap_used,
    reason = "test setup: a failure here should fail the test"
)]
async fn start(options: ListenOptions, limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let router = ops::instrument(app(), metrics.clone(), limits);
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(ops::serve_until(listener, router, options, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        metrics,
        stop: Some(stop),
        done,
    }
}

fn fast() -> (ListenOptions, Limits) {
    (
        ListenOptions {
            header_timeout: Duration::from_millis(300),
            drain_timeout: Duration::from_secs(5),
            ..ListenOptions::default()
        },
        Limits {
            max_body: 1024,
            request_timeout: Duration::from_millis(600),
            ..Limits::default()
        },
    )
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failure here should fail the test"
)]
/// Sends raw bytes and reads until the server closes or `wait` passes.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (o, l) = fast();
    let server = start(o, l).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    // The header deadline is 300 ms; allow a generous margin, but not forever.
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server kept a slow client's connection open"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("200 OK"), "{text}");
}

#[tokio::test]
async fn a_client_that_stalls_its_body_gets_408() {
    let (o, l) = fast();
    let server = start(o, l).await;
    let text = exchange(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part",
        Duration::from_secs(5),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_smaller_ones_pass() {
    let (o, l) = fast();
    let server = start(o, l).await;
    let big = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n{}",
        "a".repeat(2048)
    );
    let text = exchange(server.addr, big.as_bytes(), Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let small =
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let text = exchange(server.addr, small.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n5"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_only() {
    let (o, l) = fast();
    let server = start(o, l).await;
    for path in ["/healthz", "/healthz", "/no-such-path-1", "/no-such-path-2"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        exchange(server.addr, req.as_bytes(), Duration::from_secs(5)).await;
    }
    let on_the_api = exchange(
        server.addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(on_the_api.starts_with("HTTP/1.1 404"), "{on_the_api}");
    let text = server.metrics.render();
    assert!(
        text.contains(
            r#"devicetrust_http_requests_total{route="/healthz",method="GET",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains("devicetrust_http_request_duration_seconds_count{route=\"/healthz\"} 2"));
    // Unknown paths do not become labels (they would grow the series without bound).
    assert!(!text.contains("no-such-path"), "{text}");
    assert_eq!(server.metrics.requests_for("/healthz"), 2);
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let (o, l) = fast();
    let mut server = start(o, l).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        exchange(
            addr,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let text = in_flight.await.unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("finished"),
        "{text}"
    );
    server.done.await.unwrap().unwrap();
    // And nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serves_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-days",
            "1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed by scripts/setup");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (mut o, l) = fast();
    o.tls = Some(ops::tls_config(&cert, &key).unwrap());
    let server = start(o, l).await;

    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
        "{text}"
    );
    assert!(
        text.contains("strict-transport-security: max-age=31536000\r\n"),
        "{text}"
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(!plain.contains("200 OK"), "{plain}");
}

#[test]
fn tls_config_refuses_files_that_are_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, b"not pem").unwrap();
    let err = ops::tls_config(&junk, &junk).unwrap_err();
    assert!(err.to_string().contains("junk.pem"), "{err}");
}

#[tokio::test]
async fn a_handler_that_ignores_the_body_keeps_the_connection_usable() {
    let (o, l) = fast();
    let server = start(o, l).await;
    // The body arrives after the headers, as from clients that write them
    // separately; the handler never reads it. The connection must stay
    // usable for the next request, as a pooling client assumes.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /ignores-body HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"{}").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(text.ends_with("ok"), "{text}");
}

/// Every answer, errors and the limits' own refusals included, carries
/// the security headers; HTML gets a content security policy; a route's
/// own caching rule is kept; plain HTTP gets no HSTS.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let (o, l) = fast();
    let server = start(o, l).await;
    let big = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{}",
        "a".repeat(2000)
    );
    let requests = [
        ("GET /healthz", "HTTP/1.1 200", "no-store", false),
        ("GET /nowhere", "HTTP/1.1 404", "no-store", false),
        (big.as_str(), "HTTP/1.1 413", "no-store", false),
        ("GET /page", "HTTP/1.1 200", "no-store", true),
        ("GET /cached", "HTTP/1.1 200", "max-age=60", false),
    ];
    for (request, status, cache, html) in requests {
        let bytes = if request.contains("\r\n") {
            request.to_owned()
        } else {
            format!("{request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        };
        let text = exchange(server.addr, bytes.as_bytes(), Duration::from_secs(5)).await;
        let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
        assert!(head.starts_with(status), "{request}: {head}");
        for line in [
            format!("cache-control: {cache}"),
            "x-content-type-options: nosniff".to_owned(),
            "referrer-policy: no-referrer".to_owned(),
        ] {
            assert!(head.contains(&format!("\r\n{line}")), "{request}: {head}");
        }
        assert_eq!(
            head.contains(
                "\r\ncontent-security-policy: default-src 'self'; frame-ancestors 'none'"
            ),
            html,
            "{request}: {head}"
        );
        assert!(!head.contains("strict-transport-security"), "{head}");
    }
}

/// Past the connection cap, a new connection is answered 503 with
/// `Retry-After` at once; when one closes, the next is served again.
#[tokio::test]
async fn connections_past_the_cap_get_503_and_the_cap_frees_up() {
    let (mut o, l) = fast();
    o.max_connections = 2;
    o.header_timeout = Duration::from_secs(5);
    let metrics = Arc::new(Metrics::new());
    o.metrics = Some(metrics.clone());
    let server = start(o, l).await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let second = TcpStream::connect(server.addr).await.unwrap();
    // Both are accepted before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
    assert!(
        text.ends_with("Service unavailable: try again shortly"),
        "{text}"
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains("devicetrust_refused_total{family=\"connection\",reason=\"busy\"} 1"),
        "{rendered}"
    );
    assert!(
        rendered.contains("devicetrust_connections_open 2"),
        "{rendered}"
    );
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(second);
}

/// Past a route family's cap, a request is answered 503 at once, and the
/// other families are not affected.
#[tokio::test]
async fn requests_past_their_familys_cap_get_503() {
    let (o, mut l) = fast();
    l.concurrency.set(ops::admission::Family::Other, 1);
    l.request_timeout = Duration::from_secs(5);
    let server = start(o, l).await;
    let slow = tokio::spawn(exchange(
        server.addr,
        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(
        busy.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"),
        "{busy}"
    );
    assert!(busy.contains("E0000010"), "{busy}");
    let slow = slow.await.unwrap();
    assert!(
        slow.starts_with("HTTP/1.1 200") && slow.ends_with("finished"),
        "{slow}"
    );
    let text = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// A handler that answers without reading a large body does not wait for
/// it: the answer comes before the body is sent, and says the connection
/// closes, since what is left is not worth reading.
#[tokio::test]
async fn a_large_unread_body_is_not_waited_for() {
    let (o, mut l) = fast();
    l.max_body = 4 * 1024 * 1024;
    let server = start(o, l).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /ignores-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server waited for the body");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(text.ends_with("ignored"), "{text}");
}

/// A request head larger than a connection's buffer is refused (431).
#[tokio::test]
async fn headers_larger_than_the_buffer_get_431() {
    let (mut o, l) = fast();
    o.max_buffer = 16 * 1024;
    let server = start(o, l).await;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    let text = exchange(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}
