//! [`Tx`] on a PostgreSQL transaction: the same statements and row layout
//! as SQLite's (`crate::sqlite`), each prepared once per connection.

use std::error::Error as _;

use deadpool_postgres::Object;
use devicetrust_devices::{
    AuditEvent, AuditQuery, Device, DeviceFilter, DeviceId, DeviceUser, EnrollmentId,
    FactorEnrollment, FactorStatus, HardwareKey, MAX_PAGE, OrgId, PageRequest, Session, SessionId,
    SessionMethod, UserId, unix_millis,
};
use devicetrust_pki::scep::{ChallengeUse, TransactionRecord};
use devicetrust_pki::{IssuedCertificate, LedgerError, Revocation, SerialNumber};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::auth_failures::AuthFailureRecord;
use crate::columns::{
    SnapshotRows, decode, encode, hardware_key, limit_plus_one, name, seq_to_sql, to_count,
};
use crate::device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, SettingsDocument,
    SignalReport, TokenLimits,
};
use crate::{DeviceSnapshot, Error, Result, Tx};

type Param<'p> = &'p (dyn ToSql + Sync);

/// Maps a client error to [`Error::Unavailable`] when the database is
/// unreachable or going away (retrying later can succeed), and to
/// [`Error::Storage`] otherwise.
pub(super) fn pg_error(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| {
        let transient = e.is_closed()
            || e.source().is_some_and(|s| s.is::<std::io::Error>())
            || e.code().is_some_and(|code| {
                code.code().starts_with("08")
                    || [
                        SqlState::ADMIN_SHUTDOWN,
                        SqlState::CRASH_SHUTDOWN,
                        SqlState::CANNOT_CONNECT_NOW,
                        SqlState::LOCK_NOT_AVAILABLE,
                    ]
                    .contains(code)
            });
        if transient {
            Error::Unavailable {
                context,
                source: Box::new(e),
            }
        } else {
            Error::Storage {
                context,
                source: Box::new(e),
            }
        }
    }
}

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    what: &'static str,
    column: usize,
) -> Result<T> {
    row.try_get(column).map_err(pg_error(what))
}

fn count_of(row: &Row, what: &'static str) -> Result<usize> {
    Ok(to_count(get(row, what, 0)?))
}

pub(super) struct PgTx<'a> {
    store: &'a PostgresStore,
    /// The connection.
    client: &'a Object,
    read_only: bool,
    /// The BEGIN batch, until the first statement carries it.
    begin: std::cell::RefCell<Option<String>>,
}

impl<'a> PgTx<'a> {
    pub(super) fn new(
        store: &'a PostgresStore,
        client: &'a Object,
        read_only: bool,
        begin: String,
    ) -> Self {
        Self {
            store,
            client,
            read_only,
            begin: std::cell::RefCell::new(Some(begin)),
        }
    }

    /// Whether a statement ran, and so a transaction is open.
    pub(super) fn begun(&self) -> bool {
        self.begin.borrow().is_none()
    }

    /// Runs one statement's future, with the BEGIN batch pipelined before
    /// it if it is the transaction's first: one round trip either way.
    fn statement<T>(
        &self,
        what: &'static str,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let begin = self.begin.borrow_mut().take();
        let client = self.client;
        let prepared = client.statement_cache.size();
        self.store.round_trip();
        let out = self
            .store
            .run(async {
                match &begin {
                    Some(begin) => {
                        let (begun, out) = tokio::join!(client.batch_execute(begin), statement);
                        begun?;
                        out
                    }
                    None => statement.await,
                }
            })
            .map_err(pg_error(what));
        // A statement seen for the first time on this connection was
        // prepared first: one more round trip.
        if client.statement_cache.size() > prepared {
            self.store.round_trip();
        }
        out
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn rows(&self, what: &'static str, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>> {
        let client = self.client;
        self.statement(what, async {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, args).await
        })
    }

