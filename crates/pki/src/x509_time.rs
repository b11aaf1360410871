//! Conversions between `time::OffsetDateTime` and X.509 `Time`.
//!
//! ```text
//! Time ::= CHOICE {
//!      utcTime        UTCTime,
//!      generalTime    GeneralizedTime }
//! ```
//! RFC 5280, section 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.

use std::time::Duration;

use der::DateTime;
use der::asn1::{GeneralizedTime, UtcTime};
use time::OffsetDateTime;
use x509_cert::time::Time;

use crate::{Error, Result};

/// Encodes a time (whole seconds) the way RFC 5280 requires.
pub fn to_x509(t: OffsetDateTime) -> Result<Time> {
    let bad = || Error::BadTime {
        time: t.to_string(),
    };
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| bad())?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(|_| bad())?;
    if dt.year() < 2050 {
        UtcTime::from_date_time(dt)
            .map(Time::UtcTime)
            .map_err(|_| bad())
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// Decodes an X.509 time.
pub fn from_x509(t: Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `t` truncated to whole seconds, as a certificate will hold it.
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}
