//! The Intune-delegated challenge against a local fake of Entra ID's token
//! endpoint, Graph's service discovery and Intune's `ScepActions`, all on
//! loopback. Real SCEP enrollments go through `scep_router` (served from a
//! data folder, so the stored configuration and its secret file are used)
//! with our SCEP client; the fake records every request it receives.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use devicetrust_pki::scep::client::{
    ClientError, Enrollment, ScepClient, Transport, transaction_id_for,
};
use devicetrust_pki::scep::{
    Challenge, ChallengeContext, ChallengeError, FailInfo, MessageType, Outcome, ScepConfig,
    ScepPolicy,
};
use devicetrust_pki::{
    Certificate, HashAlgorithm, KeyAlgorithm, KeyPolicy, PrivateKey, RequestBuilder,
    default_backend,
};
use devicetrust_server::scep_router;
use devicetrust_service::integrations::IntegrationPlatform;
use devicetrust_service::intune::{IntuneChallenge, IntuneSettings};
use devicetrust_service::{NewChallenge, ScepEndpoints};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[path = "support/engine.rs"]
mod engine;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "s3cr3t-Value~with&odd=chars+";
const GRAPH_TOKEN: &str = "graph-token";
const INTUNE_TOKEN: &str = "intune-token";

/// How the fake's `validateRequest` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Refuse,
    Status500,
    Garbage,
    Oversized,
    Slow,
}

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct FakeState {
    base: String,
    mode: Mutex<Mode>,
    seen: Mutex<Vec<Seen>>,
}

impl FakeState {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn count(&self, suffix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.ends_with(suffix))
            .count()
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
}

async fn fake(
    axum::extract::State(state): axum::extract::State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    state.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = |v: Value| {
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    if path == format!("/{TENANT}/oauth2/v2.0/token") {
        if form_field(&body, "client_secret").as_deref() != Some(SECRET)
            || form_field(&body, "client_id").as_deref() != Some(CLIENT_ID)
            || form_field(&body, "grant_type").as_deref() != Some("client_credentials")
        {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client", "error_description": "bad secret"}).to_string(),
            )
                .into_response();
        }
        let token = match form_field(&body, "scope").as_deref() {
            Some(s) if s.ends_with("/graph/.default") => GRAPH_TOKEN,
            Some(s) if s.ends_with("/intune-resource/.default") => INTUNE_TOKEN,
            _ => return StatusCode::BAD_REQUEST.into_response(),
        };
        return ok(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token}));
    }
    if path == "/graph/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints"
    {
        if bearer != format!("Bearer {GRAPH_TOKEN}") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        return ok(json!({"value": [
            {"providerName": "ScepRequestValidationOther", "uri": "http://127.0.0.1:9/wrong"},
            {"providerName": "ScepRequestValidationFEService",
             "uri": format!("{}/TrafficGateway/PassThroughRoutingService/ScepRequestValidationFEService/", state.base)},
        ]}));
    }
    let Some(action) = path.strip_prefix(
        "/TrafficGateway/PassThroughRoutingService/ScepRequestValidationFEService/ScepActions/",
    ) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if bearer != format!("Bearer {INTUNE_TOKEN}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mode = *state.mode.lock().unwrap();
    match (action, mode) {
        ("validateRequest", Mode::Refuse) => ok(json!({
            "code": "ChallengeExpired",
            "errorDescription": "The challenge has expired.",
        })),
        ("validateRequest", Mode::Status500) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
        }
        ("validateRequest", Mode::Garbage) => {
            (StatusCode::OK, "<html>gateway says hello").into_response()
        }
        // Valid JSON meaning yes, were it read whole: the size limit must refuse it.
        ("validateRequest", Mode::Oversized) => ok(json!({
            "code": "Success",
            "errorDescription": "x".repeat(2 * 1024 * 1024),
        })),
        ("validateRequest", Mode::Slow) => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            ok(json!({"code": "Success", "errorDescription": ""}))
        }
        _ => ok(json!({"code": "Success", "errorDescription": ""})),
    }
}

