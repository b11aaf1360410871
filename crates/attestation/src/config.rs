//! Management configurations: one entry per platform integration, several
//! per platform allowed, each active or not.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::Platform;
use crate::desktop::DesktopTrust;
use crate::hint::{ManagementHint, SecretKey};

/// Identifies a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ConfigurationId(pub u64);

impl fmt::Display for ConfigurationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mdm-{}", self.0)
    }
}

/// A mobile configuration: provider, enrollment link and secret key.
#[derive(Debug, Clone)]
pub struct MobileManagement {
    /// "Device management provider": the name shown to users.
    pub provider_name: String,
    /// "Enrollment link": where an unmanaged device is sent to enroll.
    pub enrollment_link: String,
    hint: ManagementHint,
}

impl MobileManagement {
    /// The stored (hashed) secret key.
    pub fn hint(&self) -> &ManagementHint {
        &self.hint
    }

    /// A saved mobile configuration, put back together from its stored
    /// parts (the secret key only as its stored digest), when a service restarts.
    pub fn restore(provider_name: String, enrollment_link: String, hint: ManagementHint) -> Self {
        Self {
            provider_name,
            enrollment_link,
            hint,
        }
    }
}

/// What a configuration checks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigurationKind {
    /// Windows and macOS: client certificate chains.
    Desktop(DesktopTrust),
    /// Android and iOS: the managementHint.
    Mobile(MobileManagement),
}

/// One platform entry.
#[derive(Debug, Clone)]
pub struct Configuration {
    /// Its ID.
    pub id: ConfigurationId,
    /// The platform it covers.
    pub platform: Platform,
    /// Only active entries attest devices.
    pub active: bool,
    /// What it checks.
    pub kind: ConfigurationKind,
}

/// Why a configuration change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A desktop trust for a mobile platform, or the reverse.
    #[error("platform {platform} does not take a {kind} configuration")]
    WrongPlatform {
        /// The platform.
        platform: Platform,
        /// The kind offered (`desktop` or `mobile`).
        kind: &'static str,
    },
    /// No configuration with this ID.
    #[error("no configuration {id}")]
    Unknown {
        /// The ID.
        id: ConfigurationId,
    },
    /// A secret-key operation on a desktop configuration.
    #[error("configuration {id} is not a mobile configuration")]
    NotMobile {
        /// The ID.
        id: ConfigurationId,
    },
    /// The random source failed.
    #[error("{0}")]
    Random(#[from] devicetrust_pki::Error),
    /// A restored configuration's ID is already taken.
    #[error("configuration {id} already exists")]
    Duplicate {
        /// The ID.
        id: ConfigurationId,
    },
}

/// Every configuration of an organisation.
#[derive(Debug, Clone, Default)]
pub struct Configurations {
    entries: Vec<Configuration>,
    last_id: u64,
}

impl Configurations {
    /// No configurations.
    pub fn new() -> Self {
        Self::default()
    }

    fn next_id(&mut self) -> ConfigurationId {
        self.last_id = self.last_id.saturating_add(1);
        ConfigurationId(self.last_id)
    }

    /// Adds an active desktop configuration.
    pub fn add_desktop(
        &mut self,
        platform: Platform,
        trust: DesktopTrust,
    ) -> Result<ConfigurationId, ConfigError> {
        if !platform.is_desktop() {
            return Err(ConfigError::WrongPlatform {
                platform,
                kind: "desktop",
            });
        }
        let id = self.next_id();
        self.entries.push(Configuration {
            id,
            platform,
            active: true,
            kind: ConfigurationKind::Desktop(trust),
        });
        Ok(id)
    }

    /// Adds an active mobile configuration with a fresh secret key, returned
    /// here and never again.
    pub fn add_mobile(
        &mut self,
        platform: Platform,
        provider_name: &str,
        enrollment_link: &str,
    ) -> Result<(ConfigurationId, SecretKey), ConfigError> {
        if platform.is_desktop() {
            return Err(ConfigError::WrongPlatform {
                platform,
                kind: "mobile",
            });
        }
        let (hint, secret) = ManagementHint::generate()?;
        let id = self.next_id();
        self.entries.push(Configuration {
            id,
            platform,
            active: true,
            kind: ConfigurationKind::Mobile(MobileManagement {
                provider_name: provider_name.to_owned(),
                enrollment_link: enrollment_link.to_owned(),
                hint,
            }),
        });
        Ok((id, secret))
    }

    /// "Reset secret key" on a mobile configuration, with an optional grace
    /// period for the old key. Returns the new key, shown once.
    pub fn reset_secret(
        &mut self,
        id: ConfigurationId,
        grace: Option<Duration>,
        now: OffsetDateTime,
    ) -> Result<SecretKey, ConfigError> {
        match &mut self.get_mut(id)?.kind {
            ConfigurationKind::Mobile(m) => Ok(m.hint.reset(grace, now)?),
            ConfigurationKind::Desktop(_) => Err(ConfigError::NotMobile { id }),
        }
    }

