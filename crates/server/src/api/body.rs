//! Request bodies read with a limit (over it: 413), and JSON parsed into
//! Okta-shaped 400s rather than axum's plain-text rejections.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use serde::de::DeserializeOwned;

use crate::api::ApiError;
use crate::service::Service;

/// The body length a request declares (`Content-Length`), if it declares
/// a usable one. Every limit checks it before reading.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads at most `limit` bytes of `body`.
pub(crate) async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(ApiError::too_large(limit));
    }
    // Without a usable Content-Length the limit is enforced while reading;
    // a body that fails to read whole under the limit is refused the same way.
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

/// Parses a JSON body, refusing trailing data; a failure names the JSON
/// path, line and column. The parser's message goes back to the caller only
/// (it may quote their input); nothing here is logged. Every API parses
/// JSON bodies with this one function.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs on every field; only a refusal needs it, so
    // a body is parsed plainly first (which also refuses trailing data) and
    // parsed again, for the message, only when that fails.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::invalid("Api validation failed: request body").with_cause(format!(
            "`{path}` (line {}, column {}): {inner}",
            inner.line(),
            inner.column()
        ))
    })?;
    de.end().map_err(|e| {
        ApiError::invalid("Api validation failed: request body")
            .with_cause(format!("trailing data: {e}"))
    })?;
    Ok(value)
}

/// A JSON body of at most the device API's body limit.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Service>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            read_limited(body, &parts.headers, service.options().device_api.max_body).await?;
        parse_json(&bytes).map(JsonBody)
    }
}
