//! `wsc`: Windows Security Center health, as Okta Verify reports it.

use crate::schema::{AttrType, AttributeSchema, ProviderSchema};

/// Values every `wsc` attribute can take, as Okta spells them.
pub const HEALTH_VALUES: &[&str] = &["GOOD", "NOT_MONITORED", "POOR", "SNOOZE", "UNKNOWN"];

const HEALTH: AttrType = AttrType::Enum(HEALTH_VALUES);

/// Published schema of `device.provider.wsc.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "wsc",
    name: "Windows Security Center",
    attributes: &[
        AttributeSchema {
            name: "antiVirus",
            ty: HEALTH,
            doc: "health of the antivirus product",
        },
        AttributeSchema {
            name: "fireWall",
            ty: HEALTH,
            doc: "health of the firewall",
        },
        AttributeSchema {
            name: "autoUpdateSettings",
            ty: HEALTH,
            doc: "health of Windows Update settings",
        },
        AttributeSchema {
            name: "internetSettings",
            ty: HEALTH,
            doc: "health of Internet security settings",
        },
        AttributeSchema {
            name: "userAccountControl",
            ty: HEALTH,
            doc: "health of User Account Control",
        },
        AttributeSchema {
            name: "securityCenterService",
            ty: HEALTH,
            doc: "health of the Security Center service itself",
        },
    ],
};
