//! Access policies and device assurances, kept in the settings file and
//! compiled once per change.
//!
//! Policies reference device assurances by id (as in Okta); the stored
//! policy documents do not embed them. They are resolved when compiling, so
//! changing an assurance changes every policy that uses it, and an
//! assurance still in use cannot be deleted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use devicetrust_policy::model::DeviceAssurance;
use devicetrust_policy::{CompiledPolicy, PolicyDocument};

use super::settings::{Settings, SettingsStore};
use crate::DataError;

const POLICIES: &str = "policies";
const ASSURANCES: &str = "deviceAssurances";

/// Why a policy or assurance change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyStoreError {
    /// The document does not load or compile.
    #[error("{0}")]
    Invalid(#[from] devicetrust_policy::LoadError),
    /// A change would leave a policy that does not compile.
    #[error("{0}")]
    Rejected(String),
    /// A referenced assurance does not exist.
    #[error("policy {policy} references device assurance {assurance}, which does not exist")]
    UnknownAssurance {
        /// The policy.
        policy: String,
        /// The missing assurance.
        assurance: String,
    },
    /// The assurance is used by a policy.
    #[error("device assurance {assurance} is used by policy {policy}")]
    InUse {
        /// The assurance.
        assurance: String,
        /// A policy using it.
        policy: String,
    },
    /// No such policy or assurance.
    #[error("no {what} {id}")]
    NotFound {
        /// "policy" or "device assurance".
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl devicetrust_errors::HasKind for PolicyStoreError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::Invalid(_) | Self::Rejected(_) | Self::UnknownAssurance { .. } => K::Invalid,
            Self::InUse { .. } => K::Conflict,
            Self::NotFound { .. } => K::NotFound,
            Self::Data(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

/// The compiled policies of one settings snapshot, rebuilt lazily when the
/// settings change (here or in another process on the same database).
#[derive(Debug, Default)]
pub struct PolicyStore {
    compiled: RwLock<CompiledCache>,
}

#[derive(Debug, Default)]
struct CompiledCache {
    /// The snapshot the policies were compiled from.
    settings: Option<Arc<Settings>>,
    policies: HashMap<String, Arc<CompiledPolicy>>,
}

fn referenced(doc: &PolicyDocument) -> impl Iterator<Item = &String> {
    doc.rules.iter().flat_map(|rule| {
        rule.conditions
            .as_ref()
            .and_then(|c| c.device.as_ref())
            .and_then(|d| d.assurance.as_ref())
            .map(|a| a.include.iter())
            .into_iter()
            .flatten()
    })
}

/// `doc` with the assurances it references filled in from `assurances`.
fn resolve(
    doc: &PolicyDocument,
    assurances: &[DeviceAssurance],
) -> Result<PolicyDocument, PolicyStoreError> {
    let mut full = doc.clone();
    full.device_assurances.clear();
    for id in referenced(doc) {
        let found = assurances.iter().find(|a| &a.id == id).ok_or_else(|| {
            PolicyStoreError::UnknownAssurance {
                policy: doc.policy.id.clone(),
                assurance: id.clone(),
            }
        })?;
        if !full.device_assurances.iter().any(|a| &a.id == id) {
            full.device_assurances.push(found.clone());
        }
    }
    Ok(full)
}

impl PolicyStore {
    /// The stored policy documents (assurances by reference).
    pub fn policies(settings: &Settings) -> Result<Vec<PolicyDocument>, DataError> {
        settings.section(POLICIES)
    }

    /// The stored device assurances.
    pub fn assurances(settings: &Settings) -> Result<Vec<DeviceAssurance>, DataError> {
        settings.section(ASSURANCES)
    }

    /// Creates or replaces a policy after checking that it compiles with
    /// the assurances it references. Embedded assurances are refused: they
    /// belong in the assurance store.
    pub fn put_policy(
        &self,
        file: &SettingsStore,
        doc: PolicyDocument,
    ) -> Result<(), PolicyStoreError> {
        file.update(|s| {
            let assurances = Self::assurances(s)?;
            let mut stored = doc.clone();
            stored.device_assurances.clear();
            resolve(&stored, &assurances)
                .and_then(|full| Ok(full.compile()?))
                .map_err(|e| DataError::Invalid(e.to_string()))?;
            let mut all = Self::policies(s)?;
            match all.iter_mut().find(|p| p.policy.id == stored.policy.id) {
                Some(slot) => *slot = stored,
                None => all.push(stored),
            }
            s.set_section(POLICIES, &all)
        })
        .map_err(refusal)?;
        self.invalidate();
        Ok(())
    }

    /// Deletes a policy.
    pub fn delete_policy(&self, file: &SettingsStore, id: &str) -> Result<(), PolicyStoreError> {
        file.update(|s| {
            let mut all = Self::policies(s)?;
            let before = all.len();
            all.retain(|p| p.policy.id != id);
            if all.len() == before {
                return Err(DataError::NotFound(format!("policy {id}")));
            }
            s.set_section(POLICIES, &all)
        })
        .map_err(refusal)?;
        self.invalidate();
        Ok(())
    }

    /// Creates or replaces a device assurance; every policy using it must still compile.
    pub fn put_assurance(
        &self,
        file: &SettingsStore,
        assurance: DeviceAssurance,
    ) -> Result<(), PolicyStoreError> {
        file.update(|s| {
            let mut all = Self::assurances(s)?;
            match all.iter_mut().find(|a| a.id == assurance.id) {
                Some(slot) => *slot = assurance.clone(),
                None => all.push(assurance.clone()),
            }
            for doc in Self::policies(s)? {
                resolve(&doc, &all)
                    .and_then(|full| Ok(full.compile()?))
                    .map_err(|e| DataError::Invalid(e.to_string()))?;
            }
            s.set_section(ASSURANCES, &all)
        })
        .map_err(refusal)?;
        self.invalidate();
        Ok(())
    }

    /// Deletes a device assurance no policy uses.
    pub fn delete_assurance(&self, file: &SettingsStore, id: &str) -> Result<(), PolicyStoreError> {
        let settings = file.read();
        if let Some(doc) = Self::policies(&settings)?
            .iter()
            .find(|d| referenced(d).any(|a| a == id))
        {
            return Err(PolicyStoreError::InUse {
                assurance: id.to_owned(),
                policy: doc.policy.id.clone(),
            });
        }
        file.update(|s| {
            let mut all = Self::assurances(s)?;
            let before = all.len();
            all.retain(|a| a.id != id);
            if all.len() == before {
                return Err(DataError::NotFound(format!("device assurance {id}")));
            }
            s.set_section(ASSURANCES, &all)
        })
        .map_err(refusal)?;
        self.invalidate();
        Ok(())
    }

    /// The compiled policy `id`, compiling it on first use after a change.
    pub fn compiled(
        &self,
        file: &SettingsStore,
        id: &str,
    ) -> Result<Arc<CompiledPolicy>, PolicyStoreError> {
        let settings = file.read();
        let cached = self.compiled.read().ok().and_then(|cache| {
            let current = cache
                .settings
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &settings));
            current.then(|| cache.policies.get(id).cloned()).flatten()
        });
        if let Some(p) = cached {
            return Ok(p);
        }
        let doc = Self::policies(&settings)?
            .into_iter()
            .find(|p| p.policy.id == id)
            .ok_or_else(|| PolicyStoreError::NotFound {
                what: "policy",
                id: id.to_owned(),
            })?;
        let compiled = Arc::new(resolve(&doc, &Self::assurances(&settings)?)?.compile()?);
        if let Ok(mut cache) = self.compiled.write() {
            if !cache
                .settings
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &settings))
            {
                cache.settings = Some(settings);
                cache.policies.clear();
            }
            cache.policies.insert(id.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    fn invalidate(&self) {
        if let Ok(mut cache) = self.compiled.write() {
            *cache = CompiledCache::default();
        }
    }
}

/// Validation failures travel through [`SettingsStore::update`] as
/// [`DataError::Invalid`]; give them back their meaning.
fn refusal(e: DataError) -> PolicyStoreError {
    match e {
        DataError::Invalid(reason) => PolicyStoreError::Rejected(reason),
        other => PolicyStoreError::Data(other),
    }
}
