//! Shared by the admin API tests: a `Service` on a temporary folder,
//! served over real HTTP on 127.0.0.1:0, and a small JSON client.

#![allow(
    dead_code,
    reason = "each test file uses a different part of these helpers"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devicetrust_attestation::{DesktopRequest, Outcome, Platform as AttestedPlatform, nonce};
use devicetrust_devices::{
    Actor, Device, DeviceProfile, EnrollmentRequest, OrgId, Platform, UserId,
};
use devicetrust_pki::{
    Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, default_backend,
};
use devicetrust_server::api;
use devicetrust_service::{Service, ServiceOptions};
use serde_json::Value;

#[path = "../support/engine.rs"]
pub mod engine;

/// One answer: status, headers we look at, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub link: Option<String>,
    pub content_type: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A running service.
pub struct Server {
    pub dir: PathBuf,
    pub base: String,
    pub service: Arc<Service>,
    /// The first-start token, or the one passed in on restart.
    pub token: String,
    /// What `Service::open` printed (only on first start).
    pub printed_token: Option<String>,
    agent: ureq::Agent,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Opens (or reopens) the service in `dir` and serves it. `token` is the
    /// admin token to use when reopening (a first start prints its own).
    pub fn start(dir: &Path, token: Option<&str>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{addr}");
        let options = ServiceOptions {
            base_url: base.clone(),
            ..ServiceOptions::default()
        };
        let opened = Service::open(engine::data_dir(dir), default_backend(), options).unwrap();
        let printed_token = opened.admin_token.as_ref().map(|t| t.to_string());
        let token = printed_token
            .clone()
            .or_else(|| token.map(str::to_owned))
            .expect("a token: printed on first start, or given");
        let router = api::router(opened.service.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Self {
            dir: dir.to_path_buf(),
            base,
            service: opened.service,
            token,
            printed_token,
            agent,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Stops serving and closes the service (database included).
    pub fn stop(mut self) {
        self.halt();
        let service = self.service.clone();
        drop(self);
        assert_eq!(
            Arc::strong_count(&service),
            1,
            "the service is still in use after the server stopped"
        );
    }

    fn halt(&mut self) {
        // Fresh agent: pooled keep-alive connections must not hold the server open.
        self.agent = ureq::Agent::config_builder().build().into();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// A request with `authorization` as given (`None`: no header).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        if let Some(c) = content_type {
            request = request.header("content-type", c);
        }
        let request = request.body(body.to_vec()).unwrap();
        let mut response = self.agent.run(request).unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let link = header("link");
        let content_type = header("content-type");
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .unwrap();
        Answer {
            status,
            link,
            content_type,
            headers,
            body,
        }
    }

    /// An admin call with the current token and a JSON body (or none).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let auth = format!("SSWS {}", self.token);
        match body {
            Some(b) => self.raw(
                method,
                path,
                Some(&auth),
                Some("application/json"),
                &serde_json::to_vec(b).unwrap(),
            ),
            None => self.raw(method, path, Some(&auth), None, b""),
        }
    }

    /// `call`, asserting the status; returns the JSON body (Null when empty).
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>, status: u16) -> Value {
        let answer = self.call(method, path, body);
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text());
        if answer.body.is_empty() {
            Value::Null
        } else {
            answer.json()
        }
    }

    /// The ID of the one live admin token, as the audit log names it.
    pub fn token_id(&self) -> String {
        let settings: Value = serde_json::from_str(&stored_settings(&self.dir)).unwrap();
        let live: Vec<&Value> = settings["adminTokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["revoked"].is_null())
            .collect();
        assert_eq!(live.len(), 1, "{settings}");
        live[0]["id"].as_str().unwrap().to_owned()
    }

    /// The org the service serves.
    pub fn org(&self) -> OrgId {
        OrgId::new(&self.service.options().org).unwrap()
    }

    /// The service's registry, through its own connection to the data
    /// folder's database, as another process would see it.
    pub fn registry(&self) -> devicetrust_store::Registry<Arc<devicetrust_store::Database>> {
        devicetrust_store::Registry::new(engine::open_store(&self.dir))
    }

    /// Enrolls a device for `user` through the registry directly (the
    /// device API is tested elsewhere).
    pub fn enroll(&self, user: &str, name: &str, platform: Platform, udid: &str) -> Device {
        let mut profile = DeviceProfile::new(name, platform);
        profile.udid = Some(udid.to_owned());
        self.registry()
            .enroll(
                &self.org(),
                &Actor::new("test-enroller").unwrap(),
                &EnrollmentRequest::new(UserId::new(user).unwrap(), profile),
                time::OffsetDateTime::now_utc(),
            )
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The settings document as stored in the data folder's database.
pub fn stored_settings(dir: &Path) -> String {
    use devicetrust_store::Store as _;
    engine::open_store(dir)
        .read(|tx| tx.settings_document("service"))
        .unwrap()
        .map(|d| d.body)
        .unwrap_or_default()
}

/// Everything at rest that could leak a secret: the settings document,
/// the database as raw bytes (the SQLite files with the WAL, or a dump of
/// the PostgreSQL database), and every JSON file in the data folder.
pub fn at_rest(dir: &Path) -> String {
    let mut text = stored_settings(dir);
    text.push_str(&String::from_utf8_lossy(&engine::database_bytes(dir)));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

/// A CA that is not ours, as a customer's MDM would run.
pub fn their_ca() -> Ca {
    Ca::create(
        CaConfig::default(),
        default_backend(),
        Arc::new(MemoryLedger::new()),
    )
    .unwrap()
    .ca
}

/// Attests `device` with a fresh leaf from `ca` and a signed nonce.
pub fn attest(server: &Server, ca: &Ca, device: &str) -> Outcome {
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let signer = backend.signer(&key).unwrap();
    let csr = RequestBuilder::new(&format!("CN=alice managementAttestation {device}"))
        .sign(signer.as_ref())
        .unwrap();
    let leaf = ca
        .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let attestor = server.service.attestation().read().unwrap();
    let issued = attestor.issue_nonce("default", device, now).unwrap();
    let proof = nonce::prove(signer.as_ref(), &issued.nonce).unwrap();
    attestor.attest_desktop(
        &DesktopRequest {
            hardware_id: None,
            platform: AttestedPlatform::MacOs,
            org: "default",
            device_id: device,
            leaf: &leaf,
            intermediates: &[],
            nonce: &issued.nonce,
            proof: &proof,
        },
        now,
    )
}

pub fn managed_by(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Managed {
            configuration_id, ..
        } => Some(configuration_id.to_string()),
        _ => None,
    }
}

/// Asserts an Okta error object with `status` and `code`; returns it.
pub fn assert_error(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    let v = answer.json();
    assert_eq!(v["errorCode"], code, "{v}");
    assert!(
        v["errorSummary"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        v["errorId"].as_str().is_some_and(|s| s.starts_with("oae")),
        "{v}"
    );
    v
}

/// Every cause's summary, joined.
pub fn causes(error: &Value) -> String {
    error["errorCauses"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["errorSummary"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
