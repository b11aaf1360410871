//! Device integrations ("Security > Device Integrations > Endpoint
//! Management"). The uploaded CAs that "use my own CA" desktops trust are
//! in [`super::uploaded_cas`].
//!
//! Each integration is one attestation [`Configuration`], saved in the
//! store's settings with its configuration ID, so every process rebuilds
//! the attestor with the same IDs. Desktops with our CA are also SCEP
//! configurations, stored beside them (challenge secrets as digests; the RA
//! keys in the data folder); a deactivated one is not served. Mobile ones
//! keep their `managementHint` as its digest only.
//!
//! Every change holds the attestor's write lock from start to end, so this
//! process's changes are serialised; a change computed from settings that
//! another process changed meanwhile is refused (`IntegrationError::Raced`)
//! by the write's own transaction.

use std::sync::RwLockWriteGuard;

use devicetrust_attestation::hint::{ManagementHint, SecretKey};
use devicetrust_attestation::upload::UploadError;
use devicetrust_attestation::{
    Attestor, ConfigError, Configuration, ConfigurationId, ConfigurationKind, Configurations,
    DesktopTrust, MobileManagement, Platform,
};
use devicetrust_pki::Ca;
use devicetrust_pki::scep::ScepConfig;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Service;
use super::admin_audit::{self, AdminEvent};
use super::settings::Settings;
use super::uploaded_cas::{StoredCa, cas, uploaded_trust};
use crate::{DataError, NewChallenge, NewIntegration};

pub(crate) const INTEGRATIONS: &str = "deviceIntegrations";
/// The settings section of the desktop SCEP configurations (RA, challenge,
/// SCEP policy) behind the SCEP integrations.
const DESKTOP: &str = "desktopIntegrations";

/// The stored desktop SCEP configurations.
pub(crate) fn desktop_integrations(
    settings: &Settings,
) -> Result<Vec<crate::DesktopIntegration>, DataError> {
    settings.section(DESKTOP)
}

/// Imports the desktop configurations an older release kept in the data
/// folder's `integrations.json`, once: a store that has them already keeps
/// its own (another process imported first).
pub(crate) fn import_legacy_desktop(
    dir: &crate::DataDir,
    settings: &crate::SettingsStore,
) -> Result<(), DataError> {
    let Some(legacy) = dir.legacy_integrations()? else {
        return Ok(());
    };
    settings.update(|s| {
        if s.sections.contains_key(DESKTOP) {
            return Ok(());
        }
        s.set_section(DESKTOP, &legacy)
    })?;
    dir.retire_legacy_integrations()?;
    tracing::info!(
        configurations = legacy.len(),
        "desktop configurations imported into the store"
    );
    Ok(())
}

/// A platform, as the admin API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationPlatform {
    /// macOS.
    Macos,
    /// Windows.
    Windows,
    /// Android.
    Android,
    /// iOS and iPadOS.
    Ios,
}

impl IntegrationPlatform {
    /// The attestation platform.
    pub fn attestation(self) -> Platform {
        match self {
            Self::Macos => Platform::MacOs,
            Self::Windows => Platform::Windows,
            Self::Android => Platform::Android,
            Self::Ios => Platform::Ios,
        }
    }

    /// Whether it attests with a client certificate.
    pub fn is_desktop(self) -> bool {
        self.attestation().is_desktop()
    }
}

/// A desktop SCEP challenge type, as the admin API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChallengeType {
    /// One static secret.
    Static,
    /// One-time challenges from a challenge URL.
    Dynamic,
    /// Delegated to Microsoft Intune.
    Intune,
}

/// What an integration checks, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationKind {
    /// A desktop with our CA, served over SCEP (its secrets are in the data folder).
    #[serde(rename_all = "camelCase")]
    Scep {
        /// The challenge type.
        challenge: ChallengeType,
        /// The SCEP URL given to the MDM.
        scep_url: String,
        /// The dynamic challenge URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        challenge_url: Option<String>,
    },
    /// A desktop trusting the uploaded CAs.
    Uploaded,
    /// Android or iOS, proven with the managementHint.
    #[serde(rename_all = "camelCase")]
    Mobile {
        /// "Device management provider".
        provider_name: String,
        /// "Enrollment link".
        enrollment_link: String,
        /// The secret key, as its digest.
        hint: ManagementHint,
    },
}

