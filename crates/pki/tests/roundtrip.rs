//! Property tests: certificates, requests and CRLs decode to exactly the
//! bytes they were encoded as (DER and PEM), with every field read back as
//! written; serial numbers round-trip through text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use devicetrust_pki::encoding::to_pem;
use devicetrust_pki::{
    Backend, Ca, CaConfig, Certificate, CertificateRequest, Crl, IssueOptions, IssuedCertificate,
    KeyAlgorithm, KeyPolicy, LedgerState, MemoryLedger, PrivateKey, RequestBuilder, Revocation,
    RevocationReason, SerialNumber, backends, default_backend,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

/// One P-256 CA per backend, made once.
fn cas() -> &'static [Ca] {
    static CAS: OnceLock<Vec<Ca>> = OnceLock::new();
    CAS.get_or_init(|| {
        backends()
            .into_iter()
            .map(|backend| {
                Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
                    .unwrap()
                    .ca
            })
            .collect()
    })
}

/// A few device keys, made once: P-256 mostly, and one P-384.
fn device_keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let backend = default_backend();
        [
            KeyAlgorithm::EcP256,
            KeyAlgorithm::EcP256,
            KeyAlgorithm::EcP256,
            KeyAlgorithm::EcP384,
        ]
        .into_iter()
        .map(|alg| backend.generate(alg).unwrap())
        .collect()
    })
}

/// A CN of the characters an admin or an MDM puts there, without leading or
/// trailing spaces (which RFC 4514 text would have to escape).
fn common_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.@-]([A-Za-z0-9 .@-]{0,38}[A-Za-z0-9.@-])?"
}

fn request(backend: &dyn Backend, key: &PrivateKey, cn: &str, challenge: Option<&str>) -> Vec<u8> {
    let mut builder = RequestBuilder::new(&format!("CN={cn}"));
    if let Some(password) = challenge {
        builder = builder.challenge_password(password);
    }
    builder.sign(backend.signer(key).unwrap().as_ref()).unwrap()
}

const REASONS: [RevocationReason; 8] = [
    RevocationReason::Unspecified,
    RevocationReason::KeyCompromise,
    RevocationReason::CaCompromise,
    RevocationReason::AffiliationChanged,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
    RevocationReason::CertificateHold,
    RevocationReason::PrivilegeWithdrawn,
];

/// A serial number that fits RFC 5280: positive, at most 20 octets as encoded
/// (so a 20-octet magnitude must have its top bit clear).
fn serial() -> impl Strategy<Value = SerialNumber> {
    proptest::collection::vec(any::<u8>(), 1..=20)
        .prop_map(|b| b.into_iter().skip_while(|x| *x == 0).collect::<Vec<u8>>())
        .prop_filter("positive, at most 20 octets encoded", |b| {
            !b.is_empty() && (b.len() < 20 || b[0] < 0x80)
        })
        .prop_map(|b| hex::encode(b).parse().unwrap())
}

