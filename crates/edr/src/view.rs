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

impl core::fmt::Display for Lookup<'_> {
    /// How the value reads in a decision's explanation.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Present(v) => write!(f, "{v}"),
            Self::Absent => f.write_str("absent"),
            Self::Stale {
                collected_at,
                max_age,
            } => write!(
                f,
                "stale (collected at {collected_at}, older than the maximum age of {max_age}); read as absent"
            ),
        }
    }
}

impl core::fmt::Display for SignalValue<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
            Self::Timestamp(t) => write!(f, "{t}"),
            Self::List(items) => write!(f, "{items:?}"),
        }
    }
}
