//! Shared by the device API tests: a service on a temporary folder served
//! over loopback HTTP, an admin client, and a device that signs its requests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test; not every test uses every helper"
)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_pki::{
    Certificate, IssueOptions, KeyAlgorithm, PrivateKey, RequestBuilder, Signer, default_backend,
};
use devicetrust_service::{Service, ServiceOptions};
use serde_json::{Value, json};

#[path = "../support/engine.rs"]
pub mod engine;

/// A running service.
pub struct Harness {
    pub service: Arc<Service>,
    pub admin_token: String,
    pub base: String,
    /// Where `/metrics` is served, apart from the API (as `serve --metrics-listen`).
    pub metrics_base: String,
    pub agent: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Harness {
    pub fn start() -> Self {
        Self::start_with(ServiceOptions::default())
    }

    pub fn start_with(options: ServiceOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let harness = Self::serve(dir, options, None);
        // "Add Platform" for both desktops with our CA: only added platforms attest.
        for platform in ["MACOS", "WINDOWS"] {
            let added = harness.admin(
                "/api/v1/device-integrations",
                &serde_json::json!({"platform": platform, "ca": "OKTA", "challenge": {"type": "STATIC"}}),
            );
            assert_eq!(added.status, 201, "{added:?}");
        }
        harness
    }

    /// Stops the service and starts it again on the same data folder, as
    /// a restart of the process would (nothing in memory survives).
    pub fn restart(self) -> Self {
        let Self {
            service,
            admin_token,
            _runtime,
            _dir,
            ..
        } = self;
        let options = service.options().clone();
        // Stops serving, then drops the last reference to the service.
        drop(_runtime);
        drop(service);
        Self::serve(_dir, options, Some(admin_token))
    }

    fn serve(dir: tempfile::TempDir, options: ServiceOptions, token: Option<String>) -> Self {
        let opened =
            Service::open(engine::data_dir(dir.path()), default_backend(), options).unwrap();
        let admin_token = token.unwrap_or_else(|| opened.admin_token.unwrap().to_string());
        let service = opened.service;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let metrics = Arc::new(devicetrust_server::ops::Metrics::new());
        let router = devicetrust_server::api::router_with(
            service.clone(),
            metrics.clone(),
            devicetrust_server::ops::Limits::default(),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let metrics_listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let metrics_base = format!("http://{}", metrics_listener.local_addr().unwrap());
        runtime.spawn(async move {
            let _ = axum::serve(
                metrics_listener,
                devicetrust_server::ops::metrics_router(metrics),
            )
            .await;
        });
        // Pooled connections: the service reads every body before routing,
        // so a refusal sent early must not leave a connection unusable.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            service,
            admin_token,
            base,
            metrics_base,
            agent,
            _runtime: runtime,
            _dir: dir,
        }
    }

    /// The service's registry, through its own connection to the data
    /// folder's database, as another process would see it.
    pub fn registry(&self) -> devicetrust_store::Registry<Arc<devicetrust_store::Database>> {
        devicetrust_store::Registry::new(engine::open_store(self.dir()))
    }

    /// The data folder.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A raw request with optional headers.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, v);
                }
                r.call()
            }
            _ => {
                let request = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                let mut r = request.header("content-type", "application/json");
                for (k, v) in headers {
                    r = r.header(*k, v);
                }
                r.send(body)
            }
        };
        let mut response = response.unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    /// An admin call.
    pub fn admin(&self, path: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            path,
            &[("authorization", format!("SSWS {}", self.admin_token))],
            body.to_string().as_bytes(),
        )
    }

    /// Mints an enrollment token for `user` over the admin API.
    pub fn enrollment_token(&self, user: &str) -> String {
        let user = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
        let answer = self.admin(
            &format!("/api/v1/users/{user}/enrollment-tokens"),
            &json!({}),
        );
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["token"].as_str().unwrap().to_owned()
    }

    /// Registers a new device for `user` with a fresh P-256 key.
    pub fn register(&self, user: &str, profile: Value) -> TestDevice {
        self.register_with(user, profile, KeyAlgorithm::EcP256)
    }

    pub fn register_with(&self, user: &str, profile: Value, alg: KeyAlgorithm) -> TestDevice {
        let key = default_backend().generate(alg).unwrap();
        let token = self.enrollment_token(user);
        let answer = self.send(
            "POST",
            "/device/v1/register",
            &[],
            register_body(&token, &key, profile).to_string().as_bytes(),
        );
        assert_eq!(answer.status, 201, "{answer:?}");
        TestDevice::new(answer.body["device"]["id"].as_str().unwrap(), key)
    }

    /// Issues a client certificate for `device` from the service's CA, as an MDM's SCEP would.
    pub fn mdm_certificate(&self, subject: &str) -> (Certificate, Box<dyn Signer>) {
        let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
        let signer = default_backend().signer(&key).unwrap();
        // The folder's CA, opened as another process (an MDM's SCEP) would.
        let (ca, _) = engine::data_dir(self.dir())
            .open_ca_and_store(default_backend())
            .unwrap();
        let csr = RequestBuilder::new(subject).sign(signer.as_ref()).unwrap();
        let leaf = ca
            .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
            .unwrap();
        (leaf, signer)
    }

    /// A GET whose answer is text, not JSON.
    pub fn raw_text(&self, path: &str) -> String {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        response.body_mut().read_to_string().unwrap()
    }

    /// The Prometheus exposition, from the metrics listener.
    pub fn metrics_text(&self) -> String {
        let mut response = self
            .agent
            .get(&format!("{}/metrics", self.metrics_base))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.body_mut().read_to_string().unwrap()
    }

    /// Authorize over HTTP.
    pub fn authorize(&self, body: &Value) -> Answer {
        self.admin("/api/v1/authorize", body)
    }
}

