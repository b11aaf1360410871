//! The SCEP configurations being served, by ID. Several can share the same
//! platform: the guide's "Add Platform" may be done twice.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use devicetrust_pki::scep::{DynamicChallenges, ScepService};

/// One served SCEP configuration.
#[derive(Debug)]
pub struct ScepEndpoint {
    /// Its ID, the path segment in its URL.
    pub id: String,
    /// The responder.
    pub service: ScepService,
    /// For a dynamic challenge: the one-time challenge store behind the challenge URL.
    pub dynamic: Option<Arc<DynamicChallenges>>,
}

/// Every served configuration.
#[derive(Debug, Default)]
pub struct ScepEndpoints {
    by_id: RwLock<HashMap<String, Arc<ScepEndpoint>>>,
}

impl ScepEndpoints {
    /// No endpoints yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an endpoint.
    pub fn insert(&self, endpoint: ScepEndpoint) {
        if let Ok(mut map) = self.by_id.write() {
            map.insert(endpoint.id.clone(), Arc::new(endpoint));
        }
    }

    /// Adds (or replaces) an endpoint built elsewhere (see [`Self::remove`]).
    pub fn insert_shared(&self, endpoint: Arc<ScepEndpoint>) {
        if let Ok(mut map) = self.by_id.write() {
            map.insert(endpoint.id.clone(), endpoint);
        }
    }

    /// Stops serving an endpoint, returning it.
    pub fn remove(&self, id: &str) -> Option<Arc<ScepEndpoint>> {
        self.by_id.write().ok().and_then(|mut map| map.remove(id))
    }

    /// The endpoint with this ID.
    pub fn get(&self, id: &str) -> Option<Arc<ScepEndpoint>> {
        self.by_id.read().ok().and_then(|map| map.get(id).cloned())
    }

    /// The IDs served.
    pub fn ids(&self) -> Vec<String> {
        self.by_id
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}
