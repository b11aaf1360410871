//! A device as Okta's Devices API shows it: the stored device, plus what
//! Okta derives from it (`resourceType`, `resourceId`,
//! `resourceAlternateId`), `_links` with `hints.allow` for the operations
//! its state allows, and, when a list is expanded, `_embedded.users`.

use std::collections::BTreeMap;

use devicetrust_devices::{Device, DeviceUser, Operation};
use serde::Serialize;

/// Okta's `resourceType` for devices (Universal Directory).
const RESOURCE_TYPE: &str = "UDDevice";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OktaDevice<'a> {
    #[serde(flatten)]
    device: &'a Device,
    resource_type: &'static str,
    resource_id: &'a str,
    /// Okta sends `null` here for devices.
    resource_alternate_id: Option<&'a str>,
    #[serde(rename = "_links")]
    links: BTreeMap<&'static str, Link>,
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    embedded: Option<Embedded>,
}

#[derive(Serialize)]
struct Link {
    href: String,
    hints: Hints,
}

#[derive(Serialize)]
struct Hints {
    allow: &'static [&'static str],
}

#[derive(Serialize)]
pub(super) struct Embedded {
    pub(super) users: Vec<DeviceUser>,
}

impl<'a> OktaDevice<'a> {
    /// `device`, linked under `base_url` (the service's public URL).
    pub(super) fn new(device: &'a Device, base_url: &str, embedded: Option<Embedded>) -> Self {
        let at = format!(
            "{}/api/v1/devices/{}",
            base_url.trim_end_matches('/'),
            device.id.as_str()
        );
        let link = |href: String, allow| Link {
            href,
            hints: Hints { allow },
        };
        let mut links = BTreeMap::new();
        // What the device's state allows, from the registry's state machine.
        let allowed = |operation: Operation| operation.sources().contains(&device.status);
        for operation in Operation::ALL {
            if operation != Operation::Delete && allowed(operation) {
                let href = format!("{at}/lifecycle/{}", operation.name());
                links.insert(operation.name(), link(href, &["POST"][..]));
            }
        }
        links.insert("users", link(format!("{at}/users"), &["GET"][..]));
        let own: &'static [&'static str] = if allowed(Operation::Delete) {
            &["GET", "DELETE"]
        } else {
            &["GET"]
        };
        links.insert("self", link(at, own));
        Self {
            device,
            resource_type: RESOURCE_TYPE,
            resource_id: device.id.as_str(),
            resource_alternate_id: None,
            links,
            embedded,
        }
    }
}
