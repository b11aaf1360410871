//! Regression tests for the device-API holes of issue #12, each found by
//! attacking the service: a registration race, registering a key without
//! holding it, replays after a restart, a deactivated device's old key, a
//! management certificate shared between devices, world-readable data, and
//! management proofs lost on restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use std::sync::{Arc, Barrier};

use device_common::*;
use devicetrust_devices::{DeviceId, Operation};
use devicetrust_pki::{KeyAlgorithm, default_backend};
use devicetrust_store::Store as _;
use serde_json::json;

fn mac(udid: &str) -> serde_json::Value {
    json!({"displayName": "Mac", "platform": "MACOS", "udid": udid, "registered": true})
}

/// The device as a decision saw it (with the guide's medium policy).
fn decided_device(h: &Harness, user: Option<&str>, device: &str) -> serde_json::Value {
    let mut body = json!({"policyId": MEDIUM, "deviceId": device, "groups": ["Everyone"]});
    if let Some(user) = user {
        body["userId"] = json!(user);
    }
    let answer = h.authorize(&body);
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["device"].clone()
}

fn users_of(h: &Harness, id: &str) -> Vec<String> {
    h.registry()
        .users(h.service.org(), &DeviceId::new(id).unwrap())
        .unwrap()
        .into_iter()
        .map(|u| u.user.id.to_string())
        .collect()
}

