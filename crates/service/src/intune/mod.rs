//! The delegated SCEP challenge: Microsoft Intune decides.
//!
//! Intune puts its own encrypted challenge in each device's PKCS#10 request
//! and offers a validation service to third-party SCEP servers. This module
//! speaks to it as Microsoft's public `Intune-Resource-Access` CsrValidation
//! library does:
//!
//! 1. a client-credentials token from Entra ID for the application the
//!    admin registered (tenant, client ID and secret) (module `token`);
//! 2. the service's URL, looked up once through Microsoft Graph (module `graph`);
//! 3. `validateRequest` before issuing, then `successNotification` or
//!    `failureNotification` after (module `validator`).
//!
//! Only the answer code `Success` admits a request. A refusal becomes
//! [`ChallengeError::Refused`]; a service that cannot be reached, answers
//! with an error status, garbage, an oversized body, or too late becomes
//! [`ChallengeError::Unavailable`]. Either way nothing is issued.
//! Notifications are reported and logged but never change an issuance
//! decision already taken.
//!
//! The client secret is a credential we *present*, so unlike the static
//! challenge's secret it cannot be stored as a hash; it lives in
//! [`Zeroizing`] memory and is never logged nor shown by `Debug`.

mod error;
mod graph;
mod http;
mod settings;
mod token;
mod validator;

use std::fmt;
use std::time::Duration;

use base64::Engine;
use devicetrust_pki::scep::{Challenge, ChallengeContext, ChallengeError, ChallengeKind};
use devicetrust_pki::{Certificate, HashAlgorithm};
use zeroize::Zeroizing;

pub use error::IntuneError;
pub use graph::{INTUNE_APP_ID, VALIDATION_SERVICE_NAME};
pub use settings::IntuneSettings;
pub use validator::SUCCESS_CODE;

use self::graph::Discovery;
use self::http::Http;
use self::token::TokenSource;
use self::validator::{Action, Call, IssuedInfo};

/// Entra ID's authority.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Microsoft Graph.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// The Intune resource tokens are asked for.
pub const DEFAULT_INTUNE_RESOURCE_URL: &str = "https://api.manage.microsoft.com";
/// The validation service's API version the library sends.
pub const DEFAULT_API_VERSION: &str = "2018-02-20";
/// Default bound on each HTTP exchange, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 10;
/// Largest response body read from any of the three services.
pub const MAX_RESPONSE: u64 = 256 * 1024;
/// The HRESULT reported when an admitted request then failed (`E_FAIL`).
pub const FAILURE_HRESULT: u32 = 0x8000_4005;

/// A [`Challenge`] that asks Intune.
pub struct IntuneChallenge {
    settings: IntuneSettings,
    caller_info: String,
    http: Http,
    tokens: TokenSource,
    discovery: Discovery,
}

impl fmt::Debug for IntuneChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntuneChallenge")
            .field("settings", &self.settings)
            .field("caller_info", &self.caller_info)
            .finish_non_exhaustive()
    }
}

impl IntuneChallenge {
    /// A challenge for these settings, presenting `client_secret` to Entra ID.
    pub fn new(
        settings: IntuneSettings,
        client_secret: Zeroizing<String>,
    ) -> Result<Self, IntuneError> {
        settings.check()?;
        if client_secret.trim().is_empty() {
            return Err(IntuneError::Config("the client secret is empty".into()));
        }
        let caller_info = format!("devicetrust/{}", env!("CARGO_PKG_VERSION"));
        let roots = match &settings.ca_file {
            Some(path) => Some(std::sync::Arc::new(
                crate::http_client::read_roots(std::path::Path::new(path))
                    .map_err(|e| IntuneError::Config(e.to_string()))?,
            )),
            None => None,
        };
        let http = Http::new(
            Duration::from_secs(u64::from(settings.timeout_seconds)),
            MAX_RESPONSE,
            &caller_info,
            roots,
        );
        let tokens = TokenSource::new(
            &settings.authority_url,
            &settings.tenant,
            &settings.client_id,
            client_secret,
        );
        let discovery = Discovery::new(&settings.graph_url, settings.service_url.as_deref());
        Ok(Self {
            settings,
            caller_info,
            http,
            tokens,
            discovery,
        })
    }

    /// The settings (without the secret).
    pub fn settings(&self) -> &IntuneSettings {
        &self.settings
    }

    fn intune_scope(&self) -> String {
        format!(
            "{}/.default",
            self.settings.intune_resource_url.trim_end_matches('/')
        )
    }

    /// One action: find the service, get a token, post.
    fn call(&self, action: Action, body: &serde_json::Value) -> Result<(), IntuneError> {
        let service_url = self.discovery.service_url(&self.http, &self.tokens)?;
        let scope = self.intune_scope();
        let token = self.tokens.token(&self.http, &scope)?;
        let call = Call {
            service_url: &service_url,
            token: &token,
            api_version: &self.settings.api_version,
        };
        let result = validator::post(&self.http, &call, action, body);
        match &result {
            Err(IntuneError::Transport { .. }) => self.discovery.forget(),
            Err(IntuneError::Status { status: 401, .. }) => self.tokens.forget(&scope),
            _ => {}
        }
        result
    }
}

fn csr_base64(ctx: &ChallengeContext<'_>) -> String {
    base64::engine::general_purpose::STANDARD.encode(ctx.request.der())
}

/// A random (version 4) UUID, the `client-request-id` of each call.
pub(crate) fn request_id() -> Result<String, IntuneError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| IntuneError::Internal("no randomness"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default().to_owned();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    ))
}

fn issued_info(cert: &Certificate) -> IssuedInfo {
    IssuedInfo {
        thumbprint: hex::encode_upper(HashAlgorithm::Sha1.digest(cert.der())),
        serial: hex::encode_upper(cert.raw_serial()),
        expires: cert
            .not_after()
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        issuer: cert.issuer().to_string(),
        ca_configuration: "devicetrust".into(),
    }
}

impl Challenge for IntuneChallenge {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Intune
    }

    fn verify(&self, ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError> {
        // Intune's challenge travels in the request; without one there is
        // nothing it could validate.
        if ctx.request.challenge_password().is_none() {
            return Err(ChallengeError::Missing);
        }
        let body =
            validator::validate_body(ctx.transaction_id, &csr_base64(ctx), &self.caller_info);
        self.call(Action::Validate, &body).map_err(|e| {
            tracing::warn!(transaction_id = ctx.transaction_id, error = %e, "intune did not validate the request");
            ChallengeError::from(e)
        })
    }

    fn issued(&self, ctx: &ChallengeContext<'_>, cert: &Certificate) {
        let body = validator::success_body(
            ctx.transaction_id,
            &csr_base64(ctx),
            &self.caller_info,
            &issued_info(cert),
        );
        if let Err(e) = self.call(Action::Success, &body) {
            tracing::warn!(transaction_id = ctx.transaction_id, error = %e, "intune success notification failed");
        }
    }

    fn failed(&self, ctx: &ChallengeContext<'_>, reason: &str) {
        let body = validator::failure_body(
            ctx.transaction_id,
            &csr_base64(ctx),
            &self.caller_info,
            FAILURE_HRESULT,
            reason,
        );
        if let Err(e) = self.call(Action::Failure, &body) {
            tracing::warn!(transaction_id = ctx.transaction_id, error = %e, "intune failure notification failed");
        }
    }
}
