//! The verified assessment the policy reads, and the key-less decoding used
//! for diagnostics and fuzzing.

use time::OffsetDateTime;

use super::claims::{Claims, ClaimsWire};
use super::{Alg, SCHEMA, Segment, ZtaError, jws};
use crate::schema::ProviderSchema;
use crate::signals::ProviderSignals;
use crate::view::SignalValue;

/// A verified Zero Trust Assessment. Only
/// [`ZtaVerifier::verify`](super::ZtaVerifier::verify) makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZtaSignals {
    pub(super) claims: Claims,
}

impl ZtaSignals {
    /// `overall` score.
    #[must_use]
    pub const fn overall(&self) -> u8 {
        self.claims.overall
    }
    /// `os` score.
    #[must_use]
    pub const fn os(&self) -> u8 {
        self.claims.os
    }
    /// `sensorConfig` score.
    #[must_use]
    pub const fn sensor_config(&self) -> u8 {
        self.claims.sensor_config
    }
    /// `aid`, the Falcon agent id (JWT `sub`).
    #[must_use]
    pub fn aid(&self) -> &str {
        &self.claims.aid
    }
    /// `cid`, the CrowdStrike customer id.
    #[must_use]
    pub fn cid(&self) -> &str {
        &self.claims.cid
    }
    /// `csPlatform`.
    #[must_use]
    pub fn platform(&self) -> Option<&str> {
        self.claims.platform.as_deref()
    }
    /// `csSerialNumber`.
    #[must_use]
    pub fn serial_number(&self) -> Option<&str> {
        self.claims.serial_number.as_deref()
    }
    /// The scoring model version, if given.
    #[must_use]
    pub fn assessment_version(&self) -> Option<&str> {
        self.claims.version.as_deref()
    }
    /// `issuedDateTime` (`iat`).
    #[must_use]
    pub const fn issued_at(&self) -> OffsetDateTime {
        self.claims.issued_at
    }
    /// `expirationDateTime` (`exp`).
    #[must_use]
    pub const fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at
    }

    /// The claims as CrowdStrike lays them out (a JSON object), ready to be
    /// signed again; used by tests and fixture tools.
    ///
    /// # Errors
    /// Only if serialisation fails, which it does not for this type.
    pub fn claims_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&ClaimsWire::from(&self.claims))
    }
}

impl ProviderSignals for ZtaSignals {
    fn schema(&self) -> &'static ProviderSchema {
        &SCHEMA
    }

    fn value(&self, attribute: &str) -> Option<SignalValue<'_>> {
        let c = &self.claims;
        Some(match attribute {
            "overall" => SignalValue::Number(f64::from(c.overall)),
            "os" => SignalValue::Number(f64::from(c.os)),
            "sensorConfig" => SignalValue::Number(f64::from(c.sensor_config)),
            "aid" => SignalValue::String(&c.aid),
            "cid" => SignalValue::String(&c.cid),
            "csPlatform" => SignalValue::String(c.platform.as_deref()?),
            "csSerialNumber" => SignalValue::String(c.serial_number.as_deref()?),
            "issuedDateTime" => SignalValue::Timestamp(c.issued_at),
            "expirationDateTime" => SignalValue::Timestamp(c.expires_at),
            _ => return None,
        })
    }
}

/// A token decoded without checking its signature or the clock: for
/// diagnostics and fuzzing only. It deliberately offers no signal values, so
/// it cannot reach a policy decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedToken {
    alg: Alg,
    kid: String,
    claims: Claims,
}

impl UnverifiedToken {
    /// The header's algorithm.
    #[must_use]
    pub const fn alg(&self) -> Alg {
        self.alg
    }
    /// The header's key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The claimed agent id (`sub`).
    #[must_use]
    pub fn aid(&self) -> &str {
        &self.claims.aid
    }
    /// The claimed expiry.
    #[must_use]
    pub const fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at
    }
}

/// Decode a token and run every check that needs neither key nor clock.
///
/// # Errors
/// The [`ZtaError`] of the first check that fails.
pub fn parse_unverified(token: &[u8]) -> Result<UnverifiedToken, ZtaError> {
    let compact = jws::split(token)?;
    let claims = decode_claims(compact.claims_b64)?;
    Ok(UnverifiedToken {
        alg: compact.alg,
        kid: compact.kid,
        claims,
    })
}

pub(super) fn decode_claims(claims_b64: &[u8]) -> Result<Claims, ZtaError> {
    let wire: ClaimsWire = jws::decode_json(Segment::Claims, claims_b64)?;
    Claims::try_from(wire)
}
