//! Headers every answer carries, so no route can forget them: answers are
//! not cached (several carry secrets shown once: enrollment tokens, rotated
//! admin tokens, integration secrets), not MIME-sniffed, and leak no
//! referrer; HTML may load nothing from elsewhere; over TLS, browsers are
//! told to stay on HTTPS. A route that sets its own `Cache-Control` or
//! `Content-Security-Policy` keeps it (the CRL is meant to be re-fetched,
//! not hidden). No CORS header is ever added: cross-origin browser calls
//! are refused by the browser.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// For HTML: nothing from anywhere but this origin, no framing, no plugins.
const HTML_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'; object-src 'none'";

/// One year, the value HSTS preload lists ask for.
const HSTS: &str = "max-age=31536000";

/// Adds the headers every answer carries.
pub(crate) async fn on_every_answer(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if is_html(headers) {
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(HTML_POLICY));
    }
    response
}

/// Adds `Strict-Transport-Security`: only on answers sent over TLS, since
/// browsers ignore it over plain HTTP and it must not pin a plain service.
pub(crate) async fn over_tls(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.get(..9)
                .is_some_and(|head| head.eq_ignore_ascii_case("text/html"))
        })
}
