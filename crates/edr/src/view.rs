//! The attribute view the policy engine reads on every evaluation.
//!
//! Values borrow from the stored signal sets, so an evaluation copies
//! nothing. A stale provider is reported as [`Lookup::Stale`] rather than
//! [`Lookup::Absent`] so the decision's explanation can say *why* the value
//! was missing; the policy must treat both as "no value".

use time::{Duration, OffsetDateTime};

/// One attribute value, borrowed from a signal set.
///
/// Enum-typed attributes read as [`SignalValue::String`] holding the
/// upper-case value Okta uses (e.g. `"GOOD"`); enum lists read as
/// [`SignalValue::List`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SignalValue<'a> {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string or an enum value.
    String(&'a str),
    /// A point in time.
    Timestamp(OffsetDateTime),
    /// A list of strings or enum values.
    List(&'a [String]),
}

/// The result of looking one attribute up.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Lookup<'a> {
    /// The provider's signals are fresh and carry this value.
    Present(SignalValue<'a>),
    /// No fresh signal set carries this attribute.
    Absent,
    /// The provider's latest signals are older than the maximum age; the
    /// value must be treated as absent, and the explanation should say so.
    Stale {
        /// When the stale set was collected.
        collected_at: OffsetDateTime,
        /// The maximum age that was exceeded.
        max_age: Duration,
    },
}

/// Something the policy engine can read `device.provider.*` attributes from.
pub trait SignalSource {
    /// Look `device.provider.<provider>.<attribute>` up.
    fn lookup(&self, provider: &str, attribute: &str) -> Lookup<'_>;
}
