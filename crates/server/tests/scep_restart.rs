//! SCEP across a restart (issue #12, hole 5): a PKCSReq sent again after the
//! service is reopened on the same data folder gets the certificate it got
//! before (same serial) and issues nothing; a dynamic challenge handed out
//! before a restart works once after it, and only once; a request held for
//! approval before a restart is approved (or rejected) by an admin after it,
//! and collected by the client's CertPoll.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use base64::Engine;
use common::{Server, assert_error};
use devicetrust_pki::scep::{
    ContentEncryption, MessageType, PkiMessage, PkiStatus, RequestMessage, ScepPolicy,
    parse_certs_only,
};
use devicetrust_pki::{Certificate, KeyAlgorithm, PrivateKey, RequestBuilder, default_backend};
use serde_json::json;

struct Device {
    key: PrivateKey,
    cert: Certificate,
}

fn device() -> Device {
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let cert =
        Certificate::self_signed("CN=device", backend.signer(&key).unwrap().as_ref(), 1).unwrap();
    Device { key, cert }
}

/// A PKCSReq for the endpoint `id`, encrypted to its RA.
fn pkcs_req(
    server: &Server,
    id: &str,
    d: &Device,
    transaction_id: &str,
    challenge: &str,
) -> Vec<u8> {
    message(
        server,
        id,
        d,
        MessageType::PkcsReq,
        transaction_id,
        Some(challenge),
    )
}

/// A SCEP request of `message_type` for the endpoint `id`, encrypted to its RA.
fn message(
    server: &Server,
    id: &str,
    d: &Device,
    message_type: MessageType,
    transaction_id: &str,
    challenge: Option<&str>,
) -> Vec<u8> {
    server.service.sync().unwrap();
    let endpoint = server.service.endpoints().get(id).expect("served");
    let signer = default_backend().signer(&d.key).unwrap();
    let mut csr = RequestBuilder::new("CN=device");
    if let Some(challenge) = challenge {
        csr = csr.challenge_password(challenge);
    }
    let csr = csr.sign(signer.as_ref()).unwrap();
    RequestMessage {
        message_type,
        transaction_id,
        payload: &csr,
        recipient: endpoint.service.ra_certificate(),
        encryption: ContentEncryption::Aes256Cbc,
        signer_cert: &d.cert,
        signer: signer.as_ref(),
    }
    .encode()
    .unwrap()
    .0
}

/// POSTs a PKIOperation; the reply's status, failure text and certificate.
fn operate(
    server: &Server,
    id: &str,
    d: &Device,
    body: &[u8],
) -> (PkiStatus, Option<String>, Option<Certificate>) {
    let answer = server.raw(
        "POST",
        &format!("/scep/{id}/pkiclient.exe?operation=PKIOperation"),
        None,
        Some("application/x-pki-message"),
        body,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let policy = ScepPolicy::default();
    let rep = PkiMessage::decode(&answer.body, &policy, default_backend()).unwrap();
    let status = rep.pki_status.unwrap();
    let cert = (status == PkiStatus::Success).then(|| {
        let decrypter = default_backend().decrypter(&d.key).unwrap();
        let (inner, _) = rep.decrypt(&d.cert, decrypter.as_ref(), &policy).unwrap();
        parse_certs_only(&inner).unwrap().remove(0)
    });
    (status, rep.fail_info_text.clone(), cert)
}

#[test]
fn a_replayed_pkcs_req_after_a_restart_gets_the_same_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let token = server.token.clone();
    let created = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "challenge": {"type": "STATIC"}})),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secretKey"].as_str().unwrap().to_owned();
    let d = device();
    let body = pkcs_req(&server, &id, &d, "tx-replay", &secret);
    let (status, text, first) = operate(&server, &id, &d, &body);
    assert_eq!(status, PkiStatus::Success, "{text:?}");
    let first = first.unwrap();
    let issued = server.registry().store().ledger_count().unwrap();
    server.stop();

    let server = Server::start(dir.path(), Some(&token));
    let (status, text, again) = operate(&server, &id, &d, &body);
    assert_eq!(status, PkiStatus::Success, "{text:?}");
    let again = again.unwrap();
    assert_eq!(again.serial().unwrap(), first.serial().unwrap());
    assert_eq!(again.der(), first.der());
    assert_eq!(
        server.registry().store().ledger_count().unwrap(),
        issued,
        "the replay issued nothing"
    );

    // The same transaction with another key is still refused.
    let other = device();
    let (status, text, _) = operate(
        &server,
        &id,
        &other,
        &pkcs_req(&server, &id, &other, "tx-replay", &secret),
    );
    assert_eq!(status, PkiStatus::Failure);
    assert!(text.unwrap().contains("different key"));
    server.stop();
}

#[test]
fn a_dynamic_challenge_is_used_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let token = server.token.clone();
    let created = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "WINDOWS", "challenge": {"type": "DYNAMIC"}})),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let user = created["username"].as_str().unwrap();
    let password = created["password"].as_str().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let page = server.raw(
        "GET",
        &format!("/scep/{id}/mscep_admin/"),
        Some(&format!("Basic {basic}")),
        None,
        b"",
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    let challenge = text
        .split_once("password is: <B> ")
        .and_then(|(_, rest)| rest.split_once(" </B>"))
        .map(|(c, _)| c.to_owned())
        .expect("the page holds a challenge");
    server.stop();

    let server = Server::start(dir.path(), Some(&token));
    let d = device();
    let (status, text, _) = operate(
        &server,
        &id,
        &d,
        &pkcs_req(&server, &id, &d, "tx-1", &challenge),
    );
    assert_eq!(status, PkiStatus::Success, "{text:?}");
    server.stop();

    let server = Server::start(dir.path(), Some(&token));
    let e = device();
    let (status, text, _) = operate(
        &server,
        &id,
        &e,
        &pkcs_req(&server, &id, &e, "tx-2", &challenge),
    );
    assert_eq!(status, PkiStatus::Failure);
    assert!(text.unwrap().contains("already used"));
    server.stop();
}

