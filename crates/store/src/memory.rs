//! An in-memory store: for tests, examples and embedding without a disk.
//!
//! A write transaction works on a copy of the state and swaps it in on
//! success, so a failed transaction leaves nothing behind, as on SQLite.
//! That copy costs O(size) per write: this store is for small registries.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use devicetrust_devices::{
    AuditEvent, AuditQuery, Device, DeviceFilter, DeviceId, DeviceUser, EnrollmentId,
    FactorEnrollment, FactorStatus, HardwareKey, MAX_PAGE, OrgId, PageRequest, Session, SessionId,
    SessionMethod, UserId,
};
use devicetrust_pki::scep::{ChallengeUse, TransactionRecord};
use devicetrust_pki::{IssuedCertificate, LedgerError, LedgerState, Revocation, SerialNumber};
use time::OffsetDateTime;

use crate::auth_failures::AuthFailureRecord;
use crate::device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, SettingsDocument,
    SignalReport, TokenLimits,
};
use crate::{Error, Result, Store, Tx};

#[derive(Debug, Clone, Default)]
struct State {
    devices: BTreeMap<(OrgId, DeviceId), Device>,
    links: BTreeMap<(OrgId, DeviceId, UserId), DeviceUser>,
    sessions: BTreeMap<SessionId, (OrgId, Session)>,
    enrollments: BTreeMap<EnrollmentId, (OrgId, FactorEnrollment)>,
    certificates: BTreeSet<(OrgId, DeviceId, SerialNumber)>,
    ledger: LedgerState,
    audit: Vec<AuditEvent>,
    device_keys: BTreeMap<(OrgId, DeviceId), DeviceKeyRecord>,
    enrollment_tokens: BTreeMap<(OrgId, String), EnrollmentTokenRecord>,
    request_nonces: BTreeMap<(OrgId, DeviceId, String), OffsetDateTime>,
    proofs: BTreeMap<(OrgId, DeviceId), ManagementProof>,
    certificate_devices: BTreeMap<(OrgId, String), DeviceId>,
    signal_reports: BTreeMap<(OrgId, DeviceId, String), SignalReport>,
    settings: BTreeMap<String, SettingsDocument>,
    scep_transactions: BTreeMap<(String, String), TransactionRecord>,
    /// (configuration, digest) → (used, expires at).
    scep_challenges: BTreeMap<(String, String), (bool, OffsetDateTime)>,
    auth_failures: BTreeMap<(OrgId, String), AuthFailureRecord>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::Corrupt {
            what: "memory store",
            reason: "lock poisoned by a panic in another thread".into(),
        })
    }
}

impl Store for MemoryStore {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut guard = self.lock()?;
        let mut tx = MemoryTx {
            state: guard.clone(),
        };
        let out = f(&mut tx)?;
        *guard = tx.state;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let guard = self.lock()?;
        // No copy for reads: a view over the locked state that refuses writes.
        let mut tx = MemoryReadTx { state: &guard };
        f(&mut tx)
    }
}

struct MemoryTx {
    state: State,
}

/// Reads go through the same code as writes, on a borrowed state.
struct MemoryReadTx<'a> {
    state: &'a State,
}

fn page_after<'a>(devices: impl Iterator<Item = &'a Device>, page: &PageRequest) -> Vec<Device> {
    let after = page.after.as_ref().map(|c| c.as_str().to_owned());
    devices
        .filter(|d| after.as_deref().is_none_or(|a| d.id.as_str() > a))
        .take(page.effective_limit().min(MAX_PAGE).saturating_add(1))
        .cloned()
        .collect()
}

