//! [`Tx`] on a SQLite transaction. Every statement is parameterised and
//! cached; records are stored as their JSON with the columns queries need
//! beside them.

use devicetrust_devices::{
    AuditEvent, AuditQuery, Device, DeviceFilter, DeviceId, DeviceUser, EnrollmentId,
    FactorEnrollment, FactorStatus, HardwareKey, MAX_PAGE, OrgId, PageRequest, Session, SessionId,
    SessionMethod, UserId, unix_millis,
};
use devicetrust_pki::scep::{ChallengeUse, TransactionRecord};
use devicetrust_pki::{IssuedCertificate, LedgerError, Revocation, SerialNumber};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::auth_failures::AuthFailureRecord;
use crate::columns::{
    SnapshotRows, decode, encode, hardware_key, limit_plus_one, name, seq_to_sql,
};
use crate::device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, SettingsDocument,
    SignalReport, TokenLimits,
};
use crate::{DeviceSnapshot, Error, Result, Tx};

pub(super) struct SqliteTx<'a> {
    /// The connection, inside a transaction (and a savepoint, for writes) opened by the store.
    tx: &'a Connection,
    read_only: bool,
}

impl<'a> SqliteTx<'a> {
    pub(super) fn new(tx: &'a Connection, read_only: bool) -> Self {
        Self { tx, read_only }
    }

