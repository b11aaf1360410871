//! OAuth 2.0 client-credentials tokens from Microsoft Entra ID (Azure AD),
//! as MSAL's `AcquireTokenForClient` gets them for the Intune library:
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with the application's ID
//! and secret and a `{resource}/.default` scope.
//!
//! Tokens are cached per scope until shortly before they expire. The cache
//! lock is held while a token is fetched, so concurrent enrollments wait for
//! one request instead of each sending their own.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

use super::IntuneError;
use super::http::{Http, json};

/// Everything but RFC 3986's unreserved characters is escaped, in the
/// tenant path segment and in form fields alike.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Refresh this long before a token expires (or at half its life, if shorter).
const EARLY_REFRESH: Duration = Duration::from_secs(300);

struct Cached {
    token: Zeroizing<String>,
    refresh_at: Instant,
}

/// The token endpoint's answer (RFC 6749, section 5.1; Entra ID sends
/// `expires_in` as a number, its v1 endpoint as a string).
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// An error answer (RFC 6749, section 5.2).
#[derive(serde::Deserialize)]
struct TokenError {
    error: String,
}

/// Client credentials and the tokens they bought.
pub(crate) struct TokenSource {
    url: String,
    client_id: String,
    client_secret: Zeroizing<String>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Tokens from `authority` (e.g. `https://login.microsoftonline.com`) for `tenant`.
    pub(crate) fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        client_secret: Zeroizing<String>,
    ) -> Self {
        let tenant = utf8_percent_encode(tenant, ESCAPE);
        Self {
            url: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client_id: client_id.to_owned(),
            client_secret,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A bearer token for `scope`, from the cache or freshly fetched.
    pub(crate) fn token(&self, http: &Http, scope: &str) -> Result<Zeroizing<String>, IntuneError> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| IntuneError::Internal("token cache lock poisoned"))?;
        let now = Instant::now();
        if let Some(cached) = cache.get(scope).filter(|c| c.refresh_at > now) {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = self.fetch(http, scope)?;
        let early = EARLY_REFRESH.min(lifetime / 2);
        cache.insert(
            scope.to_owned(),
            Cached {
                token: token.clone(),
                refresh_at: now + lifetime.saturating_sub(early),
            },
        );
        Ok(token)
    }

    /// Drops the cached token for `scope` (the service said 401).
    pub(crate) fn forget(&self, scope: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(scope);
        }
    }

    fn fetch(
        &self,
        http: &Http,
        scope: &str,
    ) -> Result<(Zeroizing<String>, Duration), IntuneError> {
        let field = |s: &str| utf8_percent_encode(s, ESCAPE).to_string();
        let form = Zeroizing::new(format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            field(&self.client_id),
            Zeroizing::new(field(&self.client_secret)).as_str(),
            field(scope),
        ));
        tracing::debug!(url = %self.url, scope, "requesting an Intune access token");
        let reply = http.post(
            &self.url,
            &[],
            "application/x-www-form-urlencoded",
            form.as_bytes(),
        )?;
        if !(200..300).contains(&reply.status) {
            // Entra ID explains refusals with an OAuth error code (e.g.
            // invalid_client); the description may quote the request, so only
            // the code is kept.
            let code = serde_json::from_slice::<TokenError>(&reply.body)
                .map(|e| e.error.chars().take(64).collect::<String>())
                .unwrap_or_default();
            return Err(IntuneError::Token {
                status: reply.status,
                error: code,
            });
        }
        let response: TokenResponse = json(&self.url, &reply)?;
        if response
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            || response.access_token.is_empty()
        {
            return Err(IntuneError::Token {
                status: reply.status,
                error: "not a bearer token".into(),
            });
        }
        let seconds = match &response.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        // Without a lifetime, assume Entra ID's shortest (an hour) would be
        // optimistic; refetch after five minutes instead.
        .unwrap_or(300);
        Ok((
            Zeroizing::new(response.access_token),
            Duration::from_secs(seconds.min(24 * 3600)),
        ))
    }
}