/// A SCEP transport over HTTP for our client.
struct Http {
    url: String,
    agent: ureq::Agent,
}

impl Http {
    fn new(url: String) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { url, agent }
    }

    fn read(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(String, Vec<u8>), ClientError> {
        let mut r = r.map_err(|e| ClientError::Transport(e.to_string()))?;
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = r.status();
        let body = r
            .body_mut()
            .read_to_vec()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(ClientError::Transport(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok((ct, body))
    }
}

impl Transport for Http {
    fn get_ca_caps(&self) -> Result<String, ClientError> {
        let url = format!("{}?operation=GetCACaps", self.url);
        Ok(String::from_utf8_lossy(&Self::read(self.agent.get(&url).call())?.1).into_owned())
    }

    fn get_ca_cert(&self) -> Result<(String, Vec<u8>), ClientError> {
        let url = format!("{}?operation=GetCACert", self.url);
        Self::read(self.agent.get(&url).call())
    }

    fn pki_operation(&self, message: &[u8], _post: bool) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}?operation=PKIOperation", self.url);
        Ok(Self::read(
            self.agent
                .post(&url)
                .header("content-type", "application/x-pki-message")
                .send(message),
        )?
        .1)
    }
}

/// A service over `dir`, as `devicetrust serve` opens it.
fn open_service(dir: &std::path::Path) -> Arc<devicetrust_service::Service> {
    devicetrust_service::Service::open(
        engine::data_dir(dir),
        default_backend(),
        devicetrust_service::ServiceOptions::default(),
    )
    .unwrap()
    .service
}

/// Every byte of the folder's database, at rest.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    engine::database_bytes(dir)
}

struct World {
    runtime: tokio::runtime::Runtime,
    fake: Arc<FakeState>,
    scep_base: String,
    endpoints: Arc<ScepEndpoints>,
    _dir: tempfile::TempDir,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn settings(fake_base: &str) -> IntuneSettings {
    let mut s = IntuneSettings::new(TENANT, CLIENT_ID);
    s.authority_url = fake_base.to_owned();
    s.graph_url = format!("{fake_base}/graph");
    s.intune_resource_url = format!("{fake_base}/intune-resource");
    s.timeout_seconds = 1;
    s
}

fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/nothing-here")
}

/// The fake, a data folder with two Intune configurations ("main", discovered
/// through Graph; "down", a fixed service URL where nothing listens), and
/// `scep_router` serving them.
fn world() -> (World, String, String, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            base: format!("http://{addr}"),
            mode: Mutex::new(Mode::Accept),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(fake).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        state
    });
    let dir = tempfile::tempdir().unwrap();
    let service = open_service(dir.path());
    let scep = ScepConfig::default();
    let add = |settings: IntuneSettings, scep: ScepConfig| {
        let challenge = NewChallenge::Intune {
            settings,
            client_secret: Zeroizing::new(SECRET.to_owned()),
        };
        let now = time::OffsetDateTime::now_utc();
        service
            .add_scep_integration(IntegrationPlatform::Macos, challenge, scep, "test", now)
            .unwrap()
            .1
    };
    let main = add(settings(&fake.base), scep.clone());
    let mut down_settings = settings(&fake.base);
    down_settings.service_url = Some(dead_url());
    let down = add(down_settings, scep.clone());
    let held = add(
        settings(&fake.base),
        ScepConfig {
            manual_approval: true,
            ..scep
        },
    );
    assert_eq!(
        serde_json::to_value(&main).unwrap()["challenge"],
        json!("intune")
    );
    let endpoints = service.endpoints().clone();
    let addr = runtime.block_on(serve(scep_router(endpoints.clone())));
    (
        World {
            runtime,
            fake,
            scep_base: format!("http://{addr}"),
            endpoints,
            _dir: dir,
        },
        main.id,
        down.id,
        held.id,
    )
}