    /// Puts back a saved configuration under its own ID, so that IDs stay
    /// the same across restarts. Later additions get IDs after the highest.
    pub fn restore(&mut self, configuration: Configuration) -> Result<(), ConfigError> {
        let id = configuration.id;
        let kind = match &configuration.kind {
            ConfigurationKind::Desktop(_) => "desktop",
            ConfigurationKind::Mobile(_) => "mobile",
        };
        if configuration.platform.is_desktop() != (kind == "desktop") {
            return Err(ConfigError::WrongPlatform {
                platform: configuration.platform,
                kind,
            });
        }
        if self.entries.iter().any(|c| c.id == id) {
            return Err(ConfigError::Duplicate { id });
        }
        self.last_id = self.last_id.max(id.0);
        self.entries.push(configuration);
        Ok(())
    }

    /// Activates or deactivates a configuration.
    pub fn set_active(&mut self, id: ConfigurationId, active: bool) -> Result<(), ConfigError> {
        self.get_mut(id)?.active = active;
        Ok(())
    }

    /// A configuration by ID.
    pub fn get(&self, id: ConfigurationId) -> Result<&Configuration, ConfigError> {
        self.entries
            .iter()
            .find(|c| c.id == id)
            .ok_or(ConfigError::Unknown { id })
    }

    /// A configuration by ID, to change it (upload a CA, set a CRL...).
    pub fn get_mut(&mut self, id: ConfigurationId) -> Result<&mut Configuration, ConfigError> {
        self.entries
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or(ConfigError::Unknown { id })
    }

    /// The desktop trust of a configuration, to upload to or set CRLs on.
    pub fn desktop_mut(&mut self, id: ConfigurationId) -> Result<&mut DesktopTrust, ConfigError> {
        let config = self.get_mut(id)?;
        let platform = config.platform;
        match &mut config.kind {
            ConfigurationKind::Desktop(d) => Ok(d),
            ConfigurationKind::Mobile(_) => Err(ConfigError::WrongPlatform {
                platform,
                kind: "desktop",
            }),
        }
    }

    /// Removes a configuration.
    pub fn remove(&mut self, id: ConfigurationId) -> Result<Configuration, ConfigError> {
        let index = self
            .entries
            .iter()
            .position(|c| c.id == id)
            .ok_or(ConfigError::Unknown { id })?;
        Ok(self.entries.remove(index))
    }

    /// Every configuration, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Configuration> {
        self.entries.iter()
    }

    /// Active configurations for `platform`, in creation order.
    pub fn active_for(&self, platform: Platform) -> impl Iterator<Item = &Configuration> {
        self.entries
            .iter()
            .filter(move |c| c.active && c.platform == platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_configuration_keeps_its_id_and_its_key() {
        let mut saved = Configurations::new();
        let (id, secret) = saved
            .add_mobile(Platform::Android, "UEM", "https://uem.example/enroll")
            .unwrap();
        let original = saved.get(id).unwrap().clone();
        let ConfigurationKind::Mobile(m) = &original.kind else {
            panic!("mobile expected");
        };
        let hint = m.hint().clone();

        let mut restored = Configurations::new();
        restored
            .restore(Configuration {
                id: ConfigurationId(7),
                platform: Platform::Android,
                active: false,
                kind: ConfigurationKind::Mobile(MobileManagement::restore(
                    "UEM".into(),
                    "https://uem.example/enroll".into(),
                    hint,
                )),
            })
            .unwrap();
        let back = restored.get(ConfigurationId(7)).unwrap().clone();
        assert!(!back.active);
        let ConfigurationKind::Mobile(m) = &back.kind else {
            panic!("mobile expected");
        };
        let now = OffsetDateTime::now_utc();
        assert!(m.hint().check(secret.expose(), now).is_some());
        // The next addition continues after the restored ID; the same ID twice is refused.
        let next = restored
            .add_desktop(Platform::MacOs, DesktopTrust::uploaded())
            .unwrap();
        assert_eq!(next, ConfigurationId(8));
        let copy = restored.get(next).unwrap().clone();
        let again = restored.restore(copy);
        assert!(matches!(again, Err(ConfigError::Duplicate { .. })));
        // A mobile configuration for a desktop platform is refused.
        let wrong = restored.restore(Configuration {
            id: ConfigurationId(9),
            platform: Platform::Windows,
            active: true,
            kind: back.kind.clone(),
        });
        assert!(matches!(wrong, Err(ConfigError::WrongPlatform { .. })));
    }
}
