//! EDR signal reports: parsed or verified, stored in the store (the latest
//! per provider, as received), and cached in their parsed form.
//!
//! The store is the truth: a report outlives a restart, and a decision
//! reads the device's reports in its own snapshot. The [`SignalCache`] only
//! saves re-parsing (and, for signed tokens, re-verifying): its record of a
//! device is used when it holds exactly the reports the store has, and is
//! rebuilt from them otherwise (after a restart, an eviction, or a report
//! received by another process).

use std::sync::{Arc, Mutex};

use devicetrust_devices::DeviceId;
use devicetrust_edr::zta::{Jwks, ZtaVerifier};
use devicetrust_edr::{FUTURE_TOLERANCE, Ingest, SignalCache, SignalSet, ingest, schemas};
use devicetrust_store::{SignalReport, Store as _};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Service, Settings};

/// The settings section holding the ZTA verification keys.
pub const ZTA_SECTION: &str = "zta";

/// The settings' `zta` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZtaSettings {
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    customer_id: Option<String>,
}

/// The ZTA verifier parsed from one settings snapshot: reused until the
/// settings change (a new snapshot), instead of parsing the JWKS per report.
#[derive(Debug, Default)]
pub(crate) struct ZtaVerifierCache(Mutex<Option<(Arc<Settings>, Arc<ZtaVerifier>)>>);

/// Why a report was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The provider's report does not parse or verify.
    #[error("{provider}: {reason}")]
    Refused {
        /// The provider.
        provider: String,
        /// Why.
        reason: String,
    },
    /// The settings or the store failed.
    #[error("signals: {0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] devicetrust_store::Error),
}

impl devicetrust_errors::HasKind for SignalError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        match self {
            Self::Refused { .. } => devicetrust_errors::ErrorKind::Invalid,
            Self::Internal(_) => devicetrust_errors::ErrorKind::Internal,
            Self::Store(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

fn refused(provider: &str, reason: impl std::fmt::Display) -> SignalError {
    SignalError::Refused {
        provider: provider.to_owned(),
        reason: reason.to_string(),
    }
}

/// What happened to one provider's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalOutcome {
    /// The provider.
    pub provider: String,
    /// Whether it is now the provider's latest (`false`: a report collected later is kept).
    pub latest: bool,
}

impl Service {
    fn zta_verifier(&self) -> Result<Arc<ZtaVerifier>, SignalError> {
        let snapshot = self.settings.read();
        let mut cached = self
            .zta_verifier
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((seen, verifier)) = cached.as_ref()
            && Arc::ptr_eq(seen, &snapshot)
        {
            return Ok(verifier.clone());
        }
        let verifier = Arc::new(Self::parse_zta_verifier(&snapshot)?);
        *cached = Some((snapshot, verifier.clone()));
        Ok(verifier)
    }

    fn parse_zta_verifier(snapshot: &Settings) -> Result<ZtaVerifier, SignalError> {
        let settings: ZtaSettings = snapshot
            .section(ZTA_SECTION)
            .map_err(|e| SignalError::Internal(e.to_string()))?;
        let jwks = settings.jwks.ok_or_else(|| {
            refused(
                "zta",
                "no CrowdStrike JWKS is configured, so ZTA tokens cannot be verified and are refused",
            )
        })?;
        let bytes = serde_json::to_vec(&jwks).map_err(|e| SignalError::Internal(e.to_string()))?;
        let keys = Jwks::parse(&bytes).map_err(|e| SignalError::Internal(e.to_string()))?;
        let verifier = ZtaVerifier::new(keys);
        Ok(match settings.customer_id {
            Some(cid) => verifier.with_customer_id(cid),
            None => verifier,
        })
    }

    /// Parses a JSON provider's report, or verifies a signed token, as
    /// received at `received_at`.
    fn parse_report(
        &self,
        provider: &str,
        body: &str,
        received_at: OffsetDateTime,
    ) -> Result<SignalSet, SignalError> {
        let set = match ingest(provider) {
            Some(Ingest::Json(parse)) => SignalSet::from_boxed(
                received_at,
                parse(body.as_bytes()).map_err(|e| refused(provider, e))?,
            ),
            Some(Ingest::SignedToken) => SignalSet::from(
                self.zta_verifier()?
                    .verify(body.as_bytes(), received_at)
                    .map_err(|e| refused(provider, e))?,
            ),
            _ => return Err(refused(provider, "unknown provider")),
        };
        if set.collected_at() - received_at > FUTURE_TOLERANCE {
            return Err(refused(
                provider,
                format!(
                    "signals collected at {}, after now plus {FUTURE_TOLERANCE}",
                    set.collected_at()
                ),
            ));
        }
        Ok(set)
    }

