//! SCEP over HTTP (RFC 8894, section 4): `GET` and `POST` on
//! `/scep/{id}/pkiclient.exe?operation=…`, and the dynamic challenge URL.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use time::OffsetDateTime;

use crate::message_param;
use crate::ops::admission::{BodyRefusal, Family, ScepBodies, busy};
use crate::ops::failures::{AuthLimiters, Guard, Route, Throttled, rate_limit_headers};
use crate::service::{ScepEndpoint, ScepEndpoints};
use devicetrust_pki::scep::PkiStatus;
use devicetrust_service::auth_failures::Credential;

/// Largest PKIOperation body accepted (larger gets 413).
pub const MAX_BODY: usize = 64 * 1024;

/// The SCEP routes, for mounting in any axum app, with the default body
/// budget ([`ScepBodies`]).
pub fn router(endpoints: Arc<ScepEndpoints>) -> Router {
    router_with(endpoints, Arc::new(ScepBodies::default()))
}

/// The SCEP routes, reading PKIOperation bodies within `bodies`.
pub fn router_with(endpoints: Arc<ScepEndpoints>, bodies: Arc<ScepBodies>) -> Router {
    Router::new()
        .route("/scep/{id}", get(scep).post(scep))
        .route("/scep/{id}/pkiclient.exe", get(scep).post(scep))
        .route("/scep/{id}/mscep_admin", get(challenge))
        .route("/scep/{id}/mscep_admin/", get(challenge))
        .layer(Extension(bodies))
        .with_state(endpoints)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let body: String = body.into();
    if status.is_client_error() {
        tracing::info!(%status, reason = %body, "scep request refused");
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn scep(
    State(endpoints): State<Arc<ScepEndpoints>>,
    Path(id): Path<String>,
    Extension(bodies): Extension<Arc<ScepBodies>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some(endpoint) = endpoints.get(&id) else {
        return text(StatusCode::NOT_FOUND, "no such SCEP configuration");
    };
    let query = query.unwrap_or_default();
    let operation = match message_param::operation(&query) {
        Ok(op) => op,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match operation.as_str() {
        "GetCACaps" => text(StatusCode::OK, endpoint.service.ca_caps()),
        "GetCACert" => match endpoint.service.ca_certs() {
            Ok(der) => (
                [(header::CONTENT_TYPE, "application/x-x509-ca-ra-cert")],
                der,
            )
                .into_response(),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        "PKIOperation" => {
            // A source whose requests keep being refused (wrong challenges,
            // broken messages) waits before its next one is read, let alone
            // costs an RSA decryption.
            let guard = guard(
                &parts.extensions,
                Credential::ScepRequest,
                format!("/scep/{id}/pkiclient.exe"),
            );
            if let Err(t) = guard.check() {
                return throttled(t);
            }
            let (message, held) = if parts.method == Method::POST {
                match bodies.read(&parts.headers, body, MAX_BODY).await {
                    Ok((message, held)) => (message, Some(held)),
                    Err(BodyRefusal::Busy) => return busy(Family::Scep),
                    Err(refusal) => return text(refusal.status(), refusal.to_string()),
                }
            } else {
                match message_param::message(&query, MAX_BODY) {
                    Ok(der) => (der, None),
                    Err(e @ message_param::ParamError::TooLarge { .. }) => {
                        return text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
                    }
                    Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
                }
            };
            let response = pki_operation(endpoint, message, &guard).await;
            // The body's share of the budget is back once its bytes are gone.
            drop(held);
            response
        }
        other => text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown operation {:?}",
                other.chars().take(32).collect::<String>()
            ),
        ),
    }
}

/// The guard of a SCEP request; its audit names the configuration's `path`.
fn guard(extensions: &axum::http::Extensions, credential: Credential, path: String) -> Guard {
    Guard::new(
        extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
        extensions.get::<Arc<AuthLimiters>>().cloned(),
        credential,
        Route::Path(path),
    )
}

async fn pki_operation(endpoint: Arc<ScepEndpoint>, message: Vec<u8>, guard: &Guard) -> Response {
    // RSA decryption and signing take milliseconds: keep them off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        let reply = endpoint.service.pki_operation_with_status(&message);
        if crate::capture::enabled() {
            crate::capture::exchange(
                &endpoint.id,
                &message,
                reply.as_ref().ok().map(|(reply, _)| reply.as_slice()),
            );
        }
        reply
    })
    .await;
    let refused = match &result {
        Ok(Ok((_, PkiStatus::Success | PkiStatus::Pending))) => None,
        Ok(Ok(_)) => {
            Some("refused with FAILURE: a wrong challenge or a request the CA will not sign")
        }
        Ok(Err(_)) => Some("not a SCEP message this service can read"),
        Err(_) => None,
    };
    if let Some(reason) = refused {
        guard.failed(reason);
    }
    match result {
        Ok(Ok((reply, _))) => {
            ([(header::CONTENT_TYPE, "application/x-pki-message")], reply).into_response()
        }
        Ok(Err(rejected)) => text(StatusCode::BAD_REQUEST, format!("refused: {rejected}")),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker failed: {e}"),
        ),
    }
}

/// Username and password from an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 1024 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// 429 for a challenge-URL guesser, with the rate-limit headers.
fn throttled(t: Throttled) -> Response {
    let mut response = text(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed attempts; try again later",
    );
    rate_limit_headers(response.headers_mut(), t);
    response
}

async fn challenge(
    State(endpoints): State<Arc<ScepEndpoints>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let Some(dynamic) = endpoints
        .get(&id)
        .and_then(|e| e.dynamic.clone().map(|d| (e, d)))
    else {
        return text(StatusCode::NOT_FOUND, "no dynamic SCEP challenge here");
    };
    let (endpoint, store) = dynamic;
    let credentials = basic_credentials(&parts.headers);
    // Failures count per source and per configuration and username (a
    // username is the one guessed at, whichever source tries it), and a key
    // out of tries is refused before its password is checked.
    let mut guard = guard(
        &parts.extensions,
        Credential::ChallengeUrl,
        format!("/scep/{id}/mscep_admin/"),
    );
    if let Some((user, _)) = &credentials {
        // Bounded, so a long made-up name cannot cost more memory. No
        // source key starts with "user:".
        guard = guard.with_key(format!(
            "user:{id}:{}",
            user.chars().take(64).collect::<String>()
        ));
    }
    if let Err(t) = guard.check() {
        return throttled(t);
    }
    let authorised = credentials
        .as_ref()
        .is_some_and(|(user, pass)| store.check_credentials(user, pass));
    if !authorised {
        guard.failed(if credentials.is_some() {
            "wrong username or password"
        } else {
            "no Basic credentials"
        });
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"devicetrust SCEP challenge\", charset=\"UTF-8\"",
            )],
            "authentication required",
        )
            .into_response();
    }
    match store.issue(OffsetDateTime::now_utc()) {
        Ok(challenge) => {
            let page = devicetrust_pki::scep::ndes_admin_page(
                &challenge,
                &endpoint.service.ca_thumbprint(),
                devicetrust_pki::scep::DynamicChallenges::DEFAULT_VALIDITY,
            );
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                page,
            )
                .into_response()
        }
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
