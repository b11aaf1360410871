//! The policy [`Context`] for a decision, filled in from what the service
//! knows about the device.
//!
//! - **registered**: the device exists, is `ACTIVE`, and (when the request
//!   names a user) that user has an active Okta Verify enrollment on it:
//!   exactly when the user could sign in with Okta Verify from it. A
//!   `SUSPENDED` or `DEACTIVATED` device is not registered, as the guide
//!   says ("Okta Verify authentication factors can't be used from the
//!   device"); a device reactivated after deactivation is not registered
//!   for a user until that user enrolls again. An unknown device id reads
//!   as an unregistered device.
//! - **managed**: registered, and a management proof of at most
//!   `proof_max_age`, as recorded in the store.
//! - **platform** and **profile** (`osVersion`, `diskEncryptionType`,
//!   `screenLockType` of the user's enrollment, `secureHardwarePresent`,
//!   `jailbreak`, `manufacturer`, `model`): from the device record, for
//!   device assurance.
//! - **provider** signals are not copied in: the decision reads the
//!   device's stored reports in its snapshot and the policy reads their
//!   parsed form (cached) at the decision's instant, stale ones as absent.

use devicetrust_devices::{
    Device, DeviceId, DeviceStatus, DeviceUser, FactorEnrollment, FactorStatus, Platform,
    SessionId, UserId,
};
use devicetrust_policy::context::{DeviceContext, NetworkContext, RiskContext, UserContext};
use devicetrust_policy::model::OsType;
use devicetrust_policy::{Context, Decision};
use devicetrust_store::{DeviceSnapshot, ManagementProof, SignalReport, Store as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Service;
use super::policies::PolicyStoreError;
use crate::tokens::PresentedToken;

/// A decision request: a user, a device (by id or by session) or a raw
/// context, the network and the risk.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionRequest {
    /// The policy (the decision API; simulate takes it from the path).
    #[serde(default)]
    pub policy_id: Option<String>,
    /// The user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The user's type.
    #[serde(default)]
    pub user_type: Option<String>,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The device signing in.
    #[serde(default)]
    pub device_id: Option<String>,
    /// An Okta Verify session, in place of a device and user.
    #[serde(default)]
    pub session_id: Option<String>,
    /// A whole context, evaluated as given (signals inline).
    #[serde(default)]
    pub context: Option<Context>,
    /// The network.
    #[serde(default)]
    pub network: NetworkContext,
    /// The risk.
    #[serde(default)]
    pub risk: RiskContext,
}

/// Why no decision could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    /// The request is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A named resource does not exist.
    #[error("no {what} {id}")]
    NotFound {
        /// "Policy", "Session".
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The resource's state forbids the decision (an ended session).
    #[error("{0}")]
    Conflict(String),
    /// The admin token is not live in the settings the decision read.
    #[error("the admin token is not live")]
    Unauthenticated,
    /// The policy store failed.
    #[error(transparent)]
    Policy(PolicyStoreError),
    /// The registry failed.
    #[error("registry: {0}")]
    Store(#[from] devicetrust_store::Error),
}

impl devicetrust_errors::HasKind for DecisionError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::Invalid(_) => K::Invalid,
            Self::NotFound { .. } => K::NotFound,
            Self::Conflict(_) => K::Conflict,
            Self::Unauthenticated => K::Unauthenticated,
            Self::Policy(e) => devicetrust_errors::HasKind::kind(e),
            Self::Store(e) => devicetrust_errors::HasKind::kind(e),
        }
    }
}

/// What the service knew about the device, returned beside the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    /// The device.
    pub id: String,
    /// Its lifecycle state; none when the service does not know it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceStatus>,
    /// Whether it counted as registered.
    pub registered: bool,
    /// Whether it counted as managed.
    pub managed: bool,
    /// Until when its management proof counts.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub managed_until: Option<OffsetDateTime>,
}

/// A decision with what it was made on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionResponse {
    /// The decision: `access`, `rule`, `verificationMethod`, `reason`, `explanation`.
    #[serde(flatten)]
    pub decision: Decision,
    /// The device as the service saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceState>,
}

fn os_type(platform: Platform) -> OsType {
    match platform {
        Platform::Android => OsType::Android,
        Platform::Ios => OsType::Ios,
        Platform::Macos => OsType::Macos,
        Platform::Windows => OsType::Windows,
        Platform::Chromeos => OsType::Chromeos,
        _ => OsType::Other,
    }
}

fn name<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

