//! The devicetrust service's use cases, as typed methods of [`Service`]
//! over one store: the CA, the device registry (SQLite, shared with the
//! CA's issuance ledger), the SCEP configurations, management attestation,
//! EDR signals, policies and the admin tokens. No HTTP types: the
//! `devicetrust-server` crate serves these use cases over HTTP and the CLI
//! calls them directly.
//!
//! ```
//! use devicetrust_service::{DataDir, Service, ServiceOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let folder = tempfile::tempdir()?;
//! let backend = devicetrust_pki::default_backend();
//! // The first open creates the CA, the database and an admin token (shown once).
//! let opened = Service::open(DataDir::new(folder.path()), backend, ServiceOptions::default())?;
//! assert!(opened.admin_token.is_some());
//! // Later opens reuse all of it.
//! drop(opened);
//! let again = Service::open(DataDir::new(folder.path()), backend, ServiceOptions::default())?;
//! assert!(again.admin_token.is_none());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod admin_audit;
pub mod auth_failures;
pub mod context;
pub mod crl;
mod data_dir;
pub mod device_api;
pub mod device_flows;
pub mod device_keys;
pub mod devices;
mod endpoints;
pub mod enrollment_tokens;
pub mod http_client;
pub mod integrations;
pub mod intune;
pub mod policies;
pub mod scep_requests;
pub mod sealed;
pub mod secret_file;
pub mod settings;
pub mod signals;
pub(crate) mod tokens;
pub mod uploaded_cas;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, RwLock};

use devicetrust_attestation::{Attestor, Configurations};
use devicetrust_devices::OrgId;
use devicetrust_edr::SignalCache;
use devicetrust_pki::{Backend, Ca};
use devicetrust_store::{Database, Registry};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub use data_dir::{
    DataDir, DataError, DesktopIntegration, NewChallenge, NewIntegration, StoredChallenge,
};
pub use endpoints::{ScepEndpoint, ScepEndpoints};
pub use settings::{Settings, SettingsStore, StoredToken};
pub use tokens::{PresentedToken, TOKEN_PREFIX};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The URL devices and admins reach the service at (SCEP URLs are built from it).
    pub base_url: String,
    /// The organisation this service serves.
    pub org: String,
    /// Devices whose EDR signals are kept in memory.
    pub signal_capacity: NonZeroUsize,
    /// The device API's windows and bounds.
    pub device_api: device_api::DeviceApiOptions,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            org: "default".into(),
            signal_capacity: NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN),
            device_api: device_api::DeviceApiOptions::default(),
        }
    }
}

/// The running service's state, shared by every request.
#[derive(Debug)]
pub struct Service {
    pub(crate) data: DataDir,
    pub(crate) backend: &'static dyn Backend,
    pub(crate) options: ServiceOptions,
    pub(crate) org: OrgId,
    pub(crate) ca: Arc<Ca>,
    pub(crate) store: Arc<Database>,
    pub(crate) registry: Registry<Arc<Database>>,
    pub(crate) endpoints: Arc<ScepEndpoints>,
    pub(crate) settings: SettingsStore,
    pub(crate) attestor: RwLock<Attestor>,
    pub(crate) signals: Mutex<SignalCache>,
    pub(crate) zta_verifier: signals::ZtaVerifierCache,
    pub(crate) policies: policies::PolicyStore,
    pub(crate) crl: crl::CrlCache,
    pub(crate) auth_failures: Arc<auth_failures::AuthFailureLog>,
    /// What the served endpoints and the attestor were last derived from.
    synced: Mutex<Synced>,
}

/// A settings snapshot and the desktop SCEP configurations read with it.
#[derive(Debug)]
struct Synced {
    settings: Arc<Settings>,
    desktop: Vec<crate::DesktopIntegration>,
}

/// What [`Service::open`] returns.
#[derive(Debug)]
pub struct Opened {
    /// The service.
    pub service: Arc<Service>,
    /// On first start only: the admin API token, to show once. It is stored hashed.
    pub admin_token: Option<Zeroizing<String>>,
}

impl Service {
    /// Opens the service over `dir`, creating the CA, the database and an
    /// admin token on first start. Later starts reuse everything.
    pub fn open(
        dir: DataDir,
        backend: &'static dyn Backend,
        options: ServiceOptions,
    ) -> Result<Opened, DataError> {
        let org = OrgId::new(&options.org).map_err(|e| DataError::NotFound(e.to_string()))?;
        let (ca, store) = dir.open_ca_and_store(backend)?;
        let ca = Arc::new(ca);
        let settings = SettingsStore::open(store.clone(), &dir.path().join("service.json"))?;
        integrations::import_legacy_desktop(&dir, &settings)?;
        let desktop = integrations::desktop_integrations(&settings.read())?;
        let served = integrations::served_desktop(&settings.read())?;
        let endpoints = Arc::new(dir.endpoints(ca.clone(), &store, &served)?);
        // Checked and created in one transaction: two first starts racing
        // on one database create one token, shown by the one that made it.
        // Checked first without writing: every open (each CLI command) would
        // otherwise bump the revision and make every process re-derive.
        let admin_token = if !settings.read().admin_tokens.is_empty() {
            None
        } else {
            settings.update(|s| {
                if !s.admin_tokens.is_empty() {
                    return Ok(None);
                }
                let (stored, token) = tokens::generate(OffsetDateTime::now_utc())?;
                s.admin_tokens.push(stored);
                Ok(Some(token))
            })?
        };
        // Only the platforms an admin added attest devices ("Add Platform"):
        // deactivating one must stop its certificates counting as managed.
        let mut configurations = Configurations::new();
        integrations::restore(&settings.read(), &ca, &mut configurations)?;
        let nonces =
            devicetrust_attestation::nonce::NonceService::with_key(dir.attestation_nonce_key()?)
                .with_ledger(Arc::new(device_flows::StoredAttestationNonces {
                    store: store.clone(),
                    per_device: options.device_api.replay_per_device,
                }));
        let attestor = Attestor::new(configurations, backend)
            .map_err(|e| DataError::NotFound(e.to_string()))?
            .with_nonce_service(nonces);
        let synced = Mutex::new(Synced {
            settings: settings.read(),
            desktop,
        });
        let service = Self {
            auth_failures: Arc::new(auth_failures::AuthFailureLog::new(
                store.clone(),
                org.clone(),
            )),
            registry: Registry::new(store.clone()),
            signals: Mutex::new(SignalCache::new(options.signal_capacity)),
            zta_verifier: signals::ZtaVerifierCache::default(),
            data: dir,
            backend,
            org,
            ca,
            store,
            endpoints,
            settings,
            attestor: RwLock::new(attestor),
            policies: policies::PolicyStore::default(),
            crl: crl::CrlCache::default(),
            synced,
            options,
        };
        Ok(Opened {
            service: Arc::new(service),
            admin_token,
        })
    }

