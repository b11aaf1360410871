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

/// Reads at most `limit` bytes of `body`.
pub(crate) async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(ApiError::too_large(limit));
    }
    // Without a usable Content-Length the limit is enforced while reading;
    // a body that fails to read whole under the limit is refused the same way.
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

/// Parses a JSON body. The parser's message goes back to the caller only
/// (it may quote their input); nothing here is logged.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid("Api validation failed: the request body").with_cause(e.to_string())
    })
}

/// A JSON body of at most the device API's body limit.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Service>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(body, &parts.headers, service.options.device_api.max_body).await?;
        parse_json(&bytes).map(JsonBody)
    }
}