/// One integration as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredIntegration {
    /// Its ID in the admin API.
    pub id: String,
    /// Its platform.
    pub platform: IntegrationPlatform,
    /// The attestation configuration ID (kept across restarts).
    pub configuration_id: u64,
    /// Whether it attests devices (and, for SCEP, is served).
    pub active: bool,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// What it checks.
    pub kind: IntegrationKind,
}

impl StoredIntegration {
    /// Whether it is a SCEP configuration (served under `/scep/{id}`).
    pub fn is_scep(&self) -> bool {
        matches!(self.kind, IntegrationKind::Scep { .. })
    }
}

/// Why an integration change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrationError {
    /// No such integration or CA.
    #[error("no {what} {id}")]
    NotFound {
        /// `DeviceIntegration` or `CertificateAuthority`.
        what: &'static str,
        /// The ID asked for.
        id: String,
    },
    /// The request is not valid for this integration.
    #[error("{0}")]
    Invalid(String),
    /// The CA upload was refused.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The attestation configurations refused the change.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another process changed what this change was computed from (the
    /// integrations, or the uploaded CAs) between its read and its write;
    /// nothing was stored.
    #[error("the {what} changed meanwhile (another process); retry")]
    Raced {
        /// What changed: `integrations` or `certificate authorities`.
        what: &'static str,
    },
    /// Storage failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl devicetrust_errors::HasKind for IntegrationError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::NotFound { .. } => K::NotFound,
            Self::Invalid(_) | Self::Upload(_) => K::Invalid,
            Self::Raced { .. } => K::Conflict,
            Self::Config(e) => match e {
                ConfigError::Unknown { .. } => K::NotFound,
                ConfigError::Duplicate { .. } => K::Conflict,
                ConfigError::Random(_) => K::Internal,
                _ => K::Invalid,
            },
            Self::Data(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

/// A new secret, shown once.
#[derive(Debug)]
pub enum NewSecret {
    /// A mobile integration's managementHint; the old one works until `previous_valid_until`.
    Mobile {
        /// The new key.
        secret: SecretKey,
        /// End of the old key's grace period, if it has one.
        previous_valid_until: Option<OffsetDateTime>,
    },
    /// A static desktop challenge's new secret (the old one stops at once).
    Static {
        /// The new secret.
        secret: Zeroizing<String>,
    },
}

/// The saved integrations, in creation order.
pub fn integrations(settings: &Settings) -> Result<Vec<StoredIntegration>, DataError> {
    settings.section(INTEGRATIONS)
}

pub(super) fn invalid(e: impl std::fmt::Display) -> DataError {
    DataError::Invalid(e.to_string())
}

fn configuration(
    stored: &StoredIntegration,
    ca: &Ca,
    cas: &[StoredCa],
) -> Result<Configuration, DataError> {
    let kind = match &stored.kind {
        IntegrationKind::Scep { .. } => ConfigurationKind::Desktop(DesktopTrust::our_ca(ca)),
        IntegrationKind::Uploaded => ConfigurationKind::Desktop(uploaded_trust(cas)?),
        IntegrationKind::Mobile {
            provider_name,
            enrollment_link,
            hint,
        } => ConfigurationKind::Mobile(MobileManagement::restore(
            provider_name.clone(),
            enrollment_link.clone(),
            hint.clone(),
        )),
    };
    Ok(Configuration {
        id: ConfigurationId(stored.configuration_id),
        platform: stored.platform.attestation(),
        active: stored.active,
        kind,
    })
}

/// Puts every saved integration back into `configurations` under its own ID.
pub(crate) fn restore(
    settings: &Settings,
    ca: &Ca,
    configurations: &mut Configurations,
) -> Result<(), DataError> {
    let cas = cas(settings)?;
    for stored in integrations(settings)? {
        configurations
            .restore(configuration(&stored, ca, &cas)?)
            .map_err(invalid)?;
    }
    Ok(())
}

/// The SCEP configurations that are served: those of active SCEP integrations.
pub(crate) fn served_desktop(
    settings: &Settings,
) -> Result<Vec<crate::DesktopIntegration>, DataError> {
    let served: std::collections::HashSet<String> = integrations(settings)?
        .into_iter()
        .filter(|s| s.active && s.is_scep())
        .map(|s| s.id)
        .collect();
    Ok(desktop_integrations(settings)?
        .into_iter()
        .filter(|d| served.contains(&d.id))
        .collect())
}

fn random_id(prefix: &str) -> Result<String, DataError> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw)
        .map_err(|e| DataError::Pki(devicetrust_pki::Error::Random(e.to_string())))?;
    Ok(format!("{prefix}{}", hex::encode(raw)))
}

