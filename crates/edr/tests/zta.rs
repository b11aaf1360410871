//! ZTA token verification: the happy paths, key rotation, the bad-token
//! table, and parse(print(x)) == x.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a panic is a failed test"
)]

mod support;

use devicetrust_edr::zta::{Alg, Segment, ZtaError, ZtaVerifier, parse_unverified};
use devicetrust_edr::{ProviderSignals, SignalValue};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{Key, b64, claims, ec_key, header, jwks, rsa_key, rsa_key_2, sign, sign_raw};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const IAT: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const NOW: OffsetDateTime = datetime!(2026-01-01 00:10 UTC);

fn verifier() -> ZtaVerifier {
    ZtaVerifier::new(jwks(&[
        ("rsa-1", &Key::Rsa(rsa_key())),
        ("ec-1", &Key::Ec(ec_key(1))),
    ]))
}

#[test]
fn rs256_token_verifies_and_exposes_every_attribute() {
    let token = sign(
        &header("RS256", "rsa-1"),
        &claims(IAT),
        &Key::Rsa(rsa_key()),
    );
    let s = verifier().verify(token.as_bytes(), NOW).unwrap();
    assert_eq!(s.aid(), "0123456789abcdef0123456789abcdef");
    assert_eq!(s.value("overall"), Some(SignalValue::Number(90.0)));
    assert_eq!(s.value("os"), Some(SignalValue::Number(100.0)));
    assert_eq!(s.value("sensorConfig"), Some(SignalValue::Number(80.0)));
    assert_eq!(
        s.value("aid"),
        Some(SignalValue::String("0123456789abcdef0123456789abcdef"))
    );
    assert_eq!(
        s.value("cid"),
        Some(SignalValue::String("fedcba9876543210fedcba9876543210"))
    );
    assert_eq!(
        s.value("csPlatform"),
        Some(SignalValue::String("Windows 11"))
    );
    assert_eq!(
        s.value("csSerialNumber"),
        Some(SignalValue::String("SN-12345"))
    );
    assert_eq!(s.value("issuedDateTime"), Some(SignalValue::Timestamp(IAT)));
    assert_eq!(
        s.value("expirationDateTime"),
        Some(SignalValue::Timestamp(IAT + Duration::hours(1)))
    );
    assert_eq!(s.value("fireWall"), None);
}

#[test]
fn es256_token_verifies() {
    let token = sign(&header("ES256", "ec-1"), &claims(IAT), &Key::Ec(ec_key(1)));
    let s = verifier().verify(token.as_bytes(), NOW).unwrap();
    assert_eq!(s.overall(), 90);
    assert_eq!(s.assessment_version(), Some("3.6.1"));
}

#[test]
fn rotation_picks_the_key_by_kid() {
    let v = ZtaVerifier::new(jwks(&[
        ("old", &Key::Rsa(rsa_key())),
        ("new", &Key::Rsa(rsa_key_2())),
    ]));
    let old = sign(&header("RS256", "old"), &claims(IAT), &Key::Rsa(rsa_key()));
    let new = sign(
        &header("RS256", "new"),
        &claims(IAT),
        &Key::Rsa(rsa_key_2()),
    );
    assert!(v.verify(old.as_bytes(), NOW).is_ok());
    assert!(v.verify(new.as_bytes(), NOW).is_ok());
    // The right signature under the wrong kid must fail.
    let swapped = sign(
        &header("RS256", "old"),
        &claims(IAT),
        &Key::Rsa(rsa_key_2()),
    );
    assert!(matches!(
        v.verify(swapped.as_bytes(), NOW),
        Err(ZtaError::BadSignature {
            alg: Alg::Rs256,
            ..
        })
    ));
}

