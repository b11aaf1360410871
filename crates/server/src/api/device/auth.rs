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

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_devices::{Device, DeviceId, DeviceStatus};
use time::{Duration, OffsetDateTime};

use crate::api::body::read_limited;
use devicetrust_store::{DeviceKeyRecord, NonceUse, Store as _};

use super::errors::{from_key, from_store, too_many};
use crate::api::ApiError;
use crate::service::Service;
use crate::service::device_keys;

const SCHEME: &str = "DeviceSignature ";
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
    let params = value
        .strip_prefix(SCHEME)
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
#[derive(Debug)]
pub(crate) struct SignedRequest {
    /// The authenticated device.
    pub device: Device,
    /// The request body, exactly as signed.
    pub body: Bytes,
    /// The key that signed it, as registered.
    pub key: DeviceKeyRecord,
}

impl SignedRequest {
    /// Refuses a suspended device: it may not use Okta Verify.
    pub fn require_active(&self) -> Result<(), ApiError> {
        if self.device.status == DeviceStatus::Active {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "device {} is {}: Okta Verify cannot be used on it",
                self.device.id, self.device.status
            )))
        }
    }

    /// Refuses a body that names another device (one device cannot act for another).
    pub fn require_self(&self, named: Option<&str>) -> Result<(), ApiError> {
        match named {
            Some(id) if id != self.device.id.as_str() => Err(ApiError::forbidden(format!(
                "device {} cannot act for device {id}",
                self.device.id
            ))),
            _ => Ok(()),
        }
    }
}

impl FromRequest<Arc<Service>> for SignedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let header = parse_header(&parts.headers)?;
        let options = &service.options.device_api;
        let body = read_limited(body, &parts.headers, options.max_body).await?;
        let now = OffsetDateTime::now_utc();
        let ts = header
            .ts
            .parse::<i64>()
            .ok()
            .filter(|_| header.ts.len() <= 20 && header.ts.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| refuse("ts must be Unix seconds"))?;
        if (now - ts).abs() > options.clock_skew {
            return Err(refuse("ts is outside the accepted clock window"));
        }
        let id = DeviceId::new(header.id).map_err(|_| refuse("id is not a device id"))?;
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
        )
        .into_bytes();
        let forget_at = ts
            .saturating_add(options.clock_skew)
            .saturating_add(Duration::SECOND);
        let nonce = header.nonce.to_owned();
        let service = service.clone();
        let (device, key) = tokio::task::spawn_blocking(move || {
            authenticate(&service, &id, &message, &signature, &nonce, forget_at, now)
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        Ok(Self { device, body, key })
    }
}

/// Checks the signature with the device's registered key, then, in one
/// write transaction, that the key is still the one registered, that the
/// nonce is new (recorded in the store, so it stays used across restarts
/// and replicas) and what state the device is in.
fn authenticate(
    service: &Service,
    id: &DeviceId,
    message: &[u8],
    signature: &[u8],
    nonce: &str,
    forget_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(Device, DeviceKeyRecord), ApiError> {
    let org = &service.org;
    let stored = service
        .store
        .read(|tx| tx.device_key(org, id))
        .map_err(from_store)?;
    let Some(stored) = stored else {
        return Err(no_key(service, id));
    };
    let key = device_keys::parse_stored(&stored).map_err(from_key)?;
    // Verified before the nonce is recorded, so a forged request cannot burn a device's nonce.
    device_keys::verify(service.backend, &key, id, message, signature).map_err(from_key)?;
    let per_device = service.options.device_api.replay_per_device;
    let checked = service
        .store
        .write(|tx| {
            // A key retired or replaced since it was read signs for nothing.
            let current = tx.device_key(org, id)?;
            if current.is_none_or(|k| k.spki_hex != stored.spki_hex) {
                return Ok(Err(refuse("the device key was retired")));
            }
            match tx.use_request_nonce(org, id, nonce, forget_at, now, per_device)? {
                NonceUse::Fresh => {}
                NonceUse::Replayed => return Ok(Err(refuse("nonce was already used"))),
                _ => {
                    return Ok(Err(too_many(
                        "too many requests from this device; retry in a few minutes",
                    )));
                }
            }
            Ok(Ok(tx.device(org, id)?))
        })
        .map_err(from_store)??;
    let Some(device) = checked else {
        return Err(refuse("unknown device"));
    };
    if device.status == DeviceStatus::Deactivated {
        return Err(deactivated(id));
    }
    Ok((device, stored))
}

fn deactivated(id: &DeviceId) -> ApiError {
    ApiError::unauthenticated(format!(
        "device {id} is DEACTIVATED: its credentials are revoked"
    ))
}

/// The refusal for a device with no key: a deactivated device says so (its
/// key was retired with it), anything else is unknown.
fn no_key(service: &Service, id: &DeviceId) -> ApiError {
    match service.store.read(|tx| tx.device(&service.org, id)) {
        Ok(Some(device)) if device.status == DeviceStatus::Deactivated => deactivated(id),
        Ok(_) => refuse("unknown device"),
        Err(e) => from_store(e),
    }
}
