//! Uploaded CAs over HTTP: validation, idempotent uploads, "use my own CA"
//! desktop integrations that attest with them at once, deletion, and the
//! intermediate download.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::{Server, assert_error, attest, causes, managed_by, their_ca};
use devicetrust_pki::{Certificate, IssueOptions, KeyAlgorithm, RequestBuilder, default_backend};
use serde_json::json;

fn upload(server: &Server, body: &[u8], content_type: &str) -> common::Answer {
    server.raw(
        "POST",
        "/api/v1/certificate-authorities",
        Some(&format!("SSWS {}", server.token)),
        Some(content_type),
        body,
    )
}

#[test]
fn uploaded_cas_are_checked_and_trusted_by_use_my_own_integrations() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let theirs = their_ca();
    let pem = theirs.intermediate().to_pem().unwrap();

    // Upload as PEM; the same certificate as DER is the same CA.
    let answer = upload(&server, pem.as_bytes(), "application/x-pem-file");
    assert_eq!(answer.status, 201, "{}", answer.text());
    let ca = answer.json();
    let ca_id = ca["id"].as_str().unwrap().to_owned();
    assert_eq!(ca["sha256"], theirs.intermediate().fingerprint());
    assert_eq!(ca["subject"], theirs.intermediate().subject().to_string());
    let again = upload(
        &server,
        theirs.intermediate().der(),
        "application/pkix-cert",
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["id"], ca_id.as_str());
    let listed = server.ok("GET", "/api/v1/certificate-authorities", None, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        server.ok(
            "GET",
            &format!("/api/v1/certificate-authorities/{ca_id}"),
            None,
            200
        )["id"],
        ca_id.as_str()
    );

    // A "use my own CA" desktop integration: no SCEP, trusts the uploads.
    let integration = server.ok(
        "POST",
        "/api/v1/device-integrations",
        Some(&json!({"platform": "MACOS", "ca": "UPLOADED"})),
        201,
    );
    assert_eq!(integration["ca"], "UPLOADED");
    assert!(integration.get("scepUrl").is_none() && integration.get("secretKey").is_none());
    let config = integration["configurationId"].as_str().unwrap().to_owned();
    assert_eq!(
        managed_by(&attest(&server, &theirs, "dev-1")),
        Some(config.clone())
    );
    // A third CA nobody uploaded is not trusted.
    assert_eq!(managed_by(&attest(&server, &their_ca(), "dev-1")), None);

    // Deleted: no longer trusted; uploaded again: trusted at once.
    let answer = server.call(
        "DELETE",
        &format!("/api/v1/certificate-authorities/{ca_id}"),
        None,
    );
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert_eq!(managed_by(&attest(&server, &theirs, "dev-1")), None);
    assert_error(
        &server.call(
            "DELETE",
            &format!("/api/v1/certificate-authorities/{ca_id}"),
            None,
        ),
        404,
        "E0000007",
    );
    assert_error(
        &server.call(
            "GET",
            &format!("/api/v1/certificate-authorities/{ca_id}"),
            None,
        ),
        404,
        "E0000007",
    );
    assert_eq!(upload(&server, pem.as_bytes(), "text/plain").status, 201);
    assert_eq!(managed_by(&attest(&server, &theirs, "dev-1")), Some(config));

    // A bundle of two answers with both.
    let other = their_ca();
    let bundle = format!("{}{}", other.intermediate().to_pem().unwrap(), pem);
    let answer = upload(&server, bundle.as_bytes(), "application/x-pem-file");
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json().as_array().unwrap().len(), 2);
    assert_eq!(
        server
            .ok("GET", "/api/v1/certificate-authorities", None, 200)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The audit log has the uploads and the deletion.
    let logs = server.ok(
        "GET",
        "/api/v1/logs?filter=eventType%20sw%20%22pki.ca.%22",
        None,
        200,
    );
    let types: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "pki.ca.upload").count(),
        3,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "pki.ca.delete").count(),
        1,
        "{types:?}"
    );
}

#[test]
fn refused_uploads_say_why_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let ca = their_ca();
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let signer = backend.signer(&key).unwrap();
    let csr = RequestBuilder::new("CN=leaf")
        .sign(signer.as_ref())
        .unwrap();
    let leaf: Certificate = ca
        .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
        .unwrap();
    let p7 = [
        0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (leaf.to_pem().unwrap().into_bytes(), "not_ca"),
        (p7.to_vec(), "pkcs7"),
        (
            b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n".to_vec(),
            "unexpected_pem",
        ),
        (b"  \n".to_vec(), "empty"),
        (b"'; DROP TABLE devices;--".to_vec(), "not_a_certificate"),
        (vec![0u8; 64], "not_a_certificate"),
    ];
    for (body, kind) in cases {
        let e = assert_error(
            &upload(&server, &body, "application/octet-stream"),
            400,
            "E0000001",
        );
        assert!(causes(&e).starts_with(kind), "{kind}: {e}");
    }
    assert_eq!(
        server.ok("GET", "/api/v1/certificate-authorities", None, 200),
        json!([])
    );
}

#[test]
fn the_intermediate_downloads_as_pem() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let answer = server.call("GET", "/api/v1/pki/intermediate", None);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/x-pem-file")
    );
    let cert = Certificate::parse(&answer.body).unwrap();
    let (ca, _) = common::engine::data_dir(&server.dir)
        .open_ca_and_store(default_backend())
        .unwrap();
    assert_eq!(cert.der(), ca.intermediate().der());
}