    /// Checks and stores a device's report, one member per provider
    /// (`{"wsc": {...}, "zta": "<JWT>"}`): all or nothing.
    pub fn report_signals(
        &self,
        device: &DeviceId,
        report: &serde_json::Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<Vec<SignalOutcome>, SignalError> {
        let mut parsed = Vec::with_capacity(report.len());
        for (provider, value) in report {
            let body = match ingest(provider) {
                Some(Ingest::SignedToken) => value
                    .as_str()
                    .ok_or_else(|| refused(provider, "must be the token as a string"))?
                    .to_owned(),
                _ => serde_json::to_string(value)
                    .map_err(|e| SignalError::Internal(e.to_string()))?,
            };
            let set = self.parse_report(provider, &body, now)?;
            let stored = SignalReport {
                provider: provider.clone(),
                collected_at: set.collected_at(),
                received_at: now,
                body,
            };
            parsed.push((stored, set));
        }
        let outcomes = self.store.write(|tx| {
            parsed
                .iter()
                .map(|(stored, _)| {
                    Ok(SignalOutcome {
                        provider: stored.provider.clone(),
                        latest: tx.put_signal_report(&self.org, device, stored)?,
                    })
                })
                .collect::<devicetrust_store::Result<Vec<_>>>()
        })?;
        let mut cache = self.signal_cache();
        for ((_, set), outcome) in parsed.into_iter().zip(&outcomes) {
            if outcome.latest {
                // Errors were ruled out above (the id is a registry id, the time checked).
                let _cached = cache.insert(device.as_str(), set, now);
            }
        }
        Ok(outcomes)
    }

    pub(crate) fn signal_cache(&self) -> std::sync::MutexGuard<'_, SignalCache> {
        self.signals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the cache's record of `device` hold exactly `reports` (what
    /// the store has), re-reading the reports it lacks. A report that no
    /// longer verifies (the ZTA keys changed) reads as absent.
    pub(crate) fn sync_signal_cache(
        &self,
        cache: &mut SignalCache,
        device: &DeviceId,
        reports: &[SignalReport],
    ) {
        let held = |provider: &str| {
            cache
                .record(device.as_str())
                .and_then(|r| r.get(provider))
                .map(SignalSet::collected_at)
        };
        let in_step = schemas().iter().all(|schema| {
            let stored = reports
                .iter()
                .find(|r| r.provider == schema.id)
                .map(|r| r.collected_at);
            held(schema.id) == stored
        });
        if in_step {
            return;
        }
        cache.remove(device.as_str());
        for report in reports {
            match self.parse_report(&report.provider, &report.body, report.received_at) {
                Ok(set) => {
                    let _cached = cache.insert(device.as_str(), set, report.received_at);
                }
                Err(e) => {
                    tracing::warn!(device = %device, provider = %report.provider, error = %e,
                        "stored signal report no longer reads; treated as absent");
                }
            }
        }
    }
}

/// The CrowdStrike ZTA provider settings: the JWKS that Zero Trust
/// Assessment tokens are verified against, and the customer they must be
/// for. Only public keys are stored.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZtaProvider {
    /// CrowdStrike's signing keys, as its JWKS endpoint publishes them.
    pub jwks: Value,
    /// When set, tokens for another customer are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

/// The EDR provider use cases.
impl Service {
    /// The ZTA provider settings, if an admin set them.
    pub fn zta_provider(&self) -> Result<Option<ZtaProvider>, crate::DataError> {
        self.settings.read().section(ZTA_SECTION)
    }

    /// Replaces the ZTA provider settings, with an audit event by `actor`.
    /// Keys that would verify nothing are refused now rather than at sign-in.
    pub fn set_zta_provider(
        &self,
        actor: &str,
        provider: ZtaProvider,
        now: OffsetDateTime,
    ) -> Result<ZtaProvider, SignalError> {
        let internal = |e: &dyn std::fmt::Display| SignalError::Internal(e.to_string());
        let bytes = serde_json::to_vec(&provider.jwks).map_err(|e| internal(&e))?;
        let keys = Jwks::parse(&bytes).map_err(|e| refused("jwks", e))?;
        if let Some(cid) = &provider.customer_id
            && (cid.is_empty() || cid.len() > 128 || cid.chars().any(char::is_control))
        {
            return Err(refused(
                "customerId",
                "1 to 128 characters, no control characters",
            ));
        }
        let event = crate::admin_audit::AdminEvent::new(
            now,
            actor,
            "edr.provider.update",
            "EdrProvider",
            "zta",
        )
        .map_err(|e| internal(&e))?;
        self.settings
            .update(|s| {
                s.set_section(ZTA_SECTION, &provider)?;
                crate::admin_audit::push(s, event)
            })
            .map_err(|e| internal(&e))?;
        tracing::info!(%actor, keys = keys.len(), "zta verification keys replaced");
        Ok(provider)
    }
}