/// Hole 1: two users register the same new hardware at the same moment
/// with different keys. Exactly one wins; only its user is linked, only its
/// key works, and the loser gets 409 and can act for nobody.
#[test]
fn racing_registrations_of_one_hardware_leave_one_key_and_one_user() {
    let h = Arc::new(Harness::start());
    for round in 0..12 {
        let udid = format!("RACE-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = ["alice", "bob"]
            .into_iter()
            .map(|user| {
                let (h, barrier, udid) = (h.clone(), barrier.clone(), udid.clone());
                std::thread::spawn(move || {
                    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
                    let token = h.enrollment_token(user);
                    let body = register_body(&token, &key, mac(&udid)).to_string();
                    barrier.wait();
                    let answer = h.send("POST", "/device/v1/register", &[], body.as_bytes());
                    (user, key, answer)
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let statuses: Vec<u16> = results.iter().map(|(_, _, a)| a.status).collect();
        let winners: Vec<_> = results.iter().filter(|(_, _, a)| a.status == 201).collect();
        assert_eq!(winners.len(), 1, "round {round}: {statuses:?}");
        assert!(statuses.contains(&409), "round {round}: {statuses:?}");
        let (winner, key, answer) = winners[0];
        let id = answer.body["device"]["id"].as_str().unwrap().to_owned();
        assert_eq!(users_of(&h, &id), vec![winner.to_string()], "round {round}");
        let device = TestDevice::new(&id, key.clone());
        assert_eq!(
            device.call(&h, "GET", "/device/v1/me", &json!({})).status,
            200
        );
        let (loser, loser_key, _) = results.iter().find(|(u, _, _)| u != winner).unwrap();
        // The loser's key signs for nothing, and the winner's key cannot open
        // an Okta Verify session for the loser.
        let stranger = TestDevice::new(&id, loser_key.clone());
        assert_eq!(
            stranger.call(&h, "GET", "/device/v1/me", &json!({})).status,
            401
        );
        let session = device.call(&h, "POST", "/device/v1/sessions", &json!({"userId": loser}));
        assert_eq!(session.status, 403, "round {round}: {session:?}");
    }
}

/// Hole 2: registering another device's public key (with its UDID) without
/// its private key is refused, before the token is used up.
#[test]
fn a_public_key_without_its_private_key_is_refused() {
    let h = Harness::start();
    store_guide_policies(&h);
    let victim_key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let token = h.enrollment_token("victim");
    let body = register_body(&token, &victim_key, mac("UDID-VICTIM"));
    let victim = h.send(
        "POST",
        "/device/v1/register",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(victim.status, 201, "{victim:?}");
    let victim_id = victim.body["device"]["id"].as_str().unwrap().to_owned();

    let mallory_key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let token = h.enrollment_token("mallory");
    // The victim's public key, "proved" with Mallory's own key.
    let forged = key_proof(&token, &victim_key, &mallory_key);
    let body = register_body_with_proof(&token, &victim_key, mac("UDID-VICTIM"), forged);
    let refused = h.send(
        "POST",
        "/device/v1/register",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(users_of(&h, &victim_id), vec!["victim".to_owned()]);
    let seen = decided_device(&h, Some("mallory"), &victim_id);
    assert_eq!(seen["registered"], json!(false), "{seen:?}");

    // No proof at all is a validation error.
    let mut bare = register_body(&token, &mallory_key, mac("UDID-M"));
    bare.as_object_mut().unwrap().remove("keyProof");
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        bare.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    // A proof from another time window is refused.
    let mut stale = register_body(&token, &mallory_key, mac("UDID-M"));
    stale["keyProof"]["ts"] = json!((now_ts() - 3600).to_string());
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        stale.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    // The refusals did not use the token up: Mallory's own key registers with it.
    let own = register_body(&token, &mallory_key, mac("UDID-M"));
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        own.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
}

/// Hole 3: a signed request accepted once is refused when replayed after
/// the service restarts (request nonces live in the store).
#[test]
fn a_signed_request_replayed_after_a_restart_is_refused() {
    let h = Harness::start();
    let device = h.register("alice", mac("UDID-REPLAY"));
    let header = device.header("GET", "/device/v1/me", b"");
    let first = h.send(
        "GET",
        "/device/v1/me",
        &[("authorization", header.clone())],
        b"",
    );
    assert_eq!(first.status, 200, "{first:?}");
    let again = h.send(
        "GET",
        "/device/v1/me",
        &[("authorization", header.clone())],
        b"",
    );
    assert_eq!(again.status, 401, "{again:?}");

    let h = h.restart();
    let replay = h.send("GET", "/device/v1/me", &[("authorization", header)], b"");
    assert_eq!(replay.status, 401, "{replay:?}");
    assert!(replay.body.to_string().contains("nonce"), "{replay:?}");
    // A fresh request from the same device still works.
    assert_eq!(
        device.call(&h, "GET", "/device/v1/me", &json!({})).status,
        200
    );
}

/// A desktop proof's attestation nonce is used once across a restart (it
/// is recorded in the store, not in the process), and a nonce issued before
/// the restart is still accepted after it (its key lives in the data folder).
#[test]
fn an_attestation_nonce_is_used_once_across_a_restart() {
    let h = Harness::start();
    let mac_device = h.register("alice", mac("UDID-ATTEST-ONCE"));
    let (leaf, key) = h.mdm_certificate("CN=alice managementAttestation UDID-ATTEST-ONCE");
    let issue = |h: &Harness| {
        let nonce = mac_device.call(h, "POST", "/device/v1/nonce", &json!({}));
        assert_eq!(nonce.status, 200, "{nonce:?}");
        nonce.body["nonce"].as_str().unwrap().to_owned()
    };
    let prove = |h: &Harness, nonce: &str| {
        let proof = devicetrust_attestation::nonce::prove(key.as_ref(), nonce).unwrap();
        // Each call is a fresh signed request: only the attestation nonce repeats.
        mac_device.call(
            h,
            "POST",
            "/device/v1/management-proof",
            &json!({"nonce": nonce, "signature": proof.signature,
                    "certificates": [leaf.to_pem().unwrap()]}),
        )
    };
    let used = issue(&h);
    let kept = issue(&h);
    assert_eq!(prove(&h, &used).body["managed"], json!(true));

    let h = h.restart();
    let replayed = prove(&h, &used);
    assert_eq!(replayed.body["managed"], json!(false), "{replayed:?}");
    assert!(
        replayed.body.to_string().contains("nonce_replayed"),
        "{replayed:?}"
    );
    let later = prove(&h, &kept);
    assert_eq!(later.body["managed"], json!(true), "{later:?}");
}

/// Hole 6: deactivation retires the device key and its management proof;
/// after activation the old key is refused everywhere until the device
/// registers again.
#[test]
fn deactivate_retires_the_device_key_until_it_registers_again() {
    let h = Harness::start();
    store_guide_policies(&h);
    let device = h.register("alice", mac("UDID-RETIRE"));
    let (leaf, signer) = h.mdm_certificate("CN=alice managementAttestation UDID-RETIRE");
    let proved = device.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(proved.body["managed"], json!(true), "{proved:?}");

    lifecycle(&h, &device.id, Operation::Deactivate);
    lifecycle(&h, &device.id, Operation::Activate);
    for (method, path) in [
        ("GET", "/device/v1/me"),
        ("POST", "/device/v1/nonce"),
        ("POST", "/device/v1/signals"),
        ("POST", "/device/v1/management-proof"),
    ] {
        let answer = device.call(&h, method, path, &json!({}));
        assert_eq!(answer.status, 401, "{method} {path}: {answer:?}");
    }
    let seen = decided_device(&h, None, &device.id);
    assert_eq!(seen["managed"], json!(false), "{seen:?}");

    // Registering again (same hardware, a new key) brings the device back.
    let again = h.register("alice", mac("UDID-RETIRE"));
    assert_eq!(again.id, device.id);
    assert_eq!(
        again.call(&h, "GET", "/device/v1/me", &json!({})).status,
        200
    );
    assert_eq!(
        device.call(&h, "GET", "/device/v1/me", &json!({})).status,
        401
    );
}

/// Hole 7: a management certificate that names no device proves for the
/// first device that uses it, and is refused for any other.
#[test]
fn a_certificate_naming_no_device_proves_for_one_device_only() {
    let h = Harness::start();
    let first = h.register("alice", mac("UDID-F"));
    let second = h.register("bob", mac("UDID-G"));
    let (leaf, signer) = h.mdm_certificate("CN=shared@example.com");
    let f = first.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(f.body["managed"], json!(true), "{f:?}");
    let g = second.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(g.body["managed"], json!(false), "{g:?}");
    assert_eq!(
        g.body["reasons"][0]["kind"],
        json!(devicetrust_store::BOUND_ELSEWHERE),
        "{g:?}"
    );
    // The first device keeps proving with it, across a restart too.
    let h = h.restart();
    let f = first.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(f.body["managed"], json!(true), "{f:?}");
    let g = second.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(g.body["managed"], json!(false), "{g:?}");
}

/// A management proof survives a restart: `authorize` still says managed.
#[test]
fn a_management_proof_survives_a_restart() {
    let h = Harness::start();
    store_guide_policies(&h);
    let device = h.register("alice", mac("UDID-PROOF"));
    let (leaf, signer) = h.mdm_certificate("CN=alice managementAttestation UDID-PROOF");
    let proved = device.prove_desktop(&h, &leaf, signer.as_ref());
    assert_eq!(proved.body["managed"], json!(true), "{proved:?}");
    let h = h.restart();
    let seen = decided_device(&h, Some("alice"), &device.id);
    assert_eq!(seen["managed"], json!(true), "{seen:?}");
    let me = device.call(&h, "GET", "/device/v1/me", &json!({}));
    assert_eq!(me.body["managed"], json!(true), "{me:?}");
}

/// Hole 8: the data folder is 0700 and the database (with its WAL and
/// shared-memory files), the CA's files and the settings are 0600, whatever
/// the umask the service was started under.
#[cfg(unix)]
#[test]
fn the_data_folder_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start();
    h.register("alice", mac("UDID-MODES"));
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = h.dir().to_path_buf();
    assert_eq!(mode(&dir), 0o700, "data folder");
    let mut checked = 0;
    for entry in walk(&dir) {
        let m = mode(&entry);
        if entry.is_dir() {
            assert_eq!(m & 0o077, 0, "{} is {m:o}", entry.display());
        } else {
            assert_eq!(m, 0o600, "{} is {m:o}", entry.display());
            checked += 1;
        }
    }
    if device_common::engine::on_postgres() {
        // The database is elsewhere: the folder holds keys only.
        assert!(!dir.join("devices.sqlite3").exists());
        assert!(checked >= 5, "only {checked} files checked");
    } else {
        for name in [
            "devices.sqlite3",
            "devices.sqlite3-wal",
            "devices.sqlite3-shm",
        ] {
            assert!(dir.join(name).exists(), "{name} is where the test looks");
        }
        assert!(checked >= 8, "only {checked} files checked");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// EDR signals survive a restart: the decision that needed them is the
/// same after it, `/me` still shows them, a newer report replaces them
/// (and outlives the next restart), and deleting the device deletes them.
#[test]
fn signals_survive_a_restart_and_go_with_the_device() {
    let h = Harness::start();
    store_guide_policies(&h);
    let pc = h.register("alice", windows("S-SIGNALS"));
    let (leaf, key) = h.mdm_certificate(&format!(
        "CN=alice@example.com managementAttestation {}",
        pc.id
    ));
    assert_eq!(
        pc.prove_desktop(&h, &leaf, key.as_ref()).body["managed"],
        true
    );
    let good = json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}});
    assert_eq!(pc.call(&h, "POST", "/device/v1/signals", &good).status, 202);
    let before = decide(&h, HIGH, "alice", Some(&pc.id), json!({}));
    assert_eq!(before, ("ALLOW".into(), "rulwindowsedr000001".into()));

    let h = h.restart();
    assert_eq!(decide(&h, HIGH, "alice", Some(&pc.id), json!({})), before);
    let me = pc.call(&h, "GET", "/device/v1/me", &json!({}));
    assert_eq!(me.body["signals"]["wsc"]["stale"], json!(false), "{me:?}");
    // A newer report replaces it, and that too outlives a restart.
    let poor = json!({"wsc": {"antiVirus": "GOOD", "fireWall": "POOR"}});
    let answer = pc.call(&h, "POST", "/device/v1/signals", &poor);
    assert_eq!(answer.body["stored"]["wsc"], json!("LATEST"), "{answer:?}");
    let h = h.restart();
    assert_eq!(decide(&h, HIGH, "alice", Some(&pc.id), json!({})).0, "DENY");

    // Deleting the device deletes its reports: nothing is served for it.
    lifecycle(&h, &pc.id, Operation::Deactivate);
    lifecycle(&h, &pc.id, Operation::Delete);
    let reports = h
        .registry()
        .store()
        .read(|tx| tx.signal_reports(h.service.org(), &DeviceId::new(&pc.id).unwrap()))
        .unwrap();
    assert!(reports.is_empty(), "{reports:?}");
}

/// A change made by another process on the same folder (the CLI's
/// `integrations add`, or a replica) is served at once: a SCEP integration
/// it adds answers, one it deactivates stops, and a platform it deactivates
/// stops attesting, without a restart.
#[test]
fn integrations_changed_by_another_process_are_served_at_once() {
    use devicetrust_service::integrations::IntegrationPlatform;
    let h = Harness::start();
    let mac = h.register("alice", mac("UDID-LIVE"));
    let (leaf, key) = h.mdm_certificate("CN=alice managementAttestation UDID-LIVE");
    assert_eq!(
        mac.prove_desktop(&h, &leaf, key.as_ref()).body["managed"],
        json!(true)
    );

    // Another process on the same folder, as `devicetrust integrations add` is.
    let other = devicetrust_service::Service::open(
        device_common::engine::data_dir(h.dir()),
        default_backend(),
        devicetrust_service::ServiceOptions::default(),
    )
    .unwrap()
    .service;
    let now = time::OffsetDateTime::now_utc();
    let (added, _) = other
        .add_scep_integration(
            IntegrationPlatform::Macos,
            devicetrust_service::NewChallenge::Static,
            devicetrust_pki::scep::ScepConfig::default(),
            "cli",
            now,
        )
        .unwrap();
    let caps = format!("/scep/{}/pkiclient.exe?operation=GetCACaps", added.id);
    assert!(h.raw_text(&caps).contains("POSTPKIOperation"));

    // Deactivated there: no longer served here, and no longer attesting.
    other
        .set_integration_active(&added.id, false, "cli", now)
        .unwrap();
    let url = format!("{}{caps}", h.base);
    assert_eq!(h.agent.get(&url).call().unwrap().status(), 404);
    let listed = other.list_integrations().unwrap();
    let mut deactivated = 0;
    for stored in listed
        .iter()
        .filter(|s| s.active && s.platform == IntegrationPlatform::Macos)
    {
        other
            .set_integration_active(&stored.id, false, "cli", now)
            .unwrap();
        deactivated += 1;
    }
    assert_eq!(deactivated, 1, "the harness's macOS platform: {listed:?}");
    let proof = mac.prove_desktop(&h, &leaf, key.as_ref());
    assert_eq!(proof.body["managed"], json!(false), "{proof:?}");
    // Refused for having no platform, not for some other fault.
    assert_eq!(
        proof.body["reasons"][0]["kind"],
        json!("no_configuration"),
        "{proof:?}"
    );
}
