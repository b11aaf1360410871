//! Failed authentications, folded: one record per source, credential,
//! route and reason over a short window, with a count, so that a guesser
//! adds a row a minute rather than a row a try. They have a table of their
//! own, bounded by row count, so a flood of them cannot push the device
//! and configuration audit out.

use devicetrust_devices::OrgId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Failed authentications from one source, folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthFailureRecord {
    /// A random ID; a later flush of the same fold updates it in place.
    pub id: String,
    /// The org whose credential was tried.
    pub org: OrgId,
    /// Which credential: `adminToken`, `challengeUrl`, `scepRequest`, `deviceSignature`, `enrollmentToken`.
    pub credential: String,
    /// The source address (an IPv6 source's /64).
    pub source: String,
    /// The route template tried.
    pub route: String,
    /// Why it failed (never the credential).
    pub reason: String,
    /// Failures folded in.
    pub failures: u64,
    /// Requests refused (429) without their credential being looked at.
    pub throttled: u64,
    /// The first failure folded in.
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    /// The last.
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
}