impl State {
    fn auth_failures(
        &self,
        org: &OrgId,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Vec<AuthFailureRecord> {
        let mut all: Vec<AuthFailureRecord> = self
            .auth_failures
            .iter()
            .filter(|((o, _), r)| o == org && r.last >= since && until.is_none_or(|u| r.last < u))
            .map(|(_, r)| r.clone())
            .collect();
        all.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| b.id.cmp(&a.id)));
        all.truncate(limit);
        all
    }

    fn org_devices<'a>(&'a self, org: &'a OrgId) -> impl Iterator<Item = &'a Device> + 'a {
        self.devices
            .iter()
            .filter(move |((o, _), _)| o == org)
            .map(|(_, d)| d)
    }

    fn has_links(&self, org: &OrgId, device: &DeviceId) -> bool {
        self.links.keys().any(|(o, d, _)| o == org && d == device)
    }

    fn device(&self, org: &OrgId, id: &DeviceId) -> Option<Device> {
        self.devices.get(&(org.clone(), id.clone())).cloned()
    }

    fn device_by_hardware(&self, org: &OrgId, key: &HardwareKey) -> Option<Device> {
        self.org_devices(org)
            .find(|d| d.profile.hardware_key().as_ref() == Some(key))
            .cloned()
    }

    fn links(&self, org: &OrgId, device: &DeviceId) -> Vec<DeviceUser> {
        self.links
            .iter()
            .filter(|((o, d, _), _)| o == org && d == device)
            .map(|(_, l)| l.clone())
            .collect()
    }

    fn sessions(&self, org: &OrgId, device: &DeviceId) -> Vec<Session> {
        self.sessions
            .values()
            .filter(|(o, s)| o == org && s.device_id == *device)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn enrollments(&self, org: &OrgId, device: &DeviceId) -> Vec<FactorEnrollment> {
        self.enrollments
            .values()
            .filter(|(o, e)| o == org && e.device_id == *device)
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn device_certificates(&self, org: &OrgId, device: &DeviceId) -> Vec<SerialNumber> {
        self.certificates
            .iter()
            .filter(|(o, d, _)| o == org && d == device)
            .map(|(_, _, s)| s.clone())
            .collect()
    }

    fn audit(&self, org: &OrgId, q: &AuditQuery) -> Vec<AuditEvent> {
        let limit = if q.limit == 0 {
            MAX_PAGE
        } else {
            q.limit.min(MAX_PAGE)
        };
        self.audit
            .iter()
            .filter(|e| e.org_id == *org)
            .filter(|e| q.device_id.as_ref().is_none_or(|d| e.device_id == *d))
            .filter(|e| q.user_id.as_ref().is_none_or(|u| e.users.contains(u)))
            .filter(|e| q.since.is_none_or(|t| e.at >= t))
            .filter(|e| q.until.is_none_or(|t| e.at < t))
            .filter(|e| q.after_seq.is_none_or(|s| e.seq > s))
            .take(limit)
            .cloned()
            .collect()
    }

    fn list(&self, org: &OrgId, f: &DeviceFilter, page: &PageRequest) -> Vec<Device> {
        let matching = self.org_devices(org).filter(|d| {
            f.status.is_none_or(|s| d.status == s)
                && f.platform.is_none_or(|p| d.profile.platform == p)
                && f.user.as_ref().is_none_or(|u| {
                    self.links
                        .contains_key(&(org.clone(), d.id.clone(), u.clone()))
                })
        });
        page_after(matching, page)
    }

    fn stale(&self, org: &OrgId, seen_before: OffsetDateTime, page: &PageRequest) -> Vec<Device> {
        let matching = self
            .org_devices(org)
            .filter(|d| d.last_seen < seen_before || !self.has_links(org, &d.id));
        page_after(matching, page)
    }
}

/// The read-only view: every write is refused.
macro_rules! refuse_writes {
    () => {
        fn insert_device(&mut self, _: &OrgId, _: &Device) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn update_device(&mut self, _: &OrgId, _: &Device) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn delete_device(&mut self, _: &OrgId, _: &DeviceId) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn put_link(&mut self, _: &OrgId, _: &DeviceId, _: &DeviceUser) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn remove_links(&mut self, _: &OrgId, _: &DeviceId) -> Result<Vec<UserId>> {
            Err(Error::ReadOnly)
        }
        fn insert_session(&mut self, _: &OrgId, _: &Session) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn end_sessions(
            &mut self,
            _: &OrgId,
            _: &DeviceId,
            _: SessionMethod,
            _: OffsetDateTime,
        ) -> Result<Vec<SessionId>> {
            Err(Error::ReadOnly)
        }
        fn put_enrollment(&mut self, _: &OrgId, _: &FactorEnrollment) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn deactivate_enrollments(&mut self, _: &OrgId, _: &DeviceId) -> Result<Vec<EnrollmentId>> {
            Err(Error::ReadOnly)
        }
        fn bind_certificate(&mut self, _: &OrgId, _: &DeviceId, _: &SerialNumber) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn ledger_record_issued(&mut self, _: &IssuedCertificate) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn ledger_revoke(&mut self, _: &SerialNumber, _: Revocation) -> Result<Revocation> {
            Err(Error::ReadOnly)
        }
        fn ledger_next_crl_number(&mut self) -> Result<u64> {
            Err(Error::ReadOnly)
        }
        fn append_audit(&mut self, _: &AuditEvent) -> Result<u64> {
            Err(Error::ReadOnly)
        }
        fn put_device_key(&mut self, _: &OrgId, _: &DeviceId, _: &DeviceKeyRecord) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn retire_device_key(&mut self, _: &OrgId, _: &DeviceId) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn delete_enrollment_token(&mut self, _: &OrgId, _: &str) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn insert_enrollment_token(
            &mut self,
            _: &EnrollmentTokenRecord,
            _: TokenLimits,
            _: OffsetDateTime,
        ) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn put_scep_transaction(&mut self, _: &str, _: &TransactionRecord) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn delete_scep_transaction(&mut self, _: &str, _: &str) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn forget_finished_scep_transactions(
            &mut self,
            _: &str,
            _: OffsetDateTime,
            _: usize,
        ) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn insert_scep_challenge(&mut self, _: &str, _: &str, _: OffsetDateTime) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn forget_expired_scep_challenges(&mut self, _: &str, _: OffsetDateTime) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn use_scep_challenge(
            &mut self,
            _: &str,
            _: &str,
            _: OffsetDateTime,
        ) -> Result<ChallengeUse> {
            Err(Error::ReadOnly)
        }
        fn use_request_nonce(
            &mut self,
            _: &OrgId,
            _: &DeviceId,
            _: &str,
            _: OffsetDateTime,
            _: OffsetDateTime,
            _: usize,
        ) -> Result<NonceUse> {
            Err(Error::ReadOnly)
        }
        fn put_management_proof(
            &mut self,
            _: &OrgId,
            _: &DeviceId,
            _: &ManagementProof,
        ) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn bind_certificate_to_device(&mut self, _: &OrgId, _: &str, _: &DeviceId) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn put_signal_report(&mut self, _: &OrgId, _: &DeviceId, _: &SignalReport) -> Result<bool> {
            Err(Error::ReadOnly)
        }
        fn put_settings_document(&mut self, _: &str, _: &SettingsDocument) -> Result<()> {
            Err(Error::ReadOnly)
        }
        fn put_auth_failures(
            &mut self,
            _: &OrgId,
            _: &[AuthFailureRecord],
            _: usize,
        ) -> Result<()> {
            Err(Error::ReadOnly)
        }
    };
}

/// Reads shared by both views.
macro_rules! reads {
    () => {
        fn device(&mut self, org: &OrgId, id: &DeviceId) -> Result<Option<Device>> {
            Ok(self.state().device(org, id))
        }
        fn device_by_hardware(&mut self, org: &OrgId, key: &HardwareKey) -> Result<Option<Device>> {
            Ok(self.state().device_by_hardware(org, key))
        }
        fn links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<DeviceUser>> {
            Ok(self.state().links(org, device))
        }
        fn session(&mut self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
            Ok(self
                .state()
                .sessions
                .get(id)
                .filter(|(o, _)| o == org)
                .map(|(_, s)| s.clone()))
        }
        fn sessions(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<Session>> {
            Ok(self.state().sessions(org, device))
        }
        fn enrollments(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<FactorEnrollment>> {
            Ok(self.state().enrollments(org, device))
        }
        fn device_certificates(
            &mut self,
            org: &OrgId,
            device: &DeviceId,
        ) -> Result<Vec<SerialNumber>> {
            Ok(self.state().device_certificates(org, device))
        }
        fn ledger_get(&mut self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>> {
            Ok(self.state().ledger.certificates.get(serial).cloned())
        }
        fn ledger_revoked(
            &mut self,
            now: OffsetDateTime,
        ) -> Result<Vec<(SerialNumber, Revocation)>> {
            // The map is keyed by serial: already in serial order.
            Ok(self
                .state()
                .ledger
                .certificates
                .values()
                .filter(|c| c.not_after >= now)
                .filter_map(|c| c.revocation.map(|r| (c.serial.clone(), r)))
                .collect())
        }
        fn audit(&mut self, org: &OrgId, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
            Ok(self.state().audit(org, query))
        }
        fn list_devices(
            &mut self,
            org: &OrgId,
            filter: &DeviceFilter,
            page: &PageRequest,
        ) -> Result<Vec<Device>> {
            Ok(self.state().list(org, filter, page))
        }
        fn stale_devices(
            &mut self,
            org: &OrgId,
            seen_before: OffsetDateTime,
            page: &PageRequest,
        ) -> Result<Vec<Device>> {
            Ok(self.state().stale(org, seen_before, page))
        }
        fn auth_failures(
            &mut self,
            org: &OrgId,
            since: OffsetDateTime,
            until: Option<OffsetDateTime>,
            limit: usize,
        ) -> Result<Vec<AuthFailureRecord>> {
            Ok(self.state().auth_failures(org, since, until, limit))
        }
        fn device_key(
            &mut self,
            org: &OrgId,
            device: &DeviceId,
        ) -> Result<Option<DeviceKeyRecord>> {
            let key = (org.clone(), device.clone());
            Ok(self.state().device_keys.get(&key).cloned())
        }
        fn enrollment_token(
            &mut self,
            org: &OrgId,
            id: &str,
        ) -> Result<Option<EnrollmentTokenRecord>> {
            let key = (org.clone(), id.to_owned());
            Ok(self.state().enrollment_tokens.get(&key).cloned())
        }
        fn management_proof(
            &mut self,
            org: &OrgId,
            device: &DeviceId,
        ) -> Result<Option<ManagementProof>> {
            let key = (org.clone(), device.clone());
            Ok(self.state().proofs.get(&key).cloned())
        }
        fn certificate_device(
            &mut self,
            org: &OrgId,
            cert_sha256: &str,
        ) -> Result<Option<DeviceId>> {
            let key = (org.clone(), cert_sha256.to_owned());
            Ok(self.state().certificate_devices.get(&key).cloned())
        }
        fn signal_reports(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SignalReport>> {
            Ok(self
                .state()
                .signal_reports
                .iter()
                .filter(|((o, d, _), _)| o == org && d == device)
                .map(|(_, r)| r.clone())
                .collect())
        }
        fn settings_document(&mut self, name: &str) -> Result<Option<SettingsDocument>> {
            Ok(self.state().settings.get(name).cloned())
        }
        fn scep_transaction(
            &mut self,
            configuration: &str,
            transaction_id: &str,
        ) -> Result<Option<TransactionRecord>> {
            let key = (configuration.to_owned(), transaction_id.to_owned());
            Ok(self.state().scep_transactions.get(&key).cloned())
        }
        fn scep_transaction_count(&mut self, configuration: &str) -> Result<usize> {
            Ok(self
                .state()
                .scep_transactions
                .keys()
                .filter(|(c, _)| c == configuration)
                .count())
        }
        fn pending_scep_transactions(
            &mut self,
            configuration: &str,
            limit: usize,
        ) -> Result<Vec<TransactionRecord>> {
            let mut pending: Vec<TransactionRecord> = self
                .state()
                .scep_transactions
                .iter()
                .filter(|((c, _), r)| c == configuration && r.state.name() == "pending")
                .map(|(_, r)| r.clone())
                .collect();
            pending.sort_by_key(|r| r.updated);
            pending.truncate(limit);
            Ok(pending)
        }
        fn scep_challenge_count(&mut self, configuration: &str) -> Result<usize> {
            Ok(self
                .state()
                .scep_challenges
                .keys()
                .filter(|(c, _)| c == configuration)
                .count())
        }
        fn settings_revision(&mut self, name: &str) -> Result<Option<i64>> {
            Ok(self.state().settings.get(name).map(|d| d.revision))
        }
    };
}

impl MemoryReadTx<'_> {
    fn state(&self) -> &State {
        self.state
    }
}

impl Tx for MemoryReadTx<'_> {
    reads!();
    refuse_writes!();
}

impl MemoryTx {
    fn state(&self) -> &State {
        &self.state
    }
}

impl Tx for MemoryTx {
    reads!();

    fn insert_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        let s = &mut self.state;
        s.devices
            .insert((org.clone(), device.id.clone()), device.clone());
        Ok(())
    }

    fn update_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        self.insert_device(org, device)
    }

    fn delete_device(&mut self, org: &OrgId, id: &DeviceId) -> Result<()> {
        let s = &mut self.state;
        s.devices.remove(&(org.clone(), id.clone()));
        s.links.retain(|(o, d, _), _| !(o == org && d == id));
        s.sessions
            .retain(|_, (o, x)| !(o == org && x.device_id == *id));
        s.enrollments
            .retain(|_, (o, x)| !(o == org && x.device_id == *id));
        s.certificates.retain(|(o, d, _)| !(o == org && d == id));
        s.certificate_devices
            .retain(|(o, _), d| !(o == org && d == id));
        s.signal_reports
            .retain(|(o, d, _), _| !(o == org && d == id));
        self.retire_device_key(org, id)
    }

    fn put_device_key(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()> {
        self.state
            .device_keys
            .insert((org.clone(), device.clone()), key.clone());
        Ok(())
    }

    fn retire_device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<()> {
        let s = &mut self.state;
        let key = (org.clone(), device.clone());
        s.device_keys.remove(&key);
        s.proofs.remove(&key);
        s.request_nonces
            .retain(|(o, d, _), _| !(o == org && d == device));
        Ok(())
    }

    fn insert_enrollment_token(
        &mut self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        let tokens = &mut self.state.enrollment_tokens;
        tokens.retain(|_, t| t.expires_at > now);
        let in_org = tokens.values().filter(|t| t.org == token.org);
        if in_org.clone().count() >= limits.per_org {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens in the org",
                limit: limits.per_org,
            });
        }
        if in_org.filter(|t| t.user == token.user).count() >= limits.per_user {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens for the user",
                limit: limits.per_user,
            });
        }
        tokens.insert((token.org.clone(), token.id.clone()), token.clone());
        Ok(())
    }

    fn put_scep_transaction(
        &mut self,
        configuration: &str,
        record: &TransactionRecord,
    ) -> Result<()> {
        let key = (configuration.to_owned(), record.transaction_id.clone());
        self.state.scep_transactions.insert(key, record.clone());
        Ok(())
    }

    fn delete_scep_transaction(&mut self, configuration: &str, transaction_id: &str) -> Result<()> {
        let key = (configuration.to_owned(), transaction_id.to_owned());
        self.state.scep_transactions.remove(&key);
        Ok(())
    }

    fn forget_finished_scep_transactions(
        &mut self,
        configuration: &str,
        updated_by: OffsetDateTime,
        oldest: usize,
    ) -> Result<()> {
        let transactions = &mut self.state.scep_transactions;
        transactions.retain(|(c, _), r| {
            !(c == configuration && r.state.is_finished() && r.updated <= updated_by)
        });
        let mut finished: Vec<(OffsetDateTime, (String, String))> = transactions
            .iter()
            .filter(|((c, _), r)| c == configuration && r.state.is_finished())
            .map(|(k, r)| (r.updated, k.clone()))
            .collect();
        finished.sort();
        for (_, key) in finished.into_iter().take(oldest) {
            transactions.remove(&key);
        }
        Ok(())
    }

    fn insert_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let key = (configuration.to_owned(), digest.to_owned());
        if self.state.scep_challenges.contains_key(&key) {
            return Err(Error::Corrupt {
                what: "scep challenge",
                reason: "a challenge with this digest is already held".into(),
            });
        }
        self.state.scep_challenges.insert(key, (false, expires_at));
        Ok(())
    }

    fn forget_expired_scep_challenges(
        &mut self,
        configuration: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.state
            .scep_challenges
            .retain(|(c, _), (_, expires)| !(c == configuration && *expires <= now));
        Ok(())
    }

    fn use_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse> {
        let key = (configuration.to_owned(), digest.to_owned());
        Ok(match self.state.scep_challenges.get_mut(&key) {
            None => ChallengeUse::Unknown,
            Some((true, _)) => ChallengeUse::AlreadyUsed,
            Some((false, expires)) if *expires <= now => ChallengeUse::Expired {
                expired_at: *expires,
            },
            Some((used, _)) => {
                *used = true;
                ChallengeUse::Consumed
            }
        })
    }

    fn delete_enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<()> {
        self.state
            .enrollment_tokens
            .remove(&(org.clone(), id.to_owned()));
        Ok(())
    }

    fn use_request_nonce(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        per_device: usize,
    ) -> Result<NonceUse> {
        let nonces = &mut self.state.request_nonces;
        nonces.retain(|_, expires| *expires > now);
        let key = (org.clone(), device.clone(), nonce.to_owned());
        if nonces.contains_key(&key) {
            return Ok(NonceUse::Replayed);
        }
        let live = nonces
            .keys()
            .filter(|(o, d, _)| o == org && d == device)
            .count();
        if live >= per_device {
            return Ok(NonceUse::DeviceFull { limit: per_device });
        }
        nonces.insert(key, expires_at);
        Ok(NonceUse::Fresh)
    }

    fn put_management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        proof: &ManagementProof,
    ) -> Result<()> {
        self.state
            .proofs
            .insert((org.clone(), device.clone()), proof.clone());
        Ok(())
    }

    fn bind_certificate_to_device(
        &mut self,
        org: &OrgId,
        cert_sha256: &str,
        device: &DeviceId,
    ) -> Result<()> {
        self.state
            .certificate_devices
            .insert((org.clone(), cert_sha256.to_owned()), device.clone());
        Ok(())
    }

    fn put_settings_document(&mut self, name: &str, document: &SettingsDocument) -> Result<()> {
        self.state
            .settings
            .insert(name.to_owned(), document.clone());
        Ok(())
    }

    fn put_auth_failures(
        &mut self,
        org: &OrgId,
        records: &[AuthFailureRecord],
        keep: usize,
    ) -> Result<()> {
        let s = &mut self.state;
        for r in records {
            s.auth_failures
                .insert((org.clone(), r.id.clone()), r.clone());
        }
        let newest: BTreeSet<String> = s
            .auth_failures(org, OffsetDateTime::UNIX_EPOCH, None, keep)
            .into_iter()
            .map(|r| r.id)
            .collect();
        s.auth_failures
            .retain(|(o, id), _| o != org || newest.contains(id));
        Ok(())
    }

    fn put_signal_report(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        report: &SignalReport,
    ) -> Result<bool> {
        let key = (org.clone(), device.clone(), report.provider.clone());
        let reports = &mut self.state.signal_reports;
        if reports
            .get(&key)
            .is_some_and(|held| held.collected_at > report.collected_at)
        {
            return Ok(false);
        }
        reports.insert(key, report.clone());
        Ok(true)
    }

    fn put_link(&mut self, org: &OrgId, device: &DeviceId, link: &DeviceUser) -> Result<()> {
        let s = &mut self.state;
        s.links.insert(
            (org.clone(), device.clone(), link.user.id.clone()),
            link.clone(),
        );
        Ok(())
    }

    fn remove_links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<UserId>> {
        let s = &mut self.state;
        let mut removed = Vec::new();
        s.links.retain(|(o, d, u), _| {
            let hit = o == org && d == device;
            if hit {
                removed.push(u.clone());
            }
            !hit
        });
        Ok(removed)
    }

    fn insert_session(&mut self, org: &OrgId, session: &Session) -> Result<()> {
        let s = &mut self.state;
        s.sessions
            .insert(session.id.clone(), (org.clone(), session.clone()));
        Ok(())
    }

    fn end_sessions(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        method: SessionMethod,
        at: OffsetDateTime,
    ) -> Result<Vec<SessionId>> {
        let s = &mut self.state;
        let mut ended = Vec::new();
        for (o, session) in s.sessions.values_mut() {
            if o == org
                && session.device_id == *device
                && session.method == method
                && session.is_active()
            {
                session.ended = Some(at);
                ended.push(session.id.clone());
            }
        }
        Ok(ended)
    }

    fn put_enrollment(&mut self, org: &OrgId, enrollment: &FactorEnrollment) -> Result<()> {
        let s = &mut self.state;
        s.enrollments
            .insert(enrollment.id.clone(), (org.clone(), enrollment.clone()));
        Ok(())
    }

    fn deactivate_enrollments(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Vec<EnrollmentId>> {
        let s = &mut self.state;
        let mut changed = Vec::new();
        for (o, e) in s.enrollments.values_mut() {
            if o == org && e.device_id == *device && e.status == FactorStatus::Active {
                e.status = FactorStatus::Inactive;
                changed.push(e.id.clone());
            }
        }
        Ok(changed)
    }

    fn bind_certificate(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        serial: &SerialNumber,
    ) -> Result<()> {
        let s = &mut self.state;
        s.certificates
            .insert((org.clone(), device.clone(), serial.clone()));
        Ok(())
    }

    fn ledger_record_issued(&mut self, cert: &IssuedCertificate) -> Result<()> {
        let s = &mut self.state;
        if s.ledger.certificates.contains_key(&cert.serial) {
            return Err(LedgerError::DuplicateSerial {
                serial: cert.serial.clone(),
            }
            .into());
        }
        s.ledger
            .certificates
            .insert(cert.serial.clone(), cert.clone());
        Ok(())
    }

    fn ledger_revoke(
        &mut self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation> {
        let s = &mut self.state;
        let cert =
            s.ledger
                .certificates
                .get_mut(serial)
                .ok_or_else(|| LedgerError::UnknownSerial {
                    serial: serial.clone(),
                })?;
        Ok(*cert.revocation.get_or_insert(revocation))
    }

    fn ledger_next_crl_number(&mut self) -> Result<u64> {
        let ledger = &mut self.state.ledger;
        ledger.last_crl_number = ledger.last_crl_number.saturating_add(1);
        Ok(ledger.last_crl_number)
    }

    fn append_audit(&mut self, event: &AuditEvent) -> Result<u64> {
        let s = &mut self.state;
        let seq = s.audit.last().map_or(1, |e| e.seq.saturating_add(1));
        s.audit.push(AuditEvent {
            seq,
            ..event.clone()
        });
        Ok(seq)
    }
}
