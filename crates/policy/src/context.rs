//! The sign-in context a policy is evaluated against.

use std::collections::BTreeMap;
use std::net::IpAddr;

use devicetrust_edr::{Lookup, SignalSource, SignalValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::model::{OsType, RiskLevel};

/// The largest context accepted, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 1024 * 1024;

/// Who is signing in, from what device and where.
///
/// Everything is optional: what is missing reads as absent, and a condition
/// that needs it is `UNDEFINED`, which never matches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The user.
    #[serde(default)]
    pub user: UserContext,
    /// The device; none for a browser Okta knows nothing about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceContext>,
    /// The network.
    #[serde(default)]
    pub network: NetworkContext,
    /// Okta's risk assessment.
    #[serde(default)]
    pub risk: RiskContext,
}

/// `user`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserContext {
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// User type id.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// Group ids or names the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Profile attributes.
    #[serde(default)]
    pub profile: Map<String, Value>,
}

/// `device`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceContext {
    /// Registered in Okta Verify.
    #[serde(default)]
    pub registered: bool,
    /// Managed by a UEM.
    #[serde(default)]
    pub managed: bool,
    /// The operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<OsType>,
    /// Device profile attributes (`osVersion`, `diskEncryptionType`, ...).
    #[serde(default)]
    pub profile: Map<String, Value>,
    /// EDR signals by provider id, then attribute name.
    #[serde(default)]
    pub provider: BTreeMap<String, BTreeMap<String, Signal>>,
}

/// One inline EDR signal value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Signal {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string, an enum value or an RFC 3339 timestamp.
    String(String),
    /// A list of strings.
    List(Vec<String>),
}

/// `network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkContext {
    /// The client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

/// `risk`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskContext {
    /// The level Okta assessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<RiskLevel>,
}

impl Context {
    /// Parses a context, refusing unknown fields with their JSON path.
    ///
    /// # Errors
    ///
    /// [`LoadError::TooLarge`] past [`MAX_CONTEXT_BYTES`], and
    /// [`LoadError::Json`] for malformed or unexpected JSON.
    pub fn from_json(json: &str) -> Result<Context, LoadError> {
        crate::error::from_json(json, MAX_CONTEXT_BYTES)
    }
}

/// Inline signals are always fresh: the caller collected them for this
/// sign-in. A store with collection times supplies its own source.
impl SignalSource for Context {
    fn lookup(&self, provider: &str, attribute: &str) -> Lookup<'_> {
        let signal = self
            .device
            .as_ref()
            .and_then(|d| d.provider.get(provider))
            .and_then(|attrs| attrs.get(attribute));
        match signal {
            Some(Signal::Bool(b)) => Lookup::Present(SignalValue::Bool(*b)),
            Some(Signal::Number(n)) => Lookup::Present(SignalValue::Number(*n)),
            Some(Signal::String(s)) => Lookup::Present(SignalValue::String(s)),
            Some(Signal::List(items)) => Lookup::Present(SignalValue::List(items)),
            None => Lookup::Absent,
        }
    }
}
