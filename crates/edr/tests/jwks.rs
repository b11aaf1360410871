//! The configured key set: what is accepted, and the table of what is not.

#![expect(
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod support;

use devicetrust_edr::zta::{Jwks, JwksError, MAX_JWKS_BYTES, MAX_KEYS};
use serde_json::{Value, json};
use support::{Key, b64, ec_key, public, rsa_key};

fn ec_jwk(kid: &str) -> Value {
    public(&Key::Ec(ec_key(1))).to_jwk(kid)
}

fn rsa_jwk(kid: &str) -> Value {
    public(&Key::Rsa(rsa_key())).to_jwk(kid)
}

fn set(keys: Vec<Value>) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

#[test]
fn printed_keys_parse_back() {
    let parsed = Jwks::parse(&set(vec![rsa_jwk("r"), ec_jwk("e")])).unwrap();
    assert_eq!(parsed.kids().collect::<Vec<_>>(), ["e", "r"]);
    assert_eq!(parsed.get("r"), Some(&public(&Key::Rsa(rsa_key()))));
    assert_eq!(parsed.get("e"), Some(&public(&Key::Ec(ec_key(1)))));
    // Members a JWKS may carry that we do not use are ignored.
    let extra = with(ec_jwk("e"), "x5t", json!("abc"));
    assert!(Jwks::parse(&set(vec![extra])).is_ok());
}

type Expect = fn(&JwksError) -> bool;

#[test]
fn bad_key_set_table() {
    let ec = ec_jwk("k");
    let mut short_x = ec.clone();
    short_x["x"] = json!(b64(&[1; 31]));
    let mut off_curve = ec.clone();
    off_curve["y"] = json!(b64(&[1; 32]));
    let mut small_rsa = rsa_jwk("k");
    let mut n = vec![0xff_u8; 128];
    n[127] = 0xfd;
    small_rsa["n"] = json!(b64(&n));

    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("oversized", vec![b' '; MAX_JWKS_BYTES + 1], |e| {
            matches!(e, JwksError::Oversized { .. })
        }),
        ("not JSON", b"keys".to_vec(), |e| {
            matches!(e, JwksError::Invalid { .. })
        }),
        ("no keys member", b"{}".to_vec(), |e| {
            matches!(e, JwksError::Invalid { .. })
        }),
        (
            "too many keys",
            set((0..=MAX_KEYS).map(|i| ec_jwk(&format!("k{i}"))).collect()),
            |e| matches!(e, JwksError::TooManyKeys { count, max } if *count == MAX_KEYS + 1 && *max == MAX_KEYS),
        ),
        (
            "missing kid",
            set(vec![ec_jwk("a"), {
                let mut k = ec.clone();
                k.as_object_mut().unwrap().remove("kid");
                k
            }]),
            |e| matches!(e, JwksError::MissingKid { index: 1 }),
        ),
        (
            "duplicate kid",
            set(vec![ec_jwk("same"), rsa_jwk("same")]),
            |e| matches!(e, JwksError::DuplicateKid { kid } if kid == "same"),
        ),
        (
            "symmetric key",
            set(vec![json!({"kty": "oct", "kid": "k", "k": "c2VjcmV0"})]),
            |e| matches!(e, JwksError::UnsupportedKey { kty, .. } if kty == "oct"),
        ),
        (
            "P-384",
            set(vec![with(ec.clone(), "crv", json!("P-384"))]),
            |e| matches!(e, JwksError::UnsupportedKey { crv: Some(c), .. } if c == "P-384"),
        ),
        (
            "private key material",
            set(vec![with(ec.clone(), "d", json!(b64(&[0x11; 32])))]),
            |e| matches!(e, JwksError::PrivateKey { kid } if kid == "k"),
        ),
        (
            "encryption key",
            set(vec![with(ec.clone(), "use", json!("enc"))]),
            |e| matches!(e, JwksError::Restricted { restriction, .. } if restriction == "enc"),
        ),
        (
            "alg does not fit the key",
            set(vec![with(ec.clone(), "alg", json!("RS256"))]),
            |e| matches!(e, JwksError::Restricted { restriction, .. } if restriction == "RS256"),
        ),
        (
            "x is 31 bytes",
            set(vec![short_x]),
            |e| matches!(e, JwksError::BadKey { reason, .. } if reason.contains("32 bytes")),
        ),
        (
            "point off the curve",
            set(vec![off_curve]),
            |e| matches!(e, JwksError::BadKey { reason, .. } if reason.contains("P-256")),
        ),
        (
            "1024-bit RSA",
            set(vec![small_rsa]),
            |e| matches!(e, JwksError::BadKey { reason, .. } if reason.contains("RSA")),
        ),
        (
            "n is not base64url",
            set(vec![with(rsa_jwk("k"), "n", json!("not+base64/"))]),
            |e| matches!(e, JwksError::BadKey { reason, .. } if reason.contains("n is")),
        ),
    ];
    for (name, doc, expect) in &cases {
        match Jwks::parse(doc) {
            Ok(k) => panic!("{name}: accepted {k:?}"),
            Err(e) => assert!(expect(&e), "{name}: refused for the wrong reason: {e:?}"),
        }
    }
}