#[test]
fn customer_id_is_enforced_when_configured() {
    let token = sign(&header("ES256", "ec-1"), &claims(IAT), &Key::Ec(ec_key(1)));
    let ours = verifier().with_customer_id("fedcba9876543210fedcba9876543210");
    assert!(ours.verify(token.as_bytes(), NOW).is_ok());
    let theirs = verifier().with_customer_id("0000");
    assert!(matches!(
        theirs.verify(token.as_bytes(), NOW),
        Err(ZtaError::WrongCustomer { expected, found })
            if expected == "0000" && found == "fedcba9876543210fedcba9876543210"
    ));
}

#[test]
fn skew_is_configurable() {
    let token = sign(&header("ES256", "ec-1"), &claims(IAT), &Key::Ec(ec_key(1)));
    let just_after = IAT + Duration::hours(1) + Duration::seconds(30);
    assert!(verifier().verify(token.as_bytes(), just_after).is_ok());
    let strict = verifier().with_skew(Duration::ZERO);
    assert!(matches!(
        strict.verify(token.as_bytes(), just_after),
        Err(ZtaError::Expired { skew, .. }) if skew == Duration::ZERO
    ));
    let before = IAT - Duration::seconds(30);
    assert!(verifier().verify(token.as_bytes(), before).is_ok());
    assert!(matches!(
        strict.verify(token.as_bytes(), before),
        Err(ZtaError::IssuedInFuture { iat, .. }) if iat == IAT
    ));
}

/// What a bad-token case should be refused with.
type Expect = fn(&ZtaError) -> bool;

