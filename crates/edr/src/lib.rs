//! EDR signals for sign-on policy: Windows Security Center (`wsc`),
//! CrowdStrike Zero Trust Assessment (`zta`), Chrome device trust (`dtc`)
//! and Android device trust (`azt`).
//!
//! Each provider is one module holding a typed model, a bounded parser for
//! what the device sends, and the attribute schema it publishes. The policy
//! compiler type-checks `device.provider.<provider>.<name>` against
//! [`schemas()`]; the engine reads values through [`SignalSource`] without
//! copying.
//!
//! ```
//! use devicetrust_edr::{AttrType, attribute};
//!
//! // The schema the policy compiler checks expressions against.
//! let fw = attribute("wsc", "fireWall").ok_or("fireWall is published")?;
//! assert!(matches!(fw.ty, AttrType::Enum(values) if values.contains(&"GOOD")));
//! // A misspelt attribute is not in the schema, so a policy naming it is refused.
//! assert!(attribute("wsc", "fireWal").is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod azt;
pub mod dtc;
pub mod payload;
mod providers;
pub mod schema;
pub mod signals;
pub mod view;
pub mod wsc;
pub mod zta;

pub use payload::PayloadError;
pub use schema::{AttrType, AttributeSchema, ProviderSchema, attribute, provider, schemas};
pub use signals::ProviderSignals;
pub use view::{Lookup, SignalSource, SignalValue};
