//! Placeholder: routes are added by the device work.

use std::sync::Arc;

use axum::Router;

use crate::service::Service;

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
}