fn es(h: &Value, c: &Value) -> String {
    sign(h, c, &Key::Ec(ec_key(1)))
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[test]
fn bad_token_table() {
    let good_h = header("ES256", "ec-1");
    let good_c = claims(IAT);
    let good = es(&good_h, &good_c);
    let (signing_input, good_sig) = good.rsplit_once('.').unwrap();
    let late = NOW + Duration::days(1);

    let cases: Vec<(&str, Vec<u8>, OffsetDateTime, Expect)> = vec![
        (
            "oversized",
            vec![b'a'; 32 * 1024 + 1],
            NOW,
            |e| matches!(e, ZtaError::Oversized { len, max: 32768 } if *len == 32769),
        ),
        (
            "unsigned (empty signature)",
            format!("{signing_input}.").into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::Unsigned),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(with(good_h.clone(), "alg", json!("none"))
                    .to_string()
                    .as_bytes()),
                b64(good_c.to_string().as_bytes())
            )
            .into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::AlgNone),
        ),
        (
            "alg None with a signature",
            es(&with(good_h.clone(), "alg", json!("None")), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::AlgNone),
        ),
        (
            "alg HS256",
            es(&with(good_h.clone(), "alg", json!("HS256")), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::UnsupportedAlg { alg } if alg == "HS256"),
        ),
        (
            "alg lower-case es256",
            es(&with(good_h.clone(), "alg", json!("es256")), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::UnsupportedAlg { .. }),
        ),
        (
            "typ JWT",
            es(&with(good_h.clone(), "typ", json!("JWT")), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::WrongType { found: Some(t) } if t == "JWT"),
        ),
        (
            "typ missing",
            es(&without(good_h.clone(), "typ"), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::WrongType { found: None }),
        ),
        (
            "kid missing",
            es(&without(good_h.clone(), "kid"), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::MissingKid),
        ),
        (
            "unknown kid",
            es(&with(good_h.clone(), "kid", json!("ec-9")), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::UnknownKid { kid } if kid == "ec-9"),
        ),
        (
            "critical header",
            es(&with(good_h.clone(), "crit", json!(["exp"])), &good_c).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::CriticalHeader { names } if names == &["exp"]),
        ),
        (
            "ES256 header naming an RSA key",
            es(&with(good_h.clone(), "kid", json!("rsa-1")), &good_c).into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::KeyMismatch {
                        alg: Alg::Es256,
                        key_alg: Alg::Rs256,
                        ..
                    }
                )
            },
        ),
        (
            "signed by another key",
            sign(&good_h, &good_c, &Key::Ec(ec_key(2))).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::BadSignature { kid, alg: Alg::Es256 } if kid == "ec-1"),
        ),
        (
            "claims changed after signing",
            format!(
                "{}.{}.{good_sig}",
                b64(good_h.to_string().as_bytes()),
                b64(with(good_c.clone(), "cid", json!("attacker"))
                    .to_string()
                    .as_bytes())
            )
            .into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::BadSignature { .. }),
        ),
        (
            "ES256 signature of the wrong length",
            format!("{signing_input}.{}", b64(&[7; 65])).into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::SignatureLength {
                        len: 65,
                        expected: 64,
                        ..
                    }
                )
            },
        ),
        ("expired", good.clone().into_bytes(), late, |e| {
            matches!(e, ZtaError::Expired { exp, now, skew }
                    if *exp == IAT + Duration::hours(1)
                        && *now == NOW + Duration::days(1)
                        && *skew == ZtaVerifier::DEFAULT_SKEW)
        }),
        (
            "issued in the future",
            es(&good_h, &claims(NOW + Duration::hours(2))).into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::IssuedInFuture { .. }),
        ),
        (
            "not yet valid (nbf)",
            es(
                &good_h,
                &with(
                    good_c.clone(),
                    "nbf",
                    json!((NOW + Duration::minutes(30)).unix_timestamp()),
                ),
            )
            .into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::NotYetValid { nbf, .. } if *nbf == NOW + Duration::minutes(30)),
        ),
        (
            "two segments",
            signing_input.as_bytes().to_vec(),
            NOW,
            |e| matches!(e, ZtaError::MalformedSegments { segments: 2 }),
        ),
        (
            "four segments",
            format!("{good}.{good_sig}").into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::MalformedSegments { segments: 4 }),
        ),
        (
            "trailing newline",
            format!("{good}\n").into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::TrailingData { .. }),
        ),
        (
            "trailing garbage after a space",
            format!("{good} {good}").into_bytes(),
            NOW,
            // The first byte after the signature is the space.
            |e| {
                matches!(
                    e,
                    ZtaError::TrailingData { .. } | ZtaError::MalformedSegments { .. }
                )
            },
        ),
        (
            "padded base64 header",
            format!(
                "{}=.{}",
                signing_input.split_once('.').unwrap().0,
                &good[signing_input.find('.').unwrap() + 1..]
            )
            .into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::BadBase64 {
                        segment: Segment::Header,
                        ..
                    }
                )
            },
        ),
        (
            "header is not JSON",
            format!(
                "{}.{}",
                b64(b"not json"),
                &good[signing_input.find('.').unwrap() + 1..]
            )
            .into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::NotAnObject {
                        segment: Segment::Header
                    }
                )
            },
        ),
        (
            "header has trailing JSON",
            format!(
                "{}.{}",
                b64(format!("{good_h} {{}}").as_bytes()),
                &good[signing_input.find('.').unwrap() + 1..]
            )
            .into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::BadJson {
                        segment: Segment::Header,
                        ..
                    }
                )
            },
        ),
        (
            "duplicate alg in header",
            sign_raw(
                r#"{"alg":"ES256","alg":"none","typ":"crowdstrike-zta+jwt","kid":"ec-1"}"#,
                &good_c.to_string(),
                &Key::Ec(ec_key(1)),
            )
            .into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::BadJson {
                        segment: Segment::Header,
                        ..
                    }
                )
            },
        ),
        (
            "score above 100",
            es(
                &good_h,
                &with(
                    good_c.clone(),
                    "assessment",
                    json!({"overall": 101, "os": 1, "sensor_config": 1}),
                ),
            )
            .into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::BadClaim {
                        claim: "assessment.overall",
                        ..
                    }
                )
            },
        ),
        (
            "sub missing",
            es(&good_h, &without(good_c.clone(), "sub")).into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::BadJson {
                        segment: Segment::Claims,
                        ..
                    }
                )
            },
        ),
        (
            "exp before iat",
            es(
                &good_h,
                &with(good_c.clone(), "exp", json!(IAT.unix_timestamp() - 1)),
            )
            .into_bytes(),
            NOW,
            |e| matches!(e, ZtaError::BadClaim { claim: "exp", .. }),
        ),
        (
            "claims are an array",
            sign_raw(&good_h.to_string(), "[1,2,3]", &Key::Ec(ec_key(1))).into_bytes(),
            NOW,
            |e| {
                matches!(
                    e,
                    ZtaError::NotAnObject {
                        segment: Segment::Claims
                    }
                )
            },
        ),
    ];

    let v = verifier();
    for (name, token, now, expect) in &cases {
        match v.verify(token, *now) {
            Ok(s) => panic!("{name}: accepted, {s:?}"),
            Err(e) => assert!(expect(&e), "{name}: refused for the wrong reason: {e:?}"),
        }
    }
    // The table is not vacuous: the unmodified token passes.
    assert!(v.verify(good.as_bytes(), NOW).is_ok());
}

