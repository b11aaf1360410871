//! Network zones.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::Status;

/// Zone types; only IP zones are supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ZoneType {
    /// Addresses and ranges.
    Ip,
}

/// Gateway notations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GatewayType {
    /// `203.0.113.0/24` or `2001:db8::/32`.
    Cidr,
    /// `203.0.113.1-203.0.113.9`.
    Range,
}

/// One gateway entry of a zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Notation of `value`.
    #[serde(rename = "type")]
    pub gateway_type: GatewayType,
    /// The address block.
    pub value: String,
}

/// An Okta IP network zone.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkZone {
    /// Zone id, referenced by network conditions.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Always `IP`.
    #[serde(rename = "type")]
    pub zone_type: ZoneType,
    /// An inactive zone contains no address.
    pub status: Status,
    /// The addresses in the zone.
    #[serde(default)]
    pub gateways: Vec<Gateway>,
    /// Trusted proxies; carried through, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<Value>,
    /// `POLICY` or `BLOCKLIST`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// Whether Okta created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    /// Creation time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last update time, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Hypermedia links, as given.
    #[serde(default, rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
}
