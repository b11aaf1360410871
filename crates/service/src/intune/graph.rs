//! Finding the Intune SCEP validation service through Microsoft Graph, as the
//! Intune library's `IntuneServiceLocationProvider` does:
//! `GET {graph}/v1.0/servicePrincipals/appId={intune app id}/endpoints`
//! answers `{"value": [{"providerName": …, "uri": …}, …]}`, and the entry
//! named `ScepRequestValidationFEService` (compared without case; older
//! answers call the field `serviceName`) is the service's base URL.
//!
//! The URL found is cached until a call to it fails in transport (the
//! service may have moved), as the library does.

use std::sync::Mutex;

use super::IntuneError;
use super::http::{Http, json};
use super::token::TokenSource;

/// Intune's well-known application ID in every tenant.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// The service the Intune library looks up.
pub const VALIDATION_SERVICE_NAME: &str = "ScepRequestValidationFEService";

#[derive(serde::Deserialize)]
struct Endpoints {
    value: Vec<Endpoint>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

/// Where the validation service is, found once and remembered.
#[derive(Debug)]
pub(crate) struct Discovery {
    graph_url: String,
    fixed: Option<String>,
    found: Mutex<Option<String>>,
}

impl Discovery {
    /// Looks the service up through `graph_url`, unless `fixed` names it.
    pub(crate) fn new(graph_url: &str, fixed: Option<&str>) -> Self {
        Self {
            graph_url: graph_url.trim_end_matches('/').to_owned(),
            fixed: fixed.map(|u| u.trim_end_matches('/').to_owned()),
            found: Mutex::new(None),
        }
    }

    /// The Graph scope to ask a token for.
    pub(crate) fn scope(&self) -> String {
        format!("{}/.default", self.graph_url)
    }

    /// The validation service's base URL.
    pub(crate) fn service_url(
        &self,
        http: &Http,
        tokens: &TokenSource,
    ) -> Result<String, IntuneError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let mut found = self
            .found
            .lock()
            .map_err(|_| IntuneError::Internal("discovery cache lock poisoned"))?;
        if let Some(url) = found.as_ref() {
            return Ok(url.clone());
        }
        let url = self.lookup(http, tokens)?;
        tracing::info!(
            service = VALIDATION_SERVICE_NAME,
            url,
            "found the Intune SCEP validation service"
        );
        *found = Some(url.clone());
        Ok(url)
    }

    /// Forgets the URL found (a call to it failed in transport).
    pub(crate) fn forget(&self) {
        if let Ok(mut found) = self.found.lock() {
            *found = None;
        }
    }

    fn lookup(&self, http: &Http, tokens: &TokenSource) -> Result<String, IntuneError> {
        let token = tokens.token(http, &self.scope())?;
        let url = format!(
            "{}/v1.0/servicePrincipals/appId={INTUNE_APP_ID}/endpoints",
            self.graph_url
        );
        let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.as_str()));
        let request_id = super::request_id()?;
        let reply = http.get(
            &url,
            &[
                ("authorization", bearer.as_str()),
                ("client-request-id", &request_id),
            ],
        )?;
        if reply.status == 401 {
            tokens.forget(&self.scope());
        }
        let endpoints: Endpoints = json(&url, &reply)?;
        endpoints
            .value
            .into_iter()
            .find(|e| {
                e.provider_name
                    .as_deref()
                    .or(e.service_name.as_deref())
                    .is_some_and(|n| n.eq_ignore_ascii_case(VALIDATION_SERVICE_NAME))
            })
            .and_then(|e| e.uri)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| u.trim_end_matches('/').to_owned())
            .ok_or(IntuneError::NotDiscovered {
                service: VALIDATION_SERVICE_NAME,
            })
    }
}
