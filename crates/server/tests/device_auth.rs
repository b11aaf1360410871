//! Device authentication refusals: each way a request signature, an
//! enrollment token or a body can be wrong, and what it gets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod device_common;

use device_common::*;
use devicetrust_devices::UserId;
use devicetrust_pki::{KeyAlgorithm, default_backend};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const ME: &str = "/device/v1/me";

fn auth(h: &Harness, method: &str, path: &str, header: String, body: &[u8]) -> Answer {
    h.send(method, path, &[("authorization", header)], body)
}

#[test]
fn request_signatures_are_verified_or_refused() {
    let h = Harness::start();
    let a = h.register("alice", windows("S-A"));
    let b = h.register("bob", windows("S-B"));
    let ok = a.call(&h, "GET", ME, &Value::Null);
    assert_eq!(ok.status, 200, "{ok:?}");

    // Missing and malformed headers.
    assert_eq!(h.send("GET", ME, &[], b"").status, 401);
    for bad in [
        "Bearer abc".to_owned(),
        "DeviceSignature".to_owned(),
        format!("DeviceSignature id={}, ts=1, nonce=x, sig=y", a.id),
        format!(
            r#"DeviceSignature id="{}", ts="{}", nonce="short", sig="AAAA""#,
            a.id,
            now_ts()
        ),
        format!(
            r#"DeviceSignature id="{}", ts="{}", nonce="{}""#,
            a.id,
            now_ts(),
            random_nonce()
        ),
        format!(
            r#"DeviceSignature id="{}", ts="soon", nonce="{}", sig="AAAA""#,
            a.id,
            random_nonce()
        ),
        format!(
            r#"DeviceSignature id="{}", ts="{}", nonce="{}", sig="!!!""#,
            a.id,
            now_ts(),
            random_nonce()
        ),
    ] {
        let answer = auth(&h, "GET", ME, bad.clone(), b"");
        assert_eq!(answer.status, 401, "{bad}: {answer:?}");
        assert_eq!(answer.body["errorCode"], "E0000011");
    }

    // The scheme matches in any case, with any whitespace after it (RFC 9110).
    for scheme in [
        "devicesignature ",
        "DEVICESIGNATURE\t",
        "DeviceSignature   ",
    ] {
        let header = a.header("GET", ME, b"");
        let header = header.replacen("DeviceSignature ", scheme, 1);
        let answer = auth(&h, "GET", ME, header.clone(), b"");
        assert_eq!(answer.status, 200, "{header}: {answer:?}");
    }

    // Unknown device, and device B signing as device A.
    let stranger = TestDevice::new(
        "guoNotRegistered00001",
        default_backend().generate(KeyAlgorithm::EcP256).unwrap(),
    );
    assert_eq!(stranger.call(&h, "GET", ME, &Value::Null).status, 401);
    let forged = b.header_as(&a.id, "GET", ME, now_ts(), &random_nonce(), b"");
    assert_eq!(auth(&h, "GET", ME, forged, b"").status, 401);

    // Tampered body and wrong path: the signature covers both.
    let signed_body = json!({"wsc": {"antiVirus": "GOOD"}}).to_string();
    let header = a.header("POST", "/device/v1/signals", signed_body.as_bytes());
    let tampered = json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}}).to_string();
    assert_eq!(
        auth(
            &h,
            "POST",
            "/device/v1/signals",
            header,
            tampered.as_bytes()
        )
        .status,
        401
    );
    let header = a.header("POST", "/device/v1/sessions", b"{}");
    assert_eq!(
        auth(&h, "POST", "/device/v1/nonce", header, b"{}").status,
        401
    );
    let header = a.header("GET", "/device/v1/me?x=1", b"");
    assert_eq!(
        auth(&h, "GET", ME, header, b"").status,
        401,
        "query is signed too"
    );

    // Stale and future timestamps.
    for skew in [-600, 600] {
        let header = a.header_as(&a.id, "GET", ME, now_ts() + skew, &random_nonce(), b"");
        assert_eq!(auth(&h, "GET", ME, header, b"").status, 401, "skew {skew}");
    }

    // A nonce is accepted once; a refused request does not burn it.
    let nonce = random_nonce();
    let bad_sig = b.header_as(&a.id, "GET", ME, now_ts(), &nonce, b"");
    assert_eq!(auth(&h, "GET", ME, bad_sig, b"").status, 401);
    let header = a.header_as(&a.id, "GET", ME, now_ts(), &nonce, b"");
    assert_eq!(auth(&h, "GET", ME, header.clone(), b"").status, 200);
    let replay = auth(&h, "GET", ME, header, b"");
    assert_eq!(replay.status, 401, "{replay:?}");
    assert!(replay.body.to_string().contains("already used"));

    // One device cannot act for another.
    let other = a.call(
        &h,
        "POST",
        "/device/v1/signals",
        &json!({"deviceId": b.id, "wsc": {"antiVirus": "GOOD"}}),
    );
    assert_eq!(other.status, 403, "{other:?}");
    assert_eq!(other.body["errorCode"], "E0000006");
    let other = a.call(
        &h,
        "POST",
        "/device/v1/sessions",
        &json!({"deviceId": b.id, "userId": "alice"}),
    );
    assert_eq!(other.status, 403);
    // bob has no enrollment on alice's device.
    assert_eq!(
        a.call(&h, "POST", "/device/v1/sessions", &json!({"userId": "bob"}))
            .status,
        403
    );

    // Oversized bodies.
    let big = format!(r#"{{"wsc": {{"x": "{}"}}}}"#, "a".repeat(70 * 1024));
    let header = a.header("POST", "/device/v1/signals", big.as_bytes());
    assert_eq!(
        auth(&h, "POST", "/device/v1/signals", header, big.as_bytes()).status,
        413
    );
    assert_eq!(
        h.send("POST", "/device/v1/register", &[], big.as_bytes())
            .status,
        413
    );
    assert_eq!(
        h.authorize(&json!({"policyId": "x", "groups": ["g".repeat(70 * 1024)]}))
            .status,
        413
    );
}