    /// The connection, for writes: refused in a read-only transaction.
    pub(super) fn conn_for_write(&self) -> Result<&'a Connection> {
        self.writable().map(|()| self.tx)
    }

    /// The connection, for reads.
    pub(super) fn conn(&self) -> &'a Connection {
        self.tx
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    pub(super) fn exec(
        &self,
        context: &'static str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<usize> {
        self.writable()?;
        self.tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(args))
            .map_err(Error::storage(context))
    }

    /// The JSON bodies a query returns, decoded.
    fn bodies<T: DeserializeOwned>(
        &self,
        what: &'static str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(Error::storage(what))?;
        let rows = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(Error::storage(what))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(what, &row.map_err(Error::storage(what))?)?);
        }
        Ok(out)
    }

    pub(super) fn body<T: DeserializeOwned>(
        &self,
        what: &'static str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Option<T>> {
        let text: Option<String> = self
            .tx
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(args, |r| r.get(0)).optional())
            .map_err(Error::storage(what))?;
        text.map(|t| decode(what, &t)).transpose()
    }

    fn write_device(&self, org: &OrgId, device: &Device, insert: bool) -> Result<()> {
        let body = encode("device", device)?;
        let status = name("device status", &device.status)?;
        let platform = name("platform", &device.profile.platform)?;
        let key = device.profile.hardware_key().map(|k| hardware_key(&k));
        let seen = unix_millis(device.last_seen);
        let sql = if insert {
            "INSERT INTO devices (org_id, id, status, platform, hardware_key, last_seen_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        } else {
            "UPDATE devices SET status = ?3, platform = ?4, hardware_key = ?5, last_seen_ms = ?6, body = ?7
             WHERE org_id = ?1 AND id = ?2"
        };
        let n = self.exec(
            "writing a device",
            sql,
            params![
                org.as_str(),
                device.id.as_str(),
                status,
                platform,
                key,
                seen,
                body
            ],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(Error::Corrupt {
                what: "device",
                reason: format!("{n} rows written for device {}", device.id),
            })
        }
    }

    fn ledger_revoked_rows(&self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>> {
        let certs: Vec<IssuedCertificate> = self.bodies(
            "ledger certificate",
            "SELECT body FROM ledger_certificates WHERE revoked = 1 AND not_after_s >= ?1",
            params![now.unix_timestamp()],
        )?;
        Ok(certs
            .into_iter()
            .filter(|c| c.not_after >= now)
            .filter_map(|c| c.revocation.map(|r| (c.serial, r)))
            .collect())
    }

    fn next_crl_number_row(&self) -> Result<u64> {
        self.exec(
            "taking a CRL number",
            "UPDATE ledger_counters SET value = value + 1 WHERE name = 'crl_number'",
            [],
        )?;
        let value: i64 = self
            .tx
            .query_row(
                "SELECT value FROM ledger_counters WHERE name = 'crl_number'",
                [],
                |r| r.get(0),
            )
            .map_err(Error::storage("reading the CRL number"))?;
        u64::try_from(value).map_err(|_| Error::Corrupt {
            what: "CRL number",
            reason: format!("negative: {value}"),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn device(&mut self, org: &OrgId, id: &DeviceId) -> Result<Option<Device>> {
        self.body(
            "device",
            "SELECT body FROM devices WHERE org_id = ?1 AND id = ?2",
            params![org.as_str(), id.as_str()],
        )
    }

    fn device_by_hardware(&mut self, org: &OrgId, key: &HardwareKey) -> Result<Option<Device>> {
        self.body(
            "device",
            "SELECT body FROM devices WHERE org_id = ?1 AND hardware_key = ?2 ORDER BY id LIMIT 1",
            params![org.as_str(), hardware_key(key)],
        )
    }

    fn insert_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        self.write_device(org, device, true)
    }

    fn update_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        self.write_device(org, device, false)
    }

    fn delete_device(&mut self, org: &OrgId, id: &DeviceId) -> Result<()> {
        let args = params![org.as_str(), id.as_str()];
        for sql in [
            "DELETE FROM device_users WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM sessions WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM factor_enrollments WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM device_certificates WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM device_keys WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM management_proofs WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM request_nonces WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM certificate_devices WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM signal_reports WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM devices WHERE org_id = ?1 AND id = ?2",
        ] {
            self.exec("deleting a device", sql, args)?;
        }
        Ok(())
    }

    fn links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<DeviceUser>> {
        self.bodies(
            "device user",
            "SELECT body FROM device_users WHERE org_id = ?1 AND device_id = ?2 ORDER BY user_id",
            params![org.as_str(), device.as_str()],
        )
    }

    fn put_link(&mut self, org: &OrgId, device: &DeviceId, link: &DeviceUser) -> Result<()> {
        let body = encode("device user", link)?;
        self.exec(
            "linking a user",
            "INSERT INTO device_users (org_id, device_id, user_id, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org_id, device_id, user_id) DO UPDATE SET body = excluded.body",
            params![org.as_str(), device.as_str(), link.user.id.as_str(), body],
        )?;
        Ok(())
    }

    fn remove_links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<UserId>> {
        self.writable()?;
        let users: Vec<UserId> = self
            .links(org, device)?
            .into_iter()
            .map(|l| l.user.id)
            .collect();
        self.exec(
            "unlinking users",
            "DELETE FROM device_users WHERE org_id = ?1 AND device_id = ?2",
            params![org.as_str(), device.as_str()],
        )?;
        Ok(users)
    }

    fn session(&mut self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
        self.session_row(org, id)
    }

    fn sessions(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<Session>> {
        self.bodies(
            "session",
            "SELECT body FROM sessions WHERE org_id = ?1 AND device_id = ?2 ORDER BY id",
            params![org.as_str(), device.as_str()],
        )
    }

    fn insert_session(&mut self, org: &OrgId, session: &Session) -> Result<()> {
        let body = encode("session", session)?;
        self.exec(
            "recording a session",
            "INSERT INTO sessions (id, org_id, device_id, method, ended_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                session.id.as_str(),
                org.as_str(),
                session.device_id.as_str(),
                name("session method", &session.method)?,
                session.ended.map(unix_millis),
                body
            ],
        )?;
        Ok(())
    }

    fn end_sessions(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        method: SessionMethod,
        at: OffsetDateTime,
    ) -> Result<Vec<SessionId>> {
        self.writable()?;
        let active: Vec<Session> = self.bodies(
            "session",
            "SELECT body FROM sessions
             WHERE org_id = ?1 AND device_id = ?2 AND method = ?3 AND ended_ms IS NULL ORDER BY id",
            params![
                org.as_str(),
                device.as_str(),
                name("session method", &method)?
            ],
        )?;
        let mut ended = Vec::with_capacity(active.len());
        for mut session in active {
            session.ended = Some(at);
            self.exec(
                "ending a session",
                "UPDATE sessions SET ended_ms = ?2, body = ?3 WHERE id = ?1",
                params![
                    session.id.as_str(),
                    unix_millis(at),
                    encode("session", &session)?
                ],
            )?;
            ended.push(session.id);
        }
        Ok(ended)
    }

    fn enrollments(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<FactorEnrollment>> {
        self.bodies(
            "factor enrollment",
            "SELECT body FROM factor_enrollments WHERE org_id = ?1 AND device_id = ?2 ORDER BY id",
            params![org.as_str(), device.as_str()],
        )
    }

    fn put_enrollment(&mut self, org: &OrgId, e: &FactorEnrollment) -> Result<()> {
        let body = encode("factor enrollment", e)?;
        self.exec(
            "recording an enrollment",
            "INSERT INTO factor_enrollments (id, org_id, device_id, status, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
            params![
                e.id.as_str(),
                org.as_str(),
                e.device_id.as_str(),
                name("factor status", &e.status)?,
                body
            ],
        )?;
        Ok(())
    }

    fn deactivate_enrollments(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Vec<EnrollmentId>> {
        self.writable()?;
        let mut changed = Vec::new();
        for mut e in self.enrollments(org, device)? {
            if e.status == FactorStatus::Active {
                e.status = FactorStatus::Inactive;
                self.put_enrollment(org, &e)?;
                changed.push(e.id);
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
        self.exec(
            "binding a certificate",
            "INSERT INTO device_certificates (org_id, device_id, serial) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, device_id, serial) DO NOTHING",
            params![org.as_str(), device.as_str(), serial.to_string()],
        )?;
        Ok(())
    }

    fn device_certificates(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SerialNumber>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT serial FROM device_certificates WHERE org_id = ?1 AND device_id = ?2 ORDER BY serial",
            )
            .map_err(Error::storage("listing certificates"))?;
        let rows = stmt
            .query_map(params![org.as_str(), device.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(Error::storage("listing certificates"))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(Error::storage("listing certificates"))?;
            out.push(
                text.parse()
                    .map_err(|e: devicetrust_pki::Error| Error::Corrupt {
                        what: "certificate serial",
                        reason: e.to_string(),
                    })?,
            );
        }
        Ok(out)
    }

    fn ledger_record_issued(&mut self, cert: &IssuedCertificate) -> Result<()> {
        self.writable()?;
        if self.ledger_get(&cert.serial)?.is_some() {
            return Err(LedgerError::DuplicateSerial {
                serial: cert.serial.clone(),
            }
            .into());
        }
        self.exec(
            "recording a certificate",
            "INSERT INTO ledger_certificates (serial, not_after_s, revoked, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                cert.serial.to_string(),
                cert.not_after.unix_timestamp(),
                i64::from(cert.revocation.is_some()),
                encode("ledger certificate", cert)?
            ],
        )?;
        Ok(())
    }

    fn ledger_get(&mut self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>> {
        self.body(
            "ledger certificate",
            "SELECT body FROM ledger_certificates WHERE serial = ?1",
            params![serial.to_string()],
        )
    }

    fn ledger_revoke(
        &mut self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation> {
        self.writable()?;
        let mut cert = self
            .ledger_get(serial)?
            .ok_or_else(|| LedgerError::UnknownSerial {
                serial: serial.clone(),
            })?;
        if let Some(first) = cert.revocation {
            return Ok(first);
        }
        cert.revocation = Some(revocation);
        self.exec(
            "revoking a certificate",
            "UPDATE ledger_certificates SET revoked = 1, body = ?2 WHERE serial = ?1",
            params![serial.to_string(), encode("ledger certificate", &cert)?],
        )?;
        Ok(revocation)
    }

    fn ledger_revoked(&mut self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>> {
        let mut revoked = self.ledger_revoked_rows(now)?;
        // Serial order (hex text order is not numeric order).
        revoked.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(revoked)
    }

    fn ledger_next_crl_number(&mut self) -> Result<u64> {
        self.next_crl_number_row()
    }

    fn append_audit(&mut self, event: &AuditEvent) -> Result<u64> {
        self.writable()?;
        // MAX + 1 inside the write transaction: writers are serialised, and
        // the SQL is the same on PostgreSQL (which would use a sequence for concurrency).
        let last: i64 = self
            .tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_events", [], |r| {
                r.get(0)
            })
            .map_err(Error::storage("numbering an audit event"))?;
        let seq = u64::try_from(last).unwrap_or(0).saturating_add(1);
        let stored = AuditEvent {
            seq,
            ..event.clone()
        };
        self.exec(
            "appending an audit event",
            "INSERT INTO audit_events (seq, org_id, device_id, at_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                seq_to_sql(seq),
                event.org_id.as_str(),
                event.device_id.as_str(),
                unix_millis(event.at),
                encode("audit event", &stored)?
            ],
        )?;
        for user in &event.users {
            self.exec(
                "indexing an audit event",
                "INSERT INTO audit_users (org_id, user_id, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org_id, user_id, seq) DO NOTHING",
                params![event.org_id.as_str(), user.as_str(), seq_to_sql(seq)],
            )?;
        }
        Ok(seq)
    }

    fn audit(&mut self, org: &OrgId, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Fixed fragments, bound values: the filters change the SQL's shape, never its text from input.
        let mut sql =
            String::from("SELECT e.body FROM audit_events e WHERE e.org_id = ?1 AND e.seq > ?2");
        let mut args = vec![
            Value::Text(org.as_str().to_owned()),
            Value::Integer(seq_to_sql(q.after_seq.unwrap_or(0))),
        ];
        if let Some(device) = &q.device_id {
            args.push(Value::Text(device.as_str().to_owned()));
            sql.push_str(&format!(" AND e.device_id = ?{}", args.len()));
        }
        if let Some(since) = q.since {
            args.push(Value::Integer(unix_millis(since)));
            sql.push_str(&format!(" AND e.at_ms >= ?{}", args.len()));
        }
        if let Some(until) = q.until {
            args.push(Value::Integer(unix_millis(until)));
            sql.push_str(&format!(" AND e.at_ms < ?{}", args.len()));
        }
        if let Some(user) = &q.user_id {
            args.push(Value::Text(user.as_str().to_owned()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM audit_users u WHERE u.org_id = e.org_id AND u.user_id = ?{} AND u.seq = e.seq)",
                args.len()
            ));
        }
        let limit = if q.limit == 0 {
            MAX_PAGE
        } else {
            q.limit.min(MAX_PAGE)
        };
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(1)));
        sql.push_str(&format!(" ORDER BY e.seq LIMIT ?{}", args.len()));
        self.bodies("audit event", &sql, params_from_iter(args))
    }

    fn device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<Option<DeviceKeyRecord>> {
        self.device_key_row(org, device)
    }

    fn put_device_key(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()> {
        self.put_device_key_row(org, device, key)
    }

    fn retire_device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<()> {
        self.retire_device_key_rows(org, device)
    }

    fn insert_enrollment_token(
        &mut self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.insert_enrollment_token_row(token, limits, now)
    }

    fn enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<Option<EnrollmentTokenRecord>> {
        self.enrollment_token_row(org, id)
    }

    fn delete_enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<()> {
        self.delete_enrollment_token_row(org, id)
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
        self.use_request_nonce_row(org, device, nonce, expires_at, now, per_device)
    }

    fn management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<ManagementProof>> {
        self.management_proof_row(org, device)
    }

    fn put_management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        proof: &ManagementProof,
    ) -> Result<()> {
        self.put_management_proof_row(org, device, proof)
    }

    fn certificate_device(&mut self, org: &OrgId, cert_sha256: &str) -> Result<Option<DeviceId>> {
        self.certificate_device_row(org, cert_sha256)
    }

    fn bind_certificate_to_device(
        &mut self,
        org: &OrgId,
        cert_sha256: &str,
        device: &DeviceId,
    ) -> Result<()> {
        self.bind_certificate_to_device_row(org, cert_sha256, device)
    }

    fn signal_reports(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SignalReport>> {
        self.bodies(
            "signal report",
            "SELECT body FROM signal_reports WHERE org_id = ?1 AND device_id = ?2 ORDER BY provider",
            params![org.as_str(), device.as_str()],
        )
    }

    fn device_snapshot(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        with_users: bool,
        settings: &str,
    ) -> Result<DeviceSnapshot> {
        const WHAT: &str = "reading a device for a decision";
        // One statement for the six reads of every decision. Each part is
        // an indexed lookup. Rows are not ordered in SQL (a sorter copies
        // every body): each row says its part, and the lists are sorted
        // here by the keys the single reads order them by.
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT 0, body FROM devices WHERE org_id = ?1 AND id = ?2
                 UNION ALL
                 SELECT 1, body FROM factor_enrollments
                     WHERE org_id = ?1 AND device_id = ?2 AND ?3
                 UNION ALL
                 SELECT 2, body FROM device_users
                     WHERE org_id = ?1 AND device_id = ?2 AND ?3
                 UNION ALL
                 SELECT 3, body FROM management_proofs WHERE org_id = ?1 AND device_id = ?2
                 UNION ALL
                 SELECT 4, body FROM signal_reports WHERE org_id = ?1 AND device_id = ?2
                 UNION ALL
                 SELECT 5, revision FROM settings_documents WHERE name = ?4",
            )
            .map_err(Error::storage(WHAT))?;
        let mut rows = stmt
            .query(params![org.as_str(), device.as_str(), with_users, settings])
            .map_err(Error::storage(WHAT))?;
        let mut snapshot = SnapshotRows::default();
        while let Some(row) = rows.next().map_err(Error::storage(WHAT))? {
            let part: i64 = row.get(0).map_err(Error::storage(WHAT))?;
            if part == 5 {
                snapshot.revision(row.get(1).map_err(Error::storage(WHAT))?);
                continue;
            }
            let body = row.get_ref(1).map_err(Error::storage(WHAT))?;
            snapshot.body(part, body.as_str().map_err(Error::storage(WHAT))?)?;
        }
        Ok(snapshot.finish())
    }

    fn put_signal_report(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        report: &SignalReport,
    ) -> Result<bool> {
        let body = encode("signal report", report)?;
        // The WHERE keeps a report collected later: a delayed or replayed
        // report cannot roll the device's signals back.
        let changed = self.exec(
            "storing a signal report",
            "INSERT INTO signal_reports (org_id, device_id, provider, collected_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org_id, device_id, provider) DO UPDATE
             SET collected_ms = excluded.collected_ms, body = excluded.body
             WHERE excluded.collected_ms >= signal_reports.collected_ms",
            params![
                org.as_str(),
                device.as_str(),
                report.provider,
                unix_millis(report.collected_at),
                body
            ],
        )?;
        Ok(changed > 0)
    }

    fn settings_document(&mut self, name: &str) -> Result<Option<SettingsDocument>> {
        self.tx
            .prepare_cached("SELECT revision, body FROM settings_documents WHERE name = ?1")
            .and_then(|mut s| {
                s.query_row(params![name], |r| {
                    Ok(SettingsDocument {
                        revision: r.get(0)?,
                        body: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(Error::storage("reading settings"))
    }

    fn settings_revision(&mut self, name: &str) -> Result<Option<i64>> {
        self.tx
            .prepare_cached("SELECT revision FROM settings_documents WHERE name = ?1")
            .and_then(|mut s| s.query_row(params![name], |r| r.get(0)).optional())
            .map_err(Error::storage("reading the settings revision"))
    }

    fn put_settings_document(&mut self, name: &str, document: &SettingsDocument) -> Result<()> {
        self.exec(
            "writing settings",
            "INSERT INTO settings_documents (name, revision, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            params![name, document.revision, document.body],
        )?;
        Ok(())
    }

    fn scep_transaction(
        &mut self,
        configuration: &str,
        transaction_id: &str,
    ) -> Result<Option<TransactionRecord>> {
        self.scep_transaction_row(configuration, transaction_id)
    }

    fn put_scep_transaction(
        &mut self,
        configuration: &str,
        record: &TransactionRecord,
    ) -> Result<()> {
        self.put_scep_transaction_row(configuration, record)
    }

    fn delete_scep_transaction(&mut self, configuration: &str, transaction_id: &str) -> Result<()> {
        self.delete_scep_transaction_row(configuration, transaction_id)
    }

    fn scep_transaction_count(&mut self, configuration: &str) -> Result<usize> {
        self.scep_transaction_count_row(configuration)
    }

    fn forget_finished_scep_transactions(
        &mut self,
        configuration: &str,
        updated_by: OffsetDateTime,
        oldest: usize,
    ) -> Result<()> {
        self.forget_finished_scep_transaction_rows(configuration, updated_by, oldest)
    }

    fn pending_scep_transactions(
        &mut self,
        configuration: &str,
        limit: usize,
    ) -> Result<Vec<TransactionRecord>> {
        self.pending_scep_transaction_rows(configuration, limit)
    }

    fn insert_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.insert_scep_challenge_row(configuration, digest, expires_at)
    }

    fn forget_expired_scep_challenges(
        &mut self,
        configuration: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.forget_expired_scep_challenge_rows(configuration, now)
    }

    fn scep_challenge_count(&mut self, configuration: &str) -> Result<usize> {
        self.scep_challenge_count_row(configuration)
    }

    fn use_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse> {
        self.use_scep_challenge_row(configuration, digest, now)
    }

    fn list_devices(
        &mut self,
        org: &OrgId,
        filter: &DeviceFilter,
        page: &PageRequest,
    ) -> Result<Vec<Device>> {
        let mut args = vec![
            Value::Text(org.as_str().to_owned()),
            Value::Text(
                page.after
                    .as_ref()
                    .map_or(String::new(), |c| c.as_str().to_owned()),
            ),
        ];
        // With a user, the user's links drive (index on org, user, device):
        // a few rows, already in id order. Without, the devices' primary key does.
        let mut sql = match &filter.user {
            Some(user) => {
                args.push(Value::Text(user.as_str().to_owned()));
                String::from(
                    "SELECT d.body FROM device_users u
                     JOIN devices d ON d.org_id = u.org_id AND d.id = u.device_id
                     WHERE u.org_id = ?1 AND u.user_id = ?3 AND u.device_id > ?2",
                )
            }
            None => String::from("SELECT d.body FROM devices d WHERE d.org_id = ?1 AND d.id > ?2"),
        };
        if let Some(status) = filter.status {
            args.push(Value::Text(name("device status", &status)?));
            sql.push_str(&format!(" AND d.status = ?{}", args.len()));
        }
        if let Some(platform) = filter.platform {
            args.push(Value::Text(name("platform", &platform)?));
            sql.push_str(&format!(" AND d.platform = ?{}", args.len()));
        }
        args.push(Value::Integer(limit_plus_one(page)));
        let order = if filter.user.is_some() {
            "u.device_id"
        } else {
            "d.id"
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ?{}", args.len()));
        self.bodies("device", &sql, params_from_iter(args))
    }

    fn stale_devices(
        &mut self,
        org: &OrgId,
        seen_before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Vec<Device>> {
        self.bodies(
            "device",
            "SELECT d.body FROM devices d
             WHERE d.org_id = ?1 AND d.id > ?2 AND (d.last_seen_ms < ?3 OR NOT EXISTS (
                 SELECT 1 FROM device_users u WHERE u.org_id = d.org_id AND u.device_id = d.id))
             ORDER BY d.id LIMIT ?4",
            params![
                org.as_str(),
                page.after.as_ref().map_or("", |c| c.as_str()),
                unix_millis(seen_before),
                limit_plus_one(page)
            ],
        )
    }

    fn put_auth_failures(
        &mut self,
        org: &OrgId,
        records: &[AuthFailureRecord],
        keep: usize,
    ) -> Result<()> {
        for r in records {
            self.exec(
                "recording failed authentications",
                "INSERT INTO auth_failures (org_id, id, last_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (org_id, id) DO UPDATE SET last_ms = excluded.last_ms, body = excluded.body",
                params![
                    org.as_str(),
                    r.id,
                    unix_millis(r.last),
                    encode("failed authentication", r)?
                ],
            )?;
        }
        self.exec(
            "forgetting old failed authentications",
            "DELETE FROM auth_failures WHERE org_id = ?1 AND id NOT IN (
                 SELECT id FROM auth_failures WHERE org_id = ?1
                 ORDER BY last_ms DESC, id DESC LIMIT ?2)",
            params![org.as_str(), i64::try_from(keep).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    fn auth_failures(
        &mut self,
        org: &OrgId,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuthFailureRecord>> {
        self.bodies(
            "failed authentication",
            "SELECT body FROM auth_failures
             WHERE org_id = ?1 AND last_ms >= ?2 AND last_ms < ?3
             ORDER BY last_ms DESC, id DESC LIMIT ?4",
            params![
                org.as_str(),
                unix_millis(since),
                until.map_or(i64::MAX, unix_millis),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )
    }
}