struct Device {
    key: PrivateKey,
    cert: Certificate,
    csr: Vec<u8>,
}

fn device(n: usize) -> Device {
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let signer = backend.signer(&key).unwrap();
    let cert = Certificate::self_signed("CN=device", signer.as_ref(), 1).unwrap();
    let csr = RequestBuilder::new(&format!("CN=intune-device-{n}"))
        .challenge_password("opaque-intune-challenge-blob")
        .sign(signer.as_ref())
        .unwrap();
    Device { key, cert, csr }
}

fn enroll(world: &World, id: &str, device: &Device) -> Enrollment {
    let transport = Http::new(format!("{}/scep/{id}/pkiclient.exe", world.scep_base));
    let policy = ScepPolicy {
        key_policy: KeyPolicy::default(),
        ..ScepPolicy::default()
    };
    let client = ScepClient::connect(transport, default_backend(), policy).unwrap();
    client
        .enroll(
            &device.key,
            &device.csr,
            &device.cert,
            MessageType::PkcsReq,
            None,
        )
        .unwrap()
}

fn issued_serials(world: &World, id: &str) -> Vec<String> {
    world
        .endpoints
        .get(id)
        .unwrap()
        .service
        .events()
        .into_iter()
        .filter_map(|e| match e.outcome {
            Outcome::Issued { serial, .. } => Some(serial.to_string()),
            _ => None,
        })
        .collect()
}