#[test]
fn rsa_device_keys_work_and_weak_or_garbage_keys_are_refused() {
    let h = Harness::start();
    let rsa = h.register_with("alice", windows("S-RSA"), KeyAlgorithm::RSA2048);
    assert_eq!(rsa.call(&h, "GET", ME, &Value::Null).status, 200);
    let p384 = h.register_with("alice", windows("S-384"), KeyAlgorithm::EcP384);
    assert_eq!(p384.call(&h, "GET", ME, &Value::Null).status, 200);

    let token = h.enrollment_token("alice");
    let garbage = json!({"enrollmentToken": token, "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "profile": windows("S-X")});
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        garbage.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    // A refused registration did not use the token up.
    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let answer = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &key, windows("S-X"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
}

#[test]
fn enrollment_tokens_are_single_use_expire_and_need_the_secret() {
    let h = Harness::start();
    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let register = |token: &str, sid: &str| {
        h.send(
            "POST",
            "/device/v1/register",
            &[],
            register_body(token, &key, windows(sid))
                .to_string()
                .as_bytes(),
        )
    };
    let token = h.enrollment_token("alice");
    assert!(token.starts_with("dtenr_"));
    // Right id, wrong secret: refused, and the token survives.
    let (id, _) = token.split_once('.').unwrap();
    assert_eq!(
        register(
            &format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "S-1"
        )
        .status,
        401
    );
    assert_eq!(register("dtenr_nonsense", "S-1").status, 401);
    assert_eq!(register("", "S-1").status, 401);
    assert_eq!(register(&token, "S-1").status, 201);
    let used = register(&token, "S-2");
    assert_eq!(used.status, 401, "{used:?}");
    assert_eq!(used.body["errorCode"], "E0000011");

    let stale = h
        .service
        .mint_enrollment_token(
            &UserId::new("alice").unwrap(),
            OffsetDateTime::now_utc() - Duration::minutes(16),
        )
        .unwrap();
    assert_eq!(register(&stale.token, "S-3").status, 401);

    // Bounded per user.
    for _ in 0..10 {
        h.enrollment_token("carol");
    }
    let over = h.admin("/api/v1/users/carol/enrollment-tokens", &json!({}));
    assert_eq!(over.status, 429, "{over:?}");
    // Minting is an admin call.
    let anonymous = h.send("POST", "/api/v1/users/carol/enrollment-tokens", &[], b"{}");
    assert_eq!(anonymous.status, 401);
}

#[test]
fn re_registration_replaces_the_key_only_for_the_devices_own_users() {
    let h = Harness::start();
    let alice = h.register("alice", windows("S-SHARED"));
    // mallory claims alice's hardware with her own key: refused.
    let mallory_key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let token = h.enrollment_token("mallory");
    let takeover = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &mallory_key, windows("S-SHARED"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(takeover.status, 409, "{takeover:?}");
    assert_eq!(alice.call(&h, "GET", ME, &Value::Null).status, 200);

    // alice reinstalls Okta Verify: the new key replaces the old one.
    let new_key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let token = h.enrollment_token("alice");
    let again = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &new_key, windows("S-SHARED"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["device"]["id"], alice.id.as_str());
    assert_eq!(
        alice.call(&h, "GET", ME, &Value::Null).status,
        401,
        "old key retired"
    );
    let reinstalled = TestDevice::new(&alice.id, new_key);
    assert_eq!(reinstalled.call(&h, "GET", ME, &Value::Null).status, 200);

    // A second user of the same Okta Verify (same key) joins the device.
    let token = h.enrollment_token("bob");
    let shared = h.send(
        "POST",
        "/device/v1/register",
        &[],
        register_body(&token, &reinstalled.key, windows("S-SHARED"))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(shared.status, 201, "{shared:?}");
    assert_eq!(
        reinstalled
            .call(&h, "POST", "/device/v1/sessions", &json!({"userId": "bob"}))
            .status,
        201
    );
}

#[test]
fn injection_shaped_text_is_stored_and_returned_verbatim() {
    let h = Harness::start();
    let name =
        r#"Robert'); DROP TABLE devices;-- <script>alert(1)</script> {{7*7}} ${jndi:ldap://x}"#;
    let mut profile = windows("S-INJ' OR '1'='1");
    profile["displayName"] = json!(name);
    let device = h.register("o'brien\"; --", profile);
    let me = device.call(&h, "GET", ME, &Value::Null);
    assert_eq!(me.status, 200);
    assert_eq!(me.body["device"]["profile"]["displayName"], name);
    assert_eq!(me.body["device"]["profile"]["sid"], "S-INJ' OR '1'='1");
    let session = device.call(
        &h,
        "POST",
        "/device/v1/sessions",
        &json!({"userId": "o'brien\"; --"}),
    );
    assert_eq!(session.status, 201, "{session:?}");
    assert_eq!(session.body["userId"], "o'brien\"; --");
}

/// The replay window is bounded per device: a device that sends more
/// signed requests than its share of live nonces is refused (429) until
/// they expire, and a quiet device beside it is not locked out.
#[test]
fn a_noisy_device_does_not_lock_out_a_quiet_one() {
    let mut options = devicetrust_service::ServiceOptions::default();
    options.device_api.replay_per_device = 5;
    let h = Harness::start_with(options);
    let noisy = h.register("alice", windows("S-NOISY"));
    let quiet = h.register("bob", windows("S-QUIET"));
    // Registration signs nothing: five requests fill the window.
    let statuses: Vec<u16> = (0..8)
        .map(|_| noisy.call(&h, "GET", ME, &Value::Null).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let refused = noisy.call(&h, "GET", ME, &Value::Null);
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.body["errorCode"], "E0000047", "{refused:?}");
    for _ in 0..3 {
        let answer = quiet.call(&h, "GET", ME, &Value::Null);
        assert_eq!(answer.status, 200, "the quiet device: {answer:?}");
    }
}
