//! The service's settings file, `DIR/service.json`: admin tokens (as
//! digests), mobile platforms, uploaded CAs, policies and device assurances.
//!
//! These change at admin speed, so one JSON document rewritten atomically
//! (write, fsync, rename) is enough, and keeps them readable and diffable.
//! Per-device data lives in SQLite.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DataError;

/// The largest settings file we read.
pub const MAX_SETTINGS_BYTES: u64 = 16 * 1024 * 1024;

/// One admin API token, stored as the SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredToken {
    /// Its public ID (safe to log).
    pub id: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it was revoked (rotated away), if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked: Option<OffsetDateTime>,
}

/// Everything in `service.json`. Sections other modules own are kept as
/// JSON values with their own typed views, so one module's schema change
/// cannot make the file unreadable to another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// File format version.
    #[serde(default)]
    pub version: u32,
    /// Admin API tokens.
    #[serde(default)]
    pub admin_tokens: Vec<StoredToken>,
    /// Other sections by name (mobile platforms, uploaded CAs, policies, ...).
    #[serde(default, flatten)]
    pub sections: serde_json::Map<String, serde_json::Value>,
}

impl Settings {
    /// A typed section, or its default when absent.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, DataError> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| DataError::File {
                path: PathBuf::from("service.json"),
                reason: format!("section {name:?} is corrupt: {e}"),
            }),
        }
    }

    /// Replaces a typed section.
    pub fn set_section<T: Serialize>(&mut self, name: &str, value: &T) -> Result<(), DataError> {
        let v = serde_json::to_value(value).map_err(|e| DataError::File {
            path: PathBuf::from("service.json"),
            reason: format!("section {name:?}: {e}"),
        })?;
        self.sections.insert(name.to_owned(), v);
        Ok(())
    }
}

/// The settings file and its current contents.
#[derive(Debug)]
pub struct SettingsFile {
    path: PathBuf,
    current: RwLock<Arc<Settings>>,
    /// Serialises writers so two updates cannot interleave their renames.
    writer: std::sync::Mutex<()>,
}

impl SettingsFile {
    /// Opens `path`, or starts empty if it does not exist.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let io = |e: &dyn std::fmt::Display| DataError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let current = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(io(&e)),
            Ok(m) if m.len() > MAX_SETTINGS_BYTES => return Err(io(&"file too large")),
            Ok(_) => {
                let bytes = std::fs::read(path).map_err(|e| io(&e))?;
                serde_json::from_slice(&bytes).map_err(|e| io(&format!("corrupt: {e}")))?
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(current)),
            writer: std::sync::Mutex::new(()),
        })
    }

    /// A copy of the current settings.
    ///
    /// A snapshot, shared: every request reads the settings (the admin
    /// token check does), so reading must not copy them.
    pub fn read(&self) -> Arc<Settings> {
        self.current
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Applies `change` to a copy, writes it durably, then publishes it.
    /// If `change` or the write fails, nothing changes.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Settings) -> Result<T, DataError>,
    ) -> Result<T, DataError> {
        let _guard = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = Settings::clone(&self.read());
        let out = change(&mut next)?;
        self.write(&next)?;
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(out)
    }

    fn write(&self, settings: &Settings) -> Result<(), DataError> {
        let io = |e: &dyn std::fmt::Display| DataError::File {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let json = serde_json::to_vec_pretty(settings).map_err(|e| io(&e))?;
        let tmp = self.path.with_extension("json.tmp");
        crate::secret_file::write_private(&tmp, &json).map_err(|e| io(&e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&e))?;
        if let Some(parent) = self.path.parent() {
            // Make the rename itself durable.
            if let Ok(dir) = std::fs::File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}