fn last_refusal(world: &World, id: &str, transaction_id: &str) -> String {
    world
        .endpoints
        .get(id)
        .unwrap()
        .service
        .events()
        .into_iter()
        .rev()
        .find(|e| e.transaction_id == transaction_id)
        .and_then(|e| match e.outcome {
            Outcome::Refused { fail_info, reason } => {
                assert_eq!(fail_info, FailInfo::BadRequest);
                Some(reason)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no refusal recorded for {transaction_id}"))
}

fn assert_refused(enrollment: &Enrollment, case: &str) {
    match enrollment {
        Enrollment::Failed { fail_info, .. } => {
            assert_eq!(*fail_info, Some(FailInfo::BadRequest), "{case}");
        }
        other => panic!("{case}: expected FAILURE badRequest, got {other:?}"),
    }
}

#[test]
fn enrollment_issues_only_when_intune_validates() {
    let (world, main, down, _) = world();
    let mut n = 0;

    // 1. Intune validates: issued, and the fake saw exactly our request.
    let dev = device(n);
    n += 1;
    let tx = transaction_id_for(&dev.key);
    let first = enroll(&world, &main, &dev);
    let Enrollment::Issued { certificate, .. } = first else {
        panic!(
            "expected a certificate, got {first:?}; events {:?}; fake saw {:?}",
            world.endpoints.get(&main).unwrap().service.events(),
            world
                .fake
                .seen()
                .iter()
                .map(|s| (&s.method, &s.path))
                .collect::<Vec<_>>()
        );
    };
    let seen = world.fake.seen();
    let validate: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("/ScepActions/validateRequest"))
        .collect();
    assert_eq!(validate.len(), 1);
    let v = validate[0];
    assert_eq!(v.method, Method::POST);
    let body = v.json();
    assert_eq!(body["request"]["transactionId"], json!(tx));
    assert_eq!(
        body["request"]["certificateRequest"],
        json!(base64::engine::general_purpose::STANDARD.encode(&dev.csr))
    );
    assert!(
        body["request"]["callerInfo"]
            .as_str()
            .unwrap()
            .starts_with("devicetrust/")
    );
    assert_eq!(v.header("authorization"), format!("Bearer {INTUNE_TOKEN}"));
    assert_eq!(v.header("api-version"), "2018-02-20");
    assert_eq!(v.header("content-type"), "application/json");
    assert!(v.header("user-agent").starts_with("devicetrust/"));
    let request_id = v.header("client-request-id");
    assert_eq!(request_id.len(), 36, "{request_id}");
    assert_eq!(&request_id[14..15], "4", "a version-4 UUID: {request_id}");

    let success: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("/ScepActions/successNotification"))
        .collect();
    assert_eq!(success.len(), 1);
    let note = &success[0].json()["notification"];
    assert_eq!(note["transactionId"], json!(tx));
    assert_eq!(
        note["certificateThumbprint"],
        json!(hex::encode_upper(
            HashAlgorithm::Sha1.digest(certificate.der())
        ))
    );
    assert_eq!(
        note["certificateSerialNumber"],
        json!(certificate.serial().unwrap().to_string())
    );
    assert_eq!(
        note["issuingCertificateAuthority"],
        json!(certificate.issuer().to_string())
    );
    let expires = note["certificateExpirationDateUtc"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");
    assert_eq!(
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap(),
        certificate.not_after()
    );
    assert_eq!(
        issued_serials(&world, &main),
        vec![certificate.serial().unwrap().to_string()]
    );

    // 2. Every way Intune can say no, or not answer: FAILURE badRequest,
    //    nothing issued, the reason recorded.
    let cases: &[(&str, Mode, &str)] = &[
        ("refused", Mode::Refuse, "ChallengeExpired"),
        ("HTTP 500", Mode::Status500, "HTTP 500"),
        ("garbage JSON", Mode::Garbage, "unexpected response"),
        ("oversized body", Mode::Oversized, "response over"),
        ("too slow", Mode::Slow, "unavailable"),
    ];
    for (case, mode, reason) in cases {
        world.fake.set(*mode);
        let dev = device(n);
        n += 1;
        let before = world.fake.count("/successNotification");
        assert_refused(&enroll(&world, &main, &dev), case);
        let recorded = last_refusal(&world, &main, &transaction_id_for(&dev.key));
        assert!(recorded.contains(reason), "{case}: {recorded}");
        if *mode == Mode::Refuse {
            assert!(recorded.contains("refused by the validator"), "{recorded}");
        } else {
            assert!(recorded.contains("unavailable"), "{case}: {recorded}");
        }
        assert_eq!(world.fake.count("/successNotification"), before, "{case}");
        assert_eq!(issued_serials(&world, &main).len(), 1, "{case}");
    }

    // 3. An outage is no answer: once Intune is back, a resend of the same
    //    transaction is validated afresh (a refusal, in contrast, sticks).
    world.fake.set(Mode::Status500);
    let dev = device(n);
    n += 1;
    assert_refused(&enroll(&world, &main, &dev), "outage");
    world.fake.set(Mode::Accept);
    assert!(matches!(
        enroll(&world, &main, &dev),
        Enrollment::Issued { .. }
    ));
    assert_eq!(issued_serials(&world, &main).len(), 2);

    // 4. Nothing listening at the service URL: refused, nothing issued.
    let dev = device(n);
    assert_refused(&enroll(&world, &down, &dev), "service down");
    let recorded = last_refusal(&world, &down, &transaction_id_for(&dev.key));
    assert!(recorded.contains("unavailable"), "{recorded}");
    assert!(issued_serials(&world, &down).is_empty());

    // 5. Tokens are cached: one per scope per configuration for all of the above.
    let tokens: Vec<Value> = world
        .fake
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/oauth2/v2.0/token"))
        .map(|s| json!(form_field(&s.body, "scope")))
        .collect();
    assert_eq!(
        tokens.len(),
        3,
        "graph and intune for main, intune for down: {tokens:?}"
    );
    // Discovery is cached too, and redone only after a transport failure
    // (the timeout), in case the service moved: twice in all.
    assert_eq!(world.fake.count("/endpoints"), 2);
    // Neither the token nor the secret ever went to the SCEP service.
    for seen in world.fake.seen() {
        if seen.path.contains("ScepActions") {
            assert!(!String::from_utf8_lossy(&seen.body).contains(SECRET));
        }
    }
    drop(world.runtime);
}

#[test]
fn secrets_stay_out_of_debug_output_and_integrations_json() {
    let mut s = IntuneSettings::new(TENANT, CLIENT_ID);
    s.service_url = Some("http://127.0.0.1:1/svc".into());
    let challenge = IntuneChallenge::new(s.clone(), Zeroizing::new(SECRET.into())).unwrap();
    let new = NewChallenge::Intune {
        settings: s,
        client_secret: Zeroizing::new(SECRET.into()),
    };
    for debug in [
        format!("{challenge:?}"),
        format!("{challenge:#?}"),
        format!("{new:?}"),
    ] {
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains(CLIENT_ID), "{debug}");
    }

    let dir = tempfile::tempdir().unwrap();
    let service = open_service(dir.path());
    let now = time::OffsetDateTime::now_utc();
    let (listed, added) = service
        .add_scep_integration(
            IntegrationPlatform::Windows,
            new,
            ScepConfig::default(),
            "t",
            now,
        )
        .unwrap();
    // The store keeps the settings and never the secret.
    let bytes = database_bytes(dir.path());
    assert!(
        !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the client secret is in the database"
    );
    assert!(bytes.windows(TENANT.len()).any(|w| w == TENANT.as_bytes()));
    assert!(!format!("{listed:?}").contains(SECRET));
    assert!(!format!("{added:?}").contains(SECRET));
    assert!(!serde_json::to_string(&added).unwrap().contains(SECRET));
    let secret_path = dir.path().join(format!("intune-{}.secret", added.id));
    if engine::on_postgres() {
        // Shared: sealed in the store with the folder's data key (the store
        // holds no plaintext, checked above), so every replica serves it.
        assert!(!secret_path.exists());
        service.sync().unwrap();
        assert!(service.endpoints().get(&added.id).is_some(), "served");
    } else {
        assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), SECRET);
    }
    #[cfg(unix)]
    if !engine::on_postgres() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored = service.list_integrations().unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!format!("{stored:?}").contains(SECRET));
}

