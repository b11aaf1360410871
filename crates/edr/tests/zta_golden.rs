//! Committed ZTA tokens and JWKS (see `tests/data/README.md`): they must
//! keep verifying, and keep being refused once expired.
//!
//! `record_zta_fixtures` made them; it is `#[ignore]`d so a normal run never
//! rewrites them.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod support;

use std::path::PathBuf;

use devicetrust_edr::zta::{Alg, Jwks, ZtaError, ZtaVerifier, parse_unverified};
use devicetrust_edr::{ProviderSignals, SignalValue};
use serde_json::json;
use support::{Key, assert_publishes_its_schema, claims, ec_key, header, rsa_key, sign};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// When the committed tokens were issued; they live 30 days.
const ISSUED: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const RSA_KID: &str = "zta-rsa-2026-01";
const EC_KID: &str = "zta-ec-2026-01";
/// A retired key kept in the set, as during a rotation.
const OLD_EC_KID: &str = "zta-ec-2025-12";

fn data(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "data", "zta", name]
        .iter()
        .collect()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn golden_claims() -> serde_json::Value {
    let mut c = claims(ISSUED);
    c["exp"] = json!((ISSUED + Duration::days(30)).unix_timestamp());
    c
}

/// Regenerate the committed fixtures:
/// `cargo test -p devicetrust-edr --test zta_golden -- --ignored record_zta_fixtures`.
#[test]
#[ignore = "rewrites committed fixtures; run by hand"]
fn record_zta_fixtures() {
    let rsa = Key::Rsa(rsa_key());
    let ec = Key::Ec(ec_key(7));
    let old_ec = Key::Ec(ec_key(6));
    let keys = json!({ "keys": [
        support::public(&rsa).to_jwk(RSA_KID),
        support::public(&ec).to_jwk(EC_KID),
        support::public(&old_ec).to_jwk(OLD_EC_KID),
    ]});
    std::fs::create_dir_all(data("")).unwrap();
    std::fs::write(
        data("jwks.json"),
        serde_json::to_string_pretty(&keys).unwrap() + "\n",
    )
    .unwrap();
    let c = golden_claims();
    std::fs::write(data("rs256.jwt"), sign(&header("RS256", RSA_KID), &c, &rsa)).unwrap();
    std::fs::write(data("es256.jwt"), sign(&header("ES256", EC_KID), &c, &ec)).unwrap();
}

fn verifier() -> ZtaVerifier {
    let keys = Jwks::parse(&read("jwks.json")).unwrap();
    assert_eq!(keys.len(), 3);
    ZtaVerifier::new(keys)
}

#[test]
fn committed_tokens_verify() {
    let v = verifier();
    let now = ISSUED + Duration::days(1);
    for (file, alg) in [("rs256.jwt", Alg::Rs256), ("es256.jwt", Alg::Es256)] {
        let token = read(file);
        assert_eq!(parse_unverified(&token).unwrap().alg(), alg, "{file}");
        let s = v.verify(&token, now).unwrap();
        assert_eq!(s.aid(), "0123456789abcdef0123456789abcdef", "{file}");
        assert_eq!(s.cid(), "fedcba9876543210fedcba9876543210", "{file}");
        assert_eq!(
            (s.overall(), s.os(), s.sensor_config()),
            (90, 100, 80),
            "{file}"
        );
        assert_eq!(s.platform(), Some("Windows 11"), "{file}");
        assert_eq!(s.serial_number(), Some("SN-12345"), "{file}");
        assert_eq!(s.issued_at(), ISSUED, "{file}");
        assert_eq!(
            s.value("expirationDateTime"),
            Some(SignalValue::Timestamp(ISSUED + Duration::days(30))),
            "{file}"
        );
        assert_publishes_its_schema(&s);
    }
}

#[test]
fn committed_tokens_expire() {
    let v = verifier();
    let now = ISSUED + Duration::days(31);
    for file in ["rs256.jwt", "es256.jwt"] {
        assert!(
            matches!(v.verify(&read(file), now), Err(ZtaError::Expired { .. })),
            "{file}"
        );
    }
}

#[test]
fn committed_tokens_fail_under_a_set_without_their_key() {
    let mut keys: serde_json::Value = serde_json::from_slice(&read("jwks.json")).unwrap();
    keys["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != EC_KID);
    let v = ZtaVerifier::new(Jwks::parse(keys.to_string().as_bytes()).unwrap());
    let err = v.verify(&read("es256.jwt"), ISSUED).unwrap_err();
    assert!(matches!(err, ZtaError::UnknownKid { kid } if kid == EC_KID));
    assert!(v.verify(&read("rs256.jwt"), ISSUED).is_ok());
}
