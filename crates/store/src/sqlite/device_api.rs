//! What the device API keeps per device and per enrollment: each device's
//! own public key, and one-time enrollment tokens (as digests).
//!
//! These are SQLite-only for now (the device API runs on the SQLite store);
//! they sit beside the registry's tables so that deleting a device deletes
//! its key in the same transaction.

use devicetrust_devices::{DeviceId, OrgId, Session, SessionId, UserId, unix_millis};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::{Error, Result};

/// A device's registered public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKeyRecord {
    /// The key's public identifier (hex SHA-256 of the SPKI).
    pub key_id: String,
    /// The SubjectPublicKeyInfo, DER, hex.
    pub spki_hex: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// An enrollment token as stored: never the token, only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentTokenRecord {
    /// The token's public id (part of the token text, safe to log).
    pub id: String,
    /// The org it enrolls into.
    pub org: OrgId,
    /// The user it enrolls.
    pub user: UserId,
    /// Hex SHA-256 of the whole token.
    pub sha256: String,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What [`SqliteStore::consume_enrollment_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenUse {
    /// The token was valid and is now used up.
    Consumed(EnrollmentTokenRecord),
    /// No live token has that id (never minted, already used, or pruned).
    Unknown,
    /// The token exists but has expired; it is deleted.
    Expired,
    /// The id matched but the caller's check (the secret) did not; the token stays.
    Mismatch,
}

/// Bounds on outstanding enrollment tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// Unexpired tokens per org.
    pub per_org: usize,
    /// Unexpired tokens per user.
    pub per_user: usize,
}

fn count(conn: &rusqlite::Connection, sql: &str, args: impl rusqlite::Params) -> Result<usize> {
    let n: i64 = conn
        .query_row(sql, args, |r| r.get(0))
        .map_err(Error::storage("counting enrollment tokens"))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

impl SqliteStore {
    /// Sets (or replaces) the public key of `device`.
    pub fn put_device_key(
        &self,
        org: &OrgId,
        device: &DeviceId,
        key: &DeviceKeyRecord,
    ) -> Result<()> {
        let body = encode("device key", key)?;
        self.transact(false, |tx| {
            tx.conn_for_write()?
                .prepare_cached(
                    "INSERT INTO device_keys (org_id, device_id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (org_id, device_id) DO UPDATE SET body = excluded.body",
                )
                .and_then(|mut s| s.execute(params![org.as_str(), device.as_str(), body]))
                .map_err(Error::storage("storing a device key"))?;
            Ok(())
        })
    }

    /// The public key of `device`, if it registered one.
    pub fn device_key(&self, org: &OrgId, device: &DeviceId) -> Result<Option<DeviceKeyRecord>> {
        let text: Option<String> = self.transact(true, |tx| {
            tx.conn()
                .prepare_cached("SELECT body FROM device_keys WHERE org_id = ?1 AND device_id = ?2")
                .and_then(|mut s| {
                    s.query_row(params![org.as_str(), device.as_str()], |r| r.get(0))
                        .optional()
                })
                .map_err(Error::storage("reading a device key"))
        })?;
        text.map(|t| decode("device key", &t)).transpose()
    }

    /// Stores a new enrollment token after pruning expired ones; refuses
    /// with [`Error::LimitReached`] past `limits`.
    pub fn insert_enrollment_token(
        &self,
        token: &EnrollmentTokenRecord,
        limits: TokenLimits,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = encode("enrollment token", token)?;
        let now_ms = unix_millis(now);
        self.transact(false, |tx| {
            let conn = tx.conn_for_write()?;
            conn.prepare_cached("DELETE FROM enrollment_tokens WHERE expires_ms <= ?1")
                .and_then(|mut s| s.execute(params![now_ms]))
                .map_err(Error::storage("pruning enrollment tokens"))?;
            let org = token.org.as_str();
            if count(
                conn,
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
        })
    }

    /// Uses up the token `id` of `org` if `matches` accepts its record (the
    /// caller compares the secret, in constant time) and it has not expired,
    /// in one transaction, so a token is consumed at most once.
    pub fn consume_enrollment_token(
        &self,
        org: &OrgId,
        id: &str,
        now: OffsetDateTime,
        matches: impl FnOnce(&EnrollmentTokenRecord) -> bool,
    ) -> Result<TokenUse> {
        self.transact(false, |tx| {
            let conn = tx.conn_for_write()?;
            let text: Option<String> = conn
                .prepare_cached("SELECT body FROM enrollment_tokens WHERE id = ?1 AND org_id = ?2")
                .and_then(|mut s| {
                    s.query_row(params![id, org.as_str()], |r| r.get(0))
                        .optional()
                })
                .map_err(Error::storage("reading an enrollment token"))?;
            let Some(text) = text else {
                return Ok(TokenUse::Unknown);
            };
            let record: EnrollmentTokenRecord = decode("enrollment token", &text)?;
            // The secret is checked before expiry, so a guess learns nothing
            // about whether a token with that id is still live.
            if !matches(&record) {
                return Ok(TokenUse::Mismatch);
            }
            conn.prepare_cached("DELETE FROM enrollment_tokens WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id]))
                .map_err(Error::storage("using an enrollment token"))?;
            if record.expires_at <= now {
                return Ok(TokenUse::Expired);
            }
            Ok(TokenUse::Consumed(record))
        })
    }

    /// A sign-in session of `org` by id (the decision API accepts one in
    /// place of a device).
    pub fn session(&self, org: &OrgId, id: &SessionId) -> Result<Option<Session>> {
        let text: Option<String> = self.transact(true, |tx| {
            tx.conn()
                .prepare_cached("SELECT body FROM sessions WHERE org_id = ?1 AND id = ?2")
                .and_then(|mut s| {
                    s.query_row(params![org.as_str(), id.as_str()], |r| r.get(0))
                        .optional()
                })
                .map_err(Error::storage("reading a session"))
        })?;
        text.map(|t| decode("session", &t)).transpose()
    }
}
