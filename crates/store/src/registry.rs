//! The registry: enrollment, sign-in, lifecycle transitions with their
//! effects, and queries, over any [`Store`].
//!
//! Each call is one store transaction. A lifecycle transition reads the
//! device, asks the pure [`plan`] what to do, applies every effect
//! (certificate revocations in the issuance ledger included) and appends the
//! audit event, all in that transaction: it commits whole or not at all.
//! A refused operation commits only its audit event.

use devicetrust_devices::{
    Actor, AppliedEffect, AuditAction, AuditEvent, AuditOutcome, AuditQuery, Device, DeviceError,
    DeviceFilter, DeviceId, DeviceStatus, DeviceUser, Effect, EnrollmentId, EnrollmentRequest,
    FactorEnrollment, FactorStatus, LinkedUser, MAX_PAGE, Operation, OrgId, Page, PageRequest,
    ResourceDisplayName, Session, SessionId, SessionMethod, Target, UserId, plan, to_millis,
};
use devicetrust_pki::{Revocation, SerialNumber};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Error, Result, Store, Tx};

/// What a lifecycle operation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionOutcome {
    /// The device afterwards (`None` once deleted).
    pub device: Option<Device>,
    /// The audit event recorded for it.
    pub event: AuditEvent,
}

/// The device registry.
#[derive(Debug)]
pub struct Registry<S> {
    store: S,
}

impl<S: Store> Registry<S> {
    /// A registry over `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// An Okta Verify enrollment: registers the device (or updates it when
    /// the same hardware enrolls again) and binds the user.
    ///
    /// A suspended device stays suspended and takes no new accounts; a
    /// deactivated one takes none until an admin activates or deletes it.
    pub fn enroll(
        &self,
        org: &OrgId,
        actor: &Actor,
        request: &EnrollmentRequest,
        now: OffsetDateTime,
    ) -> Result<Device> {
        request.validate()?;
        let now = to_millis(now);
        self.store
            .write(|tx| enroll_in(tx, org, actor, request, now))?
            .map_err(Error::from)
    }

    /// A sign-in from a device. Okta Verify sessions need an active device
    /// and an active Okta Verify enrollment of the user on it; password,
    /// email and WebAuthn sessions work whatever the device's state.
    pub fn sign_in(
        &self,
        org: &OrgId,
        device: &DeviceId,
        user: &UserId,
        method: SessionMethod,
        now: OffsetDateTime,
    ) -> Result<Session> {
        let now = to_millis(now);
        self.store.write(|tx| {
            let mut record = require(tx, org, device)?;
            if method.is_okta_verify() {
                let refuse = |reason| DeviceError::SignInRefused {
                    device: device.clone(),
                    status: record.status,
                    user: user.clone(),
                    reason,
                };
                if record.status != DeviceStatus::Active {
                    return Err(refuse("Okta Verify cannot be used on this device").into());
                }
                let enrolled = tx
                    .enrollments(org, device)?
                    .iter()
                    .any(|e| e.user_id == *user && e.status == FactorStatus::Active);
                if !enrolled {
                    return Err(refuse("no active Okta Verify enrollment").into());
                }
            }
            let session = Session {
                id: SessionId::random()?,
                device_id: device.clone(),
                user_id: user.clone(),
                method,
                created: now,
                ended: None,
            };
            tx.insert_session(org, &session)?;
            record.last_seen = now;
            tx.update_device(org, &record)?;
            Ok(session)
        })
    }

    /// Records that the CA issued `serial` (already in the ledger) to `device`,
    /// so that deactivating the device revokes it.
    pub fn bind_certificate(
        &self,
        org: &OrgId,
        device: &DeviceId,
        serial: &SerialNumber,
    ) -> Result<()> {
        self.store.write(|tx| {
            let record = require(tx, org, device)?;
            // A deactivated device's certificates are all revoked; a new one would break that.
            if record.status == DeviceStatus::Deactivated {
                return Err(DeviceError::CertificateRefused {
                    device: device.clone(),
                    status: record.status,
                }
                .into());
            }
            if tx.ledger_get(serial)?.is_none() {
                return Err(devicetrust_pki::LedgerError::UnknownSerial {
                    serial: serial.clone(),
                }
                .into());
            }
            tx.bind_certificate(org, device, serial)
        })
    }