#[test]
fn trailing_data_offset_points_past_the_signature() {
    let good = sign(&header("ES256", "ec-1"), &claims(IAT), &Key::Ec(ec_key(1)));
    let err = verifier()
        .verify(format!("{good}\r\n").as_bytes(), NOW)
        .unwrap_err();
    assert!(
        matches!(err, ZtaError::TrailingData { offset } if offset == good.len()),
        "{err:?}"
    );
}

#[test]
fn parse_unverified_reads_without_key_or_clock() {
    let token = sign(
        &header("RS256", "anything"),
        &claims(IAT),
        &Key::Rsa(rsa_key()),
    );
    let t = parse_unverified(token.as_bytes()).unwrap();
    assert_eq!(t.alg(), Alg::Rs256);
    assert_eq!(t.kid(), "anything");
    assert_eq!(t.aid(), "0123456789abcdef0123456789abcdef");
    assert!(matches!(
        parse_unverified(b"a.b"),
        Err(ZtaError::MalformedSegments { segments: 2 })
    ));
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// parse(print(x)) == x, where print is claims_json() signed again.
    #[test]
    fn zta_round_trip(
        overall in 0_u8..=100, os in 0_u8..=100, sensor in 0_u8..=100,
        sub in text(), cid in text(),
        platform in proptest::option::of(text()),
        serial in proptest::option::of(text()),
        version in proptest::option::of(text()),
        iat in 0_i64..4_000_000_000, life in 1_i64..1_000_000,
        nbf_before in proptest::option::of(0_i64..100_000),
    ) {
        let mut c = json!({
            "sub": sub, "cid": cid, "iat": iat, "exp": iat + life,
            "assessment": { "overall": overall, "os": os, "sensor_config": sensor },
        });
        if let Some(p) = platform { c["platform"] = json!(p); }
        if let Some(s) = serial { c["serial_number"] = json!(s); }
        if let Some(v) = version { c["assessment"]["version"] = json!(v); }
        if let Some(b) = nbf_before { c["nbf"] = json!(iat - b); }
        let key = Key::Ec(ec_key(1));
        let now = OffsetDateTime::from_unix_timestamp(iat).unwrap();
        let v = verifier();
        let x = v.verify(sign(&header("ES256", "ec-1"), &c, &key).as_bytes(), now).unwrap();
        prop_assert_eq!(x.overall(), overall);
        prop_assert_eq!(x.aid(), sub.as_str());
        let printed = x.claims_json().unwrap();
        let y = v.verify(sign_raw(&header("ES256", "ec-1").to_string(), &printed, &key).as_bytes(), now).unwrap();
        prop_assert_eq!(x, y);
    }

    /// No input makes the parser panic, and junk is never accepted.
    #[test]
    fn arbitrary_bytes_never_verify(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_unverified(&data);
        prop_assert!(verifier().verify(&data, NOW).is_err());
    }
}
