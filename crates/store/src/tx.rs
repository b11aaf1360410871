//! The storage trait: a transaction's primitive reads and writes.
//!
//! The registry's rules live once, in [`crate::Registry`], written against
//! these primitives; an engine implements [`Store`] and [`Tx`] and nothing
//! else. No engine types appear here, so PostgreSQL can slot in beside
//! SQLite. Every method is scoped by org: no call reads or writes another
//! tenant's rows.

use devicetrust_devices::{
    AuditEvent, AuditQuery, Device, DeviceFilter, DeviceId, DeviceUser, EnrollmentId,
    FactorEnrollment, HardwareKey, OrgId, PageRequest, Session, SessionId, SessionMethod, UserId,
};
use devicetrust_pki::scep::{ChallengeUse, TransactionRecord};
use devicetrust_pki::{IssuedCertificate, Revocation, SerialNumber};
use time::OffsetDateTime;

use crate::Result;
use crate::auth_failures::AuthFailureRecord;
use crate::device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, SettingsDocument,
    SignalReport, TokenLimits, TokenUse,
};

/// What an access decision reads about one device, from one snapshot
/// ([`Tx::device_snapshot`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceSnapshot {
    /// The device; when `None`, every other field but the revision is empty.
    pub device: Option<Device>,
    /// Its factor enrollments by id (read only when asked for).
    pub enrollments: Vec<FactorEnrollment>,
    /// Its users by user id (read only when asked for).
    pub links: Vec<DeviceUser>,
    /// Its latest management proof.
    pub proof: Option<ManagementProof>,
    /// The latest signal report of each provider, by provider.
    pub reports: Vec<SignalReport>,
    /// The revision of the settings document asked for, if it exists.
    pub settings_revision: Option<i64>,
}

/// A storage engine.
pub trait Store: Send + Sync {
    /// Runs `f` in one read-write transaction: everything it wrote commits
    /// together and durably when it returns `Ok`, and nothing does when it
    /// returns `Err`.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T>;

    /// Runs `f` on a consistent snapshot; writes fail with [`crate::Error::ReadOnly`].
    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T>;

    /// Like [`Store::write`], for a write that must be atomic and seen by
    /// every connection at once, but need not be durable on its own: one
    /// whose every consequence is written durably after it (a SCEP claim).
    /// An engine may commit it without waiting for the disk; the next
    /// durable commit makes it durable too. The default is [`Store::write`].
    fn write_relaxed<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.write(f)
    }

    /// [`Tx::insert_enrollment_token`], in a transaction of its own.
    fn insert_enrollment_token(
        &self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.write(|tx| tx.insert_enrollment_token(token, limits, now))
    }

    /// Uses up the token `id` of `org` if `matches` accepts its record (the
    /// caller compares the secret, in constant time) and it has not expired,
    /// in one transaction, so a token is consumed at most once.
    fn consume_enrollment_token(
        &self,
        org: &OrgId,
        id: &str,
        now: OffsetDateTime,
        matches: impl FnOnce(&EnrollmentTokenRecord) -> bool,
    ) -> Result<TokenUse> {
        self.write(|tx| crate::device_api::consume_enrollment_token(tx, org, id, now, matches))
    }

    /// [`Tx::session`], on a snapshot of its own.
    fn session(&self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
        self.read(|tx| tx.session(org, id))
    }

    /// [`Tx::put_device_key`], in a transaction of its own.
    fn put_device_key(&self, org: &OrgId, device: &DeviceId, key: &DeviceKeyRecord) -> Result<()> {
        self.write(|tx| tx.put_device_key(org, device, key))
    }

    /// [`Tx::device_key`], on a snapshot of its own.
    fn device_key(&self, org: &OrgId, device: &DeviceId) -> Result<Option<DeviceKeyRecord>> {
        self.read(|tx| tx.device_key(org, device))
    }
}

/// One transaction's view of the registry and the issuance ledger.
pub trait Tx {
    /// A device of `org`.
    fn device(&mut self, org: &OrgId, id: &DeviceId) -> Result<Option<Device>>;
    /// The device of `org` that reported this hardware identifier.
    fn device_by_hardware(&mut self, org: &OrgId, key: &HardwareKey) -> Result<Option<Device>>;
    /// Adds a device.
    fn insert_device(&mut self, org: &OrgId, device: &Device) -> Result<()>;
    /// Replaces a device's record.
    fn update_device(&mut self, org: &OrgId, device: &Device) -> Result<()>;
    /// Removes a device and what belongs to it (links, sessions, enrollments,
    /// certificate bindings). The ledger keeps its certificates: CRLs need them.
    fn delete_device(&mut self, org: &OrgId, id: &DeviceId) -> Result<()>;

