//! The records read and write the JSON of Okta's Devices API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_devices::{
    Device, DeviceStatus, DeviceUser, DiskEncryptionType, ManagementStatus, Platform,
    ScreenLockType,
};

/// A device as Okta's API returns it (values made up), with fields this
/// model does not keep (`resourceType`, `_links`, `integrityDebug`).
const OKTA_DEVICE: &str = r#"{
  "id": "guo8jx5vVoxfvJeLb0w4",
  "status": "ACTIVE",
  "created": "2023-06-21T23:24:02.000Z",
  "lastUpdated": "2023-06-21T23:24:02.000Z",
  "profile": {
    "displayName": "DESKTOP-EXAMPLE",
    "platform": "WINDOWS",
    "manufacturer": "Example Corp",
    "model": "Laptop 7",
    "osVersion": "10.0.19045.3086",
    "serialNumber": "SN-123",
    "udid": "954F6D4A-8C16-4D5E-9A7B-8C1E3F2A1B0C",
    "sid": "S-1-5-21-1111111111-2222222222-3333333333",
    "tpmPublicKeyHash": "a1b2c3",
    "registered": true,
    "secureHardwarePresent": true,
    "diskEncryptionType": "ALL_INTERNAL_VOLUMES",
    "integrityJailbreak": false,
    "integrityDebug": false
  },
  "resourceType": "UDDevice",
  "resourceDisplayName": { "value": "DESKTOP-EXAMPLE", "sensitive": false },
  "resourceAlternateId": null,
  "resourceId": "guo8jx5vVoxfvJeLb0w4",
  "_links": { "self": { "href": "https://example.invalid/api/v1/devices/guo8jx5vVoxfvJeLb0w4" } }
}"#;

#[test]
fn an_okta_device_loads_and_writes_back_with_the_same_names() {
    let device: Device = serde_json::from_str(OKTA_DEVICE).unwrap();
    assert_eq!(device.status, DeviceStatus::Active);
    assert_eq!(device.profile.platform, Platform::Windows);
    assert_eq!(
        device.profile.disk_encryption_type,
        Some(DiskEncryptionType::AllInternalVolumes)
    );
    assert_eq!(device.profile.secure_hardware_present, Some(true));
    device.profile.validate().unwrap();
    // Never seen by devicetrust: the epoch, so stale until it signs in.
    assert_eq!(device.last_seen, time::OffsetDateTime::UNIX_EPOCH);

    let back = serde_json::to_value(&device).unwrap();
    let original: serde_json::Value = serde_json::from_str(OKTA_DEVICE).unwrap();
    for key in ["id", "status", "resourceDisplayName"] {
        assert_eq!(back[key], original[key], "{key}");
    }
    for key in [
        "displayName",
        "platform",
        "serialNumber",
        "udid",
        "sid",
        "tpmPublicKeyHash",
        "registered",
        "secureHardwarePresent",
        "diskEncryptionType",
        "integrityJailbreak",
    ] {
        assert_eq!(back["profile"][key], original["profile"][key], "{key}");
    }
    let reread: Device = serde_json::from_value(back).unwrap();
    assert_eq!(reread, device);
}

#[test]
fn a_device_user_link_has_okta_names() {
    let link: DeviceUser = serde_json::from_str(
        r#"{"created":"2023-06-21T23:24:02.000Z","managementStatus":"NOT_MANAGED",
            "screenLockType":"BIOMETRIC","user":{"id":"00u1"}}"#,
    )
    .unwrap();
    assert_eq!(link.management_status, ManagementStatus::NotManaged);
    assert_eq!(link.screen_lock_type, ScreenLockType::Biometric);
    assert_eq!(link.user.id.as_str(), "00u1");
    let v = serde_json::to_value(&link).unwrap();
    assert_eq!(v["managementStatus"], "NOT_MANAGED");
    assert!(serde_json::from_str::<DeviceUser>(r#"{"created":"2023-06-21T23:24:02Z","managementStatus":"SORT_OF","screenLockType":"NONE","user":{"id":"u"}}"#).is_err());
}

#[test]
fn every_enumeration_uses_the_api_spelling() {
    let names = |v: serde_json::Value| v.as_str().unwrap().to_owned();
    assert_eq!(
        names(serde_json::to_value(Platform::Chromeos).unwrap()),
        "CHROMEOS"
    );
    assert_eq!(names(serde_json::to_value(Platform::Ios).unwrap()), "IOS");
    assert_eq!(
        names(serde_json::to_value(Platform::Macos).unwrap()),
        "MACOS"
    );
    assert_eq!(
        names(serde_json::to_value(DiskEncryptionType::SystemVolume).unwrap()),
        "SYSTEM_VOLUME"
    );
    assert_eq!(
        names(serde_json::to_value(DeviceStatus::Deactivated).unwrap()),
        "DEACTIVATED"
    );
    assert_eq!(
        names(serde_json::to_value(ScreenLockType::Passcode).unwrap()),
        "PASSCODE"
    );
}
