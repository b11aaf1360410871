//! A blocking client for the devicetrust HTTP API (docs/api.md): the admin
//! API with its token, and the device API with request signatures made by
//! the device's own key. The demo and the load command use it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_pki::{Backend, PrivateKey};
use devicetrust_service::device_keys::{canonical_request, registration_message};
use serde_json::Value;
use zeroize::Zeroizing;

/// Largest response read.
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// An HTTP answer: status and body (JSON when it parses).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `errorSummary` of an Okta-shaped error, or the body's start.
    pub(crate) fn summary(&self) -> String {
        let json = self.json();
        match json.get("errorSummary").and_then(Value::as_str) {
            Some(s) => {
                let causes: Vec<&str> = json
                    .get("errorCauses")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| c.get("errorSummary")?.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                if causes.is_empty() {
                    s.to_owned()
                } else {
                    format!("{s} ({})", causes.join("; "))
                }
            }
            None => String::from_utf8_lossy(
                self.body
                    .get(..self.body.len().min(200))
                    .unwrap_or_default(),
            )
            .into_owned(),
        }
    }
}

/// Why a call failed before an answer came back.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {reason}")]
pub(crate) struct CallError {
    method: &'static str,
    path: String,
    reason: String,
}

/// The service at a base URL.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    pub(crate) fn new(base: &str) -> Self {
        // https trusts the system's roots (SSL_CERT_FILE to override).
        let agent = devicetrust_service::http_client::agent(Duration::from_secs(60), None);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// One call. `auth` is the whole `Authorization` header value, if any.
    pub(crate) fn call(
        &self,
        method: &'static str,
        path: &str,
        auth: Option<&str>,
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Answer, CallError> {
        let url = format!("{}{path}", self.base);
        let fail = |reason: String| CallError {
            method,
            path: path.to_owned(),
            reason,
        };
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if body.is_some() {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .map_err(|e| fail(e.to_string()))?;
        let mut response = self.agent.run(request).map_err(|e| fail(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Answer { status, body })
    }
}

/// An admin holding an API token.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    api: Api,
    header: Zeroizing<String>,
}

impl Admin {
    pub(crate) fn new(api: Api, token: &str) -> Self {
        Self {
            api,
            header: Zeroizing::new(format!("SSWS {token}")),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Result<Answer, CallError> {
        self.api.call("GET", path, Some(&self.header), None, "")
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Answer, CallError> {
        self.send_json("POST", path, body)
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Result<Answer, CallError> {
        self.send_json("PUT", path, body)
    }

    fn send_json(
        &self,
        method: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Answer, CallError> {
        let bytes = body.to_string().into_bytes();
        self.api.call(
            method,
            path,
            Some(&self.header),
            Some(&bytes),
            "application/json",
        )
    }
}

/// Okta Verify on one device: the device's own key signs every request.
#[derive(Debug)]
pub(crate) struct DeviceClient {
    api: Api,
    backend: &'static dyn Backend,
    key: PrivateKey,
    /// Set once registered.
    pub(crate) id: Option<String>,
}

impl DeviceClient {
    pub(crate) fn new(api: Api, backend: &'static dyn Backend, key: PrivateKey) -> Self {
        Self {
            api,
            backend,
            key,
            id: None,
        }
    }

    /// The device key's public half as PEM SPKI.
    pub(crate) fn public_key_pem(&self) -> String {
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(self.key.public_key().spki_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Registration is authorised by the enrollment token, and proves
    /// possession of the device key by signing over it.
    pub(crate) fn register(
        &mut self,
        token: &str,
        profile: &Value,
        screen_lock_type: &str,
    ) -> Result<Answer, CallError> {
        let path = "/device/v1/register";
        let fail = |reason: String| CallError {
            method: "POST",
            path: path.to_owned(),
            reason,
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let key_id = self.key.public_key().fingerprint();
        let signature = self
            .backend
            .signer(&self.key)
            .and_then(|s| s.sign(registration_message(&ts, token, &key_id).as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
        let body = serde_json::json!({
            "enrollmentToken": token,
            "publicKey": self.public_key_pem(),
            "keyProof": {"ts": ts, "signature": URL_SAFE_NO_PAD.encode(signature)},
            "profile": profile,
            "screenLockType": screen_lock_type,
        });
        let bytes = body.to_string().into_bytes();
        let answer = self
            .api
            .call("POST", path, None, Some(&bytes), "application/json")?;
        if let Some(id) = answer.json().pointer("/device/id").and_then(Value::as_str) {
            self.id = Some(id.to_owned());
        }
        Ok(answer)
    }

    /// A signed call as device `as_id` (normally itself).
    pub(crate) fn signed_as(
        &self,
        as_id: &str,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CallError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut raw = [0u8; 16];
        let _ = getrandom::fill(&mut raw);
        let nonce = hex::encode(raw);
        let fail = |reason: String| CallError {
            method,
            path: path.to_owned(),
            reason,
        };
        let signer = self
            .backend
            .signer(&self.key)
            .map_err(|e| fail(e.to_string()))?;
        let sig = signer
            .sign(canonical_request(method, path, &ts.to_string(), &nonce, &bytes).as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        let header = format!(
            "DeviceSignature id=\"{as_id}\", ts=\"{ts}\", nonce=\"{nonce}\", sig=\"{}\"",
            URL_SAFE_NO_PAD.encode(sig)
        );
        let body = body.map(|_| bytes.as_slice());
        self.api
            .call(method, path, Some(&header), body, "application/json")
    }

    /// A signed call as itself.
    pub(crate) fn signed(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CallError> {
        let id = self.id.clone().unwrap_or_default();
        self.signed_as(&id, method, path, body)
    }
}
