//! The Devices admin API over HTTP: list, search, page, get, users,
//! lifecycle with its effects (sessions ended, certificate on the CRL),
//! delete rules, a user's devices, and the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::{Server, assert_error, causes};
use devicetrust_devices::{Platform, SessionMethod, UserId};
use devicetrust_pki::{Crl, IssueOptions, KeyAlgorithm, RequestBuilder, default_backend};
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_search_and_page_with_a_link_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(server.enroll(
            "alice",
            &format!("Alice Mac {i}"),
            Platform::Macos,
            &format!("M{i}"),
        ));
    }
    let win = server.enroll("bob", "Bob PC", Platform::Windows, "W1");
    all.push(win.clone());
    let mut expected: Vec<String> = all.iter().map(|d| d.id.to_string()).collect();
    expected.sort();

    // No search: everything, in id order, no next link.
    let answer = server.call("GET", "/api/v1/devices", None);
    assert_eq!(answer.status, 200);
    assert_eq!(ids(&answer.json()), expected);
    assert!(answer.link.is_none());
    // Okta's shape.
    let first = &answer.json()[0];
    for key in [
        "id",
        "status",
        "created",
        "lastUpdated",
        "profile",
        "resourceDisplayName",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    // Paging with limit=2 follows the Link header to the end.
    let mut seen = Vec::new();
    let mut next = Some(format!("{}/api/v1/devices?limit=2", server.base));
    let mut pages = 0;
    while let Some(url) = next {
        let page = server.call("GET", &url, None);
        assert_eq!(page.status, 200, "{}", page.text());
        let got = ids(&page.json());
        assert!(got.len() <= 2);
        seen.extend(got);
        next = page.link.map(|l| {
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(seen, expected);

    // Searches, table-driven: (expression, expected names).
    let mut mac_ids: Vec<String> = all[..5].iter().map(|d| d.id.to_string()).collect();
    mac_ids.sort();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (r#"profile.platform eq "WINDOWS""#, vec![win.id.to_string()]),
        (r#"profile.platform eq "MACOS""#, mac_ids.clone()),
        (
            r#"status eq "ACTIVE" and profile.platform eq "MACOS""#,
            mac_ids.clone(),
        ),
        (r#"status eq "SUSPENDED""#, vec![]),
        (
            r#"profile.displayName eq "Bob PC""#,
            vec![win.id.to_string()],
        ),
        (r#"profile.displayName sw "Alice""#, mac_ids.clone()),
        (r#"profile.displayName sw "alice""#, vec![]),
    ];
    for (search, want) in cases {
        let url = format!(
            "/api/v1/devices?search={}",
            percent_encoding::utf8_percent_encode(search, percent_encoding::NON_ALPHANUMERIC)
        );
        let got = server.ok("GET", &url, None, 200);
        assert_eq!(ids(&got), want, "{search}");
    }
    // A display-name search pages too, and its Link keeps the search.
    let url = format!(
        "/api/v1/devices?limit=3&search={}",
        percent_encoding::utf8_percent_encode(
            r#"profile.displayName sw "Alice""#,
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let page = server.call("GET", &url, None);
    assert_eq!(ids(&page.json()), mac_ids[..3].to_vec());
    let link = page.link.unwrap();
    assert!(link.contains("search="), "{link}");
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    assert_eq!(
        ids(&server.ok("GET", next, None, 200)),
        mac_ids[3..].to_vec()
    );

    // Refused searches and parameters: 400 with a cause, never a 500.
    for bad in [
        "/api/v1/devices?search=status%20eq%20ACTIVE",
        "/api/v1/devices?search=status%20eq%20%22NOPE%22",
        "/api/v1/devices?search=id%20eq%20%22x%22",
        "/api/v1/devices?search=status%20gt%20%22ACTIVE%22",
        "/api/v1/devices?limit=0",
        "/api/v1/devices?limit=201",
        "/api/v1/devices?limit=ten",
        "/api/v1/devices?after=%00",
        "/api/v1/devices?unknown=1",
    ] {
        let e = assert_error(&server.call("GET", bad, None), 400, "E0000001");
        assert!(
            !causes(&e).is_empty() || bad.contains("after"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn get_users_and_a_users_devices() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let shared = server.enroll("alice", "Shared iPad", Platform::Ios, "IPAD");
    // The same hardware enrolled by bob: one device, two users.
    let again = server.enroll("bob", "Shared iPad", Platform::Ios, "IPAD");
    assert_eq!(again.id, shared.id);
    let own = server.enroll("bob", "Bob's Mac", Platform::Macos, "BMAC");

    let got = server.ok("GET", &format!("/api/v1/devices/{}", shared.id), None, 200);
    assert_eq!(got["id"], shared.id.as_str());
    assert_eq!(got["profile"]["platform"], "IOS");

    let users = server.ok(
        "GET",
        &format!("/api/v1/devices/{}/users", shared.id),
        None,
        200,
    );
    let mut names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"]["id"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob"]);
    assert!(users[0]["managementStatus"].is_string() && users[0]["created"].is_string());

    // expand=user (or userSummary) embeds each device's users, as
    // /devices/{id}/users lists them; a page's next link keeps it.
    for expand in ["user", "userSummary"] {
        let listed = server.call(
            "GET",
            &format!("/api/v1/devices?expand={expand}&limit=1"),
            None,
        );
        assert_eq!(listed.status, 200, "{}", listed.text());
        let link = listed.link.clone().unwrap();
        assert!(link.contains(&format!("expand={expand}")), "{link}");
        let mut pages = vec![listed.json()];
        let next = link.split(['<', '>']).nth(1).unwrap().to_owned();
        pages.push(server.ok("GET", &next, None, 200));
        for page in &pages {
            let device = &page[0];
            let embedded = server.ok(
                "GET",
                &format!("/api/v1/devices/{}/users", device["id"].as_str().unwrap()),
                None,
                200,
            );
            assert_eq!(device["_embedded"]["users"], embedded, "{device}");
        }
    }
    let plain = server.ok("GET", "/api/v1/devices", None, 200);
    assert!(plain[0].get("_embedded").is_none(), "{plain}");
    assert_error(
        &server.call("GET", "/api/v1/devices?expand=everything", None),
        400,
        "E0000001",
    );

    let bobs = server.ok("GET", "/api/v1/users/bob/devices", None, 200);
    let bobs = bobs.as_array().unwrap();
    assert_eq!(bobs.len(), 2);
    let mut device_ids: Vec<&str> = bobs
        .iter()
        .map(|e| e["device"]["id"].as_str().unwrap())
        .collect();
    device_ids.sort_unstable();
    let mut want = vec![shared.id.as_str(), own.id.as_str()];
    want.sort_unstable();
    assert_eq!(device_ids, want);
    for entry in bobs {
        assert!(entry["created"].is_string());
        assert!(entry["deviceUserId"].as_str().unwrap().starts_with("dvu"));
    }
    assert_eq!(
        server.ok("GET", "/api/v1/users/nobody/devices", None, 200),
        Value::Array(vec![])
    );

    // Unknown and impossible ids: 404 in Okta's shape.
    for path in [
        "/api/v1/devices/guoNOPE".to_owned(),
        "/api/v1/devices/guoNOPE/users".to_owned(),
        format!("/api/v1/devices/{}", "x".repeat(300)),
    ] {
        let e = assert_error(&server.call("GET", &path, None), 404, "E0000007");
        assert!(
            e["errorSummary"].as_str().unwrap().contains("(Device)"),
            "{e}"
        );
    }
}

#[test]
fn lifecycle_effects_conflicts_delete_and_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let device = server.enroll("alice", "Alice Mac", Platform::Macos, "AMAC");
    let org = server.org();
    let alice = UserId::new("alice").unwrap();
    let registry = server.registry();
    let now = time::OffsetDateTime::now_utc();
    registry
        .sign_in(&org, &device.id, &alice, SessionMethod::OktaVerify, now)
        .unwrap();

    // A certificate issued by our CA and bound to the device.
    let (ca, _) = common::engine::data_dir(&server.dir)
        .open_ca_and_store(default_backend())
        .unwrap();
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    let signer = backend.signer(&key).unwrap();
    let csr = RequestBuilder::new(&format!("CN=alice managementAttestation {}", device.id))
        .sign(signer.as_ref())
        .unwrap();
    let cert = ca
        .issue(&ca.parse_request(&csr).unwrap(), &IssueOptions::default())
        .unwrap();
    let serial = cert.serial().unwrap();
    registry
        .bind_certificate(&org, &device.id, &serial)
        .unwrap();
    let crl_has = |server: &Server| {
        let answer = server.raw("GET", "/pki/crl", None, None, b"");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type.as_deref(), Some("application/pkix-crl"));
        let crl = Crl::from_der(&answer.body).unwrap();
        // Now, not the test's start: the service signs the CRL when asked,
        // and a thisUpdate one second after the start is not "not yet valid".
        crl.verify(
            ca.intermediate(),
            time::OffsetDateTime::now_utc(),
            &devicetrust_pki::KeyPolicy::default(),
            backend,
        )
        .unwrap();
        crl.revocation(&serial).is_some()
    };
    assert!(!crl_has(&server));

    let op = |name: &str| {
        server.call(
            "POST",
            &format!("/api/v1/devices/{}/lifecycle/{name}", device.id),
            None,
        )
    };
    let status =
        || server.ok("GET", &format!("/api/v1/devices/{}", device.id), None, 200)["status"].clone();
    // Okta's `_links`: the lifecycle operations the state allows (POST), the
    // users (GET), and self (GET, and DELETE once deactivated).
    let links = || {
        let got = server.ok("GET", &format!("/api/v1/devices/{}", device.id), None, 200);
        assert_eq!(got["resourceType"], "UDDevice");
        assert_eq!(got["resourceId"], got["id"]);
        assert!(got["resourceAlternateId"].is_null());
        let links = got["_links"].as_object().unwrap().clone();
        let at = format!("{}/api/v1/devices/{}", server.base, device.id);
        assert_eq!(links["self"]["href"], json!(at));
        assert_eq!(links["users"]["href"], json!(format!("{at}/users")));
        assert_eq!(links["users"]["hints"]["allow"], json!(["GET"]));
        let mut names: Vec<String> = Vec::new();
        for (name, link) in &links {
            if name != "self" && name != "users" {
                assert_eq!(link["href"], json!(format!("{at}/lifecycle/{name}")));
                assert_eq!(link["hints"]["allow"], json!(["POST"]));
            }
            names.push(name.clone());
        }
        (names, links["self"]["hints"]["allow"].clone())
    };
    assert_eq!(
        links(),
        (
            vec![
                "deactivate".into(),
                "self".into(),
                "suspend".into(),
                "users".into()
            ],
            json!(["GET"])
        )
    );

    // Delete an active device: 409, nothing changes.
    let e = assert_error(
        &server.call("DELETE", &format!("/api/v1/devices/{}", device.id), None),
        409,
        "E0000001",
    );
    assert!(causes(&e).contains("ACTIVE"), "{e}");

    // Suspend: Okta Verify sessions end.
    let answer = op("suspend");
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert!(answer.body.is_empty(), "{}", answer.text());
    assert_eq!(status(), "SUSPENDED");
    assert_eq!(links().0, ["deactivate", "self", "unsuspend", "users"]);
    let sessions = registry.sessions(&org, &device.id).unwrap();
    assert!(!sessions.is_empty() && sessions.iter().all(|s| !s.is_active()));

    // An illegal transition: 409 with the evidence (state and allowed states).
    let e = assert_error(&op("activate"), 409, "E0000001");
    let text = format!("{} {}", e["errorSummary"], causes(&e));
    assert!(
        text.contains("SUSPENDED") && text.contains("allowed from DEACTIVATED"),
        "{text}"
    );
    assert_eq!(status(), "SUSPENDED");
    assert_eq!(op("unsuspend").status, 204);
    assert_eq!(status(), "ACTIVE");
    // Asking for the state the device is in is a no-op, not a conflict.
    assert_eq!(op("unsuspend").status, 204);
    assert_eq!(op("activate").status, 204);
    assert_eq!(status(), "ACTIVE");

    // Deactivate: the bound certificate is revoked and on the CRL at once,
    // and a replica on the same database serves the very same CRL (it is
    // kept in the store, not per process), before and after.
    let replica = Server::start(&server.dir, Some(&server.token));
    let crl_bytes = |s: &Server| s.raw("GET", "/pki/crl", None, None, b"").body;
    assert!(!crl_has(&server));
    assert_eq!(crl_bytes(&replica), crl_bytes(&server));
    assert_eq!(op("deactivate").status, 204);
    assert_eq!(
        links(),
        (
            vec!["activate".into(), "self".into(), "users".into()],
            json!(["GET", "DELETE"])
        )
    );
    assert_eq!(status(), "DEACTIVATED");
    // The first requests after the revocation re-sign the CRL: asked of
    // both at once, one signs and every answer is that one CRL.
    let fetched: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let askers: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { &server } else { &replica };
                scope.spawn(move || crl_bytes(s))
            })
            .collect();
        askers.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert!(
        fetched.iter().all(|der| *der == fetched[0]),
        "the processes signed different CRLs at once"
    );
    assert!(
        crl_has(&replica),
        "the replica's CRL lists the revocation at once"
    );
    assert!(crl_has(&server), "the revoked certificate is on /pki/crl");
    assert_eq!(crl_bytes(&replica), crl_bytes(&server));
    assert_error(&op("suspend"), 409, "E0000001");
    assert_error(&op("nonsense"), 400, "E0000001");
    assert_error(&op("delete"), 400, "E0000001");
    assert_error(
        &server.call("POST", "/api/v1/devices/guoNOPE/lifecycle/suspend", None),
        404,
        "E0000007",
    );

    // Delete a deactivated device: 204, then 404.
    let answer = server.call("DELETE", &format!("/api/v1/devices/{}", device.id), None);
    assert_eq!(answer.status, 204, "{}", answer.text());
    assert_error(
        &server.call("GET", &format!("/api/v1/devices/{}", device.id), None),
        404,
        "E0000007",
    );
    assert_error(
        &server.call("DELETE", &format!("/api/v1/devices/{}", device.id), None),
        404,
        "E0000007",
    );

    // The audit log has every step, newest first, with the token as actor.
    let token_id = server.token_id();
    let filter = |f: &str| {
        let url = format!(
            "/api/v1/logs?filter={}",
            percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
        );
        server.ok("GET", &url, None, 200)
    };
    let events = filter(&format!(r#"target.id eq "{}""#, device.id));
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"device.lifecycle.delete"), "{types:?}");
    assert_eq!(types.last(), Some(&"device.enrollment.create"), "{types:?}");
    assert!(types.contains(&"device.lifecycle.suspend"));
    let refused = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"]["result"] == "FAILURE")
        .count();
    assert!(refused >= 3, "refusals are logged: {events}");
    let suspends = filter(r#"eventType eq "device.lifecycle.suspend""#);
    // Newest first: the refused suspend of an unknown device came last.
    assert_eq!(suspends[0]["target"][0]["id"], "guoNOPE");
    assert_eq!(suspends[0]["outcome"]["result"], "FAILURE");
    let suspend = &filter(&format!(
        r#"eventType eq "device.lifecycle.suspend" and target.id eq "{}" and actor.id eq "{token_id}""#,
        device.id
    ))[0];
    assert_eq!(suspend["actor"]["id"], token_id.as_str());
    assert_eq!(suspend["target"][0]["id"], device.id.as_str());
    assert_eq!(
        filter(&format!(
            r#"actor.id eq "{token_id}" and eventType sw "device.lifecycle." and target.id eq "{}""#,
            device.id
        ))
            .as_array()
            .unwrap()
            .len(),
        types.len() - 1,
        "every lifecycle call, not the enrollment"
    );
    // Limits, windows and bad parameters.
    assert_eq!(
        server
            .ok("GET", "/api/v1/logs?limit=2", None, 200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let future = "/api/v1/logs?since=2999-01-01T00:00:00Z";
    assert_eq!(server.ok("GET", future, None, 200), Value::Array(vec![]));
    for bad in [
        "/api/v1/logs?limit=0",
        "/api/v1/logs?since=yesterday",
        "/api/v1/logs?filter=target.id%20sw%20%22x%22",
        "/api/v1/logs?filter=published%20eq%20%22x%22",
    ] {
        assert_error(&server.call("GET", bad, None), 400, "E0000001");
    }
}