    /// Where failed authentications are folded for the System Log.
    pub fn auth_failures(&self) -> &Arc<auth_failures::AuthFailureLog> {
        &self.auth_failures
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn database_engine(&self) -> &'static str {
        self.store.engine()
    }

    /// Round trips to a shared (PostgreSQL) database that callers waited
    /// for since it opened; `None` on the embedded database.
    pub fn database_round_trips(&self) -> Option<u64> {
        self.store.round_trips()
    }

    /// Hex SHA-256 of the root CA certificate: what ties a database to a data folder.
    pub fn ca_root_sha256(&self) -> String {
        self.ca.root().fingerprint()
    }

    /// Brings the served SCEP endpoints and the attestor's configurations
    /// up to the settings in the store, when another process (the CLI, a
    /// replica) changed them: an integration it added is served at once, one
    /// it deactivated stops at once. Costs one revision read when nothing
    /// changed.
    pub fn sync(&self) -> Result<(), DataError> {
        // The revision is read before the lock: requests that find nothing
        // changed (nearly all) do not queue behind one another.
        let current = self.settings.read();
        let mut synced = self
            .synced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if Arc::ptr_eq(&synced.settings, &current) {
            return Ok(());
        }
        for _ in 0..3 {
            let settings = self.settings.read();
            if Arc::ptr_eq(&synced.settings, &settings) {
                return Ok(());
            }
            let desktop = integrations::desktop_integrations(&settings)?;
            let stored = integrations::integrations(&settings)?;
            let mut configurations = Configurations::new();
            integrations::restore(&settings, &self.ca, &mut configurations)?;
            let mut attestor = integrations::write_attestor(self);
            // An in-process change published newer settings meanwhile: derive again.
            if !Arc::ptr_eq(&self.settings.read(), &settings) {
                continue;
            }
            *attestor.configurations_mut() = configurations;
            drop(attestor);
            let served: std::collections::HashSet<&str> = stored
                .iter()
                .filter(|s| s.active && s.is_scep())
                .map(|s| s.id.as_str())
                .collect();
            for id in self.endpoints.ids() {
                if !served.contains(id.as_str()) {
                    self.endpoints.remove(&id);
                }
            }
            // Most settings changes (an audit event, a policy) touch no SCEP
            // configuration: build endpoints (RA keys read and parsed) only
            // for the ones that changed or are not served yet.
            let stale: Vec<DesktopIntegration> = desktop
                .iter()
                .filter(|config| served.contains(config.id.as_str()))
                .filter(|config| {
                    !synced.desktop.contains(config) || self.endpoints.get(&config.id).is_none()
                })
                .cloned()
                .collect();
            if !stale.is_empty() {
                let fresh = self.data.endpoints(self.ca.clone(), &self.store, &stale)?;
                for config in &stale {
                    if let Some(endpoint) = fresh.remove(&config.id) {
                        self.endpoints.insert_shared(endpoint);
                    }
                }
            }
            *synced = Synced { settings, desktop };
            return Ok(());
        }
        Err(DataError::Busy)
    }

    /// The served SCEP configurations.
    pub fn endpoints(&self) -> &Arc<ScepEndpoints> {
        &self.endpoints
    }

    /// Forgets a deleted device's EDR signals (the store deleted the rest
    /// with the device).
    pub(crate) fn forget_device_signals(&self, device: &str) {
        self.signals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(device);
    }

    /// The organisation it serves.
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// The options it runs with.
    pub fn options(&self) -> &ServiceOptions {
        &self.options
    }
}

#[cfg(test)]
mod boundary {
    /// The use cases carry no HTTP types: the server crate turns HTTP into
    /// these calls, and the CLI calls them without a server. Outbound HTTP
    /// (`ureq`, for Entra ID and Graph) is a client, not a request type.
    #[test]
    fn the_service_crate_depends_on_no_http_server_crate() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .split("[dependencies]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        let names: Vec<&str> = dependencies
            .lines()
            .filter_map(|line| line.split(['.', ' ', '=']).next())
            .filter(|name| !name.is_empty() && !name.starts_with('#'))
            .collect();
        assert!(names.contains(&"devicetrust-store"), "{names:?}");
        for forbidden in [
            "axum",
            "hyper",
            "hyper-util",
            "http",
            "http-body-util",
            "tower",
            "tower-http",
        ] {
            assert!(!names.contains(&forbidden), "{forbidden} in {names:?}");
        }
    }
}