#[test]
fn unusable_settings_are_refused_before_anything_is_written() {
    type Edit = fn(&mut IntuneSettings);
    let cases: &[(&str, Edit, &str)] = &[
        ("empty tenant", |s| s.tenant = " ".into(), "secret"),
        ("empty client", |s| s.client_id = String::new(), "secret"),
        (
            "ftp authority",
            |s| s.authority_url = "ftp://x".into(),
            "secret",
        ),
        ("zero timeout", |s| s.timeout_seconds = 0, "secret"),
        ("empty secret", |_| {}, ""),
    ];
    for (case, edit, secret) in cases {
        let mut s = IntuneSettings::new(TENANT, CLIENT_ID);
        edit(&mut s);
        let dir = tempfile::tempdir().unwrap();
        let service = open_service(dir.path());
        let result = service.add_scep_integration(
            IntegrationPlatform::Macos,
            NewChallenge::Intune {
                settings: s,
                client_secret: Zeroizing::new((*secret).into()),
            },
            ScepConfig::default(),
            "t",
            time::OffsetDateTime::now_utc(),
        );
        assert!(result.is_err(), "{case}");
        assert!(service.list_integrations().unwrap().is_empty(), "{case}");
        let written: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ra-") || n.starts_with("intune-"))
            .collect();
        assert!(written.is_empty(), "{case}: {written:?}");
    }
}