    /// Applies an admin's lifecycle operation with its effects, in one
    /// transaction. Refusals (unknown device, illegal transition) are
    /// audited too.
    pub fn transition(
        &self,
        org: &OrgId,
        actor: &Actor,
        device: &DeviceId,
        operation: Operation,
        now: OffsetDateTime,
    ) -> Result<TransitionOutcome> {
        let now = to_millis(now);
        self.store
            .write(|tx| transition_in(tx, org, actor, device, operation, now))?
            .map_err(Error::from)
    }

    /// A device of `org`.
    pub fn device(&self, org: &OrgId, id: &DeviceId) -> Result<Device> {
        self.store.read(|tx| require(tx, org, id))
    }

    /// A device's user links.
    pub fn users(&self, org: &OrgId, id: &DeviceId) -> Result<Vec<DeviceUser>> {
        self.store.read(|tx| {
            require(tx, org, id)?;
            tx.links(org, id)
        })
    }

    /// A device's sessions, ended ones included.
    pub fn sessions(&self, org: &OrgId, id: &DeviceId) -> Result<Vec<Session>> {
        self.store.read(|tx| {
            require(tx, org, id)?;
            tx.sessions(org, id)
        })
    }

    /// A device's factor enrollments.
    pub fn enrollments(&self, org: &OrgId, id: &DeviceId) -> Result<Vec<FactorEnrollment>> {
        self.store.read(|tx| {
            require(tx, org, id)?;
            tx.enrollments(org, id)
        })
    }

    /// The certificates issued to a device, as the ledger holds them now.
    pub fn certificates(
        &self,
        org: &OrgId,
        id: &DeviceId,
    ) -> Result<Vec<devicetrust_pki::IssuedCertificate>> {
        self.store.read(|tx| {
            require(tx, org, id)?;
            let mut out = Vec::new();
            for serial in tx.device_certificates(org, id)? {
                if let Some(cert) = tx.ledger_get(&serial)? {
                    out.push(cert);
                }
            }
            Ok(out)
        })
    }

    /// One page of the org's devices matching `filter`.
    pub fn list(&self, org: &OrgId, filter: &DeviceFilter, page: &PageRequest) -> Result<Page> {
        let rows = self.store.read(|tx| tx.list_devices(org, filter, page))?;
        Ok(page.finish(rows))
    }

    /// A user's devices (Directory > People > user > Devices), first page
    /// of up to [`MAX_PAGE`].
    pub fn user_devices(&self, org: &OrgId, user: &UserId) -> Result<Vec<Device>> {
        let filter = DeviceFilter {
            user: Some(user.clone()),
            ..DeviceFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: MAX_PAGE,
        };
        Ok(self.list(org, &filter, &page)?.devices)
    }

