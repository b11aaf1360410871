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
    /// Every endpoint ever served, removed and replaced ones included, so
    /// the outcome counters never go down (Prometheus counters must not).
    ever: RwLock<Vec<Arc<ScepEndpoint>>>,
}

impl ScepEndpoints {
    /// No endpoints yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an endpoint.
    pub fn insert(&self, endpoint: ScepEndpoint) {
        self.insert_shared(Arc::new(endpoint));
    }

    /// Adds (or replaces) an endpoint built elsewhere (see [`Self::remove`]).
    pub fn insert_shared(&self, endpoint: Arc<ScepEndpoint>) {
        if let Ok(mut ever) = self.ever.write()
            && !ever.iter().any(|e| Arc::ptr_eq(e, &endpoint))
        {
            ever.push(endpoint.clone());
        }
        if let Ok(mut map) = self.by_id.write() {
            map.insert(endpoint.id.clone(), endpoint);
        }
    }

    /// SCEP outcomes summed over every endpoint ever served.
    pub fn outcome_totals(&self) -> devicetrust_pki::scep::OutcomeCounts {
        let mut total = devicetrust_pki::scep::OutcomeCounts::default();
        if let Ok(ever) = self.ever.read() {
            for endpoint in ever.iter() {
                let c = endpoint.service.outcome_counts();
                total.issued = total.issued.saturating_add(c.issued);
                total.pending = total.pending.saturating_add(c.pending);
                total.refused = total.refused.saturating_add(c.refused);
            }
        }
        total
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
