//! Golden fixtures: payloads in the shapes devices send, and the schema
//! each model publishes checked against the values it returns.

#![expect(clippy::panic, reason = "test helpers: a panic is a failed test")]

mod support;

use std::path::PathBuf;

use devicetrust_edr::azt::{AztSignals, IntegrityLevel, PlayProtectVerdict};
use devicetrust_edr::dtc::{DtcSignals, KeyTrustLevel, SafeBrowsingLevel};
use devicetrust_edr::wsc::{Health, WscSignals};
use devicetrust_edr::{ProviderSignals, SignalValue, schemas};
use support::assert_publishes_its_schema;

fn fixture(path: &str) -> Vec<u8> {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", path]
        .iter()
        .collect();
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn wsc_fixtures() {
    let healthy = WscSignals::parse(&fixture("wsc/healthy.json")).unwrap();
    assert_eq!(healthy.fire_wall, Health::Good);
    assert_eq!(healthy.security_center_service, Health::Good);

    let mixed = WscSignals::parse(&fixture("wsc/mixed.json")).unwrap();
    assert_eq!(mixed.anti_virus, Health::Snooze);
    assert_eq!(mixed.fire_wall, Health::Poor);
    assert_eq!(mixed.auto_update_settings, Health::NotMonitored);
    assert_eq!(mixed.internet_settings, Health::Unknown);
    assert_eq!(mixed.user_account_control, Health::Good);
    // "EXPIRED" is not a health value: read as UNKNOWN, not refused.
    assert_eq!(mixed.security_center_service, Health::Unknown);
    assert_eq!(mixed.value("fireWall"), Some(SignalValue::String("POOR")));
}

#[test]
fn dtc_fixtures() {
    let win = DtcSignals::parse(&fixture("dtc/windows.json")).unwrap();
    assert_eq!(win.key_trust_level, Some(KeyTrustLevel::ChromeBrowserHwKey));
    assert_eq!(
        win.safe_browsing_protection_level,
        Some(SafeBrowsingLevel::EnhancedProtection)
    );
    assert_eq!(win.windows_machine_domain.as_deref(), Some("CORP"));
    assert_eq!(
        win.value("builtInDnsClientEnabled"),
        Some(SignalValue::Bool(false))
    );

    let mac = DtcSignals::parse(&fixture("dtc/macos.json")).unwrap();
    assert_eq!(mac.os_firewall, Some(false));
    assert_eq!(mac.secure_boot_enabled, None);
    assert_eq!(mac.value("windowsMachineDomain"), None);
    assert_eq!(
        mac.value("browserVersion"),
        Some(SignalValue::String("130.0.6723.117"))
    );
}

#[test]
fn azt_fixtures() {
    let pixel = AztSignals::parse(&fixture("azt/pixel.json")).unwrap();
    assert_eq!(
        pixel.play_protect_verdict(),
        Some(PlayProtectVerdict::NoIssues)
    );
    assert_eq!(pixel.integrity(), IntegrityLevel::ALL);
    let rooted = AztSignals::parse(&fixture("azt/rooted.json")).unwrap();
    assert_eq!(
        rooted.play_protect_verdict(),
        Some(PlayProtectVerdict::HighRisk)
    );
    assert_eq!(
        rooted.value("deviceIntegrityLevel"),
        Some(SignalValue::List(&[]))
    );
}

#[test]
fn every_provider_returns_what_its_schema_publishes() {
    let wsc = WscSignals::parse(&fixture("wsc/mixed.json")).unwrap();
    let dtc = DtcSignals::parse(&fixture("dtc/windows.json")).unwrap();
    let azt = AztSignals::parse(&fixture("azt/pixel.json")).unwrap();
    let full: Vec<&dyn ProviderSignals> = vec![&wsc, &dtc, &azt];
    for signals in &full {
        assert_publishes_its_schema(*signals);
    }
    // zta is checked the same way in tests/zta_golden.rs; together every
    // registered provider is covered.
    let mut covered: Vec<_> = full.iter().map(|s| s.schema().id).collect();
    covered.push("zta");
    covered.sort_unstable();
    let mut registered: Vec<_> = schemas().iter().map(|s| s.id).collect();
    registered.sort_unstable();
    assert_eq!(covered, registered);
}

#[test]
fn parse_payload_routes_by_provider_id() {
    use devicetrust_edr::{Ingest, PayloadError, ingest, parse_payload};

    let wsc = parse_payload("wsc", &fixture("wsc/mixed.json")).unwrap();
    assert_eq!(wsc.schema().id, "wsc");
    assert_eq!(wsc.value("fireWall"), Some(SignalValue::String("POOR")));
    let dtc = parse_payload("dtc", &fixture("dtc/macos.json")).unwrap();
    assert_eq!(dtc.value("osFirewall"), Some(SignalValue::Bool(false)));
    let azt = parse_payload("azt", &fixture("azt/rooted.json")).unwrap();
    assert_eq!(
        azt.value("playProtectVerdict"),
        Some(SignalValue::String("HIGH_RISK"))
    );
    // A payload for one provider is parsed by that provider only: a dtc
    // report sent as wsc has no wsc health values, so all read UNKNOWN.
    let crossed = parse_payload("wsc", &fixture("dtc/windows.json")).unwrap();
    assert_eq!(
        crossed.value("fireWall"),
        Some(SignalValue::String("UNKNOWN"))
    );

    assert!(matches!(
        parse_payload("zta", b"{}"),
        Err(PayloadError::NeedsVerifier { provider }) if provider == "zta"
    ));
    assert!(matches!(
        parse_payload("edr", b"{}"),
        Err(PayloadError::UnknownProvider { provider }) if provider == "edr"
    ));
    for schema in schemas() {
        let how = ingest(schema.id).unwrap();
        assert_eq!(
            matches!(how, Ingest::SignedToken),
            schema.id == "zta",
            "{}",
            schema.id
        );
    }
}