#[test]
fn an_admin_decision_on_a_held_request_is_reported_to_intune() {
    let (world, _, _, held) = world();
    let service = || world.endpoints.get(&held).unwrap();
    let (approved, rejected) = (device(100), device(101));
    for dev in [&approved, &rejected] {
        assert!(matches!(enroll(&world, &held, dev), Enrollment::Pending));
    }
    // Validated before being held; no notification yet.
    assert_eq!(world.fake.count("/validateRequest"), 2);
    assert_eq!(world.fake.count("/successNotification"), 0);

    let tx = transaction_id_for(&approved.key);
    let cert = service().service.approve(&tx).unwrap();
    let seen = world.fake.seen();
    let success: Vec<Value> = seen
        .iter()
        .filter(|s| s.path.ends_with("/successNotification"))
        .map(Seen::json)
        .collect();
    assert_eq!(success.len(), 1);
    assert_eq!(success[0]["notification"]["transactionId"], json!(tx));
    assert_eq!(
        success[0]["notification"]["certificateSerialNumber"],
        json!(cert.serial().unwrap().to_string())
    );

    let tx = transaction_id_for(&rejected.key);
    service().service.reject(&tx, "not one of ours").unwrap();
    let failure: Vec<Value> = world
        .fake
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/failureNotification"))
        .map(Seen::json)
        .collect();
    assert_eq!(failure.len(), 1);
    let note = &failure[0]["notification"];
    assert_eq!(note["transactionId"], json!(tx));
    assert_eq!(note["hResult"], json!(0x8000_4005_u32));
    assert!(
        note["errorDescription"]
            .as_str()
            .unwrap()
            .contains("rejected by an admin: not one of ours")
    );
    assert_eq!(
        note["certificateRequest"],
        json!(base64::engine::general_purpose::STANDARD.encode(&rejected.csr))
    );
    drop(world.runtime);
}

/// A certificate for 127.0.0.1, made with the openssl CLI.
#[expect(
    clippy::expect_used,
    reason = "test setup: a failure here should fail the test"
)]
fn loopback_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("fake.pem"), dir.join("fake.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=intune fake", "-days", "1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed by scripts/setup");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

#[test]
fn https_endpoints_are_verified_against_the_roots() {
    // The fake over TLS, as Microsoft's endpoints are.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = loopback_certificate(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tls = devicetrust_server::ops::tls_config(&cert, &key).unwrap();
    let fake = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            base: format!("https://{addr}"),
            mode: Mutex::new(Mode::Accept),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(fake).with_state(state.clone());
        let options = devicetrust_server::ops::ListenOptions {
            tls: Some(tls),
            ..devicetrust_server::ops::ListenOptions::default()
        };
        tokio::spawn(devicetrust_server::ops::serve_until(
            listener,
            app,
            options,
            std::future::pending(),
        ));
        state
    });
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let csr = RequestBuilder::new("CN=d")
        .challenge_password("c")
        .sign(backend.signer(&key).unwrap().as_ref())
        .unwrap();
    let request =
        devicetrust_pki::CertificateRequest::from_der(&csr, &KeyPolicy::default(), backend)
            .unwrap();
    let ctx = ChallengeContext {
        request: &request,
        transaction_id: "T",
        now: time::OffsetDateTime::now_utc(),
    };
    // Trusting the fake's certificate: validated over https.
    let mut trusted = settings(&fake.base);
    trusted.ca_file = Some(cert.to_str().unwrap().to_owned());
    let challenge = IntuneChallenge::new(trusted, Zeroizing::new(SECRET.into())).unwrap();
    assert_eq!(challenge.verify(&ctx), Ok(()));
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.path.ends_with("validateRequest")),
        "validated over https"
    );
    // With the system's roots the fake's self-signed certificate is not
    // trusted: unavailable, saying why, and no panic.
    let seen = fake.seen.lock().unwrap().len();
    let challenge =
        IntuneChallenge::new(settings(&fake.base), Zeroizing::new(SECRET.into())).unwrap();
    match challenge.verify(&ctx) {
        Err(ChallengeError::Unavailable(reason)) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        seen,
        "nothing reached the fake"
    );
    // A bundle that is not one is refused when the challenge is made.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not pem").unwrap();
    let mut bad = settings(&fake.base);
    bad.ca_file = Some(junk.to_str().unwrap().to_owned());
    assert!(IntuneChallenge::new(bad, Zeroizing::new(SECRET.into())).is_err());
    // And a request without a challenge password is refused before any call.
    let bare = RequestBuilder::new("CN=d")
        .sign(backend.signer(&key).unwrap().as_ref())
        .unwrap();
    let bare = devicetrust_pki::CertificateRequest::from_der(&bare, &KeyPolicy::default(), backend)
        .unwrap();
    let ctx = ChallengeContext {
        request: &bare,
        ..ctx
    };
    assert_eq!(challenge.verify(&ctx), Err(ChallengeError::Missing));
}