    fn row(&self, what: &'static str, sql: &str, args: &[Param<'_>]) -> Result<Option<Row>> {
        let client = self.client;
        self.statement(what, async {
            let statement = client.prepare_cached(sql).await?;
            client.query_opt(&statement, args).await
        })
    }

    fn exec(&self, what: &'static str, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        self.writable()?;
        let client = self.client;
        self.statement(what, async {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, args).await
        })
    }

    /// The JSON bodies (first column) a query returns, decoded.
    fn bodies<T: DeserializeOwned>(
        &self,
        what: &'static str,
        sql: &str,
        args: &[Param<'_>],
    ) -> Result<Vec<T>> {
        self.rows(what, sql, args)?
            .iter()
            .map(|row| decode(what, get::<&str>(row, what, 0)?))
            .collect()
    }

    fn body<T: DeserializeOwned>(
        &self,
        what: &'static str,
        sql: &str,
        args: &[Param<'_>],
    ) -> Result<Option<T>> {
        self.row(what, sql, args)?
            .map(|row| decode(what, get::<&str>(&row, what, 0)?))
            .transpose()
    }

    fn count(&self, what: &'static str, sql: &str, args: &[Param<'_>]) -> Result<usize> {
        let row = self.row(what, sql, args)?.ok_or(Error::Corrupt {
            what,
            reason: "COUNT answered no row".into(),
        })?;
        count_of(&row, what)
    }

    fn write_device(&self, org: &OrgId, device: &Device, insert: bool) -> Result<()> {
        let body = encode("device", device)?;
        let status = name("device status", &device.status)?;
        let platform = name("platform", &device.profile.platform)?;
        let key = device.profile.hardware_key().map(|k| hardware_key(&k));
        let seen = unix_millis(device.last_seen);
        let sql = if insert {
            "INSERT INTO devices (org_id, id, status, platform, hardware_key, last_seen_ms, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        } else {
            "UPDATE devices SET status = $3, platform = $4, hardware_key = $5, last_seen_ms = $6, body = $7
             WHERE org_id = $1 AND id = $2"
        };
        let n = self.exec(
            "writing a device",
            sql,
            &[
                &org.as_str(),
                &device.id.as_str(),
                &status,
                &platform,
                &key,
                &seen,
                &body,
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
            "SELECT body FROM ledger_certificates WHERE revoked = 1 AND not_after_s >= $1",
            &[&now.unix_timestamp()],
        )?;
        Ok(certs
            .into_iter()
            .filter(|c| c.not_after >= now)
            .filter_map(|c| c.revocation.map(|r| (c.serial, r)))
            .collect())
    }

    /// The next CRL number: one atomic increment, so numbers strictly
    /// increase across every replica of the database.
    fn next_crl_number_row(&self) -> Result<u64> {
        self.writable()?;
        let row = self
            .row(
                "taking a CRL number",
                "UPDATE ledger_counters SET value = value + 1 WHERE name = 'crl_number' RETURNING value",
                &[],
            )?
            .ok_or(Error::Corrupt {
                what: "CRL number",
                reason: "the counter row is missing".into(),
            })?;
        let value: i64 = get(&row, "reading the CRL number", 0)?;
        u64::try_from(value).map_err(|_| Error::Corrupt {
            what: "CRL number",
            reason: format!("negative: {value}"),
        })
    }

    pub(super) fn copy_from_sqlite(&self, from: &crate::SqliteStore) -> Result<crate::CopyReport> {
        use crate::copy::{Cell, TABLES};
        for (table, _) in TABLES {
            // The target's migrations made the CRL counter, at zero.
            let filter = if *table == "ledger_counters" {
                " WHERE value <> 0"
            } else {
                ""
            };
            let held = self.count(
                "checking the target is empty",
                &format!("SELECT COUNT(*) FROM {table}{filter}"),
                &[],
            )?;
            if held > 0 {
                return Err(Error::Config {
                    what: "target database",
                    reason: format!(
                        "{table} already holds {held} rows: migrate copies into an empty database only"
                    ),
                });
            }
        }
        let mut report = crate::CopyReport::default();
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let mut sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            );
            if *table == "ledger_counters" {
                sql.push_str(" ON CONFLICT (name) DO UPDATE SET value = excluded.value");
            }
            let copied = from.each_row(table, columns, |cells| {
                let args: Vec<Param<'_>> = cells
                    .iter()
                    .map(|cell| match cell {
                        Cell::Int(value) => value as Param<'_>,
                        Cell::Text(value) => value as Param<'_>,
                    })
                    .collect();
                self.exec("copying a row", &sql, &args).map(|_| ())
            })?;
            report.rows.insert((*table).to_owned(), copied);
        }
        Ok(report)
    }

    pub(super) fn ledger_count(&self) -> Result<u64> {
        let n = self.count(
            "counting ledger certificates",
            "SELECT COUNT(*) FROM ledger_certificates",
            &[],
        )?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

impl Tx for PgTx<'_> {
    fn session(&mut self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
        self.body(
            "session",
            "SELECT body FROM sessions WHERE org_id = $1 AND id = $2",
            &[&org.as_str(), &id.as_str()],
        )
    }

    fn insert_enrollment_token(
        &mut self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = encode("enrollment token", token)?;
        self.exec(
            "pruning enrollment tokens",
            "DELETE FROM enrollment_tokens WHERE expires_ms <= $1",
            &[&unix_millis(now)],
        )?;
        let org = token.org.as_str();
        if self.count(
            "counting enrollment tokens",
            "SELECT COUNT(*) FROM enrollment_tokens WHERE org_id = $1",
            &[&org],
        )? >= limits.per_org
        {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens in the org",
                limit: limits.per_org,
            });
        }
        if self.count(
            "counting enrollment tokens",
            "SELECT COUNT(*) FROM enrollment_tokens WHERE org_id = $1 AND user_id = $2",
            &[&org, &token.user.as_str()],
        )? >= limits.per_user
        {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens for the user",
                limit: limits.per_user,
            });
        }
        self.exec(
            "storing an enrollment token",
            "INSERT INTO enrollment_tokens (id, org_id, user_id, expires_ms, body)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &token.id,
                &org,
                &token.user.as_str(),
                &unix_millis(token.expires_at),
                &body,
            ],
        )?;
        Ok(())
    }

    fn device(&mut self, org: &OrgId, id: &DeviceId) -> Result<Option<Device>> {
        self.body(
            "device",
            "SELECT body FROM devices WHERE org_id = $1 AND id = $2",
            &[&org.as_str(), &id.as_str()],
        )
    }

    fn device_by_hardware(&mut self, org: &OrgId, key: &HardwareKey) -> Result<Option<Device>> {
        self.body(
            "device",
            "SELECT body FROM devices WHERE org_id = $1 AND hardware_key = $2 ORDER BY id LIMIT 1",
            &[&org.as_str(), &hardware_key(key)],
        )
    }

    fn insert_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        self.write_device(org, device, true)
    }

    fn update_device(&mut self, org: &OrgId, device: &Device) -> Result<()> {
        self.write_device(org, device, false)
    }

    fn delete_device(&mut self, org: &OrgId, id: &DeviceId) -> Result<()> {
        let args: [Param<'_>; 2] = [&org.as_str(), &id.as_str()];
        for sql in [
            "DELETE FROM device_users WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM sessions WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM factor_enrollments WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM device_certificates WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM device_keys WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM management_proofs WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM request_nonces WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM certificate_devices WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM signal_reports WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM devices WHERE org_id = $1 AND id = $2",
        ] {
            self.exec("deleting a device", sql, &args)?;
        }
        Ok(())
    }

    fn links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<DeviceUser>> {
        self.bodies(
            "device user",
            "SELECT body FROM device_users WHERE org_id = $1 AND device_id = $2 ORDER BY user_id",
            &[&org.as_str(), &device.as_str()],
        )
    }

    fn put_link(&mut self, org: &OrgId, device: &DeviceId, link: &DeviceUser) -> Result<()> {
        let body = encode("device user", link)?;
        self.exec(
            "linking a user",
            "INSERT INTO device_users (org_id, device_id, user_id, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id, device_id, user_id) DO UPDATE SET body = excluded.body",
            &[
                &org.as_str(),
                &device.as_str(),
                &link.user.id.as_str(),
                &body,
            ],
        )?;
        Ok(())
    }

    fn remove_links(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<UserId>> {
        self.writable()?;
        let users = self
            .links(org, device)?
            .into_iter()
            .map(|l| l.user.id)
            .collect();
        self.exec(
            "unlinking users",
            "DELETE FROM device_users WHERE org_id = $1 AND device_id = $2",
            &[&org.as_str(), &device.as_str()],
        )?;
        Ok(users)
    }

    fn sessions(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<Session>> {
        self.bodies(
            "session",
            "SELECT body FROM sessions WHERE org_id = $1 AND device_id = $2 ORDER BY id",
            &[&org.as_str(), &device.as_str()],
        )
    }

    fn insert_session(&mut self, org: &OrgId, session: &Session) -> Result<()> {
        let body = encode("session", session)?;
        self.exec(
            "recording a session",
            "INSERT INTO sessions (id, org_id, device_id, method, ended_ms, body)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &session.id.as_str(),
                &org.as_str(),
                &session.device_id.as_str(),
                &name("session method", &session.method)?,
                &session.ended.map(unix_millis),
                &body,
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
             WHERE org_id = $1 AND device_id = $2 AND method = $3 AND ended_ms IS NULL ORDER BY id",
            &[
                &org.as_str(),
                &device.as_str(),
                &name("session method", &method)?,
            ],
        )?;
        let mut ended = Vec::with_capacity(active.len());
        for mut session in active {
            session.ended = Some(at);
            self.exec(
                "ending a session",
                "UPDATE sessions SET ended_ms = $2, body = $3 WHERE id = $1",
                &[
                    &session.id.as_str(),
                    &unix_millis(at),
                    &encode("session", &session)?,
                ],
            )?;
            ended.push(session.id);
        }
        Ok(ended)
    }

    fn enrollments(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<FactorEnrollment>> {
        self.bodies(
            "factor enrollment",
            "SELECT body FROM factor_enrollments WHERE org_id = $1 AND device_id = $2 ORDER BY id",
            &[&org.as_str(), &device.as_str()],
        )
    }

    fn put_enrollment(&mut self, org: &OrgId, e: &FactorEnrollment) -> Result<()> {
        let body = encode("factor enrollment", e)?;
        self.exec(
            "recording an enrollment",
            "INSERT INTO factor_enrollments (id, org_id, device_id, status, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
            &[
                &e.id.as_str(),
                &org.as_str(),
                &e.device_id.as_str(),
                &name("factor status", &e.status)?,
                &body,
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
            "INSERT INTO device_certificates (org_id, device_id, serial) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, device_id, serial) DO NOTHING",
            &[&org.as_str(), &device.as_str(), &serial.to_string()],
        )?;
        Ok(())
    }

    fn device_certificates(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SerialNumber>> {
        const WHAT: &str = "listing certificates";
        self.rows(
            WHAT,
            "SELECT serial FROM device_certificates WHERE org_id = $1 AND device_id = $2 ORDER BY serial",
            &[&org.as_str(), &device.as_str()],
        )?
        .iter()
        .map(|row| {
            get::<&str>(row, WHAT, 0)?
                .parse()
                .map_err(|e: devicetrust_pki::Error| Error::Corrupt {
                    what: "certificate serial",
                    reason: e.to_string(),
                })
        })
        .collect()
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
            "INSERT INTO ledger_certificates (serial, not_after_s, revoked, body) VALUES ($1, $2, $3, $4)",
            &[
                &cert.serial.to_string(),
                &cert.not_after.unix_timestamp(),
                &i64::from(cert.revocation.is_some()),
                &encode("ledger certificate", cert)?,
            ],
        )?;
        Ok(())
    }

    fn ledger_get(&mut self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>> {
        self.body(
            "ledger certificate",
            "SELECT body FROM ledger_certificates WHERE serial = $1",
            &[&serial.to_string()],
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
            "UPDATE ledger_certificates SET revoked = 1, body = $2 WHERE serial = $1",
            &[&serial.to_string(), &encode("ledger certificate", &cert)?],
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
        // MAX + 1 is safe: writers hold the store's write lock. A sequence
        // would let a later number commit first, and a reader paging by
        // `after_seq` would skip the earlier one for good.
        let last = self
            .row(
                "numbering an audit event",
                "SELECT COALESCE(MAX(seq), 0) FROM audit_events",
                &[],
            )?
            .map(|row| get::<i64>(&row, "numbering an audit event", 0))
            .transpose()?
            .unwrap_or(0);
        let seq = u64::try_from(last).unwrap_or(0).saturating_add(1);
        let stored = AuditEvent {
            seq,
            ..event.clone()
        };
        self.exec(
            "appending an audit event",
            "INSERT INTO audit_events (seq, org_id, device_id, at_ms, body) VALUES ($1, $2, $3, $4, $5)",
            &[
                &seq_to_sql(seq),
                &event.org_id.as_str(),
                &event.device_id.as_str(),
                &unix_millis(event.at),
                &encode("audit event", &stored)?,
            ],
        )?;
        for user in &event.users {
            self.exec(
                "indexing an audit event",
                "INSERT INTO audit_users (org_id, user_id, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (org_id, user_id, seq) DO NOTHING",
                &[&event.org_id.as_str(), &user.as_str(), &seq_to_sql(seq)],
            )?;
        }
        Ok(seq)
    }

    fn audit(&mut self, org: &OrgId, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Fixed fragments, bound values: the filters change the SQL's shape, never its text from input.
        let after = seq_to_sql(q.after_seq.unwrap_or(0));
        let device = q.device_id.as_ref().map(DeviceId::as_str);
        let since = q.since.map(unix_millis);
        let until = q.until.map(unix_millis);
        let user = q.user_id.as_ref().map(UserId::as_str);
        let limit = i64::try_from(if q.limit == 0 {
            MAX_PAGE
        } else {
            q.limit.min(MAX_PAGE)
        })
        .unwrap_or(1);
        let org = org.as_str();
        let mut sql =
            String::from("SELECT e.body FROM audit_events e WHERE e.org_id = $1 AND e.seq > $2");
        let mut args: Vec<Param<'_>> = vec![&org, &after];
        if let Some(device) = &device {
            args.push(device);
            sql.push_str(&format!(" AND e.device_id = ${}", args.len()));
        }
        if let Some(since) = &since {
            args.push(since);
            sql.push_str(&format!(" AND e.at_ms >= ${}", args.len()));
        }
        if let Some(until) = &until {
            args.push(until);
            sql.push_str(&format!(" AND e.at_ms < ${}", args.len()));
        }
        if let Some(user) = &user {
            args.push(user);
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM audit_users u WHERE u.org_id = e.org_id AND u.user_id = ${} AND u.seq = e.seq)",
                args.len()
            ));
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY e.seq LIMIT ${}", args.len()));
        self.bodies("audit event", &sql, &args)
    }

    fn device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<Option<DeviceKeyRecord>> {
        self.body(
            "device key",
            "SELECT body FROM device_keys WHERE org_id = $1 AND device_id = $2",
            &[&org.as_str(), &device.as_str()],
        )
    }

    fn put_device_key(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()> {
        let body = encode("device key", key)?;
        self.exec(
            "storing a device key",
            "INSERT INTO device_keys (org_id, device_id, body) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, device_id) DO UPDATE SET body = excluded.body",
            &[&org.as_str(), &device.as_str(), &body],
        )?;
        Ok(())
    }

    fn retire_device_key(&mut self, org: &OrgId, device: &DeviceId) -> Result<()> {
        let args: [Param<'_>; 2] = [&org.as_str(), &device.as_str()];
        for sql in [
            "DELETE FROM device_keys WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM management_proofs WHERE org_id = $1 AND device_id = $2",
            "DELETE FROM request_nonces WHERE org_id = $1 AND device_id = $2",
        ] {
            self.exec("retiring a device key", sql, &args)?;
        }
        Ok(())
    }

    fn enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<Option<EnrollmentTokenRecord>> {
        self.body(
            "enrollment token",
            "SELECT body FROM enrollment_tokens WHERE id = $1 AND org_id = $2",
            &[&id, &org.as_str()],
        )
    }

    fn delete_enrollment_token(&mut self, org: &OrgId, id: &str) -> Result<()> {
        self.exec(
            "using an enrollment token",
            "DELETE FROM enrollment_tokens WHERE id = $1 AND org_id = $2",
            &[&id, &org.as_str()],
        )?;
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
        // One statement, one round trip, on every signed request: expired
        // nonces of every device go (the expiry index makes this cost what
        // it deletes), the nonce is inserted unless held (the primary key
        // decides between replicas), and the device's live nonces are
        // counted. The parts share one snapshot, so the count is of the
        // rows before, without the expired ones, plus this one if inserted;
        // and an expired nonce used again reads as a replay (its request
        // is past the clock window anyway).
        const WHAT: &str = "recording a request nonce";
        self.writable()?;
        let now_ms = unix_millis(now);
        let row = self
            .row(
                WHAT,
                "WITH expired AS (DELETE FROM request_nonces WHERE expires_ms <= $5),
                      inserted AS (
                          INSERT INTO request_nonces (org_id, device_id, nonce, expires_ms)
                          VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1)
                 SELECT (SELECT COUNT(*) FROM inserted),
                        (SELECT COUNT(*) FROM request_nonces
                         WHERE org_id = $1 AND device_id = $2 AND expires_ms > $5)",
                &[
                    &org.as_str(),
                    &device.as_str(),
                    &nonce,
                    &unix_millis(expires_at),
                    &now_ms,
                ],
            )?
            .ok_or(Error::Corrupt {
                what: "request nonce",
                reason: "the nonce statement answered no row".into(),
            })?;
        let inserted: i64 = get(&row, WHAT, 0)?;
        if inserted == 0 {
            return Ok(NonceUse::Replayed);
        }
        let held: i64 = get(&row, WHAT, 1)?;
        let live = usize::try_from(held.saturating_add(inserted)).unwrap_or(usize::MAX);
        if live > per_device {
            self.exec(
                "refusing a request nonce",
                "DELETE FROM request_nonces WHERE org_id = $1 AND device_id = $2 AND nonce = $3",
                &[&org.as_str(), &device.as_str(), &nonce],
            )?;
            return Ok(NonceUse::DeviceFull { limit: per_device });
        }
        Ok(NonceUse::Fresh)
    }

    fn management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<ManagementProof>> {
        self.body(
            "management proof",
            "SELECT body FROM management_proofs WHERE org_id = $1 AND device_id = $2",
            &[&org.as_str(), &device.as_str()],
        )
    }

    fn put_management_proof(
        &mut self,
        org: &OrgId,
        device: &DeviceId,
        proof: &ManagementProof,
    ) -> Result<()> {
        let body = encode("management proof", proof)?;
        self.exec(
            "storing a management proof",
            "INSERT INTO management_proofs (org_id, device_id, body) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, device_id) DO UPDATE SET body = excluded.body",
            &[&org.as_str(), &device.as_str(), &body],
        )?;
        Ok(())
    }

    fn certificate_device(&mut self, org: &OrgId, cert_sha256: &str) -> Result<Option<DeviceId>> {
        const WHAT: &str = "reading a certificate binding";
        let Some(row) = self.row(
            WHAT,
            "SELECT device_id FROM certificate_devices WHERE org_id = $1 AND cert_sha256 = $2",
            &[&org.as_str(), &cert_sha256],
        )?
        else {
            return Ok(None);
        };
        DeviceId::new(get::<&str>(&row, WHAT, 0)?)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: "certificate binding",
                reason: e.to_string(),
            })
    }

    fn bind_certificate_to_device(
        &mut self,
        org: &OrgId,
        cert_sha256: &str,
        device: &DeviceId,
    ) -> Result<()> {
        self.exec(
            "binding a certificate to a device",
            "INSERT INTO certificate_devices (org_id, cert_sha256, device_id) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, cert_sha256) DO UPDATE SET device_id = excluded.device_id",
            &[&org.as_str(), &cert_sha256, &device.as_str()],
        )?;
        Ok(())
    }

    fn signal_reports(&mut self, org: &OrgId, device: &DeviceId) -> Result<Vec<SignalReport>> {
        self.bodies(
            "signal report",
            "SELECT body FROM signal_reports WHERE org_id = $1 AND device_id = $2 ORDER BY provider",
            &[&org.as_str(), &device.as_str()],
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
        // One statement, one round trip, for the six reads of every
        // decision, each an indexed lookup; each row says its part.
        let rows = self.rows(
            WHAT,
            "SELECT 0, body, NULL::BIGINT FROM devices WHERE org_id = $1 AND id = $2
             UNION ALL
             SELECT 1, body, NULL FROM factor_enrollments
                 WHERE org_id = $1 AND device_id = $2 AND $3
             UNION ALL
             SELECT 2, body, NULL FROM device_users
                 WHERE org_id = $1 AND device_id = $2 AND $3
             UNION ALL
             SELECT 3, body, NULL FROM management_proofs WHERE org_id = $1 AND device_id = $2
             UNION ALL
             SELECT 4, body, NULL FROM signal_reports WHERE org_id = $1 AND device_id = $2
             UNION ALL
             SELECT 5, NULL, revision FROM settings_documents WHERE name = $4",
            &[&org.as_str(), &device.as_str(), &with_users, &settings],
        )?;
        let mut snapshot = SnapshotRows::default();
        for row in &rows {
            let part: i32 = get(row, WHAT, 0)?;
            if part == 5 {
                snapshot.revision(get(row, WHAT, 2)?);
            } else {
                snapshot.body(i64::from(part), get(row, WHAT, 1)?)?;
            }
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
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id, device_id, provider) DO UPDATE
             SET collected_ms = excluded.collected_ms, body = excluded.body
             WHERE excluded.collected_ms >= signal_reports.collected_ms",
            &[
                &org.as_str(),
                &device.as_str(),
                &report.provider,
                &unix_millis(report.collected_at),
                &body,
            ],
        )?;
        Ok(changed > 0)
    }

    fn settings_document(&mut self, name: &str) -> Result<Option<SettingsDocument>> {
        const WHAT: &str = "reading settings";
        self.row(
            WHAT,
            "SELECT revision, body FROM settings_documents WHERE name = $1",
            &[&name],
        )?
        .map(|row| {
            Ok(SettingsDocument {
                revision: get(&row, WHAT, 0)?,
                body: get(&row, WHAT, 1)?,
            })
        })
        .transpose()
    }

    fn settings_revision(&mut self, name: &str) -> Result<Option<i64>> {
        const WHAT: &str = "reading the settings revision";
        self.row(
            WHAT,
            "SELECT revision FROM settings_documents WHERE name = $1",
            &[&name],
        )?
        .map(|row| get(&row, WHAT, 0))
        .transpose()
    }

    fn put_settings_document(&mut self, name: &str, document: &SettingsDocument) -> Result<()> {
        self.exec(
            "writing settings",
            "INSERT INTO settings_documents (name, revision, body) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            &[&name, &document.revision, &document.body],
        )?;
        Ok(())
    }

    fn scep_transaction(
        &mut self,
        configuration: &str,
        transaction_id: &str,
    ) -> Result<Option<TransactionRecord>> {
        self.body(
            "scep transaction",
            "SELECT body FROM scep_transactions WHERE configuration_id = $1 AND transaction_id = $2",
            &[&configuration, &transaction_id],
        )
    }

    fn put_scep_transaction(
        &mut self,
        configuration: &str,
        record: &TransactionRecord,
    ) -> Result<()> {
        self.exec(
            "writing a scep transaction",
            "INSERT INTO scep_transactions
                 (configuration_id, transaction_id, state, updated_ms, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (configuration_id, transaction_id) DO UPDATE SET
                 state = excluded.state, updated_ms = excluded.updated_ms, body = excluded.body",
            &[
                &configuration,
                &record.transaction_id,
                &record.state.name(),
                &unix_millis(record.updated),
                &encode("scep transaction", record)?,
            ],
        )?;
        Ok(())
    }

    fn delete_scep_transaction(&mut self, configuration: &str, transaction_id: &str) -> Result<()> {
        self.exec(
            "releasing a scep transaction",
            "DELETE FROM scep_transactions WHERE configuration_id = $1 AND transaction_id = $2",
            &[&configuration, &transaction_id],
        )?;
        Ok(())
    }

    fn scep_transaction_count(&mut self, configuration: &str) -> Result<usize> {
        // The count the trigger keeps (migration 7): one row, not a scan.
        let held = self
            .row(
                "counting scep transactions",
                "SELECT held FROM scep_transaction_counts WHERE configuration_id = $1",
                &[&configuration],
            )?
            .map(|row| get::<i64>(&row, "counting scep transactions", 0))
            .transpose()?;
        Ok(usize::try_from(held.unwrap_or(0)).unwrap_or(usize::MAX))
    }

    fn forget_finished_scep_transactions(
        &mut self,
        configuration: &str,
        updated_by: OffsetDateTime,
        oldest: usize,
    ) -> Result<()> {
        self.exec(
            "pruning scep transactions",
            "DELETE FROM scep_transactions
             WHERE configuration_id = $1 AND state IN ('issued', 'rejected') AND updated_ms <= $2",
            &[&configuration, &unix_millis(updated_by)],
        )?;
        if oldest > 0 {
            self.exec(
                "pruning scep transactions",
                "DELETE FROM scep_transactions
                 WHERE configuration_id = $1 AND transaction_id IN (
                     SELECT transaction_id FROM scep_transactions
                     WHERE configuration_id = $1 AND state IN ('issued', 'rejected')
                     ORDER BY updated_ms LIMIT $2)",
                &[&configuration, &i64::try_from(oldest).unwrap_or(i64::MAX)],
            )?;
        }
        Ok(())
    }

    fn pending_scep_transactions(
        &mut self,
        configuration: &str,
        limit: usize,
    ) -> Result<Vec<TransactionRecord>> {
        self.bodies(
            "scep transaction",
            "SELECT body FROM scep_transactions
             WHERE configuration_id = $1 AND state = 'pending'
             ORDER BY updated_ms LIMIT $2",
            &[&configuration, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    fn insert_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.exec(
            "storing a scep challenge",
            "INSERT INTO scep_challenges (configuration_id, digest, used, expires_ms)
             VALUES ($1, $2, 0, $3)",
            &[&configuration, &digest, &unix_millis(expires_at)],
        )?;
        Ok(())
    }

    fn forget_expired_scep_challenges(
        &mut self,
        configuration: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.exec(
            "pruning scep challenges",
            "DELETE FROM scep_challenges WHERE configuration_id = $1 AND expires_ms <= $2",
            &[&configuration, &unix_millis(now)],
        )?;
        Ok(())
    }

    fn scep_challenge_count(&mut self, configuration: &str) -> Result<usize> {
        self.count(
            "counting scep challenges",
            "SELECT COUNT(*) FROM scep_challenges WHERE configuration_id = $1",
            &[&configuration],
        )
    }

    fn use_scep_challenge(
        &mut self,
        configuration: &str,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse> {
        const WHAT: &str = "reading a scep challenge";
        // The check and the use are one statement: a row lock decides
        // between replicas presenting the same challenge.
        let used = self.exec(
            "using a scep challenge",
            "UPDATE scep_challenges SET used = 1
             WHERE configuration_id = $1 AND digest = $2 AND used = 0 AND expires_ms > $3",
            &[&configuration, &digest, &unix_millis(now)],
        )?;
        if used == 1 {
            return Ok(ChallengeUse::Consumed);
        }
        let found = self.row(
            WHAT,
            "SELECT used, expires_ms FROM scep_challenges WHERE configuration_id = $1 AND digest = $2",
            &[&configuration, &digest],
        )?;
        let Some(row) = found else {
            return Ok(ChallengeUse::Unknown);
        };
        if get::<i64>(&row, WHAT, 0)? != 0 {
            return Ok(ChallengeUse::AlreadyUsed);
        }
        let expires_ms: i64 = get(&row, WHAT, 1)?;
        Ok(ChallengeUse::Expired {
            expired_at: devicetrust_devices::from_unix_millis(expires_ms).unwrap_or(now),
        })
    }

    fn list_devices(
        &mut self,
        org: &OrgId,
        filter: &DeviceFilter,
        page: &PageRequest,
    ) -> Result<Vec<Device>> {
        let org = org.as_str();
        let after = page.after.as_ref().map_or("", |c| c.as_str());
        let user = filter.user.as_ref().map(UserId::as_str);
        let status = filter
            .status
            .map(|s| name("device status", &s))
            .transpose()?;
        let platform = filter.platform.map(|p| name("platform", &p)).transpose()?;
        let limit = limit_plus_one(page);
        let mut args: Vec<Param<'_>> = vec![&org, &after];
        // With a user, the user's links drive (index on org, user, device):
        // a few rows, already in id order. Without, the devices' primary key does.
        let mut sql = match &user {
            Some(user) => {
                args.push(user);
                String::from(
                    "SELECT d.body FROM device_users u
                     JOIN devices d ON d.org_id = u.org_id AND d.id = u.device_id
                     WHERE u.org_id = $1 AND u.user_id = $3 AND u.device_id > $2",
                )
            }
            None => String::from("SELECT d.body FROM devices d WHERE d.org_id = $1 AND d.id > $2"),
        };
        if let Some(status) = &status {
            args.push(status);
            sql.push_str(&format!(" AND d.status = ${}", args.len()));
        }
        if let Some(platform) = &platform {
            args.push(platform);
            sql.push_str(&format!(" AND d.platform = ${}", args.len()));
        }
        args.push(&limit);
        let order = if user.is_some() {
            "u.device_id"
        } else {
            "d.id"
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ${}", args.len()));
        self.bodies("device", &sql, &args)
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
             WHERE d.org_id = $1 AND d.id > $2 AND (d.last_seen_ms < $3 OR NOT EXISTS (
                 SELECT 1 FROM device_users u WHERE u.org_id = d.org_id AND u.device_id = d.id))
             ORDER BY d.id LIMIT $4",
            &[
                &org.as_str(),
                &page.after.as_ref().map_or("", |c| c.as_str()),
                &unix_millis(seen_before),
                &limit_plus_one(page),
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
            let body = encode("failed authentication", r)?;
            self.exec(
                "recording failed authentications",
                "INSERT INTO auth_failures (org_id, id, last_ms, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id, id) DO UPDATE SET last_ms = excluded.last_ms, body = excluded.body",
                &[&org.as_str(), &r.id, &unix_millis(r.last), &body],
            )?;
        }
        self.exec(
            "forgetting old failed authentications",
            "DELETE FROM auth_failures WHERE org_id = $1 AND id NOT IN (
                 SELECT id FROM auth_failures WHERE org_id = $1
                 ORDER BY last_ms DESC, id DESC LIMIT $2)",
            &[&org.as_str(), &i64::try_from(keep).unwrap_or(i64::MAX)],
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
             WHERE org_id = $1 AND last_ms >= $2 AND last_ms < $3
             ORDER BY last_ms DESC, id DESC LIMIT $4",
            &[
                &org.as_str(),
                &unix_millis(since),
                &until.map_or(i64::MAX, unix_millis),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
    }
}
