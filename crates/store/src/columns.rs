//! How records become columns, the same on every database engine: a record
//! is stored as its JSON beside the columns queries need, enums by their
//! API names, and hardware identifiers with their kind.

use devicetrust_devices::{HardwareKey, MAX_PAGE, PageRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{DeviceSnapshot, Error, Result};

/// A record's stored JSON.
pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

/// A record read back from its stored JSON.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

/// An enum's API name (`"ACTIVE"`), as its serde form.
pub(crate) fn name<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(Error::Corrupt {
            what,
            reason: "not a plain name".into(),
        }),
    }
}

/// The stored form of a hardware identifier: its kind, then its value.
pub(crate) fn hardware_key(key: &HardwareKey) -> String {
    match key {
        HardwareKey::Udid(v) => format!("udid:{v}"),
        HardwareKey::Sid(v) => format!("sid:{v}"),
        HardwareKey::SerialNumber(v) => format!("serial:{v}"),
        // Unknown kinds never match a stored key, so they register a new device.
        _ => String::new(),
    }
}

/// A page's row limit, one more than asked so the caller knows if there is more.
pub(crate) fn limit_plus_one(page: &PageRequest) -> i64 {
    i64::try_from(page.effective_limit().min(MAX_PAGE).saturating_add(1)).unwrap_or(1)
}

/// An audit sequence number as the databases store it.
pub(crate) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A row count as a `usize`.
pub(crate) fn to_count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A [`DeviceSnapshot`] assembled from an engine's one-statement read, whose
/// rows each name their part: 0 the device, 1 an enrollment, 2 a user link,
/// 3 the management proof, 4 a signal report (each a JSON body), 5 the
/// settings revision.
#[derive(Default)]
pub(crate) struct SnapshotRows {
    snapshot: DeviceSnapshot,
}

impl SnapshotRows {
    /// The row of part 5.
    pub(crate) fn revision(&mut self, revision: i64) {
        self.snapshot.settings_revision = Some(revision);
    }

    /// A row of parts 0 to 4.
    pub(crate) fn body(&mut self, part: i64, body: &str) -> Result<()> {
        let s = &mut self.snapshot;
        match part {
            0 => s.device = Some(decode("device", body)?),
            1 => s.enrollments.push(decode("factor enrollment", body)?),
            2 => s.links.push(decode("device user", body)?),
            3 => s.proof = Some(decode("management proof", body)?),
            _ => s.reports.push(decode("signal report", body)?),
        }
        Ok(())
    }

    /// The snapshot: nothing of a device that is not there, and the lists
    /// in the order the single reads give them (byte order of their keys:
    /// SQLite's BINARY collation, PostgreSQL's `COLLATE "C"`). Rows are
    /// not ordered in SQL: a sorter would copy every body.
    pub(crate) fn finish(self) -> DeviceSnapshot {
        let mut snapshot = self.snapshot;
        if snapshot.device.is_none() {
            return DeviceSnapshot {
                settings_revision: snapshot.settings_revision,
                ..DeviceSnapshot::default()
            };
        }
        snapshot
            .enrollments
            .sort_unstable_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        snapshot
            .links
            .sort_unstable_by(|a, b| a.user.id.as_str().cmp(b.user.id.as_str()));
        snapshot
            .reports
            .sort_unstable_by(|a, b| a.provider.cmp(&b.provider));
        snapshot
    }
}