#[test]
fn the_admin_api_adds_an_intune_platform_that_serves_at_once() {
    let (world, ..) = world();
    let dir = tempfile::tempdir().unwrap();
    let listener = world
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = devicetrust_service::ServiceOptions {
        base_url: base.clone(),
        ..devicetrust_service::ServiceOptions::default()
    };
    let opened = devicetrust_service::Service::open(
        engine::data_dir(dir.path()),
        default_backend(),
        options,
    )
    .unwrap();
    let token = opened.admin_token.unwrap();
    let router = devicetrust_server::api::router(opened.service);
    world
        .runtime
        .spawn(async move { axum::serve(listener, router).await });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let add = |challenge: Value| {
        let mut response = agent
            .post(&format!("{base}/api/v1/device-integrations"))
            .header("authorization", format!("SSWS {}", token.as_str()))
            .header("content-type", "application/json")
            .send(json!({"platform": "WINDOWS", "ca": "OKTA", "challenge": challenge}).to_string())
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str::<Value>(&response.body_mut().read_to_string().unwrap()).unwrap(),
        )
    };
    // Missing settings are refused with the field named.
    let (status, refused) = add(json!({"type": "INTUNE", "tenant": TENANT, "clientId": CLIENT_ID}));
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("clientSecret"), "{refused}");
    let (status, refused) = add(json!({"type": "STATIC", "clientSecret": SECRET}));
    assert_eq!(status, 400, "{refused}");

    let (status, created) = add(json!({
        "type": "INTUNE", "tenant": TENANT, "clientId": CLIENT_ID, "clientSecret": SECRET,
        "authorityUrl": world.fake.base, "graphUrl": format!("{}/graph", world.fake.base),
        "intuneResourceUrl": format!("{}/intune-resource", world.fake.base)
    }));
    assert_eq!(status, 201, "{created}");
    assert!(!created.to_string().contains(SECRET), "{created}");
    let scep_url = created["scepUrl"].as_str().unwrap().to_owned();
    let before = world.fake.seen.lock().unwrap().len();

    let transport = Http::new(scep_url);
    let client = ScepClient::connect(transport, default_backend(), ScepPolicy::default()).unwrap();
    let d = device(90);
    let outcome = client
        .enroll(&d.key, &d.csr, &d.cert, MessageType::PkcsReq, None)
        .unwrap();
    assert!(matches!(outcome, Enrollment::Issued { .. }), "{outcome:?}");
    let seen = world.fake.seen.lock().unwrap();
    assert!(
        seen[before..]
            .iter()
            .any(|s| s.path.ends_with("validateRequest")),
        "the fake was asked to validate: {:?}",
        seen[before..]
            .iter()
            .map(|s| s.path.clone())
            .collect::<Vec<_>>()
    );
    drop(seen);
    // The secret is in its own file, not in the settings.
    let store = engine::open_store(dir.path());
    let settings = devicetrust_store::Store::read(&*store, |tx| tx.settings_document("service"))
        .unwrap()
        .unwrap()
        .body;
    assert!(settings.contains("adminTokens"), "the settings were read");
    assert!(!settings.contains(SECRET));
}
