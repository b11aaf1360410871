//! The ZTA claims as CrowdStrike lays them out, and their checks.
//!
//! Scores sit in a nested `assessment` object (`overall`, `os`,
//! `sensor_config`, plus the scoring `version`); the agent id is the JWT
//! `sub`. Other members (`assessment_items`, `iss`, ...) are ignored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ZtaError;

/// Scores run from 1 to 100; anything above is not a score.
const MAX_SCORE: u8 = 100;
/// Identifiers and descriptions longer than this are not real ZTA values.
const MAX_TEXT: usize = 256;

#[derive(Serialize, Deserialize)]
pub(crate) struct AssessmentWire {
    pub(crate) overall: u8,
    pub(crate) os: u8,
    pub(crate) sensor_config: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ClaimsWire {
    pub(crate) sub: String,
    pub(crate) cid: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<i64>,
    pub(crate) assessment: AssessmentWire,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<String>,
}

/// Claims after their own checks (types, ranges, `exp` after `iat`), but
/// before any check against the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) aid: String,
    pub(crate) cid: String,
    pub(crate) overall: u8,
    pub(crate) os: u8,
    pub(crate) sensor_config: u8,
    pub(crate) version: Option<String>,
    pub(crate) platform: Option<String>,
    pub(crate) serial_number: Option<String>,
    pub(crate) issued_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    /// RFC 7519 4.1.5: when present, it must be honoured.
    pub(crate) not_before: Option<OffsetDateTime>,
}

fn bad(claim: &'static str, reason: &'static str) -> ZtaError {
    ZtaError::BadClaim { claim, reason }
}

fn text(claim: &'static str, value: String) -> Result<String, ZtaError> {
    if value.is_empty() {
        return Err(bad(claim, "is empty"));
    }
    if value.len() > MAX_TEXT {
        return Err(bad(claim, "is longer than 256 bytes"));
    }
    Ok(value)
}

fn score(claim: &'static str, value: u8) -> Result<u8, ZtaError> {
    if value > MAX_SCORE {
        return Err(bad(claim, "is above 100"));
    }
    Ok(value)
}

fn instant(claim: &'static str, secs: i64) -> Result<OffsetDateTime, ZtaError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad(claim, "is not a representable time"))
}

impl TryFrom<ClaimsWire> for Claims {
    type Error = ZtaError;

    fn try_from(w: ClaimsWire) -> Result<Self, ZtaError> {
        let issued_at = instant("iat", w.iat)?;
        let expires_at = instant("exp", w.exp)?;
        if expires_at <= issued_at {
            return Err(bad("exp", "is not after iat"));
        }
        let not_before = w.nbf.map(|n| instant("nbf", n)).transpose()?;
        Ok(Self {
            aid: text("sub", w.sub)?,
            cid: text("cid", w.cid)?,
            overall: score("assessment.overall", w.assessment.overall)?,
            os: score("assessment.os", w.assessment.os)?,
            sensor_config: score("assessment.sensor_config", w.assessment.sensor_config)?,
            version: w
                .assessment
                .version
                .map(|v| text("assessment.version", v))
                .transpose()?,
            platform: w.platform.map(|v| text("platform", v)).transpose()?,
            serial_number: w
                .serial_number
                .map(|v| text("serial_number", v))
                .transpose()?,
            issued_at,
            expires_at,
            not_before,
        })
    }
}

impl From<&Claims> for ClaimsWire {
    fn from(c: &Claims) -> Self {
        Self {
            sub: c.aid.clone(),
            cid: c.cid.clone(),
            iat: c.issued_at.unix_timestamp(),
            exp: c.expires_at.unix_timestamp(),
            nbf: c.not_before.map(OffsetDateTime::unix_timestamp),
            assessment: AssessmentWire {
                overall: c.overall,
                os: c.os,
                sensor_config: c.sensor_config,
                version: c.version.clone(),
            },
            platform: c.platform.clone(),
            serial_number: c.serial_number.clone(),
        }
    }
}
