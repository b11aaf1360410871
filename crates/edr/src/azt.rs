//! `azt`: Android device trust (Play Protect and Play Integrity verdicts).

use crate::schema::{AttrType, AttributeSchema, ProviderSchema};

/// Values of `playProtectVerdict`.
pub const PLAY_PROTECT_VALUES: &[&str] = &["NO_ISSUES", "MEDIUM_RISK", "HIGH_RISK"];
/// Values that may appear in `deviceIntegrityLevel`.
pub const INTEGRITY_VALUES: &[&str] = &[
    "MEETS_BASIC_INTEGRITY",
    "MEETS_DEVICE_INTEGRITY",
    "MEETS_STRONG_INTEGRITY",
];

/// Published schema of `device.provider.azt.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "azt",
    name: "Android device trust",
    attributes: &[
        AttributeSchema {
            name: "playProtectVerdict",
            ty: AttrType::Enum(PLAY_PROTECT_VALUES),
            doc: "Google Play Protect verdict",
        },
        AttributeSchema {
            name: "deviceIntegrityLevel",
            ty: AttrType::EnumList(INTEGRITY_VALUES),
            doc: "Play Integrity device verdicts the device meets",
        },
    ],
};