pub(super) fn write_attestor(service: &Service) -> RwLockWriteGuard<'_, Attestor> {
    service
        .attestor
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves the saved SCEP configuration `id` now (rebuilt from the data folder).
fn serve(service: &Service, id: &str) -> Result<(), DataError> {
    let desktop: Vec<_> = desktop_integrations(&service.settings.read())?
        .into_iter()
        .filter(|d| d.id == id)
        .collect();
    let fresh = service
        .data
        .endpoints(service.ca.clone(), &service.store, &desktop)?;
    let endpoint = fresh
        .remove(id)
        .ok_or_else(|| DataError::NotFound(format!("no desktop configuration {id}")))?;
    service.endpoints.insert_shared(endpoint);
    Ok(())
}

fn event(
    now: OffsetDateTime,
    actor: &str,
    event_type: &str,
    stored: &StoredIntegration,
) -> Result<AdminEvent, DataError> {
    Ok(
        AdminEvent::new(now, actor, event_type, "DeviceIntegration", &stored.id)?.with_details(
            serde_json::json!({
                "platform": stored.platform,
                "configurationId": ConfigurationId(stored.configuration_id).to_string(),
            }),
        ),
    )
}

/// Saves a new integration (with its desktop SCEP configuration, if any)
/// whose configuration is already in `next`, then publishes `next`. The
/// configuration ID was allocated from what this process read: the write
/// checks it is still free in the same transaction, so two processes adding
/// at once never share one.
fn save_new(
    service: &Service,
    attestor: &mut Attestor,
    next: Configurations,
    stored: &StoredIntegration,
    desktop: Option<&crate::DesktopIntegration>,
    actor: &str,
) -> Result<(), IntegrationError> {
    let audit = event(stored.created, actor, "device.integration.create", stored)?;
    service.settings.update_with(|s| {
        let mut all = integrations(s)?;
        if all
            .iter()
            .any(|i| i.configuration_id == stored.configuration_id)
        {
            return Err(IntegrationError::Raced {
                what: "integrations",
            });
        }
        all.push(stored.clone());
        s.set_section(INTEGRATIONS, &all)?;
        if let Some(desktop) = desktop {
            let mut configurations = desktop_integrations(s)?;
            configurations.push(desktop.clone());
            s.set_section(DESKTOP, &configurations)?;
        }
        Ok(admin_audit::push(s, audit)?)
    })?;
    *attestor.configurations_mut() = next;
    Ok(())
}

