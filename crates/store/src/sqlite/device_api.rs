//! The device API's tables on SQLite (see [`crate::device_api`]): the
//! [`crate::Tx`] primitives.

use devicetrust_devices::{DeviceId, OrgId, Session, SessionId, unix_millis};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::tx::SqliteTx;
use crate::columns::{decode, encode, to_count};
use crate::device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, TokenLimits,
};
use crate::{Error, Result};

fn count(
    conn: &rusqlite::Connection,
    context: &'static str,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<usize> {
    let n: i64 = conn
        .query_row(sql, args, |r| r.get(0))
        .map_err(Error::storage(context))?;
    Ok(to_count(n))
}

/// The [`crate::Tx`] primitives of the device API that need more than one statement.
impl SqliteTx<'_> {
    pub(super) fn insert_enrollment_token_row(
        &self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = encode("enrollment token", token)?;
        let conn = self.conn_for_write()?;
        conn.prepare_cached("DELETE FROM enrollment_tokens WHERE expires_ms <= ?1")
            .and_then(|mut s| s.execute(params![unix_millis(now)]))
            .map_err(Error::storage("pruning enrollment tokens"))?;
        let org = token.org.as_str();
        if count(
            conn,
            "counting enrollment tokens",
            "SELECT COUNT(*) FROM enrollment_tokens WHERE org_id = ?1",
            params![org],
        )? >= limits.per_org
        {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens in the org",
                limit: limits.per_org,
            });
        }
        if count(
            conn,
            "counting enrollment tokens",
            "SELECT COUNT(*) FROM enrollment_tokens WHERE org_id = ?1 AND user_id = ?2",
            params![org, token.user.as_str()],
        )? >= limits.per_user
        {
            return Err(Error::LimitReached {
                what: "outstanding enrollment tokens for the user",
                limit: limits.per_user,
            });
        }
        conn.prepare_cached(
            "INSERT INTO enrollment_tokens (id, org_id, user_id, expires_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                token.id,
                org,
                token.user.as_str(),
                unix_millis(token.expires_at),
                body
            ])
        })
        .map_err(Error::storage("storing an enrollment token"))?;
        Ok(())
    }

    pub(super) fn session_row(&self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
        let text: Option<String> = self
            .conn()
            .prepare_cached("SELECT body FROM sessions WHERE org_id = ?1 AND id = ?2")
            .and_then(|mut s| {
                s.query_row(params![org.as_str(), id.as_str()], |r| r.get(0))
                    .optional()
            })
            .map_err(Error::storage("reading a session"))?;
        text.map(|t| decode("session", &t)).transpose()
    }
}

fn device_args<'a>(org: &'a OrgId, device: &'a DeviceId) -> [&'a str; 2] {
    [org.as_str(), device.as_str()]
}

/// The [`crate::Tx`] primitives of the device API.
impl SqliteTx<'_> {
    pub(super) fn device_key_row(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<DeviceKeyRecord>> {
        self.body(
            "device key",
            "SELECT body FROM device_keys WHERE org_id = ?1 AND device_id = ?2",
            device_args(org, device),
        )
    }

    pub(super) fn put_device_key_row(
        &self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()> {
        let body = encode("device key", key)?;
        self.exec(
            "storing a device key",
            "INSERT INTO device_keys (org_id, device_id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, device_id) DO UPDATE SET body = excluded.body",
            params![org.as_str(), device.as_str(), body],
        )?;
        Ok(())
    }

    pub(super) fn retire_device_key_rows(&self, org: &OrgId, device: &DeviceId) -> Result<()> {
        for sql in [
            "DELETE FROM device_keys WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM management_proofs WHERE org_id = ?1 AND device_id = ?2",
            "DELETE FROM request_nonces WHERE org_id = ?1 AND device_id = ?2",
        ] {
            self.exec("retiring a device key", sql, device_args(org, device))?;
        }
        Ok(())
    }

    pub(super) fn enrollment_token_row(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Option<EnrollmentTokenRecord>> {
        self.body(
            "enrollment token",
            "SELECT body FROM enrollment_tokens WHERE id = ?1 AND org_id = ?2",
            params![id, org.as_str()],
        )
    }

    pub(super) fn delete_enrollment_token_row(&self, org: &OrgId, id: &str) -> Result<()> {
        self.exec(
            "using an enrollment token",
            "DELETE FROM enrollment_tokens WHERE id = ?1 AND org_id = ?2",
            params![id, org.as_str()],
        )?;
        Ok(())
    }

    pub(super) fn use_request_nonce_row(
        &self,
        org: &OrgId,
        device: &DeviceId,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        per_device: usize,
    ) -> Result<NonceUse> {
        // Expired nonces of every device go first (the expiry index makes
        // this cost what it deletes): their requests are refused as stale.
        self.exec(
            "forgetting expired request nonces",
            "DELETE FROM request_nonces WHERE expires_ms <= ?1",
            params![unix_millis(now)],
        )?;
        let inserted = self.exec(
            "recording a request nonce",
            "INSERT INTO request_nonces (org_id, device_id, nonce, expires_ms)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![
                org.as_str(),
                device.as_str(),
                nonce,
                unix_millis(expires_at)
            ],
        )?;
        if inserted == 0 {
            return Ok(NonceUse::Replayed);
        }
        let live = count(
            self.conn(),
            "counting request nonces",
            "SELECT COUNT(*) FROM request_nonces WHERE org_id = ?1 AND device_id = ?2",
            device_args(org, device),
        )?;
        if live > per_device {
            self.exec(
                "refusing a request nonce",
                "DELETE FROM request_nonces WHERE org_id = ?1 AND device_id = ?2 AND nonce = ?3",
                params![org.as_str(), device.as_str(), nonce],
            )?;
            return Ok(NonceUse::DeviceFull { limit: per_device });
        }
        Ok(NonceUse::Fresh)
    }

    pub(super) fn management_proof_row(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<ManagementProof>> {
        self.body(
            "management proof",
            "SELECT body FROM management_proofs WHERE org_id = ?1 AND device_id = ?2",
            device_args(org, device),
        )
    }

    pub(super) fn put_management_proof_row(
        &self,
        org: &OrgId,
        device: &DeviceId,
        proof: &ManagementProof,
    ) -> Result<()> {
        let body = encode("management proof", proof)?;
        self.exec(
            "storing a management proof",
            "INSERT INTO management_proofs (org_id, device_id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, device_id) DO UPDATE SET body = excluded.body",
            params![org.as_str(), device.as_str(), body],
        )?;
        Ok(())
    }

    pub(super) fn certificate_device_row(
        &self,
        org: &OrgId,
        cert_sha256: &str,
    ) -> Result<Option<DeviceId>> {
        let id: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT device_id FROM certificate_devices WHERE org_id = ?1 AND cert_sha256 = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![org.as_str(), cert_sha256], |r| r.get(0))
                    .optional()
            })
            .map_err(Error::storage("reading a certificate binding"))?;
        id.map(|id| {
            DeviceId::new(&id).map_err(|e| Error::Corrupt {
                what: "certificate binding",
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    pub(super) fn bind_certificate_to_device_row(
        &self,
        org: &OrgId,
        cert_sha256: &str,
        device: &DeviceId,
    ) -> Result<()> {
        self.exec(
            "binding a certificate to a device",
            "INSERT INTO certificate_devices (org_id, cert_sha256, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, cert_sha256) DO UPDATE SET device_id = excluded.device_id",
            params![org.as_str(), cert_sha256, device.as_str()],
        )?;
        Ok(())
    }
}
