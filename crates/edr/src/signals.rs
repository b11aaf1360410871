//! What every provider's model implements, so the cache and the attribute
//! view can hold any provider without knowing it.

use core::fmt;

use crate::schema::ProviderSchema;
use crate::view::SignalValue;

/// One provider's parsed signals.
///
/// Implementations must return a value only for attributes their
/// [`schema`](Self::schema) publishes, typed as the schema says: the policy
/// compiler has already type-checked expressions against that schema, so a
/// mismatch here would be a silent policy bug. The crate's tests check
/// this for every built-in provider.
pub trait ProviderSignals: fmt::Debug + Send + Sync + 'static {
    /// The schema this model publishes.
    fn schema(&self) -> &'static ProviderSchema;

    /// The value of `attribute`, or `None` when the device did not report it
    /// (or the attribute is not published).
    fn value(&self, attribute: &str) -> Option<SignalValue<'_>>;
}
