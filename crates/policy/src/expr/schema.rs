//! What attributes an expression may read, and their types.

use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};

use devicetrust_edr::AttrType;

/// The type of an attribute or of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Type {
    /// The `null` literal.
    Null,
    /// `true` or `false`.
    Bool,
    /// A double.
    Number,
    /// Free text.
    String,
    /// A point in time, given in RFC 3339.
    Timestamp,
    /// One of a closed set of upper-case strings.
    Enum(&'static [&'static str]),
    /// A list whose items come from a closed set.
    EnumList(&'static [&'static str]),
    /// A list of strings.
    StringList,
    /// A list of numbers.
    NumberList,
}

impl Type {
    /// Whether values of this type are strings at run time.
    pub(crate) fn is_stringy(self) -> bool {
        matches!(self, Type::String | Type::Enum(_))
    }

    /// Whether values of this type are lists at run time.
    pub(crate) fn is_list(self) -> bool {
        matches!(
            self,
            Type::StringList | Type::EnumList(_) | Type::NumberList
        )
    }

    /// The type of one item of a list type.
    pub(crate) fn item(self) -> Option<Type> {
        match self {
            Type::StringList => Some(Type::String),
            Type::EnumList(values) => Some(Type::Enum(values)),
            Type::NumberList => Some(Type::Number),
            _ => None,
        }
    }
}

impl Display for Type {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Type::Null => f.write_str("null"),
            Type::Bool => f.write_str("boolean"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Enum(_) => f.write_str("enumerated string"),
            Type::EnumList(_) => f.write_str("list of enumerated strings"),
            Type::StringList => f.write_str("list of strings"),
            Type::NumberList => f.write_str("list of numbers"),
        }
    }
}

/// The attributes an expression may read.
///
/// Paths outside the three profile namespaces (`user.id`, `user.groups`,
/// `device.registered`, `network.ip`, ...) are fixed by the context shape
/// and need no schema.
pub trait Schema {
    /// The type of `user.profile.<name>`.
    fn user_profile(&self, name: &str) -> Option<Type>;
    /// The type of `device.profile.<name>`.
    fn device_profile(&self, name: &str) -> Option<Type>;
    /// The type of `device.provider.<provider>.<name>`.
    fn provider_attribute(&self, provider: &str, name: &str) -> Option<Type>;
}

/// Okta's platform values for `device.profile.platform`.
pub const PLATFORMS: &[&str] = &[
    "ANDROID", "CHROMEOS", "IOS", "LINUX", "MACOS", "OTHER", "WINDOWS",
];
/// Okta's disk encryption values.
pub const DISK_ENCRYPTION_TYPES: &[&str] = &[
    "ALL_INTERNAL_VOLUMES",
    "FULL",
    "NONE",
    "SYSTEM_VOLUME",
    "USER",
];
/// Okta's screen lock values.
pub const SCREEN_LOCK_TYPES: &[&str] = &["BIOMETRIC", "NONE", "PASSCODE"];
/// Okta's base user profile: every attribute is a string.
const USER_PROFILE: &[&str] = &[
    "city",
    "costCenter",
    "countryCode",
    "department",
    "displayName",
    "division",
    "email",
    "employeeNumber",
    "firstName",
    "honorificPrefix",
    "honorificSuffix",
    "lastName",
    "locale",
    "login",
    "manager",
    "managerId",
    "middleName",
    "mobilePhone",
    "nickName",
    "organization",
    "postalAddress",
    "preferredLanguage",
    "primaryPhone",
    "profileUrl",
    "secondEmail",
    "state",
    "streetAddress",
    "timezone",
    "title",
    "userType",
    "zipCode",
];

/// Okta's device profile, as the Expression Language exposes it.
const DEVICE_PROFILE: &[(&str, Type)] = &[
    ("diskEncryptionType", Type::Enum(DISK_ENCRYPTION_TYPES)),
    ("displayName", Type::String),
    ("imei", Type::String),
    ("jailbreak", Type::Bool),
    ("managed", Type::Bool),
    ("manufacturer", Type::String),
    ("meid", Type::String),
    ("model", Type::String),
    ("osVersion", Type::String),
    ("platform", Type::Enum(PLATFORMS)),
    ("registered", Type::Bool),
    ("screenLockType", Type::Enum(SCREEN_LOCK_TYPES)),
    ("secureHardwarePresent", Type::Bool),
    ("serialNumber", Type::String),
    ("sid", Type::String),
    ("udid", Type::String),
];

/// Provider attributes that Okta itself publishes, beside the EDR
/// providers of `devicetrust-edr`.
const OKTA_PROVIDERS: &[(&str, &str, Type)] = &[("oktaVerify", "version", Type::String)];

/// Maps an EDR attribute type onto an expression type.
fn from_edr(ty: AttrType) -> Option<Type> {
    match ty {
        AttrType::Bool => Some(Type::Bool),
        AttrType::Number => Some(Type::Number),
        AttrType::String => Some(Type::String),
        AttrType::Timestamp => Some(Type::Timestamp),
        AttrType::Enum(values) => Some(Type::Enum(values)),
        AttrType::EnumList(values) => Some(Type::EnumList(values)),
        AttrType::StringList => Some(Type::StringList),
        // A type added to the EDR schema after this crate was written cannot
        // be checked, so the attribute is refused rather than guessed at.
        _ => None,
    }
}

/// The schema of Okta's base profiles and the providers this crate knows,
/// extensible with custom user profile attributes.
#[derive(Debug, Clone, Default)]
pub struct DefaultSchema {
    custom_user: BTreeMap<String, Type>,
}

impl DefaultSchema {
    /// The base schema.
    #[must_use]
    pub fn new() -> DefaultSchema {
        DefaultSchema::default()
    }

    /// Adds a custom `user.profile.<name>` attribute.
    #[must_use]
    pub fn with_user_attribute(mut self, name: &str, ty: Type) -> DefaultSchema {
        self.custom_user.insert(name.to_owned(), ty);
        self
    }
}

impl Schema for DefaultSchema {
    fn user_profile(&self, name: &str) -> Option<Type> {
        if USER_PROFILE.contains(&name) {
            return Some(Type::String);
        }
        self.custom_user.get(name).copied()
    }

    fn device_profile(&self, name: &str) -> Option<Type> {
        DEVICE_PROFILE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ty)| *ty)
    }

    fn provider_attribute(&self, provider: &str, name: &str) -> Option<Type> {
        if let Some(schema) = devicetrust_edr::attribute(provider, name) {
            return from_edr(schema.ty);
        }
        OKTA_PROVIDERS
            .iter()
            .find(|(p, n, _)| *p == provider && *n == name)
            .map(|(_, _, ty)| *ty)
    }
}
