//! Identifiers: validated newtypes, so an unchecked string never reaches storage.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{DeviceError, limits};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (1 to 128 bytes, no control characters); kept verbatim.
            pub fn new(value: impl Into<String>) -> Result<Self, DeviceError> {
                let value = value.into();
                limits::check_id($field, &value)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An org (tenant). Every record belongs to exactly one.
    OrgId,
    "orgId"
);
id_type!(
    /// A user of an org.
    UserId,
    "userId"
);
id_type!(
    /// A device, unique across orgs; a new one on every fresh registration.
    DeviceId,
    "deviceId"
);
id_type!(
    /// A sign-in session.
    SessionId,
    "sessionId"
);
id_type!(
    /// An authenticator (factor) enrollment.
    EnrollmentId,
    "enrollmentId"
);
id_type!(
    /// Who made a change: an admin's id, or a system component's name.
    Actor,
    "actor"
);

/// Random identifiers in Okta's style: a three-letter prefix and 17
/// base-62 characters (about 101 bits), from the operating system's CSPRNG.
pub fn random_id(prefix: &str) -> Result<String, DeviceError> {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 17];
    getrandom::fill(&mut bytes).map_err(|e| DeviceError::Random(e.to_string()))?;
    let mut out = String::with_capacity(prefix.len().saturating_add(bytes.len()));
    out.push_str(prefix);
    for b in bytes {
        // 256 % 62 != 0, so this is slightly biased; uniqueness, not uniformity, is what matters.
        let index = usize::from(b) % ALPHABET.len();
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'0')));
    }
    Ok(out)
}

impl DeviceId {
    /// A fresh random device id (`guo…`, as Okta's).
    pub fn random() -> Result<Self, DeviceError> {
        Self::new(random_id("guo")?)
    }
}

impl SessionId {
    /// A fresh random session id.
    pub fn random() -> Result<Self, DeviceError> {
        Self::new(random_id("idx")?)
    }
}

impl EnrollmentId {
    /// A fresh random enrollment id.
    pub fn random() -> Result<Self, DeviceError> {
        Self::new(random_id("opf")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_okta_shaped_and_distinct() {
        let ids: std::collections::BTreeSet<String> =
            (0..1000).map(|_| random_id("guo").unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 20);
            assert!(id.starts_with("guo"));
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn ids_refuse_what_the_limits_say_and_deserialize_through_validation() {
        assert!(UserId::new("a".repeat(128)).is_ok());
        assert!(matches!(
            UserId::new("é".repeat(65)),
            Err(DeviceError::FieldTooLong { len: 130, .. })
        ));
        assert!(serde_json::from_str::<OrgId>("\"\"").is_err());
        assert!(serde_json::from_str::<OrgId>("\"a\\u0007b\"").is_err());
        let id: DeviceId = serde_json::from_str("\"guo' OR 1=1\"").unwrap();
        assert_eq!(id.as_str(), "guo' OR 1=1");
    }
}