#[test]
fn a_held_request_is_approved_by_an_admin_after_a_restart_and_collected_by_cert_poll() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let token = server.token.clone();
    let created = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({
            "platform": "MACOS",
            "challenge": {"type": "STATIC"},
            "scep": {"manualApproval": true},
        })),
        201,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secretKey"].as_str().unwrap().to_owned();
    let requests = format!("/api/v1/device-integrations/{id}/scep-requests");
    let d = device();
    let (status, text, cert) = operate(
        &server,
        &id,
        &d,
        &pkcs_req(&server, &id, &d, "tx-held", &secret),
    );
    assert_eq!(status, PkiStatus::Pending, "{text:?}");
    assert!(cert.is_none());
    let issued = server.registry().store().ledger_count().unwrap();

    let held = server.ok("GET", &requests, None, 200);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["transactionId"], "tx-held");
    assert_eq!(held[0]["status"], "PENDING");
    assert_eq!(held[0]["subject"], "CN=device");
    assert_eq!(
        held[0]["publicKeySha256"].as_str().unwrap().len(),
        64,
        "{held:?}"
    );
    server.stop();

    let server = Server::start(dir.path(), Some(&token));
    let poll = message(&server, &id, &d, MessageType::CertPoll, "tx-held", None);
    assert_eq!(operate(&server, &id, &d, &poll).0, PkiStatus::Pending);
    assert_eq!(server.registry().store().ledger_count().unwrap(), issued);

    let approve = format!("{requests}/tx-held/lifecycle/approve");
    let approved = server.ok("POST", &approve, None, 200);
    assert_eq!(approved["status"], "ISSUED");
    assert_eq!(approved["subject"], "CN=device");
    assert_eq!(
        server.registry().store().ledger_count().unwrap(),
        issued + 1
    );
    let (status, _, cert) = operate(&server, &id, &d, &poll);
    assert_eq!(status, PkiStatus::Success);
    let cert = cert.unwrap();
    assert_eq!(cert.public_key(), d.key.public_key());
    assert_eq!(
        cert.serial().unwrap().to_string(),
        approved["serialNumber"].as_str().unwrap()
    );
    // Decided once: a second approval is 404 and issues nothing.
    assert_error(&server.call("POST", &approve, None), 404, "E0000007");
    assert_eq!(
        server.registry().store().ledger_count().unwrap(),
        issued + 1
    );
    assert_eq!(server.ok("GET", &requests, None, 200), json!([]));

    // Rejected: the client's CertPoll gets FAILURE with the admin's reason kept.
    let e = device();
    let (status, _, _) = operate(
        &server,
        &id,
        &e,
        &pkcs_req(&server, &id, &e, "tx-refused", &secret),
    );
    assert_eq!(status, PkiStatus::Pending);
    let reject = format!("{requests}/tx-refused/lifecycle/reject");
    for (body, why) in [
        (json!({"reason": "x".repeat(513)}), "over 512 bytes"),
        (json!({"reason": "a\nb"}), "a control character"),
        (json!({"reason": "ok", "extra": 1}), "an unknown field"),
    ] {
        let answer = server.call("POST", &reject, Some(&body));
        assert_eq!(answer.status, 400, "{why}: {}", answer.text());
    }
    let rejected = server.ok(
        "POST",
        &reject,
        Some(&json!({"reason": "not one of ours"})),
        200,
    );
    assert_eq!(rejected["status"], "REJECTED");
    let poll = message(&server, &id, &e, MessageType::CertPoll, "tx-refused", None);
    let (status, text, _) = operate(&server, &id, &e, &poll);
    assert_eq!(status, PkiStatus::Failure);
    assert!(text.unwrap_or_default().contains("not one of ours"));
    assert_eq!(
        server.registry().store().ledger_count().unwrap(),
        issued + 1
    );

    // Both decisions are in the System Log, with the admin token as actor.
    let log = server.ok("GET", "/api/v1/logs?limit=100", None, 200);
    for event_type in ["pki.scep.request.approve", "pki.scep.request.reject"] {
        let event = log
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["eventType"] == event_type)
            .unwrap_or_else(|| panic!("no {event_type} in {log}"));
        assert_eq!(event["actor"]["id"], server.token_id(), "{event}");
    }

    // Unknown integration, unknown operation, a request that is not pending.
    assert_error(
        &server.call(
            "GET",
            "/api/v1/device-integrations/nope/scep-requests",
            None,
        ),
        404,
        "E0000007",
    );
    assert_error(
        &server.call(
            "POST",
            &format!("{requests}/tx-held/lifecycle/reissue"),
            None,
        ),
        400,
        "E0000001",
    );
    assert_error(
        &server.call(
            "POST",
            &format!("{requests}/never-sent/lifecycle/reject"),
            None,
        ),
        404,
        "E0000007",
    );
    server.stop();
}
