//! Bad input: unknown ids, the wrong org, oversize and control-character
//! fields are typed errors; injection-shaped strings are stored verbatim.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_devices::{
    Actor, DeviceError, DeviceFilter, DeviceId, DeviceProfile, EnrollmentRequest, Operation, OrgId,
    PageRequest, Platform, SessionMethod, UserId, limits,
};
use devicetrust_store::{Error, Registry, SqliteStore};
use time::OffsetDateTime;

fn registry() -> (tempfile::TempDir, Registry<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, Registry::new(store))
}

fn enroll(r: &Registry<SqliteStore>, org: &OrgId, who: &str) -> DeviceId {
    let profile = DeviceProfile::new("laptop", Platform::Windows);
    r.enroll(
        org,
        &Actor::new("admin").unwrap(),
        &EnrollmentRequest::new(UserId::new(who).unwrap(), profile),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
    .id
}

#[test]
fn unknown_and_foreign_ids_are_not_found_and_audited() {
    let (_dir, r) = registry();
    let acme = OrgId::new("acme").unwrap();
    let globex = OrgId::new("globex").unwrap();
    let id = enroll(&r, &acme, "alice");
    let admin = Actor::new("admin").unwrap();
    let now = OffsetDateTime::now_utc();
    for (org, device) in [
        (&acme, DeviceId::new("guoNOPE").unwrap()),
        (&globex, id.clone()),
    ] {
        let err = r
            .transition(org, &admin, &device, Operation::Suspend, now)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Device(DeviceError::DeviceNotFound { org: o, device: d }) if o == org && *d == device),
            "{err}"
        );
        assert!(r.device(org, &device).is_err());
        assert!(
            r.sign_in(
                org,
                &device,
                &UserId::new("alice").unwrap(),
                SessionMethod::Password,
                now
            )
            .is_err()
        );
    }
    // The foreign org's attempt changed nothing in acme...
    assert_eq!(
        r.device(&acme, &id).unwrap().status,
        devicetrust_devices::DeviceStatus::Active
    );
    // ...and was audited in the org that made it.
    let events = r.audit(&globex, &Default::default()).unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        r.audit(&acme, &Default::default())
            .unwrap()
            .iter()
            .all(|e| e.org_id == acme)
    );
}

#[test]
fn oversize_empty_and_control_fields_are_refused() {
    let long_id = "x".repeat(limits::MAX_ID_BYTES + 1);
    assert!(matches!(
        UserId::new(long_id.clone()),
        Err(DeviceError::FieldTooLong { field: "userId", max: limits::MAX_ID_BYTES, len }) if len == long_id.len()
    ));
    assert!(matches!(
        OrgId::new(""),
        Err(DeviceError::EmptyField { field: "orgId" })
    ));
    assert!(matches!(
        DeviceId::new("guo\u{0}1"),
        Err(DeviceError::ControlCharacter {
            field: "deviceId",
            position: 3
        })
    ));
    // Exactly at the limit is fine.
    assert!(UserId::new("y".repeat(limits::MAX_ID_BYTES)).is_ok());

    let (_dir, r) = registry();
    let org = OrgId::new("acme").unwrap();
    let mut profile = DeviceProfile::new("z".repeat(limits::MAX_TEXT_CHARS + 1), Platform::Macos);
    let request = EnrollmentRequest::new(UserId::new("alice").unwrap(), profile.clone());
    let err = r
        .enroll(
            &org,
            &Actor::new("a").unwrap(),
            &request,
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("displayName"), "{err}");
    profile.display_name = "ok".into();
    profile.udid = Some("u".repeat(limits::MAX_HARDWARE_ID_CHARS + 1));
    assert!(profile.validate().is_err());
    profile.udid = Some("line\nbreak".into());
    assert!(matches!(
        profile.validate(),
        Err(DeviceError::ControlCharacter { field: "udid", .. })
    ));
    assert!(
        r.list(&org, &DeviceFilter::default(), &PageRequest::default())
            .unwrap()
            .devices
            .is_empty()
    );

    // JSON from outside is validated the same way.
    let json = format!(
        r#"{{"displayName":"{}","platform":"MACOS","registered":true}}"#,
        "a".repeat(300)
    );
    let parsed: DeviceProfile = serde_json::from_str(&json).unwrap();
    assert!(parsed.validate().is_err());
    assert!(
        serde_json::from_str::<DeviceProfile>(
            r#"{"displayName":"a","platform":"BEOS","registered":true}"#
        )
        .is_err()
    );
    assert!(serde_json::from_str::<UserId>(&format!("\"{}\"", "u".repeat(200))).is_err());
}

#[test]
fn injection_shaped_strings_are_stored_verbatim() {
    let (_dir, r) = registry();
    let nasty = [
        "'; DROP TABLE devices; --",
        "\" OR 1=1 --",
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM audit_events;--",
        "%_\\*?",
    ];
    for (i, text) in nasty.iter().enumerate() {
        let org = OrgId::new(*text).unwrap();
        let user = UserId::new(*text).unwrap();
        let mut profile = DeviceProfile::new(*text, Platform::Chromeos);
        profile.serial_number = Some(format!("{text}{i}"));
        let device = r
            .enroll(
                &org,
                &Actor::new(*text).unwrap(),
                &EnrollmentRequest::new(user.clone(), profile),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        let back = r.device(&org, &device.id).unwrap();
        assert_eq!(back.profile.display_name, *text);
        assert_eq!(r.user_devices(&org, &user).unwrap(), vec![back]);
        let filter = DeviceFilter {
            user: Some(user),
            ..Default::default()
        };
        assert_eq!(
            r.list(&org, &filter, &PageRequest::default())
                .unwrap()
                .devices
                .len(),
            1
        );
    }
    // Every org still sees exactly its own device: nothing was interpreted as SQL.
    for text in nasty {
        let org = OrgId::new(text).unwrap();
        assert_eq!(
            r.list(&org, &DeviceFilter::default(), &PageRequest::default())
                .unwrap()
                .devices
                .len(),
            1
        );
    }
}
