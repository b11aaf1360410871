//! Device integrations over HTTP: desktop SCEP platforms served at once,
//! mobile platforms with their managementHint, secrets shown once and
//! reset (with a grace period for mobiles), activation, and the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use base64::Engine as _;
use common::{Server, assert_error, causes};
use devicetrust_attestation::{Outcome, Platform};
use devicetrust_pki::scep::ChallengeContext;
use devicetrust_pki::{
    CertificateRequest, KeyAlgorithm, KeyPolicy, RequestBuilder, default_backend,
};
use serde_json::json;

/// Whether the served SCEP endpoint `id` admits a request with `secret`.
fn admits(server: &Server, id: &str, secret: &str) -> bool {
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let signer = backend.signer(&key).unwrap();
    let der = RequestBuilder::new("CN=device")
        .challenge_password(secret)
        .sign(signer.as_ref())
        .unwrap();
    let request = CertificateRequest::parse(&der, &KeyPolicy::default(), backend).unwrap();
    let endpoint = server.service.endpoints().get(id).expect("served");
    let ctx = ChallengeContext {
        request: &request,
        transaction_id: "t1",
        now: time::OffsetDateTime::now_utc(),
    };
    endpoint.service.challenge().verify(&ctx).is_ok()
}

/// Everything at rest that could leak a secret.
fn at_rest(server: &Server) -> String {
    common::at_rest(&server.dir)
}

fn mobile_outcome(server: &Server, platform: Platform, hint: &str) -> Outcome {
    server.service.attestation().read().unwrap().attest_mobile(
        platform,
        hint,
        time::OffsetDateTime::now_utc(),
    )
}

fn managed_by(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Managed {
            configuration_id, ..
        } => Some(configuration_id.to_string()),
        _ => None,
    }
}

