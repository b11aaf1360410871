//! `zta`: CrowdStrike Zero Trust Assessment, read from the device's signed
//! `data.zta` JWT.

use crate::schema::{AttrType, AttributeSchema, ProviderSchema};

/// Published schema of `device.provider.zta.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "zta",
    name: "CrowdStrike Zero Trust Assessment",
    attributes: &[
        AttributeSchema {
            name: "overall",
            ty: AttrType::Number,
            doc: "overall score, 1-100, higher is better",
        },
        AttributeSchema {
            name: "os",
            ty: AttrType::Number,
            doc: "operating-system score, 1-100",
        },
        AttributeSchema {
            name: "sensorConfig",
            ty: AttrType::Number,
            doc: "Falcon sensor configuration score, 1-100",
        },
        AttributeSchema {
            name: "aid",
            ty: AttrType::String,
            doc: "Falcon agent id (the token's `sub`)",
        },
        AttributeSchema {
            name: "cid",
            ty: AttrType::String,
            doc: "CrowdStrike customer id",
        },
        AttributeSchema {
            name: "csPlatform",
            ty: AttrType::String,
            doc: "OS platform as CrowdStrike reports it",
        },
        AttributeSchema {
            name: "csSerialNumber",
            ty: AttrType::String,
            doc: "device serial number as CrowdStrike reports it",
        },
        AttributeSchema {
            name: "issuedDateTime",
            ty: AttrType::Timestamp,
            doc: "when the assessment was issued (`iat`)",
        },
        AttributeSchema {
            name: "expirationDateTime",
            ty: AttrType::Timestamp,
            doc: "when the assessment expires (`exp`)",
        },
    ],
};