    /// Devices with no users, or not seen since `seen_before`.
    pub fn stale(
        &self,
        org: &OrgId,
        seen_before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page> {
        let rows = self
            .store
            .read(|tx| tx.stale_devices(org, to_millis(seen_before), page))?;
        Ok(page.finish(rows))
    }

    /// Audit events of `org`, oldest first.
    pub fn audit(&self, org: &OrgId, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.store.read(|tx| tx.audit(org, query))
    }
}

fn require(tx: &mut dyn Tx, org: &OrgId, id: &DeviceId) -> Result<Device> {
    tx.device(org, id)?.ok_or_else(|| {
        DeviceError::DeviceNotFound {
            org: org.clone(),
            device: id.clone(),
        }
        .into()
    })
}

fn user_ids(links: &[DeviceUser]) -> Vec<UserId> {
    links.iter().map(|l| l.user.id.clone()).collect()
}

/// The enrollment, in a transaction. The outer `Result` is storage; the
/// inner one a refusal, returned as a value so its audit event commits.
pub(crate) fn enroll_in(
    tx: &mut dyn Tx,
    org: &OrgId,
    actor: &Actor,
    request: &EnrollmentRequest,
    now: OffsetDateTime,
) -> Result<Result<Device, DeviceError>> {
    let user = &request.user_id;
    let existing = match request.profile.hardware_key() {
        Some(key) => tx.device_by_hardware(org, &key)?,
        None => None,
    };
    let link = DeviceUser {
        user: LinkedUser { id: user.clone() },
        management_status: request.management_status,
        screen_lock_type: request.screen_lock_type,
        created: now,
    };
    let Some(mut device) = existing else {
        let device = Device {
            id: DeviceId::random()?,
            status: DeviceStatus::Active,
            created: now,
            last_updated: now,
            last_seen: now,
            resource_display_name: ResourceDisplayName {
                value: request.profile.display_name.clone(),
                sensitive: false,
            },
            profile: request.profile.clone(),
        };
        tx.insert_device(org, &device)?;
        tx.put_link(org, &device.id, &link)?;
        add_enrollment(tx, org, &device.id, user, now)?;
        let event = enroll_event(
            org,
            actor,
            &device,
            user,
            vec![user.clone()],
            now,
            AuditOutcome::Applied,
        );
        tx.append_audit(&AuditEvent {
            before: None,
            ..event
        })?;
        return Ok(Ok(device));
    };
    let links = tx.links(org, &device.id)?;
    let mut users = user_ids(&links);
    let linked = users.contains(user);
    if !linked {
        users.push(user.clone());
    }
    let refusal = match device.status {
        DeviceStatus::Deactivated => {
            Some("a deactivated device takes no accounts until an admin activates it")
        }
        DeviceStatus::Suspended if !linked => Some("a suspended device takes no new accounts"),
        _ => None,
    };
    if let Some(reason) = refusal {
        let error = DeviceError::EnrollmentRefused {
            device: device.id.clone(),
            status: device.status,
            user: user.clone(),
            reason,
        };
        let outcome = AuditOutcome::Refused {
            reason: error.to_string(),
        };
        tx.append_audit(&enroll_event(
            org, actor, &device, user, users, now, outcome,
        ))?;
        return Ok(Err(error));
    }
    // Same hardware again: refresh what it reports; the state is kept (a
    // suspended device stays suspended).
    device.profile = request.profile.clone();
    device.resource_display_name.value = request.profile.display_name.clone();
    device.last_updated = now;
    device.last_seen = now;
    tx.update_device(org, &device)?;
    let created = links
        .iter()
        .find(|l| l.user.id == *user)
        .map_or(now, |l| l.created);
    tx.put_link(org, &device.id, &DeviceUser { created, ..link })?;
    let active = tx
        .enrollments(org, &device.id)?
        .iter()
        .any(|e| e.user_id == *user && e.status == FactorStatus::Active);
    if !active {
        add_enrollment(tx, org, &device.id, user, now)?;
    }
    tx.append_audit(&enroll_event(
        org,
        actor,
        &device,
        user,
        users,
        now,
        AuditOutcome::Applied,
    ))?;
    Ok(Ok(device))
}

fn add_enrollment(
    tx: &mut dyn Tx,
    org: &OrgId,
    device: &DeviceId,
    user: &UserId,
    now: OffsetDateTime,
) -> Result<()> {
    tx.put_enrollment(
        org,
        &FactorEnrollment {
            id: EnrollmentId::random()?,
            device_id: device.clone(),
            user_id: user.clone(),
            status: FactorStatus::Active,
            created: now,
        },
    )
}

fn enroll_event(
    org: &OrgId,
    actor: &Actor,
    device: &Device,
    user: &UserId,
    users: Vec<UserId>,
    at: OffsetDateTime,
    outcome: AuditOutcome,
) -> AuditEvent {
    AuditEvent {
        seq: 0,
        org_id: org.clone(),
        actor: actor.clone(),
        at,
        device_id: device.id.clone(),
        action: AuditAction::Enroll { user: user.clone() },
        users,
        before: Some(device.status),
        after: Some(Target::Status(device.status)),
        outcome,
        effects: Vec::new(),
    }
}

/// The lifecycle operation, in a transaction (see [`enroll_in`] for the two results).
fn transition_in(
    tx: &mut dyn Tx,
    org: &OrgId,
    actor: &Actor,
    id: &DeviceId,
    operation: Operation,
    now: OffsetDateTime,
) -> Result<Result<TransitionOutcome, DeviceError>> {
    let mut event = AuditEvent {
        seq: 0,
        org_id: org.clone(),
        actor: actor.clone(),
        at: now,
        device_id: id.clone(),
        users: Vec::new(),
        action: AuditAction::Lifecycle { operation },
        before: None,
        after: None,
        outcome: AuditOutcome::Applied,
        effects: Vec::new(),
    };
    let Some(mut device) = tx.device(org, id)? else {
        let error = DeviceError::DeviceNotFound {
            org: org.clone(),
            device: id.clone(),
        };
        event.outcome = AuditOutcome::Refused {
            reason: error.to_string(),
        };
        tx.append_audit(&event)?;
        return Ok(Err(error));
    };
    event.users = user_ids(&tx.links(org, id)?);
    event.before = Some(device.status);
    let plan = match plan(device.status, operation) {
        Ok(plan) => plan,
        Err(source) => {
            let error = DeviceError::Transition {
                device: id.clone(),
                source,
            };
            event.after = Some(Target::Status(device.status));
            event.outcome = AuditOutcome::Refused {
                reason: error.to_string(),
            };
            tx.append_audit(&event)?;
            return Ok(Err(error));
        }
    };
    event.after = Some(plan.to);
    if plan.is_noop() {
        event.outcome = AuditOutcome::Unchanged;
        event.seq = tx.append_audit(&event)?;
        return Ok(Ok(TransitionOutcome {
            device: Some(device),
            event,
        }));
    }
    for effect in &plan.effects {
        event.effects.push(apply(tx, org, id, *effect, now)?);
    }
    let device = match plan.to {
        Target::Status(status) => {
            device.status = status;
            device.last_updated = now;
            tx.update_device(org, &device)?;
            Some(device)
        }
        Target::Deleted => None,
    };
    event.seq = tx.append_audit(&event)?;
    Ok(Ok(TransitionOutcome { device, event }))
}

fn apply(
    tx: &mut dyn Tx,
    org: &OrgId,
    id: &DeviceId,
    effect: Effect,
    now: OffsetDateTime,
) -> Result<AppliedEffect> {
    let mut applied = AppliedEffect::new(effect);
    match effect {
        Effect::EndOktaVerifySessions => {
            applied.sessions = tx.end_sessions(org, id, SessionMethod::OktaVerify, now)?;
        }
        Effect::DeactivateFactorEnrollments => {
            applied.enrollments = tx.deactivate_enrollments(org, id)?;
        }
        Effect::RevokeCertificates { reason } => {
            // CRLs hold whole seconds.
            let revoked_at = now.replace_nanosecond(0).unwrap_or(now);
            for serial in tx.device_certificates(org, id)? {
                tx.ledger_revoke(&serial, Revocation { reason, revoked_at })?;
                applied.certificates.push(serial);
            }
        }
        Effect::RemoveUserLinks => applied.users = tx.remove_links(org, id)?,
        Effect::RetireDeviceKey => tx.retire_device_key(org, id)?,
        Effect::DeleteRecord => tx.delete_device(org, id)?,
        // A newer devices crate may add effects; refusing beats silently skipping one.
        _ => {
            return Err(Error::Corrupt {
                what: "lifecycle plan",
                reason: format!("effect {effect:?} is not implemented by this registry"),
            });
        }
    }
    Ok(applied)
}
