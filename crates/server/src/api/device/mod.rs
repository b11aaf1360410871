//! The device API (what Okta Verify does), under `/device/v1/`, and the
//! admin route that mints enrollment tokens for it.
//!
//! - `POST /device/v1/register` (enrollment token): [`register`];
//! - every other call is signed with the device's key ([`auth`]):
//!   `POST /device/v1/nonce` and `POST /device/v1/management-proof`
//!   ([`proof`]), `POST /device/v1/signals` ([`signals`]),
//!   `GET /device/v1/me` ([`me`]), `POST /device/v1/sessions` ([`sessions`]);
//! - `POST /api/v1/users/{userId}/enrollment-tokens` (admin): [`tokens`].
//!
//! Request signatures cover the path the device sent. Mount these routes
//! with `merge` at the root: `nest` strips its prefix from the URI the
//! extractor sees, and every signature would then fail.

pub(crate) mod auth;
pub(crate) mod errors;
mod me;
mod proof;
mod register;
mod sessions;
pub(crate) mod signals;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::service::Service;

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/device/v1/register", post(register::register))
        .route("/device/v1/nonce", post(proof::nonce))
        .route("/device/v1/management-proof", post(proof::management_proof))
        .route("/device/v1/signals", post(signals::report))
        .route("/device/v1/me", get(me::me))
        .route("/device/v1/sessions", post(sessions::create))
        .route(
            "/api/v1/users/{user_id}/enrollment-tokens",
            post(tokens::mint),
        )
}