/// The body of a registration, with its proof of possession of `key`.
pub fn register_body(token: &str, key: &PrivateKey, profile: Value) -> Value {
    let proof = key_proof(token, key, key);
    register_body_with_proof(token, key, profile, proof)
}

/// A registration body carrying any `keyProof`.
pub fn register_body_with_proof(
    token: &str,
    key: &PrivateKey,
    profile: Value,
    proof: Value,
) -> Value {
    let pem = devicetrust_pki::encoding::to_pem("PUBLIC KEY", key.public_key().spki_der()).unwrap();
    json!({"enrollmentToken": token, "publicKey": pem, "keyProof": proof, "profile": profile, "screenLockType": "BIOMETRIC"})
}

/// A `keyProof` for registering `registered`'s public key, signed by `signer_key`.
pub fn key_proof(token: &str, registered: &PrivateKey, signer_key: &PrivateKey) -> Value {
    let ts = now_ts().to_string();
    let message = devicetrust_service::device_keys::registration_message(
        &ts,
        token,
        &registered.public_key().fingerprint(),
    );
    let signer = default_backend().signer(signer_key).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(signer.sign(message.as_bytes()).unwrap());
    json!({"ts": ts, "signature": sig})
}

/// A Windows profile with hardware id `sid`.
pub fn windows(sid: &str) -> Value {
    json!({"displayName": "Alice's PC", "platform": "WINDOWS", "sid": sid,
           "osVersion": "10.0.22631.4460", "registered": true})
}

/// An iPhone profile.
pub fn iphone(udid: &str, os: &str) -> Value {
    json!({"displayName": "Alice's iPhone", "platform": "IOS", "udid": udid,
           "osVersion": os, "registered": true, "integrityJailbreak": false})
}

/// A registered device and its key.
pub struct TestDevice {
    pub id: String,
    pub key: PrivateKey,
    pub signer: Box<dyn Signer>,
}

