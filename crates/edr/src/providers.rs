//! The one list of providers this build knows, and provider-agnostic
//! ingestion of their payloads.
//!
//! Adding a provider means writing one module (model, parser, `SCHEMA`,
//! `INGEST`, and a [`ProviderSignals`] impl) and naming it in the
//! `providers!` list below; nothing else in the workspace changes, because
//! the policy compiler reads [`schemas()`](crate::schemas), a device report
//! handler calls [`parse_payload`], and the engine reads values through
//! [`SignalSource`](crate::SignalSource).

use crate::payload::{PayloadError, clip};
use crate::schema::ProviderSchema;
use crate::signals::ProviderSignals;

/// Parses one provider's JSON payload into its model.
pub type JsonParser = fn(&[u8]) -> Result<Box<dyn ProviderSignals>, PayloadError>;

/// How a provider's signals reach us.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Ingest {
    /// A JSON object the device reports; anyone can parse it.
    Json(JsonParser),
    /// A signed token that only a configured verifier may accept (for
    /// `zta`, [`ZtaVerifier`](crate::zta::ZtaVerifier)); there is
    /// deliberately no key-less parser that yields signals.
    SignedToken,
}

macro_rules! providers {
    ($($module:ident),+ $(,)?) => {
        /// Every provider's schema, in a stable order.
        pub(crate) static REGISTRY: &[&ProviderSchema] = &[$(&crate::$module::SCHEMA),+];

        /// How provider `id`'s signals are ingested, if this build knows it.
        #[must_use]
        pub fn ingest(id: &str) -> Option<Ingest> {
            $(
                if id == crate::$module::SCHEMA.id {
                    return Some(crate::$module::INGEST);
                }
            )+
            None
        }
    };
}

// The list. Order is the order `schemas()` reports.
providers!(wsc, zta, dtc, azt);

/// Parse a JSON payload for `provider`, whichever provider it is.
///
/// # Errors
/// [`PayloadError::UnknownProvider`] for a provider this build does not
/// know, [`PayloadError::NeedsVerifier`] for one whose signals arrive as
/// signed tokens, otherwise whatever that provider's parser refuses.
pub fn parse_payload(
    provider: &str,
    bytes: &[u8],
) -> Result<Box<dyn ProviderSignals>, PayloadError> {
    match ingest(provider) {
        Some(Ingest::Json(parse)) => parse(bytes),
        Some(Ingest::SignedToken) => Err(PayloadError::NeedsVerifier {
            provider: clip(provider),
        }),
        None => Err(PayloadError::UnknownProvider {
            provider: clip(provider),
        }),
    }
}
