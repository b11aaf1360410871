//! SCEP over HTTP for the client commands (plain HTTP; SCEP protects its own payloads).

use std::time::Duration;

use base64::Engine;
use devicetrust_pki::scep::client::{ClientError, Transport};

/// Largest response read.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// A SCEP server at a URL such as `http://host/scep/ID/pkiclient.exe`.
#[derive(Debug, Clone)]
pub(crate) struct HttpTransport {
    url: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    pub(crate) fn new(url: &str) -> Self {
        // https trusts the system's roots (SSL_CERT_FILE to override).
        let agent = devicetrust_service::http_client::agent(Duration::from_secs(60), None);
        Self {
            url: url.to_owned(),
            agent,
        }
    }

    fn with_query(&self, query: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", self.url)
    }

    fn read(
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(String, Vec<u8>), ClientError> {
        let mut response = response.map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default())
                .into_owned();
            return Err(ClientError::Transport(format!("HTTP {status}: {text}")));
        }
        Ok((content_type, body))
    }
}

impl Transport for HttpTransport {
    fn get_ca_caps(&self) -> Result<String, ClientError> {
        let (_, body) = Self::read(
            self.agent
                .get(&self.with_query("operation=GetCACaps"))
                .call(),
        )?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn get_ca_cert(&self) -> Result<(String, Vec<u8>), ClientError> {
        Self::read(
            self.agent
                .get(&self.with_query("operation=GetCACert"))
                .call(),
        )
    }

    fn pki_operation(&self, message: &[u8], post: bool) -> Result<Vec<u8>, ClientError> {
        let response = if post {
            self.agent
                .post(&self.with_query("operation=PKIOperation"))
                .header("content-type", "application/x-pki-message")
                .send(message)
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(message);
            let escaped =
                percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC);
            self.agent
                .get(&self.with_query(&format!("operation=PKIOperation&message={escaped}")))
                .call()
        };
        Ok(Self::read(response)?.1)
    }
}