fn invalid_id<E: std::fmt::Display>(field: &'static str) -> impl FnOnce(E) -> DecisionError {
    move |e| DecisionError::Invalid(format!("{field}: {e}"))
}

impl Service {
    /// Decides `request` under policy `policy_id` at `now`.
    pub fn decide(
        &self,
        policy_id: &str,
        request: &DecisionRequest,
        now: OffsetDateTime,
    ) -> Result<DecisionResponse, DecisionError> {
        self.decide_checking(None, policy_id, request, now)
    }

    /// [`Self::decide`] for the holder of admin token `token`, checked
    /// against the settings of the decision's own snapshot: the check and
    /// the decision it guards read one state of the store, and the check
    /// costs no read of its own. (An HTTP front end refuses tokens it
    /// knows are wrong before reading the body, with
    /// [`Self::precheck_admin_token`].) Refused with
    /// [`DecisionError::Unauthenticated`], whatever else is wrong with the
    /// request, when the token is not live.
    pub fn decide_as_admin(
        &self,
        token: &PresentedToken,
        policy_id: &str,
        request: &DecisionRequest,
        now: OffsetDateTime,
    ) -> Result<DecisionResponse, DecisionError> {
        match self.decide_checking(Some(token), policy_id, request, now) {
            // A refusal says something (that a policy or session exists):
            // only to a live token. Refusals are rare; the read is too.
            Err(e)
                if !matches!(e, DecisionError::Unauthenticated)
                    && crate::tokens::check(&self.settings.read(), token).is_none() =>
            {
                Err(DecisionError::Unauthenticated)
            }
            other => other,
        }
    }

    fn decide_checking(
        &self,
        token: Option<&PresentedToken>,
        policy_id: &str,
        request: &DecisionRequest,
        now: OffsetDateTime,
    ) -> Result<DecisionResponse, DecisionError> {
        let authenticate = |settings: &crate::settings::Settings| match token {
            Some(token) if crate::tokens::check(settings, token).is_none() => {
                Err(DecisionError::Unauthenticated)
            }
            _ => Ok(()),
        };
        let compile = |settings| {
            self.policies
                .compiled_from(settings, policy_id)
                .map_err(|e| match e {
                    PolicyStoreError::NotFound { what, id } => DecisionError::NotFound { what, id },
                    other => DecisionError::Policy(other),
                })
        };
        if let Some(context) = &request.context {
            let settings = self.settings.read();
            authenticate(&settings)?;
            let policy = compile(settings)?;
            let named = request.device_id.is_some()
                || request.session_id.is_some()
                || request.user_id.is_some();
            if named {
                return Err(DecisionError::Invalid(
                    "give either a context or userId/deviceId/sessionId, not both".into(),
                ));
            }
            return Ok(DecisionResponse {
                decision: policy.evaluate(context),
                device: None,
            });
        }
        let (context, device, reports, revision) = self.context_and_signals(request, now)?;
        // The settings revision came with the device's snapshot: no further
        // read unless another process changed the settings.
        let settings = match revision {
            Some(revision) => self.settings.read_at(revision),
            None => self.settings.read(),
        };
        authenticate(&settings)?;
        let policy = compile(settings)?;
        let decision = {
            let mut signals = self.signal_cache();
            let id = match &device {
                Some(state) if !reports.is_empty() => {
                    let id = DeviceId::new(state.id.as_str())
                        .map_err(|e| DecisionError::Invalid(e.to_string()))?;
                    self.sync_signal_cache(&mut signals, &id, &reports);
                    state.id.as_str()
                }
                // No report stored: nothing cached may count (a deleted
                // device's, say), so the view reads from no device.
                _ => "",
            };
            let view = signals.view(id, now, &self.options.device_api.freshness);
            policy.evaluate_with(&context, &view)
        };
        Ok(DecisionResponse { decision, device })
    }

    /// The context for `request`, and the device state it was built from.
    pub fn build_context(
        &self,
        request: &DecisionRequest,
        now: OffsetDateTime,
    ) -> Result<(Context, Option<DeviceState>), DecisionError> {
        self.context_and_signals(request, now)
            .map(|(context, state, _, _)| (context, state))
    }