/// A revocation time from 2000 to 2099 (UTCTime and GeneralizedTime both).
fn revocation() -> impl Strategy<Value = Revocation> {
    (0..REASONS.len(), 946_684_800i64..4_102_444_800).prop_map(|(r, t)| Revocation {
        reason: REASONS[r],
        revoked_at: OffsetDateTime::from_unix_timestamp(t).unwrap(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn requests_round_trip(
        cn in common_name(),
        challenge in proptest::option::of("\\PC{0,24}"),
        key in 0..4usize,
    ) {
        for backend in backends() {
            let key = &device_keys()[key];
            let der = request(backend, key, &cn, challenge.as_deref());
            let parsed = CertificateRequest::from_der(&der, &KeyPolicy::default(), backend).unwrap();
            prop_assert_eq!(parsed.der(), der.as_slice());
            prop_assert_eq!(parsed.subject().to_string(), format!("CN={cn}"));
            prop_assert_eq!(parsed.challenge_password(), challenge.as_deref());
            prop_assert_eq!(parsed.public_key(), key.public_key());
            prop_assert_eq!(parsed.signature_algorithm(), key.algorithm().signature_algorithm());

            // PEM -> DER -> PEM, under both labels.
            for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
                let pem = to_pem(label, &der).unwrap();
                let from_pem = CertificateRequest::parse(pem.as_bytes(), &KeyPolicy::default(), backend).unwrap();
                prop_assert_eq!(from_pem.der(), der.as_slice());
                prop_assert_eq!(&to_pem(label, from_pem.der()).unwrap(), &pem);
            }
        }
    }

    #[test]
    fn certificates_round_trip(cn in common_name(), days in 1u32..3650, key in 0..4usize) {
        for ca in cas() {
            let backend = ca.backend();
            let key = &device_keys()[key];
            let der = request(backend, key, &cn, None);
            let request = ca.parse_request(&der).unwrap();
            let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
            let options = IssueOptions { validity_days: Some(days), now: Some(now) };
            let cert = ca.issue(&request, &options).unwrap();

            let again = Certificate::from_der(cert.der()).unwrap();
            prop_assert_eq!(again.der(), cert.der());
            prop_assert_eq!(&again, &cert);
            let pem = cert.to_pem().unwrap();
            let from_pem = Certificate::parse(pem.as_bytes()).unwrap();
            prop_assert_eq!(from_pem.der(), cert.der());
            prop_assert_eq!(&from_pem.to_pem().unwrap(), &pem);

            prop_assert_eq!(cert.subject().to_string(), format!("CN={cn}"));
            prop_assert_eq!(cert.issuer(), ca.intermediate().subject());
            prop_assert_eq!(cert.public_key(), key.public_key());
            let expected_end = (now + Duration::days(i64::from(days))).min(ca.intermediate().not_after());
            prop_assert_eq!(cert.not_after(), expected_end);
            prop_assert_eq!(cert.not_before(), now - Duration::seconds(300));
            let serial = cert.serial().unwrap();
            prop_assert_eq!(serial.as_bytes().len(), 16);
            prop_assert!(!cert.is_ca().unwrap());
            ca.verify(&cert, None, now).unwrap();
            // The ledger holds the same certificate, PEM for PEM.
            let issued = ca.ledger().get(&serial).unwrap().unwrap();
            prop_assert_eq!(issued.certificate_pem, pem);
            prop_assert_eq!(issued.not_after, cert.not_after());
        }
    }

    #[test]
    fn crls_round_trip(
        revoked in proptest::collection::btree_map(serial(), revocation(), 0..24),
        last_number in 0u64..u64::MAX,
    ) {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        for ca in cas() {
            let certificates: BTreeMap<SerialNumber, IssuedCertificate> = revoked
                .iter()
                .map(|(serial, revocation)| {
                    (serial.clone(), IssuedCertificate {
                        serial: serial.clone(),
                        subject: "CN=device".into(),
                        not_before: now - Duration::days(1),
                        not_after: now + Duration::days(30),
                        certificate_pem: String::new(),
                        revocation: Some(*revocation),
                    })
                })
                .collect();
            let ledger = MemoryLedger::from_state(LedgerState { certificates, last_crl_number: last_number });
            let with_state = Ca::from_parts(
                ca.config().clone(),
                ca.root().clone(),
                ca.intermediate().clone(),
                ca.intermediate_key().clone(),
                ca.backend(),
                Arc::new(ledger),
            ).unwrap();
            let crl = with_state.crl(now).unwrap();

            let again = Crl::from_der(crl.der()).unwrap();
            prop_assert_eq!(again.der(), crl.der());
            let pem = crl.to_pem().unwrap();
            let from_pem = Crl::parse(pem.as_bytes()).unwrap();
            prop_assert_eq!(from_pem.der(), crl.der());
            prop_assert_eq!(&from_pem.to_pem().unwrap(), &pem);

            prop_assert_eq!(from_pem.number(), Some(last_number + 1));
            prop_assert_eq!(from_pem.this_update(), now);
            prop_assert_eq!(from_pem.next_update(), Some(now + Duration::hours(168)));
            prop_assert_eq!(from_pem.len(), revoked.len());
            prop_assert_eq!(from_pem.is_empty(), revoked.is_empty());
            for (serial, revocation) in &revoked {
                prop_assert_eq!(from_pem.revocation(serial), Some(*revocation), "{}", serial);
            }
            from_pem.verify(ca.intermediate(), now, &KeyPolicy::default(), ca.backend()).unwrap();
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn serial_numbers_round_trip_through_text(serial in serial()) {
        let text = serial.to_string();
        prop_assert_eq!(&text, &hex::encode_upper(serial.as_bytes()));
        prop_assert_ne!(serial.as_bytes()[0], 0);
        prop_assert_eq!(&text.parse::<SerialNumber>().unwrap(), &serial);
        let lower = text.to_lowercase();
        prop_assert_eq!(&lower.parse::<SerialNumber>().unwrap(), &serial);
        prop_assert_eq!(&format!("0x{lower}").parse::<SerialNumber>().unwrap(), &serial);
        prop_assert_eq!(&format!("00{text}").parse::<SerialNumber>().unwrap(), &serial);
        let colons: Vec<String> = serial.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        prop_assert_eq!(&colons.join(":").parse::<SerialNumber>().unwrap(), &serial);
        // Through the certificate encoding (two's complement, sign octet added when needed).
        let x509 = serial.to_x509().unwrap();
        prop_assert_eq!(&SerialNumber::from_der_integer(x509.as_bytes()).unwrap(), &serial);
        // And through JSON, as the ledger stores it.
        let json = serde_json::to_string(&serial).unwrap();
        prop_assert_eq!(&json, &format!("\"{text}\""));
        prop_assert_eq!(&serde_json::from_str::<SerialNumber>(&json).unwrap(), &serial);
    }
}

#[test]
fn random_serials_are_positive_and_16_octets() {
    let mut seen = HashSet::new();
    let mut top_bits = 0u8;
    for _ in 0..512 {
        let serial = SerialNumber::random().unwrap();
        let bytes = serial.as_bytes();
        assert_eq!(bytes.len(), 16, "{serial}");
        assert!((1..=0x7f).contains(&bytes[0]), "{serial}");
        top_bits |= bytes[0];
        // Positive as encoded: no sign octet needed, so still 16 octets.
        let x509 = serial.to_x509().unwrap();
        assert_eq!(x509.as_bytes(), bytes);
        assert_eq!(
            SerialNumber::from_der_integer(x509.as_bytes()).unwrap(),
            serial
        );
        assert!(seen.insert(serial));
    }
    // The first octet is not stuck: over 512 draws every one of its low 7 bits was set.
    assert_eq!(top_bits, 0x7f);
}

#[test]
fn the_chain_round_trips_through_pem() {
    for ca in cas() {
        let chain = Certificate::parse_pem_chain(ca.chain_pem().unwrap().as_bytes()).unwrap();
        let ders: Vec<&[u8]> = chain.iter().map(Certificate::der).collect();
        assert_eq!(ders, vec![ca.intermediate().der(), ca.root().der()]);
        assert_eq!(
            ca.chain_der(),
            vec![ca.intermediate().der().to_vec(), ca.root().der().to_vec()]
        );
        let key = PrivateKey::from_pem(ca.intermediate_key().to_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(key.pkcs8_der(), ca.intermediate_key().pkcs8_der());
        assert_eq!(key.public_key(), ca.intermediate().public_key());
    }
}

/// RFC 5280 allows 20 octets as encoded. A 20-octet magnitude with its top
/// bit set needs a 21st (sign) octet, so it can never go into a certificate
/// or CRL; the parsers should refuse it instead of handing out a serial that
/// `to_x509` (and so `Ca::crl`) then fails on.
#[test]
fn serials_that_cannot_be_encoded_are_refused() {
    let text = format!("80{}", "11".repeat(19));
    assert!(
        text.parse::<SerialNumber>().is_err(),
        "FromStr accepted {text}"
    );
    let mut integer = vec![0u8];
    integer.extend_from_slice(&hex::decode(&text).unwrap());
    assert!(
        SerialNumber::from_der_integer(&integer).is_err(),
        "from_der_integer accepted 00{text}"
    );
}

/// What happens today with such a serial: every parse that accepts it must at
/// least fail cleanly when encoding, never panic.
#[test]
fn a_21_octet_encoding_fails_cleanly() {
    let text = format!("80{}", "11".repeat(19));
    if let Ok(serial) = text.parse::<SerialNumber>() {
        assert!(serial.to_x509().is_err());
    }
    // 19 octets with the top bit set encode as 20: fine.
    let serial: SerialNumber = format!("80{}", "11".repeat(18)).parse().unwrap();
    assert_eq!(serial.to_x509().unwrap().as_bytes().len(), 20);
}
