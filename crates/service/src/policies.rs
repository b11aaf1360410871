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

use time::OffsetDateTime;

use super::admin_audit::{self, AdminEvent};
use super::settings::Settings;
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
    /// A create named an id that is taken.
    #[error("{what} {id} already exists: replace it with PUT")]
    Exists {
        /// "policy" or "device assurance".
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// No such policy or assurance.
    #[error("{id} ({what})")]
    NotFound {
        /// "Policy" or "DeviceAssurance".
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
            Self::InUse { .. } | Self::Exists { .. } => K::Conflict,
            Self::NotFound { .. } => K::NotFound,
            Self::Data(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

/// The compiled policies of one settings snapshot, rebuilt lazily when the
/// settings change (here or in another process on the same database).
#[derive(Debug, Default)]
pub(crate) struct PolicyStore {
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

    /// The compiled policy `id` under `settings` (a snapshot the caller
    /// read), compiling it on first use after a change.
    pub(crate) fn compiled_from(
        &self,
        settings: Arc<Settings>,
        id: &str,
    ) -> Result<Arc<CompiledPolicy>, PolicyStoreError> {
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
                what: "Policy",
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

/// How a write treats an item that exists (or not) already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// POST: refused if the ID is taken.
    Create,
    /// PUT: refused if the ID is not there.
    Replace,
}

/// A settings section the admin API manages item by item: policies and
/// device assurances. One CRUD implementation serves both.
trait Managed: Clone + serde::Serialize + serde::de::DeserializeOwned {
    const SECTION: &'static str;
    /// The resource type, as in not-found answers and audit events.
    const WHAT: &'static str;
    /// The audit event prefix (`policy.create`, `device.assurance.delete`).
    const EVENT: &'static str;
    /// What it is called in a sentence.
    const NOUN: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    /// Checks a section about to be stored as `all`, so nothing stored
    /// stops compiling.
    fn check(settings: &Settings, all: &[Self]) -> Result<(), PolicyStoreError>;
    /// Refuses to delete an item that something still uses.
    fn check_delete(settings: &Settings, id: &str) -> Result<(), PolicyStoreError>;
    /// Sets what the server owns (who and when) on an item about to replace
    /// `previous` (`None`: a create).
    fn stamp(&mut self, _previous: Option<&Self>, _actor: &str, _now: OffsetDateTime) {}
}

impl Managed for PolicyDocument {
    const SECTION: &'static str = POLICIES;
    const WHAT: &'static str = "Policy";
    const EVENT: &'static str = "policy";
    const NOUN: &'static str = "policy";
    fn id(&self) -> &str {
        &self.policy.id
    }
    fn name(&self) -> &str {
        &self.policy.name
    }
    fn check(settings: &Settings, all: &[Self]) -> Result<(), PolicyStoreError> {
        let assurances = PolicyStore::assurances(settings)?;
        for doc in all {
            resolve(doc, &assurances)?.compile()?;
        }
        Ok(())
    }
    fn check_delete(_: &Settings, _: &str) -> Result<(), PolicyStoreError> {
        Ok(())
    }
}

impl Managed for DeviceAssurance {
    const SECTION: &'static str = ASSURANCES;
    const WHAT: &'static str = "DeviceAssurance";
    const EVENT: &'static str = "device.assurance";
    const NOUN: &'static str = "device assurance";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn check(settings: &Settings, all: &[Self]) -> Result<(), PolicyStoreError> {
        for doc in PolicyStore::policies(settings)? {
            resolve(&doc, all)?.compile()?;
        }
        Ok(())
    }
    fn check_delete(settings: &Settings, id: &str) -> Result<(), PolicyStoreError> {
        match PolicyStore::policies(settings)?
            .iter()
            .find(|d| referenced(d).any(|a| a == id))
        {
            Some(doc) => Err(PolicyStoreError::InUse {
                assurance: id.to_owned(),
                policy: doc.policy.id.clone(),
            }),
            None => Ok(()),
        }
    }
    fn stamp(&mut self, previous: Option<&Self>, actor: &str, now: OffsetDateTime) {
        let now = okta_time(now);
        let (created_by, created_date) = match previous {
            Some(p) => (p.created_by.clone(), p.created_date.clone()),
            None => (Some(actor.to_owned()), Some(now.clone())),
        };
        self.created_by = created_by;
        self.created_date = created_date;
        self.last_updated_by = Some(actor.to_owned());
        self.last_update = Some(now);
    }
}

/// Okta's timestamps: RFC 3339 in UTC with exactly three fractional digits
/// (`2026-12-08T00:30:05.100Z`), as Okta writes them. Fixed width, so they
/// also sort as text (`time`'s RFC 3339 drops trailing zeros: `05.1Z`
/// sorted after `05.15Z`).
fn okta_time(now: OffsetDateTime) -> String {
    const OKTA: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(OKTA)
        .unwrap_or_default()
}

/// Writes `item` into its section inside a settings update: the existence
/// check and the write share the transaction, so two racing creates of one
/// ID give one 201 and one conflict.
fn put<T: Managed>(
    s: &mut Settings,
    mut item: T,
    write: Write,
    actor: &str,
    now: OffsetDateTime,
) -> Result<T, PolicyStoreError> {
    let mut all: Vec<T> = s.section(T::SECTION)?;
    let slot = all.iter_mut().find(|x| x.id() == item.id());
    item.stamp(slot.as_deref(), actor, now);
    match (slot, write) {
        (Some(_), Write::Create) => {
            return Err(PolicyStoreError::Exists {
                what: T::NOUN,
                id: item.id().to_owned(),
            });
        }
        (None, Write::Replace) => {
            return Err(PolicyStoreError::NotFound {
                what: T::WHAT,
                id: item.id().to_owned(),
            });
        }
        (Some(slot), Write::Replace) => *slot = item.clone(),
        (None, Write::Create) => all.push(item.clone()),
    }
    T::check(s, &all)?;
    s.set_section(T::SECTION, &all)?;
    Ok(item)
}

/// Removes item `id` from its section inside a settings update; returns it.
fn remove<T: Managed>(s: &mut Settings, id: &str) -> Result<T, PolicyStoreError> {
    T::check_delete(s, id)?;
    let mut all: Vec<T> = s.section(T::SECTION)?;
    let at = all
        .iter()
        .position(|x| x.id() == id)
        .ok_or_else(|| PolicyStoreError::NotFound {
            what: T::WHAT,
            id: id.to_owned(),
        })?;
    let removed = all.remove(at);
    s.set_section(T::SECTION, &all)?;
    Ok(removed)
}

/// Records the admin event for a change inside the change's own update, so
/// the change and its audit event commit together.
fn audit<T: Managed>(
    s: &mut Settings,
    actor: &str,
    action: &str,
    item: &T,
    now: OffsetDateTime,
) -> Result<(), PolicyStoreError> {
    let event = AdminEvent::new(
        now,
        actor,
        &format!("{}.{action}", T::EVENT),
        T::WHAT,
        item.id(),
    )?
    .with_details(serde_json::json!({ "name": item.name() }));
    Ok(admin_audit::push(s, event)?)
}

/// A policy as the admin API accepts it: device assurances are referenced
/// by id, never embedded.
fn admissible_policy(doc: &PolicyDocument) -> Result<(), PolicyStoreError> {
    if doc.device_assurances.is_empty() {
        Ok(())
    } else {
        Err(PolicyStoreError::Rejected(
            "deviceAssurances are not embedded: create them at /api/v1/device-assurances and reference them by id".into(),
        ))
    }
}

/// A device assurance as the admin API accepts it, checked by compiling a
/// policy that uses it, so a bad OS version is refused when it is stored
/// rather than when a policy first references it.
fn admissible_assurance(assurance: &DeviceAssurance) -> Result<(), PolicyStoreError> {
    if assurance.id.is_empty() {
        return Err(PolicyStoreError::Rejected("id must not be empty".into()));
    }
    let probe = serde_json::json!({
        "policy": {"id": "probe", "name": "probe", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": [{
            "id": "probe", "name": "probe", "priority": 1, "status": "ACTIVE",
            "conditions": {"device": {"registered": true, "assurance": {"include": [assurance.id]}}},
            "actions": {"appSignOn": {"access": "ALLOW"}}
        }]
    });
    let mut doc = PolicyDocument::from_json(&probe.to_string())?;
    doc.device_assurances.push(assurance.clone());
    doc.compile()?;
    Ok(())
}

fn same_id(path_id: &str, item_id: &str) -> Result<(), PolicyStoreError> {
    if path_id == item_id {
        Ok(())
    } else {
        Err(PolicyStoreError::Rejected(format!(
            "the id in the body ({item_id}) must be the id in the path ({path_id})"
        )))
    }
}

/// The admin use cases over policies and device assurances. Each change is
/// one settings transaction with its audit event.
impl crate::Service {
    fn managed<T: Managed>(&self) -> Result<Vec<T>, PolicyStoreError> {
        Ok(self.settings.read().section(T::SECTION)?)
    }

    fn managed_one<T: Managed>(&self, id: &str) -> Result<T, PolicyStoreError> {
        self.managed::<T>()?
            .into_iter()
            .find(|x| x.id() == id)
            .ok_or_else(|| PolicyStoreError::NotFound {
                what: T::WHAT,
                id: id.to_owned(),
            })
    }

    fn write_managed<T: Managed>(
        &self,
        actor: &str,
        item: T,
        write: Write,
        now: OffsetDateTime,
    ) -> Result<T, PolicyStoreError> {
        let action = if write == Write::Create {
            "create"
        } else {
            "update"
        };
        let stored = self.settings.update_with(|s| {
            audit(s, actor, action, &item, now)?;
            put(s, item.clone(), write, actor, now)
        })?;
        self.policies.invalidate();
        Ok(stored)
    }

    fn delete_managed<T: Managed>(
        &self,
        actor: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<(), PolicyStoreError> {
        self.settings.update_with(|s| {
            let removed = remove::<T>(s, id)?;
            audit(s, actor, "delete", &removed, now)
        })?;
        self.policies.invalidate();
        Ok(())
    }

    /// Every access policy.
    pub fn list_policies(&self) -> Result<Vec<PolicyDocument>, PolicyStoreError> {
        self.managed()
    }

    /// Access policy `id`.
    pub fn policy(&self, id: &str) -> Result<PolicyDocument, PolicyStoreError> {
        self.managed_one(id)
    }

    /// Creates an access policy (refused if its id is taken), by `actor`.
    pub fn create_policy(
        &self,
        actor: &str,
        doc: PolicyDocument,
        now: OffsetDateTime,
    ) -> Result<PolicyDocument, PolicyStoreError> {
        admissible_policy(&doc)?;
        self.write_managed(actor, doc, Write::Create, now)
    }

    /// Replaces access policy `id` (refused if it does not exist).
    pub fn replace_policy(
        &self,
        actor: &str,
        id: &str,
        doc: PolicyDocument,
        now: OffsetDateTime,
    ) -> Result<PolicyDocument, PolicyStoreError> {
        admissible_policy(&doc)?;
        same_id(id, &doc.policy.id)?;
        self.write_managed(actor, doc, Write::Replace, now)
    }

    /// Deletes access policy `id`.
    pub fn delete_policy(
        &self,
        actor: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<(), PolicyStoreError> {
        self.delete_managed::<PolicyDocument>(actor, id, now)
    }

    /// Every device assurance.
    pub fn list_assurances(&self) -> Result<Vec<DeviceAssurance>, PolicyStoreError> {
        self.managed()
    }

    /// Device assurance `id`.
    pub fn assurance(&self, id: &str) -> Result<DeviceAssurance, PolicyStoreError> {
        self.managed_one(id)
    }

    /// Creates a device assurance (refused if its id is taken).
    pub fn create_assurance(
        &self,
        actor: &str,
        assurance: DeviceAssurance,
        now: OffsetDateTime,
    ) -> Result<DeviceAssurance, PolicyStoreError> {
        let mut assurance = assurance;
        if assurance.id.is_empty() {
            // Okta-shaped, as the registry makes device ids.
            assurance.id = devicetrust_devices::random_id("dae")
                .map_err(|e| DataError::Pki(devicetrust_pki::Error::Random(e.to_string())))?;
        }
        admissible_assurance(&assurance)?;
        self.write_managed(actor, assurance, Write::Create, now)
    }

    /// Replaces device assurance `id`; every policy using it must still compile.
    pub fn replace_assurance(
        &self,
        actor: &str,
        id: &str,
        assurance: DeviceAssurance,
        now: OffsetDateTime,
    ) -> Result<DeviceAssurance, PolicyStoreError> {
        let mut assurance = assurance;
        if assurance.id.is_empty() {
            id.clone_into(&mut assurance.id);
        }
        admissible_assurance(&assurance)?;
        same_id(id, &assurance.id)?;
        self.write_managed(actor, assurance, Write::Replace, now)
    }

    /// Deletes device assurance `id`, unless a policy uses it (conflict).
    pub fn delete_assurance(
        &self,
        actor: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<(), PolicyStoreError> {
        self.delete_managed::<DeviceAssurance>(actor, id, now)
    }
}