    /// A device's user links.
    fn links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<DeviceUser>>;
    /// Adds or replaces the link of `link.user` to `device`.
    fn put_link(&mut self, org: &OrgId, device: &DeviceId, link: &DeviceUser) -> Result<()>;
    /// Removes every link of `device`; returns the users unlinked.
    fn remove_links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<UserId>>;

    /// A session of `org` by id (the decision API accepts one in place of a device).
    fn session(&mut self, org: &OrgId, id: &SessionId) -> Result<Option<Session>>;
    /// A device's sessions, ended ones included.
    fn sessions(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<Session>>;
    /// Adds a session.
    fn insert_session(&mut self, org: &OrgId, session: &Session) -> Result<()>;
    /// Ends the device's active sessions established with `method`; returns their ids.
    fn end_sessions(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        method: SessionMethod,
        at: OffsetDateTime,
    ) -> Result<Vec<SessionId>>;

    /// A device's factor enrollments.
    fn enrollments(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<FactorEnrollment>>;
    /// Adds or replaces an enrollment (by id).
    fn put_enrollment(&mut self, org: &OrgId, enrollment: &FactorEnrollment) -> Result<()>;
    /// Deactivates the device's active enrollments; returns their ids.
    fn deactivate_enrollments(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Vec<EnrollmentId>>;

    /// Records that the CA certificate `serial` was issued to `device`.
    fn bind_certificate(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        serial: &SerialNumber,
    ) -> Result<()>;
    /// The serials bound to a device.
    fn device_certificates(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SerialNumber>>;

    /// Ledger: records an issued certificate (a duplicate serial is an error).
    fn ledger_record_issued(&mut self, cert: &IssuedCertificate) -> Result<()>;
    /// Ledger: looks a certificate up.
    fn ledger_get(&mut self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>>;
    /// Ledger: revokes; a second revocation keeps and returns the first.
    fn ledger_revoke(
        &mut self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation>;

    /// Ledger: the revoked certificates not yet expired at `now`, by serial.
    fn ledger_revoked(&mut self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>>;
    /// Ledger: takes the next CRL number (strictly increasing, across every
    /// process on the database).
    fn ledger_next_crl_number(&mut self) -> Result<u64>;

    /// Appends an audit event; returns its sequence number.
    fn append_audit(&mut self, event: &AuditEvent) -> Result<u64>;
    /// Audit events of `org` matching `query`, oldest first.
    fn audit(&mut self, org: &OrgId, query: &AuditQuery) -> Result<Vec<AuditEvent>>;

    /// The public key `device` registered.
    fn device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<Option<DeviceKeyRecord>>;
    /// Sets or replaces the public key of `device`.
    fn put_device_key(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()>;
    /// Retires the key of `device`, with its management proof and request
    /// nonces: what the key proved dies with it.
    fn retire_device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<()>;

    /// Stores a new enrollment token after forgetting expired ones; refuses
    /// with [`crate::Error::LimitReached`] past `limits`.
    fn insert_enrollment_token(
        &mut self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// An outstanding enrollment token of `org` by its public id.
    fn enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<Option<EnrollmentTokenRecord>>;
    /// Deletes an enrollment token (used up or expired).
    fn delete_enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<()>;

    /// Records a signed request's `nonce` for `device` until `expires_at`,
    /// once: a second use before then is [`NonceUse::Replayed`]. Forgets
    /// the device's expired nonces first, and refuses past `per_device` live ones.
    fn use_request_nonce(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        per_device: usize,
    ) -> Result<NonceUse>;

    /// The latest management proof of `device`.
    fn management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<ManagementProof>>;
    /// Replaces the latest management proof of `device`.
    fn put_management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        proof: &ManagementProof,
    ) -> Result<()>;

    /// The device a management certificate (by the hex SHA-256 of its DER)
    /// proved management for first.
    fn certificate_device(&mut self, org: &OrgId, cert_sha256: &str) -> Result<Option<DeviceId>>;
    /// Binds a management certificate to `device`; it then proves for no other.
    fn bind_certificate_to_device(
        &mut self,
        org: &OrgId,
        cert_sha256: &str,
        device: &DeviceId,
    ) -> Result<()>;

    /// The latest signal report of each provider for `device`.
    fn signal_reports(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SignalReport>>;

    /// Everything a decision reads about `device` (its users' enrollments
    /// and links only `with_users`), and the revision of settings document
    /// `settings`. The default makes one call per part; an engine overrides
    /// it to read everything with one statement (one round trip), since
    /// every sign-in decision asks for it.
    fn device_snapshot(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        with_users: bool,
        settings: &str,
    ) -> Result<DeviceSnapshot> {
        let settings_revision = self.settings_revision(settings)?;
        let Some(found) = self.device(org, device)? else {
            return Ok(DeviceSnapshot {
                settings_revision,
                ..DeviceSnapshot::default()
            });
        };
        let (enrollments, links) = if with_users {
            (self.enrollments(org, device)?, self.links(org, device)?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(DeviceSnapshot {
            device: Some(found),
            enrollments,
            links,
            proof: self.management_proof(org, device)?,
            reports: self.signal_reports(org, device)?,
            settings_revision,
        })
    }
    /// Stores `report` as its provider's latest for `device`, unless a
    /// report collected later is held; returns whether it was stored.
    fn put_signal_report(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        report: &SignalReport,
    ) -> Result<bool>;

    /// The settings document `name`.
    fn settings_document(&mut self, name: &str) -> Result<Option<SettingsDocument>>;
    /// The revision of the settings document `name`, without its body.
    fn settings_revision(&mut self, name: &str) -> Result<Option<i64>>;
    /// Writes the settings document `name`.
    fn put_settings_document(&mut self, name: &str, document: &SettingsDocument) -> Result<()>;

    /// SCEP: transaction `transaction_id` of configuration `configuration`.
    fn scep_transaction(
        &mut self,
        configuration: &str,
        transaction_id: &str,
    ) -> Result<Option<TransactionRecord>>;
    /// SCEP: adds or replaces a transaction's record.
    fn put_scep_transaction(
        &mut self,
        configuration: &str,
        record: &TransactionRecord,
    ) -> Result<()>;
    /// SCEP: forgets a transaction.
    fn delete_scep_transaction(&mut self, configuration: &str, transaction_id: &str) -> Result<()>;
    /// SCEP: how many transactions `configuration` holds. It is read on
    /// every claim, so an engine keeps it rather than counting rows.
    fn scep_transaction_count(&mut self, configuration: &str) -> Result<usize>;
    /// SCEP: forgets the finished (issued or rejected) transactions of
    /// `configuration` last updated at or before `updated_by`, then the
    /// `oldest` least recently updated finished ones left.
    fn forget_finished_scep_transactions(
        &mut self,
        configuration: &str,
        updated_by: OffsetDateTime,
        oldest: usize,
    ) -> Result<()>;
    /// SCEP: up to `limit` pending transactions, least recently updated first.
    fn pending_scep_transactions(
        &mut self,
        configuration: &str,
        limit: usize,
    ) -> Result<Vec<TransactionRecord>>;

    /// SCEP: stores a one-time challenge's digest (hex), unused, until `expires_at`.
    fn insert_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// SCEP: forgets the challenges of `configuration` expired by `now`.
    fn forget_expired_scep_challenges(
        &mut self,
        configuration: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// SCEP: how many challenges `configuration` holds.
    fn scep_challenge_count(&mut self, configuration: &str) -> Result<usize>;
    /// SCEP: uses the challenge with `digest` if it is live and unused, with
    /// one atomic statement, so it is used at most once however many
    /// requests (and replicas) carry it; otherwise says why not.
    fn use_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse>;

    /// Up to `page.effective_limit() + 1` devices of `org` matching `filter`,
    /// by id, after the page's cursor.
    fn list_devices(
        &mut self,
        org: &OrgId,
        filter: &DeviceFilter,
        page: &PageRequest,
    ) -> Result<Vec<Device>>;
    /// Like [`Tx::list_devices`], for devices with no users or last seen before `seen_before`.
    fn stale_devices(
        &mut self,
        org: &OrgId,
        seen_before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Vec<Device>>;

    /// Writes `records` (a record already stored under its ID is replaced),
    /// then keeps only the `keep` latest of `org`'s.
    fn put_auth_failures(
        &mut self,
        org: &OrgId,
        records: &[AuthFailureRecord],
        keep: usize,
    ) -> Result<()>;

    /// `org`'s records whose last failure is in `[since, until)`, latest first, at most `limit`.
    fn auth_failures(
        &mut self,
        org: &OrgId,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuthFailureRecord>>;
}

/// A shared store is a store: the registry and the CA can hold the same one.
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        (**self).write(f)
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        (**self).read(f)
    }

    fn write_relaxed<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        (**self).write_relaxed(f)
    }
}
