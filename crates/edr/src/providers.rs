//! The one list of providers this build knows.
//!
//! Adding a provider means writing one module (model, parser, `SCHEMA`,
//! and a [`ProviderSignals`](crate::ProviderSignals) impl) and adding its
//! `SCHEMA` here; nothing else in the workspace changes, because the policy
//! compiler reads [`schemas()`](crate::schemas) and the engine reads values
//! through [`SignalSource`](crate::SignalSource).

use crate::schema::ProviderSchema;
use crate::{azt, dtc, wsc, zta};

/// Every provider's schema, in a stable order.
pub(crate) static REGISTRY: &[&ProviderSchema] =
    &[&wsc::SCHEMA, &zta::SCHEMA, &dtc::SCHEMA, &azt::SCHEMA];
