//! Freshness and the per-device cache: stale signals read as stale (never
//! as values), the cache keeps the latest set per provider, and stays bounded.

#![expect(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod support;

use std::num::NonZeroUsize;

use devicetrust_edr::wsc::WscSignals;
use devicetrust_edr::zta::ZtaVerifier;
use devicetrust_edr::{
    CacheError, DeviceRecord, Freshness, Lookup, SignalCache, SignalSet, SignalSource, SignalValue,
    Stored, azt::AztSignals,
};
use support::{Key, claims, ec_key, header, jwks, sign};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);

fn wsc(json: &str) -> WscSignals {
    WscSignals::parse(json.as_bytes()).unwrap()
}

fn cache(capacity: usize) -> SignalCache {
    SignalCache::new(NonZeroUsize::new(capacity).unwrap())
}

#[test]
fn signals_go_stale_after_the_default_eight_hours() {
    let mut record = DeviceRecord::new();
    record.insert(SignalSet::new(T0, wsc(r#"{"fireWall":"GOOD"}"#)));
    let f = Freshness::default();
    let good = Lookup::Present(SignalValue::String("GOOD"));
    assert_eq!(record.view(T0, &f).lookup("wsc", "fireWall"), good);
    assert_eq!(
        record
            .view(T0 + Duration::hours(8), &f)
            .lookup("wsc", "fireWall"),
        good
    );
    let view = record.view(T0 + Duration::hours(8) + Duration::SECOND, &f);
    let stale = view.lookup("wsc", "fireWall");
    assert_eq!(
        stale,
        Lookup::Stale {
            collected_at: T0,
            max_age: Duration::hours(8)
        }
    );
    let said = stale.to_string();
    assert!(
        said.contains("stale") && said.contains("read as absent"),
        "{said}"
    );
}

#[test]
fn max_age_is_configurable_per_provider() {
    let mut record = DeviceRecord::new();
    record.insert(SignalSet::new(T0, wsc(r#"{"fireWall":"GOOD"}"#)));
    record.insert(SignalSet::new(
        T0,
        AztSignals::parse(br#"{"playProtectVerdict":"NO_ISSUES"}"#).unwrap(),
    ));
    let f = Freshness::new(Duration::hours(24)).with_max_age("wsc", Duration::hours(1));
    let view = record.view(T0 + Duration::hours(2), &f);
    assert!(matches!(
        view.lookup("wsc", "fireWall"),
        Lookup::Stale { max_age, .. } if max_age == Duration::hours(1)
    ));
    assert_eq!(
        view.lookup("azt", "playProtectVerdict"),
        Lookup::Present(SignalValue::String("NO_ISSUES"))
    );
}

#[test]
fn a_zta_assessment_is_stale_once_its_token_expires() {
    let token = sign(&header("ES256", "ec-1"), &claims(T0), &Key::Ec(ec_key(1)));
    let v = ZtaVerifier::new(jwks(&[("ec-1", &Key::Ec(ec_key(1)))]));
    let set = SignalSet::from(v.verify(token.as_bytes(), T0).unwrap());
    assert_eq!(set.collected_at(), T0);
    let mut record = DeviceRecord::new();
    record.insert(set);
    let f = Freshness::default();
    assert_eq!(
        record
            .view(T0 + Duration::minutes(59), &f)
            .lookup("zta", "overall"),
        Lookup::Present(SignalValue::Number(90.0))
    );
    // The token lives one hour, well under the eight-hour maximum age.
    assert_eq!(
        record
            .view(T0 + Duration::minutes(61), &f)
            .lookup("zta", "overall"),
        Lookup::Stale {
            collected_at: T0,
            max_age: Duration::hours(1)
        }
    );
}

#[test]
fn the_latest_set_wins_and_a_late_older_one_is_dropped() {
    let mut record = DeviceRecord::new();
    let f = Freshness::default();
    let later = T0 + Duration::minutes(5);
    assert_eq!(
        record.insert(SignalSet::new(later, wsc(r#"{"fireWall":"GOOD"}"#))),
        Stored::Latest
    );
    assert_eq!(
        record.insert(SignalSet::new(T0, wsc(r#"{"fireWall":"POOR"}"#))),
        Stored::KeptNewer
    );
    assert_eq!(
        record.view(later, &f).lookup("wsc", "fireWall"),
        Lookup::Present(SignalValue::String("GOOD"))
    );
    let newest = later + Duration::minutes(5);
    assert_eq!(
        record.insert(SignalSet::new(newest, wsc(r#"{"fireWall":"SNOOZE"}"#))),
        Stored::Latest
    );
    assert_eq!(
        record.view(newest, &f).lookup("wsc", "fireWall"),
        Lookup::Present(SignalValue::String("SNOOZE"))
    );
}

#[test]
fn cache_views_unknown_devices_and_providers_as_absent() {
    let mut c = cache(4);
    c.insert("d1", SignalSet::new(T0, wsc("{}")), T0).unwrap();
    let f = Freshness::default();
    assert_eq!(
        c.view("d2", T0, &f).lookup("wsc", "fireWall"),
        Lookup::Absent
    );
    assert_eq!(
        c.view("d1", T0, &f).lookup("dtc", "osFirewall"),
        Lookup::Absent
    );
    assert_eq!(
        c.view("d1", T0, &f).lookup("wsc", "fireWall"),
        Lookup::Present(SignalValue::String("UNKNOWN"))
    );
}

#[test]
fn cache_is_bounded_and_evicts_the_device_updated_longest_ago() {
    let mut c = cache(2);
    for id in ["a", "b"] {
        c.insert(id, SignalSet::new(T0, wsc("{}")), T0).unwrap();
    }
    // Touch "a", so "b" is now the one updated longest ago.
    c.insert("a", SignalSet::new(T0, wsc("{}")), T0).unwrap();
    c.insert("c", SignalSet::new(T0, wsc("{}")), T0).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.record("a").is_some());
    assert!(c.record("b").is_none());
    assert!(c.record("c").is_some());
    assert!(c.remove("a").is_some());
    assert_eq!(c.len(), 1);
    // Many more devices than capacity: never more than capacity held.
    for i in 0..100 {
        c.insert(&format!("dev-{i}"), SignalSet::new(T0, wsc("{}")), T0)
            .unwrap();
        assert!(c.len() <= 2);
    }
    assert!(c.record("dev-99").is_some() && c.record("dev-98").is_some());
}

#[test]
fn cache_refuses_bad_ids_and_future_sets() {
    let mut c = cache(2);
    let set = || SignalSet::new(T0, wsc("{}"));
    assert!(matches!(
        c.insert("", set(), T0),
        Err(CacheError::BadDeviceId { len: 0, .. })
    ));
    assert!(matches!(
        c.insert(&"x".repeat(257), set(), T0),
        Err(CacheError::BadDeviceId { len: 257, .. })
    ));
    assert!(c.insert(&"x".repeat(256), set(), T0).is_ok());
    let early = T0 - Duration::hours(1);
    assert_eq!(
        c.insert("d", set(), early),
        Err(CacheError::FromTheFuture {
            collected_at: T0,
            now: early
        })
    );
    // Within the five-minute tolerance is fine.
    assert!(c.insert("d", set(), T0 - Duration::minutes(4)).is_ok());
}

proptest::proptest! {
    /// Fresh exactly up to the maximum age, stale (with that age) after it.
    #[test]
    fn fresh_iff_within_max_age(age_s in -300_i64..100_000, max_s in 0_i64..100_000) {
        let mut record = DeviceRecord::new();
        record.insert(SignalSet::new(T0, wsc(r#"{"fireWall":"GOOD"}"#)));
        let max_age = Duration::seconds(max_s);
        let f = Freshness::new(Duration::days(365)).with_max_age("wsc", max_age);
        let view = record.view(T0 + Duration::seconds(age_s), &f);
        let got = view.lookup("wsc", "fireWall");
        if age_s <= max_s {
            proptest::prop_assert_eq!(got, Lookup::Present(SignalValue::String("GOOD")));
        } else {
            proptest::prop_assert_eq!(got, Lookup::Stale { collected_at: T0, max_age });
        }
    }
}
