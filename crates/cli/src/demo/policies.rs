//! The demo's three apps, with the guide's low-, medium- and high-sensitivity
//! sign-on policies, in the shapes of Okta's Policy API.

use serde_json::{Value, json};

/// The device assurance the high-sensitivity policy requires of Macs.
pub(crate) fn macos_assurance() -> Value {
    json!({
        "id": "daemacos00000000001", "name": "macOS 14 or later, encrypted",
        "platform": "MACOS",
        "osVersion": {"minimum": "14.0.0"},
        "diskEncryptionType": {"include": ["ALL_INTERNAL_VOLUMES"]}
    })
}

fn catch_all(id: &str) -> Value {
    json!({"id": id, "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE", "system": true,
           "actions": {"appSignOn": {"access": "DENY"}}})
}

/// (app name, policy document).
pub(crate) fn apps() -> [(&'static str, Value); 3] {
    [
        (
            "Lunch menu (low sensitivity)",
            json!({
                "policy": {"id": "rstlow0000000000001", "name": "Low sensitivity", "type": "ACCESS_POLICY", "status": "ACTIVE"},
                "rules": [
                    {"id": "rullowany0000000001", "name": "Any device, password", "priority": 1, "status": "ACTIVE",
                     "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {"type": "ASSURANCE", "factorMode": "1FA"}}}},
                    catch_all("rullowcatchall00001")
                ]
            }),
        ),
        (
            "Wiki (medium sensitivity)",
            json!({
                "policy": {"id": "rstmedium0000000001", "name": "Medium sensitivity", "type": "ACCESS_POLICY", "status": "ACTIVE"},
                "rules": [
                    {"id": "rulmedregistered001", "name": "Registered devices, two factors", "priority": 1, "status": "ACTIVE",
                     "conditions": {"device": {"registered": true}},
                     "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}}},
                    catch_all("rulmedcatchall00001")
                ]
            }),
        ),
        (
            "Payroll (high sensitivity)",
            json!({
                "policy": {"id": "rsthigh000000000001", "name": "High sensitivity", "type": "ACCESS_POLICY", "status": "ACTIVE"},
                "rules": [
                    {"id": "rulhighmanaged00001", "name": "Managed, assured Mac with healthy endpoint", "priority": 1, "status": "ACTIVE",
                     "conditions": {
                        "device": {"registered": true, "managed": true, "assurance": {"include": ["daemacos00000000001"]}},
                        "platform": {"include": [{"type": "DESKTOP", "os": {"type": "MACOS"}}]},
                        "elCondition": {"condition": "device.provider.wsc.antiVirus == \"GOOD\" && device.provider.wsc.fireWall == \"GOOD\""}
                     },
                     "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA", "reauthenticateIn": "PT2H"}}}},
                    catch_all("rulhighcatchall0001")
                ]
            }),
        ),
    ]
}
