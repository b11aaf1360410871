//! EDR signals for sign-on policy: Windows Security Center (`wsc`),
//! CrowdStrike Zero Trust Assessment (`zta`), Chrome device trust (`dtc`)
//! and Android device trust (`azt`).
//!
//! Each provider is one module holding a typed model, a bounded parser for
//! what the device sends, and the attribute schema it publishes. The policy
//! compiler type-checks `device.provider.<provider>.<name>` against
//! [`schemas()`]; at evaluation the engine reads values through
//! [`SignalSource`], borrowing from the cached signals without copying.
//!
//! Signals age: each [`SignalSet`] carries its collection time, and a
//! provider older than its maximum age ([`Freshness`], 8 hours by default)
//! reads as [`Lookup::Stale`], which a policy must treat as absent and
//! an explanation can report.
//!
//! ```
//! use devicetrust_edr::wsc::WscSignals;
//! use devicetrust_edr::{
//!     AttrType, Freshness, Lookup, SignalCache, SignalSet, SignalSource, SignalValue, attribute,
//! };
//! use std::num::NonZeroUsize;
//! use time::{Duration, macros::datetime};
//!
//! // Load time: the schema the policy compiler checks expressions against.
//! let fw = attribute("wsc", "fireWall").ok_or("fireWall is published")?;
//! assert!(matches!(fw.ty, AttrType::Enum(values) if values.contains(&"GOOD")));
//! assert!(attribute("wsc", "fireWal").is_none()); // a misspelling is refused
//!
//! // A device reports; we cache its signals with the time we received them.
//! let received = datetime!(2026-03-01 09:00 UTC);
//! let wsc = WscSignals::parse(br#"{"antiVirus": "GOOD", "fireWall": "POOR"}"#)?;
//! let mut cache = SignalCache::new(NonZeroUsize::MIN.saturating_add(999));
//! cache.insert("device-1", SignalSet::new(received, wsc), received)?;
//!
//! // Evaluation: read through the view.
//! let freshness = Freshness::default();
//! let view = cache.view("device-1", received + Duration::hours(1), &freshness);
//! assert_eq!(view.lookup("wsc", "fireWall"), Lookup::Present(SignalValue::String("POOR")));
//! assert_eq!(view.lookup("zta", "overall"), Lookup::Absent);
//!
//! // Nine hours later the same signals are stale, and say so.
//! let later = cache.view("device-1", received + Duration::hours(9), &freshness);
//! assert!(matches!(later.lookup("wsc", "fireWall"), Lookup::Stale { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Adding a provider
//!
//! The set of providers is open, and adding one touches one module and one
//! list:
//!
//! 1. Write `src/<id>.rs` with the model, its parser (bounded: use
//!    [`payload`]'s decoder for JSON), and a `pub static SCHEMA:
//!    ProviderSchema` naming each attribute as Okta's Expression Language
//!    does.
//! 2. Implement [`ProviderSignals`] for the model, returning exactly the
//!    schema's attributes with the schema's types.
//! 3. Declare `pub const INGEST: Ingest`: [`Ingest::Json`] with a parser for
//!    reports anyone may read, or [`Ingest::SignedToken`] for signals that
//!    must be verified first (as `zta` does).
//! 4. Name the module in the `providers!` list in `src/providers.rs`.
//!
//! The policy compiler then accepts `device.provider.<id>.*`,
//! [`parse_payload`] routes reports to the new parser, the cache stores the
//! new sets as it does any other, and the schema-consistency
//! tests cover the new provider once a fixture is added to them.

pub mod azt;
pub mod cache;
pub mod device;
pub mod dtc;
pub mod freshness;
pub mod payload;
pub mod providers;
pub mod schema;
pub mod signals;
#[cfg(test)]
mod test_log;
pub mod view;
pub mod wsc;
pub mod zta;

pub use cache::{CacheError, FUTURE_TOLERANCE, SignalCache};
pub use device::{DeviceRecord, DeviceSignals, Stored};
pub use freshness::{Freshness, SignalSet};
pub use payload::PayloadError;
pub use providers::{Ingest, ingest, parse_payload};
pub use schema::{AttrType, AttributeSchema, ProviderSchema, attribute, provider, schemas};
pub use signals::ProviderSignals;
pub use view::{Lookup, SignalSource, SignalValue};
