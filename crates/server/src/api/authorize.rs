//! Placeholder: routes are added by the authorize work.

use std::sync::Arc;

use axum::Router;

use crate::service::Service;

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
}
