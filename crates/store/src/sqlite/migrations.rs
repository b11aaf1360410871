//! Versioned schema migrations.
//!
//! Each migration runs once, in its own transaction with the row that
//! records it, so a crash mid-migration leaves the previous version. The SQL
//! sticks to what SQLite and PostgreSQL share (TEXT, BIGINT, composite keys,
//! `ON CONFLICT ... DO UPDATE`), so a PostgreSQL store can reuse it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Error, Result};

/// The migrations, in order. Never edit one that has shipped: add another.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "
    CREATE TABLE devices (
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        platform TEXT NOT NULL,
        hardware_key TEXT,
        last_seen_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
    );
    CREATE INDEX devices_by_status ON devices (org_id, status, id);
    CREATE INDEX devices_by_hardware ON devices (org_id, hardware_key);
    CREATE INDEX devices_by_last_seen ON devices (org_id, last_seen_ms);

    CREATE TABLE device_users (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id, user_id)
    );
    CREATE INDEX device_users_by_user ON device_users (org_id, user_id, device_id);

    CREATE TABLE sessions (
        id TEXT NOT NULL PRIMARY KEY,
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        method TEXT NOT NULL,
        ended_ms BIGINT,
        body TEXT NOT NULL
    );
    CREATE INDEX sessions_by_device ON sessions (org_id, device_id);

    CREATE TABLE factor_enrollments (
        id TEXT NOT NULL PRIMARY KEY,
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX factor_enrollments_by_device ON factor_enrollments (org_id, device_id);

    CREATE TABLE device_certificates (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        serial TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id, serial)
    );

    CREATE TABLE ledger_certificates (
        serial TEXT NOT NULL PRIMARY KEY,
        not_after_s BIGINT NOT NULL,
        revoked BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX ledger_revoked ON ledger_certificates (revoked, not_after_s);

    CREATE TABLE ledger_counters (
        name TEXT NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO ledger_counters (name, value) VALUES ('crl_number', 0);

    CREATE TABLE audit_events (
        seq BIGINT NOT NULL PRIMARY KEY,
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX audit_by_org ON audit_events (org_id, seq);
    CREATE INDEX audit_by_device ON audit_events (org_id, device_id, seq);
    CREATE INDEX audit_by_time ON audit_events (org_id, at_ms);

    CREATE TABLE audit_users (
        org_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (org_id, user_id, seq)
    );
    ",
    ),
    (
        2,
        // The device API: each registered device's own public key (one per
        // device, replaced on re-registration), and one-time enrollment
        // tokens, stored as digests.
        "
    CREATE TABLE device_keys (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id)
    );

    CREATE TABLE enrollment_tokens (
        id TEXT NOT NULL PRIMARY KEY,
        org_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX enrollment_tokens_by_user ON enrollment_tokens (org_id, user_id);
    CREATE INDEX enrollment_tokens_by_expiry ON enrollment_tokens (expires_ms);
    ",
    ),
    (
        3,
        // What the device API used to keep in process memory, so it holds
        // across restarts: request nonces (single use by the primary key),
        // each device's latest management proof, and the device each
        // management certificate is bound to (by the SHA-256 of its DER).
        "
    CREATE TABLE request_nonces (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        PRIMARY KEY (org_id, device_id, nonce)
    );
    CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_ms);

    CREATE TABLE management_proofs (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id)
    );

    CREATE TABLE certificate_devices (
        org_id TEXT NOT NULL,
        cert_sha256 TEXT NOT NULL,
        device_id TEXT NOT NULL,
        PRIMARY KEY (org_id, cert_sha256)
    );
    CREATE INDEX certificate_devices_by_device ON certificate_devices (org_id, device_id);
    ",
    ),
    (
        4,
        // SCEP, per configuration: transactions (claimed atomically, so one
        // request per transaction ID is ever decided, and a resend or replay
        // after a restart gets the same answer), pruned by age once
        // finished; and the one-time dynamic challenges, as digests only.
        "
    CREATE TABLE scep_transactions (
        configuration_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (configuration_id, transaction_id)
    );
    CREATE INDEX scep_transactions_by_state
        ON scep_transactions (configuration_id, state, updated_ms);

    CREATE TABLE scep_challenges (
        configuration_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        used BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        PRIMARY KEY (configuration_id, digest)
    );
    CREATE INDEX scep_challenges_by_expiry ON scep_challenges (configuration_id, expires_ms);
    ",
    ),
    (
        5,
        // Each device's latest EDR signal report per provider, as received,
        // so signals outlive a restart (they were kept in memory only).
        "
    CREATE TABLE signal_reports (
        org_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        collected_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id, provider)
    );
    ",
    ),
    (
        6,
        // The service's settings (admin tokens, integrations, policies, ...),
        // one document per name with a revision, so every process on the
        // database sees a change and every change checks what it changes in
        // the same transaction (they were JSON files in the data folder).
        "
    CREATE TABLE settings_documents (
        name TEXT NOT NULL PRIMARY KEY,
        revision BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    ",
    ),
    (
        7,
        // How many SCEP transactions each configuration holds, kept by
        // triggers: every claim checks the bound, and counting the rows
        // cost up to the bound (10,000 by default) per claim.
        "
    CREATE TABLE scep_transaction_counts (
        configuration_id TEXT NOT NULL PRIMARY KEY,
        held BIGINT NOT NULL
    );
    INSERT INTO scep_transaction_counts (configuration_id, held)
        SELECT configuration_id, COUNT(*) FROM scep_transactions GROUP BY configuration_id;
    CREATE TRIGGER scep_transactions_counted_in AFTER INSERT ON scep_transactions BEGIN
        INSERT INTO scep_transaction_counts (configuration_id, held)
            VALUES (NEW.configuration_id, 1)
            ON CONFLICT (configuration_id) DO UPDATE SET held = held + 1;
    END;
    CREATE TRIGGER scep_transactions_counted_out AFTER DELETE ON scep_transactions BEGIN
        UPDATE scep_transaction_counts SET held = held - 1
            WHERE configuration_id = OLD.configuration_id;
    END;
    ",
    ),
    (
        8,
        // Failed authentications, folded per source (crate::auth_failures):
        // a table of their own, pruned by row count, so a flood of them
        // cannot push out the device audit.
        "
    CREATE TABLE auth_failures (
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        last_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
    );
    CREATE INDEX auth_failures_by_time ON auth_failures (org_id, last_ms, id);
    ",
    ),
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings the schema up to [`latest`].
pub fn migrate(conn: &mut Connection) -> Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT NOT NULL PRIMARY KEY,
            applied_at_ms BIGINT NOT NULL
        )",
    )
    .map_err(Error::storage("creating the migrations table"))?;
    let current: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(Error::storage("reading the schema version"))?
        .flatten()
        .unwrap_or(0);
    if current > latest() {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    let now = devicetrust_devices::unix_millis(time::OffsetDateTime::now_utc());
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::storage("starting a migration"))?;
        tx.execute_batch(sql)
            .map_err(Error::storage("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
            params![version, now],
        )
        .map_err(Error::storage("recording a migration"))?;
        tx.commit()
            .map_err(Error::storage("committing a migration"))?;
    }
    Ok(latest())
}