    /// Like [`Self::build_context`], with the device's signal reports and
    /// the settings revision read in the same snapshot (`None` when no
    /// device was read).
    #[allow(
        clippy::type_complexity,
        reason = "one private tuple for one caller; a struct would only name it"
    )]
    fn context_and_signals(
        &self,
        request: &DecisionRequest,
        now: OffsetDateTime,
    ) -> Result<(Context, Option<DeviceState>, Vec<SignalReport>, Option<i64>), DecisionError> {
        let mut user = request
            .user_id
            .as_deref()
            .map(UserId::new)
            .transpose()
            .map_err(invalid_id("userId"))?;
        let device_id = match (&request.device_id, &request.session_id) {
            (Some(_), Some(_)) => {
                return Err(DecisionError::Invalid(
                    "give deviceId or sessionId, not both".into(),
                ));
            }
            (Some(id), None) => Some(DeviceId::new(id.as_str()).map_err(invalid_id("deviceId"))?),
            (None, Some(id)) => {
                let id = SessionId::new(id.as_str()).map_err(invalid_id("sessionId"))?;
                let session =
                    self.store
                        .session(&self.org, &id)?
                        .ok_or_else(|| DecisionError::NotFound {
                            what: "Session",
                            id: id.to_string(),
                        })?;
                if session.ended.is_some() {
                    return Err(DecisionError::Conflict(format!("session {id} has ended")));
                }
                match &user {
                    Some(u) if *u != session.user_id => {
                        return Err(DecisionError::Invalid(format!(
                            "session {id} belongs to another user"
                        )));
                    }
                    _ => user = Some(session.user_id.clone()),
                }
                Some(session.device_id)
            }
            (None, None) => None,
        };
        let mut context = Context {
            user: UserContext {
                id: user.as_ref().map(ToString::to_string),
                user_type: request.user_type.clone(),
                groups: request.groups.clone(),
                profile: Map::new(),
            },
            device: None,
            network: request.network.clone(),
            risk: request.risk.clone(),
        };
        let Some(device_id) = device_id else {
            return Ok((context, None, Vec::new(), None));
        };
        // One snapshot, and on SQLite one statement, for everything the
        // decision needs of the store, the settings revision included.
        let snapshot = self.store.read(|tx| {
            tx.device_snapshot(
                &self.org,
                &device_id,
                user.is_some(),
                crate::settings::SettingsStore::DOCUMENT,
            )
        })?;
        let revision = snapshot.settings_revision.unwrap_or(0);
        let DeviceSnapshot {
            device,
            enrollments,
            links,
            proof,
            reports,
            ..
        } = snapshot;
        let Some(device) = device else {
            context.device = Some(DeviceContext::default());
            let state = DeviceState {
                id: device_id.to_string(),
                status: None,
                registered: false,
                managed: false,
                managed_until: None,
            };
            return Ok((context, Some(state), Vec::new(), Some(revision)));
        };
        let (device_context, state) = self.device_context(
            &device,
            &enrollments,
            &links,
            proof.as_ref(),
            user.as_ref(),
            now,
        );
        context.device = Some(device_context);
        Ok((context, Some(state), reports, Some(revision)))
    }

    fn device_context(
        &self,
        device: &Device,
        enrollments: &[FactorEnrollment],
        links: &[DeviceUser],
        proof: Option<&ManagementProof>,
        user: Option<&UserId>,
        now: OffsetDateTime,
    ) -> (DeviceContext, DeviceState) {
        let mut registered = device.status == DeviceStatus::Active;
        if registered && let Some(user) = user {
            registered = enrollments
                .iter()
                .any(|e| e.user_id == *user && e.status == FactorStatus::Active);
        }
        let max_age = self.options.device_api.proof_max_age;
        let fresh = proof.is_some_and(|p| p.is_fresh(max_age, now));
        let managed = registered && fresh;
        let p = &device.profile;
        let mut profile = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                profile.insert(key.to_owned(), v);
            }
        };
        put("osVersion", p.os_version.clone().map(Value::String));
        put("manufacturer", p.manufacturer.clone().map(Value::String));
        put("model", p.model.clone().map(Value::String));
        put(
            "diskEncryptionType",
            p.disk_encryption_type.as_ref().and_then(name),
        );
        put(
            "secureHardwarePresent",
            p.secure_hardware_present.map(Value::Bool),
        );
        put("jailbreak", p.integrity_jailbreak.map(Value::Bool));
        if let Some(user) = user {
            let lock = links.iter().find(|l| l.user.id == *user);
            put(
                "screenLockType",
                lock.and_then(|l| name(&l.screen_lock_type)),
            );
        }
        let context = DeviceContext {
            registered,
            managed,
            platform: Some(os_type(device.profile.platform)),
            profile,
            provider: Default::default(),
        };
        let state = DeviceState {
            id: device.id.to_string(),
            status: Some(device.status),
            registered,
            managed,
            managed_until: if managed {
                proof.and_then(|p| p.managed_until(max_age))
            } else {
                None
            },
        };
        (context, state)
    }
}