/// A random request nonce.
pub fn random_nonce() -> String {
    let mut raw = [0u8; 18];
    getrandom::fill(&mut raw).unwrap();
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn now_ts() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestDevice {
    pub fn new(id: &str, key: PrivateKey) -> Self {
        let signer = default_backend().signer(&key).unwrap();
        Self {
            id: id.to_owned(),
            key,
            signer,
        }
    }

    /// The `DeviceSignature` header for one request, claiming to be `id`.
    pub fn header_as(
        &self,
        id: &str,
        method: &str,
        path: &str,
        ts: i64,
        nonce: &str,
        body: &[u8],
    ) -> String {
        let message = devicetrust_service::device_keys::canonical_request(
            method,
            path,
            &ts.to_string(),
            nonce,
            body,
        );
        let sig = URL_SAFE_NO_PAD.encode(self.signer.sign(message.as_bytes()).unwrap());
        format!(r#"DeviceSignature id="{id}", ts="{ts}", nonce="{nonce}", sig="{sig}""#)
    }

    pub fn header(&self, method: &str, path: &str, body: &[u8]) -> String {
        self.header_as(&self.id, method, path, now_ts(), &random_nonce(), body)
    }

    /// A signed call.
    pub fn call(&self, h: &Harness, method: &str, path: &str, body: &Value) -> Answer {
        let bytes = if method == "GET" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let header = self.header(method, path, &bytes);
        h.send(method, path, &[("authorization", header)], &bytes)
    }

    /// The desktop management proof with `leaf` and its key.
    pub fn prove_desktop(&self, h: &Harness, leaf: &Certificate, cert_key: &dyn Signer) -> Answer {
        let nonce = self.call(h, "POST", "/device/v1/nonce", &json!({}));
        assert_eq!(nonce.status, 200, "{nonce:?}");
        let nonce = nonce.body["nonce"].as_str().unwrap().to_owned();
        let proof = devicetrust_attestation::nonce::prove(cert_key, &nonce).unwrap();
        self.call(
            h,
            "POST",
            "/device/v1/management-proof",
            &json!({"nonce": nonce, "signature": proof.signature,
                    "certificates": [leaf.to_pem().unwrap()]}),
        )
    }
}

/// A decision over HTTP for `user` (in group Everyone) on `device` with
/// `policy` and `extra` request members: its access and matched rule.
pub fn decide(
    h: &Harness,
    policy: &str,
    user: &str,
    device: Option<&str>,
    extra: Value,
) -> (String, String) {
    let mut body = json!({"policyId": policy, "userId": user, "groups": ["Everyone"]});
    if let Some(id) = device {
        body["deviceId"] = json!(id);
    }
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let answer = h.authorize(&body);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body["explanation"]["rules"].is_array(), "{answer:?}");
    (
        answer.body["access"].as_str().unwrap().to_owned(),
        answer.body["rule"]["id"].as_str().unwrap_or("").to_owned(),
    )
}

/// An admin's lifecycle operation on a device, straight through the registry.
pub fn lifecycle(h: &Harness, id: &str, op: devicetrust_devices::Operation) {
    h.registry()
        .transition(
            h.service.org(),
            &devicetrust_devices::Actor::new("admin").unwrap(),
            &devicetrust_devices::DeviceId::new(id).unwrap(),
            op,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
}

/// The guide's policies, stored in the service.
pub fn store_guide_policies(h: &Harness) {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/tests/data");
    for name in ["low", "medium", "high"] {
        let text = std::fs::read_to_string(format!("{data}/{name}.json")).unwrap();
        let mut doc = devicetrust_policy::PolicyDocument::from_json(&text).unwrap();
        // The store keeps assurances by reference: move them there first.
        let now = time::OffsetDateTime::now_utc();
        for assurance in std::mem::take(&mut doc.device_assurances) {
            if h.service.assurance(&assurance.id).is_ok() {
                let id = assurance.id.clone();
                h.service
                    .replace_assurance("test", &id, assurance, now)
                    .unwrap();
            } else {
                h.service.create_assurance("test", assurance, now).unwrap();
            }
        }
        h.service.create_policy("test", doc, now).unwrap();
    }
}

pub const LOW: &str = "rstlow0000000000001";
pub const MEDIUM: &str = "rstmedium0000000001";
pub const HIGH: &str = "rsthigh000000000001";
