//! Device authentication: every device API call but registration carries
//!
//! `Authorization: DeviceSignature id="<deviceId>", ts="<unix seconds>", nonce="<random>", sig="<base64url>"`
//!
//! where `sig` signs `"devicetrust-request-v1\n" + METHOD + "\n" +
//! PATH_AND_QUERY + "\n" + ts + "\n" + nonce + "\n" + hex(SHA-256(body))`
//! with the key the device registered. The extractor reads the body itself
//! (bounded), so the hash is of the bytes the handler then parses; the path
//! is the one the request was sent to, so a signature for another path
//! fails. Checks run cheapest first: header shape, clock window, then the
//! signature, and only then the nonce is recorded, so a forged request
//! cannot burn a device's nonce. A `DEACTIVATED` device is refused (401: its
//! credentials are revoked); a `SUSPENDED` one may only read its own status
//! (other calls: 403), since suspended devices cannot use Okta Verify.
//!
//! Failed authentications count against the request's source
//! ([`crate::ops::failures`]); a source out of tries is refused (429) before
//! its body is read or its signature checked. Not per device: anyone who
//! knows a device's ID could then lock that device out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_service::auth_failures::Credential;
use time::OffsetDateTime;

use super::errors::from_flow;
use crate::api::ApiError;
use crate::api::body::read_limited;
use crate::ops::failures::Guard;
use crate::service::Service;
use crate::service::device_flows::{AuthenticatedDevice, SignedCall};
use crate::service::device_keys;

const SCHEME: &str = "DeviceSignature";
const MAX_HEADER: usize = 4096;
const MAX_SIG: usize = 2048;

/// The parsed `DeviceSignature` header.
#[derive(Debug)]
struct Header<'a> {
    id: &'a str,
    ts: &'a str,
    nonce: &'a str,
    sig: &'a str,
}

fn refuse(why: &str) -> ApiError {
    ApiError::unauthenticated("Invalid device signature").with_cause(why)
}

fn parse_header(headers: &HeaderMap) -> Result<Header<'_>, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| refuse("missing Authorization: DeviceSignature header"))?
        .to_str()
        .map_err(|_| refuse("the Authorization header is not text"))?;
    if value.len() > MAX_HEADER {
        return Err(refuse("the Authorization header is too long"));
    }
    let params = crate::api::auth::after_scheme(value, SCHEME)
        .ok_or_else(|| refuse("the Authorization scheme must be DeviceSignature"))?;
    let (mut id, mut ts, mut nonce, mut sig) = (None, None, None, None);
    for part in params.split(',') {
        let (name, quoted) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| refuse("malformed DeviceSignature parameter"))?;
        let text = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .ok_or_else(|| refuse("DeviceSignature parameters must be quoted"))?;
        let slot = match name {
            "id" => &mut id,
            "ts" => &mut ts,
            "nonce" => &mut nonce,
            "sig" => &mut sig,
            _ => return Err(refuse("unknown DeviceSignature parameter")),
        };
        if slot.replace(text).is_some() {
            return Err(refuse("repeated DeviceSignature parameter"));
        }
    }
    let header = Header {
        id: id.ok_or_else(|| refuse("DeviceSignature lacks id"))?,
        ts: ts.ok_or_else(|| refuse("DeviceSignature lacks ts"))?,
        nonce: nonce.ok_or_else(|| refuse("DeviceSignature lacks nonce"))?,
        sig: sig.ok_or_else(|| refuse("DeviceSignature lacks sig"))?,
    };
    let nonce_ok = (16..=128).contains(&header.nonce.len())
        && header
            .nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !nonce_ok {
        return Err(refuse("nonce must be 16 to 128 base64url characters"));
    }
    if header.sig.len() > MAX_SIG {
        return Err(refuse("sig is too long"));
    }
    Ok(header)
}

/// A request authenticated by its device's signature: the device (as now
/// in the registry) and the body it signed.
/// A device request whose signature verified: the caller and the body
/// the signature covers.
#[derive(Debug)]
pub(crate) struct SignedRequest {
    pub caller: AuthenticatedDevice,
    pub body: Bytes,
}

impl FromRequest<Arc<Service>> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let guard = DeviceGuard::of(&parts, Credential::DeviceSignature)?;
        guard.judged(Self::verify(parts, body, service).await)
    }
}

/// A device API request's guard ([`Guard`]): one whose source is out of
/// tries is refused (429) before its body is read, and each 401 it earns
/// counts against it and is recorded for the System Log.
pub(crate) struct DeviceGuard(Guard);

impl DeviceGuard {
    /// The guard of a request, or 429 when its source is out of tries.
    pub(crate) fn of(parts: &Parts, credential: Credential) -> Result<Self, ApiError> {
        let guard = Guard::of(&parts.extensions, credential);
        guard.check().map_err(ApiError::throttled)?;
        Ok(Self(guard))
    }

    /// `outcome`, after counting it as a failure if it is a 401.
    pub(crate) fn judged<T>(&self, outcome: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &outcome
            && e.status == axum::http::StatusCode::UNAUTHORIZED
        {
            self.0.failed(&e.summary);
        }
        outcome
    }
}

impl SignedRequest {
    async fn verify(
        parts: axum::http::request::Parts,
        body: axum::body::Body,
        service: &Arc<Service>,
    ) -> Result<Self, ApiError> {
        let header = parse_header(&parts.headers)?;
        let body =
            read_limited(body, &parts.headers, service.options().device_api.max_body).await?;
        let signature = URL_SAFE_NO_PAD
            .decode(header.sig.trim_end_matches('='))
            .map_err(|_| refuse("sig is not base64url"))?;
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |p| p.as_str());
        let message = device_keys::canonical_request(
            parts.method.as_str(),
            path,
            header.ts,
            header.nonce,
            &body,
        );
        let (id, ts, nonce) = (
            header.id.to_owned(),
            header.ts.to_owned(),
            header.nonce.to_owned(),
        );
        let service = service.clone();
        let caller = tokio::task::spawn_blocking(move || {
            let call = SignedCall {
                device: &id,
                ts: &ts,
                nonce: &nonce,
                message: message.as_bytes(),
                signature: &signature,
            };
            service.authenticate_device(&call, OffsetDateTime::now_utc())
        })
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(from_flow)?;
        Ok(Self { caller, body })
    }
}
