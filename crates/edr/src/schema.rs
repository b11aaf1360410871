//! The published attribute schema: which `device.provider.<provider>.<name>`
//! attributes exist and what type each has.
//!
//! The policy compiler type-checks expressions against this at load time, so
//! a misspelt attribute (`fireWal`) is refused before any device is judged.
//! Everything here is `'static`: the schema is part of the build, not data.

use crate::providers::REGISTRY;

/// Type of one published attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttrType {
    /// `true` or `false`.
    Bool,
    /// A number (read as `f64`).
    Number,
    /// Free text.
    String,
    /// A point in time (UTC).
    Timestamp,
    /// One of the listed upper-case values; read as a string.
    Enum(&'static [&'static str]),
    /// A list of values, each one of the listed upper-case values.
    EnumList(&'static [&'static str]),
    /// A list of free-text strings.
    StringList,
}

/// One published attribute of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeSchema {
    /// Name as in Okta's Expression Language, e.g. `fireWall`.
    pub name: &'static str,
    /// Its type.
    pub ty: AttrType,
    /// One line saying what it means.
    pub doc: &'static str,
}

/// The attributes one provider publishes.
#[derive(Debug)]
pub struct ProviderSchema {
    /// Short id used in `device.provider.<id>`: `"wsc"`, `"zta"`, `"dtc"`, `"azt"`.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// Every attribute it publishes.
    pub attributes: &'static [AttributeSchema],
}

impl ProviderSchema {
    /// The attribute called `name`, if this provider publishes it.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// Every provider this build knows.
#[must_use]
pub fn schemas() -> &'static [&'static ProviderSchema] {
    REGISTRY
}

/// The schema of provider `id`, if this build knows it.
#[must_use]
pub fn provider(id: &str) -> Option<&'static ProviderSchema> {
    REGISTRY.iter().copied().find(|p| p.id == id)
}

/// `device.provider.<provider>.<name>` lookup.
#[must_use]
pub fn attribute(provider: &str, name: &str) -> Option<&'static AttributeSchema> {
    self::provider(provider)?.attribute(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn provider_ids_and_attribute_names_are_unique() {
        let mut ids = BTreeSet::new();
        for p in schemas() {
            assert!(ids.insert(p.id), "duplicate provider {}", p.id);
            let mut names = BTreeSet::new();
            for a in p.attributes {
                assert!(names.insert(a.name), "duplicate {}.{}", p.id, a.name);
            }
        }
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            ["azt", "dtc", "wsc", "zta"]
        );
    }

    #[test]
    fn enum_values_are_upper_case_and_unique() {
        for p in schemas() {
            for a in p.attributes {
                if let AttrType::Enum(values) | AttrType::EnumList(values) = a.ty {
                    assert!(!values.is_empty(), "{}.{} has no values", p.id, a.name);
                    let set: BTreeSet<_> = values.iter().collect();
                    assert_eq!(
                        set.len(),
                        values.len(),
                        "{}.{} repeats a value",
                        p.id,
                        a.name
                    );
                    for v in values {
                        assert!(
                            v.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                            "{}.{}: {v} is not upper case",
                            p.id,
                            a.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn lookup_finds_published_names_only() {
        assert_eq!(
            attribute("wsc", "fireWall").map(|a| a.name),
            Some("fireWall")
        );
        assert!(attribute("wsc", "fireWal").is_none());
        assert!(
            attribute("wsc", "firewall").is_none(),
            "names are case-sensitive"
        );
        assert!(attribute("nope", "fireWall").is_none());
        assert_eq!(
            attribute("zta", "sensorConfig").map(|a| a.ty),
            Some(AttrType::Number)
        );
        assert_eq!(
            attribute("azt", "deviceIntegrityLevel").map(|a| a.ty),
            Some(AttrType::EnumList(crate::azt::INTEGRITY_VALUES))
        );
    }
}
