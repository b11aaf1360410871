//! Token minting for tests: our own keys, our own signatures.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_edr::zta::{Jwks, PublicKey};
use devicetrust_edr::{AttrType, ProviderSignals, SignalValue};
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;

/// A signing key and the kid it is published under.
pub enum Key {
    Rsa(&'static rsa::PrivateKey),
    Ec(p256::ecdsa::SigningKey),
}

/// One RSA key per test binary: generation takes a moment.
pub fn rsa_key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap())
}

/// A second, unrelated RSA key (for rotation and wrong-key cases).
pub fn rsa_key_2() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap())
}

/// A P-256 key from a fixed scalar, so ES256 tokens are reproducible.
pub fn ec_key(seed: u8) -> p256::ecdsa::SigningKey {
    let mut scalar = [0x11_u8; 32];
    scalar[31] = seed;
    p256::ecdsa::SigningKey::from_slice(&scalar).unwrap()
}

pub fn public(key: &Key) -> PublicKey {
    match key {
        Key::Rsa(k) => PublicKey::Rsa(rsa::PublicKey::from(*k)),
        Key::Ec(k) => PublicKey::P256(*k.verifying_key()),
    }
}

pub fn jwks(keys: &[(&str, &Key)]) -> Jwks {
    let mut set = Jwks::new();
    for (kid, key) in keys {
        set.insert(*kid, public(key)).unwrap();
    }
    set
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn header(alg: &str, kid: &str) -> Value {
    json!({ "alg": alg, "typ": "crowdstrike-zta+jwt", "kid": kid })
}

/// Claims in the layout CrowdStrike uses, valid from `iat` for one hour.
pub fn claims(iat: OffsetDateTime) -> Value {
    let iat = iat.unix_timestamp();
    json!({
        "sub": "0123456789abcdef0123456789abcdef",
        "cid": "fedcba9876543210fedcba9876543210",
        "iat": iat,
        "exp": iat + 3600,
        "iss": "CrowdStrike",
        "typ": "crowdstrike-zta+jwt",
        "assessment": { "overall": 90, "os": 100, "sensor_config": 80, "version": "3.6.1" },
        "assessment_items": { "os_signals": [], "sensor_signals": [] },
        "platform": "Windows 11",
        "serial_number": "SN-12345",
    })
}

/// Sign `header.claims` (both already JSON text) with `key`.
pub fn sign_raw(header: &str, claims: &str, key: &Key) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = match key {
        Key::Rsa(k) => k.pkcs1v15_sign::<Sha256>(input.as_bytes()).unwrap(),
        Key::Ec(k) => {
            let sig: p256::ecdsa::Signature = k.sign(input.as_bytes());
            sig.to_bytes().to_vec()
        }
    };
    format!("{input}.{}", b64(&sig))
}

pub fn sign(header: &Value, claims: &Value, key: &Key) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), key)
}

/// Does `value` have the type the schema promises?
pub fn conforms(ty: AttrType, value: SignalValue<'_>) -> bool {
    match (ty, value) {
        (AttrType::Bool, SignalValue::Bool(_))
        | (AttrType::Number, SignalValue::Number(_))
        | (AttrType::String, SignalValue::String(_))
        | (AttrType::Timestamp, SignalValue::Timestamp(_))
        | (AttrType::StringList, SignalValue::List(_)) => true,
        (AttrType::Enum(allowed), SignalValue::String(s)) => allowed.contains(&s),
        (AttrType::EnumList(allowed), SignalValue::List(items)) => {
            items.iter().all(|i| allowed.contains(&i.as_str()))
        }
        _ => false,
    }
}

/// Every published attribute is returned, with its published type, by a
/// fully populated report; nothing unpublished is returned.
pub fn assert_publishes_its_schema(signals: &dyn ProviderSignals) {
    let schema = signals.schema();
    for attr in schema.attributes {
        let value = signals
            .value(attr.name)
            .unwrap_or_else(|| panic!("{}.{} missing from a full report", schema.id, attr.name));
        assert!(
            conforms(attr.ty, value),
            "{}.{}: {value:?} is not {:?}",
            schema.id,
            attr.name,
            attr.ty
        );
    }
    for bogus in [
        "",
        "fireWal",
        "FIREWALL",
        "overall ",
        "device.provider.wsc.fireWall",
    ] {
        if schema.attribute(bogus).is_none() {
            assert_eq!(signals.value(bogus), None, "{}.{bogus:?}", schema.id);
        }
    }
}