#[test]
fn desktop_platforms_are_served_at_once_and_their_secrets_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);

    let created = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "ca": "OKTA", "challenge": {"type": "STATIC"}})),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secretKey"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 40);
    assert_eq!(created["platform"], "MACOS");
    assert_eq!(created["status"], "ACTIVE");
    let scep_url = created["scepUrl"].as_str().unwrap().to_owned();
    assert_eq!(scep_url, format!("{}/scep/{id}/pkiclient.exe", server.base));
    assert!(
        created["configurationId"]
            .as_str()
            .unwrap()
            .starts_with("mdm-")
    );

    // Served at once, without a restart.
    let caps = server.raw(
        "GET",
        &format!("{scep_url}?operation=GetCACaps"),
        None,
        None,
        b"",
    );
    assert_eq!(caps.status, 200, "{}", caps.text());
    assert!(admits(&server, &id, &secret));
    assert!(!admits(
        &server,
        &id,
        "0000000000000000000000000000000000000000"
    ));

    // Listed and fetched without the secret; not at rest either.
    let listed = server.call("GET", "/api/v1/device-integrations", None);
    assert_eq!(listed.status, 200);
    assert!(!listed.text().contains(&secret));
    assert!(!listed.text().contains("secretKey"));
    let one = server.ok(
        "GET",
        &format!("/api/v1/device-integrations/{id}"),
        None,
        200,
    );
    assert_eq!(one["challenge"]["type"], "STATIC");
    assert_eq!(one["ca"], "OKTA");
    assert!(one.get("secretKey").is_none());
    assert!(!at_rest(&server).contains(&secret));

    // Reset: a new secret once; the old one stops at once.
    let reset_path = format!("/api/v1/device-integrations/{id}/lifecycle/resetSecret");
    let reset = server.ok("POST", &reset_path, None, 200);
    let new_secret = reset["secretKey"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(admits(&server, &id, &new_secret));
    assert!(!admits(&server, &id, &secret));
    // A static secret has no grace period.
    let e = assert_error(
        &server.call(
            "POST",
            &reset_path,
            Some(&json!({"gracePeriodMinutes": 60})),
        ),
        400,
        "E0000001",
    );
    assert!(causes(&e).contains("grace"), "{e}");

    // Deactivated: not served; activated: served again with the same secret.
    let deactivate = format!("/api/v1/device-integrations/{id}/lifecycle/deactivate");
    assert_eq!(
        server.ok("POST", &deactivate, None, 200)["status"],
        "INACTIVE"
    );
    let caps = server.raw(
        "GET",
        &format!("{scep_url}?operation=GetCACaps"),
        None,
        None,
        b"",
    );
    assert_eq!(caps.status, 404, "{}", caps.text());
    let config_id = one["configurationId"].as_str().unwrap().to_owned();
    let active = |server: &Server| {
        let attestor = server.service.attestation().read().unwrap();
        attestor
            .configurations()
            .iter()
            .find(|c| c.id.to_string() == config_id)
            .map(|c| c.active)
    };
    assert_eq!(active(&server), Some(false));
    let activate = format!("/api/v1/device-integrations/{id}/lifecycle/activate");
    assert_eq!(server.ok("POST", &activate, None, 200)["status"], "ACTIVE");
    assert_eq!(active(&server), Some(true));
    assert!(admits(&server, &id, &new_secret));

    // Dynamic: a challenge URL with Basic credentials, shown once.
    let dynamic = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(
            &json!({"platform": "WINDOWS", "challenge": {"type": "DYNAMIC"},
                     "scep": {"allowSha1": true, "manualApproval": false}}),
        ),
        201,
    );
    let challenge_url = dynamic["challengeUrl"].as_str().unwrap();
    let user = dynamic["username"].as_str().unwrap();
    let password = dynamic["password"].as_str().unwrap().to_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let page = server.raw(
        "GET",
        challenge_url,
        Some(&format!("Basic {basic}")),
        None,
        b"",
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let dyn_id = dynamic["id"].as_str().unwrap();
    let view = server.call(
        "GET",
        &format!("/api/v1/device-integrations/{dyn_id}"),
        None,
    );
    assert!(!view.text().contains(&password) && !view.text().contains("password"));
    assert!(!at_rest(&server).contains(&password));
    // A dynamic challenge has no secret key to reset.
    assert_error(
        &server.call(
            "POST",
            &format!("/api/v1/device-integrations/{dyn_id}/lifecycle/resetSecret"),
            None,
        ),
        400,
        "E0000001",
    );

    // Refusals: table of (body, words the cause must hold).
    let refusals = [
        (
            json!({"platform": "MACOS", "challenge": {"type": "INTUNE"}}),
            "challenge.tenant is required for INTUNE",
        ),
        (json!({"platform": "MACOS"}), "challenge is required"),
        (
            json!({"platform": "MACOS", "challenge": {"type": "SOMETIMES"}}),
            "STATIC",
        ),
        (
            json!({"platform": "MACOS", "ca": "THEIRS", "challenge": {"type": "STATIC"}}),
            "OKTA or UPLOADED",
        ),
        (
            json!({"platform": "WINDOWS", "ca": "UPLOADED", "challenge": {"type": "STATIC"}}),
            "not served over SCEP",
        ),
        (
            json!({"platform": "MACOS", "providerName": "x", "challenge": {"type": "STATIC"}}),
            "ANDROID and IOS",
        ),
        (
            json!({"platform": "LINUX", "challenge": {"type": "STATIC"}}),
            "platform",
        ),
        (
            json!({"platform": "MACOS", "challenge": {"type": "STATIC"}, "extra": 1}),
            "extra",
        ),
        (
            json!({"platform": "MACOS", "challenge": {"type": "STATIC"}, "scep": {"allowMd5": true}}),
            "allowMd5",
        ),
    ];
    for (body, words) in refusals {
        let e = assert_error(
            &server.call("POST", "/api/v1/device-integrations", Some(&body)),
            400,
            "E0000001",
        );
        assert!(causes(&e).contains(words), "{body}: {e}");
    }
    assert_error(
        &server.call("GET", "/api/v1/device-integrations/nope", None),
        404,
        "E0000007",
    );
    assert_error(
        &server.call(
            "POST",
            "/api/v1/device-integrations/nope/lifecycle/activate",
            None,
        ),
        404,
        "E0000007",
    );
    assert_error(
        &server.call(
            "POST",
            &format!("/api/v1/device-integrations/{id}/lifecycle/explode"),
            None,
        ),
        400,
        "E0000001",
    );

    // The audit log names each change and never a secret.
    let logs = server.call(
        "GET",
        "/api/v1/logs?filter=eventType%20sw%20%22device.integration.%22",
        None,
    );
    assert_eq!(logs.status, 200);
    let text = logs.text();
    for secret in [&secret, &new_secret, &password] {
        assert!(!text.contains(secret.as_str()));
    }
    let types: Vec<String> = logs
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_owned())
        .collect();
    for t in [
        "device.integration.create",
        "device.integration.secret.reset",
        "device.integration.deactivate",
        "device.integration.activate",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }
}

