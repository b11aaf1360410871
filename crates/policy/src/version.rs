//! Dotted numeric versions, compared part by part.
//!
//! `14.10` is newer than `14.2`: each part is a number, not a digit string,
//! and a missing part counts as zero, so `10.0` equals `10.0.0`.

use std::cmp::Ordering;

/// The most parts a version may have.
const MAX_PARTS: usize = 16;

/// A parsed version such as `10.0.22631.4460`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Vec<u64>);

impl Version {
    /// Parses dotted decimal numbers; `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = Vec::new();
        for part in text.split('.') {
            if parts.len() == MAX_PARTS
                || part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            parts.push(part.parse().ok()?);
        }
        Some(Version(parts))
    }

    /// The numeric parts.
    #[must_use]
    pub fn parts(&self) -> &[u64] {
        &self.0
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        (0..len)
            .map(|i| {
                let a = self.0.get(i).copied().unwrap_or(0);
                let b = other.0.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two version strings, `None` if either does not parse.
#[must_use]
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_compare_as_numbers() {
        assert_eq!(compare("14.10", "14.2"), Some(Ordering::Greater));
        assert_eq!(compare("9.23.0", "10.3.1"), Some(Ordering::Less));
        assert_eq!(compare("10.0", "10.0.0"), Some(Ordering::Equal));
        assert_eq!(
            compare("10.0.22631.4460", "10.0.22631.4459"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn rejects_non_versions() {
        for bad in [
            "",
            "1..2",
            "1.a",
            "-1",
            "1.2.",
            " 1",
            "99999999999999999999999",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }
}
