//! The service's settings: admin tokens (as digests), mobile platforms,
//! uploaded CAs, policies, device assurances, EDR keys and the admin audit
//! log, in the store (older releases kept them in `DIR/service.json`).
//!
//! They change at admin speed, so they are one JSON document with a
//! revision; sections are JSON values with their own typed views, so one
//! module's schema change cannot make the document unreadable to another.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use devicetrust_store::{Database, SettingsDocument, Store as _};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DataError;

/// The largest settings document (and legacy file) we read or write.
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

/// The settings document's name in the store.
const DOCUMENT: &str = "service";

/// The settings, kept in the store as one document with a revision.
///
/// Every process on the database (the service, the CLI, replicas) sees a
/// change: [`read`](Self::read) checks the revision (one indexed read) and
/// reloads only when it moved. [`update`](Self::update) reads, changes and
/// writes the document in one store transaction, so a check and the change
/// it guards commit together whoever else writes.
#[derive(Debug)]
pub struct SettingsStore {
    store: Arc<Database>,
    current: RwLock<(i64, Arc<Settings>)>,
}

pub(crate) fn storage(e: devicetrust_store::Error) -> DataError {
    DataError::Store {
        what: "settings",
        source: e,
    }
}

pub(crate) fn parse(document: Option<&SettingsDocument>) -> Result<Settings, DataError> {
    match document {
        None => Ok(Settings::default()),
        Some(d) => serde_json::from_str(&d.body).map_err(|e| DataError::File {
            path: PathBuf::from("devices.sqlite3"),
            reason: format!("settings are corrupt: {e}"),
        }),
    }
}

impl SettingsStore {
    /// Opens the settings in `store`. On the first open of a data folder
    /// from an older release, the settings file `legacy` (`service.json`) is
    /// imported in one transaction and renamed `*.imported`.
    pub fn open(store: Arc<Database>, legacy: &Path) -> Result<Self, DataError> {
        import_legacy(&store, legacy)?;
        let document = store
            .read(|tx| tx.settings_document(DOCUMENT))
            .map_err(storage)?;
        let revision = document.as_ref().map_or(0, |d| d.revision);
        let current = parse(document.as_ref())?;
        Ok(Self {
            store,
            current: RwLock::new((revision, Arc::new(current))),
        })
    }

    fn cached(&self) -> (i64, Arc<Settings>) {
        match self.current.read() {
            Ok(c) => (c.0, Arc::clone(&c.1)),
            Err(poisoned) => {
                let c = poisoned.into_inner();
                (c.0, Arc::clone(&c.1))
            }
        }
    }

    /// The settings as this process last read them, with no store read:
    /// only for checks that are repeated against a fresh read.
    pub(crate) fn last_read(&self) -> Arc<Settings> {
        self.cached().1
    }

    /// The settings at least as new as `revision`, read by the caller inside
    /// its own read transaction (see [`Self::DOCUMENT`]): no further read
    /// when this process already holds that revision or a newer one.
    pub(crate) fn read_at(&self, revision: i64) -> Arc<Settings> {
        let (held, cached) = self.cached();
        if held >= revision {
            cached
        } else {
            self.read()
        }
    }

    /// The settings document's name in the store, for a caller that reads
    /// its revision in a snapshot of its own (then [`Self::read_at`]).
    pub(crate) const DOCUMENT: &'static str = DOCUMENT;

    fn publish(&self, revision: i64, settings: Arc<Settings>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Never go back: a slower reader must not replace a newer snapshot.
        if revision >= current.0 {
            *current = (revision, settings);
        }
    }

    /// The current settings: a shared snapshot (every request reads the
    /// settings, so reading must not copy them). If the store cannot be
    /// read, the last snapshot is returned and the failure logged.
    pub fn read(&self) -> Arc<Settings> {
        let (revision, cached) = self.cached();
        let latest = match self.store.settings_revision(DOCUMENT) {
            Ok(latest) => latest.unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "settings revision unreadable; using the last snapshot");
                return cached;
            }
        };
        if latest == revision {
            return cached;
        }
        match self
            .store
            .read(|tx| tx.settings_document(DOCUMENT))
            .map_err(storage)
            .and_then(|d| Ok((d.as_ref().map_or(0, |d| d.revision), parse(d.as_ref())?)))
        {
            Ok((revision, settings)) => {
                let settings = Arc::new(settings);
                self.publish(revision, settings.clone());
                settings
            }
            Err(e) => {
                tracing::error!(error = %e, "settings unreadable; using the last snapshot");
                cached
            }
        }
    }

    /// Applies `change` to the current settings and writes them, in one
    /// store transaction. If `change` or the write fails, nothing changes.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Settings) -> Result<T, DataError>,
    ) -> Result<T, DataError> {
        self.update_with(change)
    }

    /// [`Self::update`] for a change that refuses with its own error type.
    pub fn update_with<T, E: From<DataError>>(
        &self,
        change: impl FnOnce(&mut Settings) -> Result<T, E>,
    ) -> Result<T, E> {
        let outcome = self
            .store
            .write(|tx| {
                let document = tx.settings_document(DOCUMENT)?;
                let revision = document.as_ref().map_or(0, |d| d.revision);
                let mut next = match parse(document.as_ref()) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(E::from(e))),
                };
                let out = match change(&mut next) {
                    Ok(out) => out,
                    Err(e) => return Ok(Err(e)),
                };
                let body = match serde_json::to_string(&next) {
                    Ok(body) => body,
                    Err(e) => return Ok(Err(E::from(DataError::Invalid(e.to_string())))),
                };
                if u64::try_from(body.len()).unwrap_or(u64::MAX) > MAX_SETTINGS_BYTES {
                    return Ok(Err(E::from(DataError::Invalid(format!(
                        "the settings would exceed {MAX_SETTINGS_BYTES} bytes"
                    )))));
                }
                let revision = revision.saturating_add(1);
                tx.put_settings_document(DOCUMENT, &SettingsDocument { revision, body })?;
                Ok(Ok((revision, next, out)))
            })
            .map_err(|e| E::from(storage(e)))?;
        let (revision, next, out) = outcome?;
        self.publish(revision, Arc::new(next));
        Ok(out)
    }
}

/// Imports `legacy` into an empty settings table, once, and renames it.
fn import_legacy(store: &Database, legacy: &Path) -> Result<(), DataError> {
    let io = |e: &dyn std::fmt::Display| DataError::File {
        path: legacy.to_path_buf(),
        reason: e.to_string(),
    };
    match std::fs::metadata(legacy) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&e)),
        Ok(m) if m.len() > MAX_SETTINGS_BYTES => return Err(io(&"file too large")),
        Ok(_) => {}
    }
    let bytes = std::fs::read(legacy).map_err(|e| io(&e))?;
    let settings: Settings =
        serde_json::from_slice(&bytes).map_err(|e| io(&format!("corrupt: {e}")))?;
    let body = serde_json::to_string(&settings).map_err(|e| io(&e))?;
    store
        .write(|tx| {
            // Another process may have imported it first: never overwrite.
            if tx.settings_revision(DOCUMENT)?.is_none() {
                tx.put_settings_document(DOCUMENT, &SettingsDocument { revision: 1, body })?;
            }
            Ok(())
        })
        .map_err(storage)?;
    crate::data_dir::retire_imported(legacy).map_err(|e| io(&e))?;
    tracing::info!(file = %legacy.display(), "settings imported into the database");
    Ok(())
}