#[test]
fn mobile_platforms_get_a_management_hint_with_a_grace_period_on_reset() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let created = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(
            &json!({"platform": "ANDROID", "providerName": "Workspace ONE",
                     "enrollmentLink": "https://uem.example.com/enroll?org=acme"}),
        ),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let config_id = created["configurationId"].as_str().unwrap().to_owned();
    let first = created["managementHint"]["secretKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first.len(), 43);
    assert_eq!(created["providerName"], "Workspace ONE");
    assert_eq!(
        created["enrollmentLink"],
        "https://uem.example.com/enroll?org=acme"
    );

    // The attestor trusts it at once, for its platform only.
    assert_eq!(
        managed_by(&mobile_outcome(&server, Platform::Android, &first)),
        Some(config_id.clone())
    );
    assert_eq!(
        managed_by(&mobile_outcome(&server, Platform::Ios, &first)),
        None
    );
    assert_eq!(
        managed_by(&mobile_outcome(&server, Platform::Android, "wrong")),
        None
    );
    let one = server.call("GET", &format!("/api/v1/device-integrations/{id}"), None);
    assert!(!one.text().contains(&first) && !one.text().contains("secretKey"));
    assert!(!at_rest(&server).contains(&first));

    // Reset with a grace period: both keys work until it ends.
    let reset_path = format!("/api/v1/device-integrations/{id}/lifecycle/resetSecret");
    let reset = server.ok(
        "POST",
        &reset_path,
        Some(&json!({"gracePeriodMinutes": 60})),
        200,
    );
    let second = reset["managementHint"]["secretKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first);
    assert!(
        reset["managementHint"]["previousKeyValidUntil"].is_string(),
        "{reset}"
    );
    match mobile_outcome(&server, Platform::Android, &first) {
        Outcome::Managed { previous_key, .. } => assert!(previous_key),
        other => panic!("the old key works in its grace period: {other:?}"),
    }
    assert!(managed_by(&mobile_outcome(&server, Platform::Android, &second)).is_some());
    let view = server.ok(
        "GET",
        &format!("/api/v1/device-integrations/{id}"),
        None,
        200,
    );
    assert!(
        view["managementHint"]["previousKeyValidUntil"].is_string(),
        "{view}"
    );

    // Reset without one: only the newest key works.
    let reset = server.ok(
        "POST",
        &reset_path,
        Some(&json!({"gracePeriodMinutes": 0})),
        200,
    );
    let third = reset["managementHint"]["secretKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for (key, works) in [(&first, false), (&second, false), (&third, true)] {
        assert_eq!(
            managed_by(&mobile_outcome(&server, Platform::Android, key)).is_some(),
            works
        );
    }
    for bad in [
        json!({"gracePeriodMinutes": -1}),
        json!({"gracePeriodMinutes": 100_000}),
        json!({"grace": 5}),
    ] {
        assert_error(
            &server.call("POST", &reset_path, Some(&bad)),
            400,
            "E0000001",
        );
    }

    // Deactivated: the key no longer attests; activated: it does again.
    server.ok(
        "POST",
        &format!("/api/v1/device-integrations/{id}/lifecycle/deactivate"),
        None,
        200,
    );
    assert!(managed_by(&mobile_outcome(&server, Platform::Android, &third)).is_none());
    server.ok(
        "POST",
        &format!("/api/v1/device-integrations/{id}/lifecycle/activate"),
        None,
        200,
    );
    assert!(managed_by(&mobile_outcome(&server, Platform::Android, &third)).is_some());

    // Refusals: table of (body, words the cause must hold).
    let link = "https://uem.example.com/enroll";
    let refusals = [
        (
            json!({"platform": "IOS", "enrollmentLink": link}),
            "providerName is required",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM"}),
            "enrollmentLink is required",
        ),
        (
            json!({"platform": "IOS", "providerName": "", "enrollmentLink": link}),
            "empty",
        ),
        (
            json!({"platform": "IOS", "providerName": "x".repeat(101), "enrollmentLink": link}),
            "100",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM", "enrollmentLink": "javascript:alert(1)"}),
            "http",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM", "enrollmentLink": "file:///etc/passwd"}),
            "http",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM", "enrollmentLink": "https://"}),
            "http",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM", "enrollmentLink": "https://a b"}),
            "whitespace",
        ),
        (
            json!({"platform": "IOS", "providerName": "UEM", "enrollmentLink": link, "ca": "OKTA"}),
            "MACOS and WINDOWS",
        ),
    ];
    for (body, words) in refusals {
        let e = assert_error(
            &server.call("POST", "/api/v1/device-integrations", Some(&body)),
            400,
            "E0000001",
        );
        assert!(causes(&e).contains(words), "{body}: {e}");
    }
    let all = server.ok("GET", "/api/v1/device-integrations", None, 200);
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "refused requests add nothing: {all}"
    );
}