impl Service {
    /// Adds a desktop integration with our CA and a static, dynamic or Intune
    /// challenge, served at once. Returns it and its secrets, shown once.
    pub fn add_scep_integration(
        &self,
        platform: IntegrationPlatform,
        kind: NewChallenge,
        scep: ScepConfig,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(StoredIntegration, NewIntegration), IntegrationError> {
        // Allocate from, and change, what the store holds now.
        self.sync()?;
        if !platform.is_desktop() {
            return Err(IntegrationError::Invalid(
                "SCEP integrations are for MACOS and WINDOWS".into(),
            ));
        }
        let mut attestor = write_attestor(self);
        let challenge = match &kind {
            NewChallenge::Static => ChallengeType::Static,
            NewChallenge::Dynamic => ChallengeType::Dynamic,
            NewChallenge::Intune { .. } => ChallengeType::Intune,
        };
        let mut next = attestor.configurations().clone();
        let id = next.add_desktop(platform.attestation(), DesktopTrust::our_ca(&self.ca))?;
        let (desktop, new) = self
            .data
            .add_desktop(&self.ca, kind, &self.options.base_url, scep)?;
        let stored = StoredIntegration {
            id: new.id.clone(),
            platform,
            configuration_id: id.0,
            active: true,
            created: now,
            kind: IntegrationKind::Scep {
                challenge,
                scep_url: new.scep_url.clone(),
                challenge_url: new.challenge_url.clone(),
            },
        };
        save_new(self, &mut attestor, next, &stored, Some(&desktop), actor)?;
        serve(self, &stored.id)?;
        Ok((stored, new))
    }
}

impl Service {
    /// Adds a desktop integration that trusts the uploaded CAs (no SCEP).
    pub fn add_uploaded_integration(
        &self,
        platform: IntegrationPlatform,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<StoredIntegration, IntegrationError> {
        // Allocate from, and change, what the store holds now.
        self.sync()?;
        if !platform.is_desktop() {
            return Err(IntegrationError::Invalid(
                "uploaded CAs are for MACOS and WINDOWS integrations".into(),
            ));
        }
        let mut attestor = write_attestor(self);
        let mut next = attestor.configurations().clone();
        let trust = uploaded_trust(&cas(&self.settings.read())?)?;
        let id = next.add_desktop(platform.attestation(), trust)?;
        let stored = StoredIntegration {
            id: random_id("dvi")?,
            platform,
            configuration_id: id.0,
            active: true,
            created: now,
            kind: IntegrationKind::Uploaded,
        };
        save_new(self, &mut attestor, next, &stored, None, actor)?;
        Ok(stored)
    }
}

impl Service {
    /// Adds an Android or iOS integration; returns it and its managementHint
    /// secret key, shown once.
    pub fn add_mobile_integration(
        &self,
        platform: IntegrationPlatform,
        provider_name: &str,
        enrollment_link: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(StoredIntegration, SecretKey), IntegrationError> {
        check_provider_name(provider_name)?;
        check_link(enrollment_link)?;
        // Allocate from, and change, what the store holds now.
        self.sync()?;
        let mut attestor = write_attestor(self);
        let mut next = attestor.configurations().clone();
        let (id, secret) =
            next.add_mobile(platform.attestation(), provider_name, enrollment_link)?;
        let stored = StoredIntegration {
            id: random_id("dvi")?,
            platform,
            configuration_id: id.0,
            active: true,
            created: now,
            kind: IntegrationKind::Mobile {
                provider_name: provider_name.to_owned(),
                enrollment_link: enrollment_link.to_owned(),
                hint: mobile_hint(&next, id)?,
            },
        };
        save_new(self, &mut attestor, next, &stored, None, actor)?;
        Ok((stored, secret))
    }
}

fn mobile_hint(
    configurations: &Configurations,
    id: ConfigurationId,
) -> Result<ManagementHint, IntegrationError> {
    match &configurations.get(id)?.kind {
        ConfigurationKind::Mobile(m) => Ok(m.hint().clone()),
        _ => Err(ConfigError::NotMobile { id }.into()),
    }
}

impl Service {
    /// The saved integration `id`.
    pub fn integration(&self, id: &str) -> Result<StoredIntegration, IntegrationError> {
        integrations(&self.settings.read())?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| IntegrationError::NotFound {
                what: "DeviceIntegration",
                id: id.to_owned(),
            })
    }
}

/// Replaces an integration's saved form `before` by `stored` and publishes
/// `next` (if given). The change was computed from `before`: if another
/// process changed or removed it meanwhile, nothing is stored.
fn save_changed(
    service: &Service,
    attestor: &mut Attestor,
    next: Option<Configurations>,
    before: &StoredIntegration,
    stored: &StoredIntegration,
    audit: AdminEvent,
) -> Result<(), IntegrationError> {
    service.settings.update_with(|s| {
        let mut all = integrations(s)?;
        let slot = all
            .iter_mut()
            .find(|i| i.id == stored.id)
            .filter(|slot| **slot == *before)
            .ok_or(IntegrationError::Raced {
                what: "integrations",
            })?;
        *slot = stored.clone();
        s.set_section(INTEGRATIONS, &all)?;
        admin_audit::push(s, audit).map_err(IntegrationError::from)
    })?;
    if let Some(next) = next {
        *attestor.configurations_mut() = next;
    }
    Ok(())
}

impl Service {
    /// "Reset secret key": a mobile integration's managementHint (the old key
    /// keeps working for `grace`), or a static desktop challenge's secret.
    pub fn reset_integration_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(StoredIntegration, NewSecret), IntegrationError> {
        // Allocate from, and change, what the store holds now.
        self.sync()?;
        let mut attestor = write_attestor(self);
        let mut stored = self.integration(id)?;
        let before = stored.clone();
        let audit = event(now, actor, "device.integration.secret.reset", &stored)?;
        match &mut stored.kind {
            IntegrationKind::Mobile { hint, .. } => {
                let config = ConfigurationId(stored.configuration_id);
                let mut next = attestor.configurations().clone();
                let secret = next.reset_secret(config, grace, now)?;
                let new_hint = mobile_hint(&next, config)?;
                let previous_valid_until = new_hint.grace_until(now);
                *hint = new_hint;
                save_changed(self, &mut attestor, Some(next), &before, &stored, audit)?;
                Ok((
                    stored,
                    NewSecret::Mobile {
                        secret,
                        previous_valid_until,
                    },
                ))
            }
            IntegrationKind::Scep {
                challenge: ChallengeType::Static,
                ..
            } => {
                if grace.is_some_and(|g| g.is_positive()) {
                    return Err(IntegrationError::Invalid(
                        "a static SCEP challenge has no grace period: the old secret stops at once"
                            .into(),
                    ));
                }
                let secret = self.settings.update(|s| {
                    let mut configurations = desktop_integrations(s)?;
                    let found = configurations
                        .iter_mut()
                        .find(|d| d.id == stored.id)
                        .ok_or_else(|| {
                            DataError::NotFound(format!("no desktop configuration {}", stored.id))
                        })?;
                    let secret = crate::data_dir::reset_static(found)?;
                    s.set_section(DESKTOP, &configurations)?;
                    admin_audit::push(s, audit)?;
                    Ok(secret)
                })?;
                if stored.active {
                    serve(self, &stored.id)?;
                }
                Ok((stored, NewSecret::Static { secret }))
            }
            IntegrationKind::Scep { .. } | IntegrationKind::Uploaded => Err(
                IntegrationError::Invalid(format!("integration {id} has no secret key to reset")),
            ),
        }
    }
}

impl Service {
    /// Activates or deactivates an integration: it stops (or resumes)
    /// attesting devices, and a SCEP one stops (or resumes) being served.
    pub fn set_integration_active(
        &self,
        id: &str,
        active: bool,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<StoredIntegration, IntegrationError> {
        // Allocate from, and change, what the store holds now.
        self.sync()?;
        let mut attestor = write_attestor(self);
        let mut stored = self.integration(id)?;
        if stored.active == active {
            return Ok(stored);
        }
        let before = stored.clone();
        stored.active = active;
        let event_type = if active {
            "device.integration.activate"
        } else {
            "device.integration.deactivate"
        };
        let audit = event(now, actor, event_type, &stored)?;
        let mut next = attestor.configurations().clone();
        next.set_active(ConfigurationId(stored.configuration_id), active)?;
        save_changed(self, &mut attestor, Some(next), &before, &stored, audit)?;
        if matches!(stored.kind, IntegrationKind::Scep { .. }) {
            if active {
                serve(self, &stored.id)?;
            } else {
                self.endpoints.remove(&stored.id);
            }
        }
        Ok(stored)
    }
}

impl Service {
    /// The management attestor the integrations configure (changes take
    /// its write lock; attestation takes its read lock).
    pub fn attestation(&self) -> &std::sync::RwLock<Attestor> {
        &self.attestor
    }
}

/// The integration use cases that read.
impl Service {
    /// Every device integration, active or not.
    pub fn list_integrations(&self) -> Result<Vec<StoredIntegration>, DataError> {
        integrations(&self.settings.read())
    }
}

/// The longest mobile provider name, in characters.
const MAX_PROVIDER_NAME: usize = 100;
/// The longest enrollment link, in bytes.
const MAX_LINK: usize = 2048;

/// Provider names are shown to users: bounded, no control characters, kept verbatim.
fn check_provider_name(name: &str) -> Result<(), IntegrationError> {
    let refuse = |why: String| Err(IntegrationError::Invalid(why));
    if name.trim().is_empty() {
        return refuse("providerName must not be empty".into());
    }
    if name.chars().count() > MAX_PROVIDER_NAME {
        return refuse(format!(
            "providerName is over {MAX_PROVIDER_NAME} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return refuse("providerName holds a control character".into());
    }
    Ok(())
}

/// Enrollment links are sent to users' devices: only http(s) URLs, so a
/// `javascript:` or `file:` link cannot be planted; otherwise kept verbatim.
fn check_link(link: &str) -> Result<(), IntegrationError> {
    let refuse = |why: String| Err(IntegrationError::Invalid(why));
    let lower = link.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {}
        _ => return refuse("enrollmentLink must be an http:// or https:// URL".into()),
    }
    if link.len() > MAX_LINK {
        return refuse(format!("enrollmentLink is over {MAX_LINK} bytes"));
    }
    if link.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse("enrollmentLink holds whitespace or a control character".into());
    }
    Ok(())
}

/// The device integrations recorded in the shared (PostgreSQL) database at
/// `url`: what `devicetrust integrations list --database URL` prints. The
/// database is read as it is, never migrated.
pub fn read_shared_integrations(url: &str) -> Result<Vec<StoredIntegration>, DataError> {
    let store =
        devicetrust_store::PostgresStore::open_current(url).map_err(|source| DataError::Store {
            what: "opening the PostgreSQL database",
            source,
        })?;
    let document = devicetrust_store::Store::read(&store, |tx| {
        tx.settings_document(crate::SettingsStore::DOCUMENT)
    })
    .map_err(crate::settings::storage)?;
    integrations(&crate::settings::parse(document.as_ref())?)
}

/// The device integrations recorded in data folder `folder`, read without
/// opening the service (no CA or database is created): what
/// `devicetrust integrations list` prints. An uninitialised folder has none.
pub fn read_integrations(folder: &std::path::Path) -> Result<Vec<StoredIntegration>, DataError> {
    let db = devicetrust_store::database_path(folder);
    let legacy = folder.join("service.json");
    if db.exists() {
        let store = std::sync::Arc::new(devicetrust_store::Database::Sqlite(
            devicetrust_store::SqliteStore::open(&db).map_err(crate::settings::storage)?,
        ));
        return integrations(&crate::SettingsStore::open(store, &legacy)?.read());
    }
    // An older release's folder not opened since: read its file as it is,
    // creating nothing (the service imports it when it next starts).
    let file = |e: &dyn std::fmt::Display| DataError::File {
        path: legacy.clone(),
        reason: e.to_string(),
    };
    match std::fs::metadata(&legacy) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file(&e)),
        Ok(m) if m.len() > crate::settings::MAX_SETTINGS_BYTES => return Err(file(&"too large")),
        Ok(_) => {}
    }
    let bytes = std::fs::read(&legacy).map_err(|e| file(&e))?;
    let settings: Settings = serde_json::from_slice(&bytes).map_err(|e| file(&e))?;
    integrations(&settings)
}
