//! The stored, showable part of an Intune configuration: everything but the
//! client secret.

use super::{
    DEFAULT_API_VERSION, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL, DEFAULT_INTUNE_RESOURCE_URL,
    DEFAULT_TIMEOUT_SECONDS, IntuneError,
};

fn default_authority() -> String {
    DEFAULT_AUTHORITY_URL.into()
}
fn default_graph() -> String {
    DEFAULT_GRAPH_URL.into()
}
fn default_resource() -> String {
    DEFAULT_INTUNE_RESOURCE_URL.into()
}
fn default_api_version() -> String {
    DEFAULT_API_VERSION.into()
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

/// Where and as whom to reach Intune; everything but the client secret,
/// so it can be stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntuneSettings {
    /// The Entra ID tenant: its ID or a domain such as `contoso.onmicrosoft.com`.
    pub tenant: String,
    /// The registered application's (client) ID.
    pub client_id: String,
    /// Entra ID's authority, without the tenant.
    #[serde(default = "default_authority")]
    pub authority_url: String,
    /// Microsoft Graph, for service discovery.
    #[serde(default = "default_graph")]
    pub graph_url: String,
    /// The Intune resource tokens are asked for.
    #[serde(default = "default_resource")]
    pub intune_resource_url: String,
    /// A fixed validation-service URL; skips discovery through Graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// The validation service's `api-version`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// A PEM bundle to trust instead of the system's roots (a private
    /// proxy in front of Microsoft's endpoints, or a test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Bound on each HTTP exchange (connect, send, read), in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

impl IntuneSettings {
    /// Settings for `tenant` and `client_id` with Microsoft's public endpoints.
    pub fn new(tenant: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            client_id: client_id.into(),
            authority_url: default_authority(),
            graph_url: default_graph(),
            intune_resource_url: default_resource(),
            service_url: None,
            ca_file: None,
            api_version: default_api_version(),
            timeout_seconds: default_timeout(),
        }
    }

    /// Whether an endpoint contacted needs TLS: the authority, and either the
    /// fixed service URL or Graph (whose answer Microsoft serves over https).
    /// The Intune resource URL is only a token scope, never contacted.
    pub(crate) fn check(&self) -> Result<(), IntuneError> {
        let bad = |what: &str| Err(IntuneError::Config(what.to_owned()));
        if self.tenant.trim().is_empty() || self.tenant.len() > 256 {
            return bad("the tenant is empty or too long");
        }
        if self.client_id.trim().is_empty() || self.client_id.len() > 256 {
            return bad("the client ID is empty or too long");
        }
        let urls = [
            Some(&self.authority_url),
            Some(&self.graph_url),
            Some(&self.intune_resource_url),
            self.service_url.as_ref(),
        ];
        for url in urls.into_iter().flatten() {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(IntuneError::Config(format!(
                    "{url:?} is not an http(s) URL"
                )));
            }
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            return bad("the timeout must be 1 to 300 seconds");
        }
        Ok(())
    }
}
