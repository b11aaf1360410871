//! Versioned schema migrations for PostgreSQL, numbered as SQLite's are
//! (`crate::sqlite`'s migrations): version N means the same tables, keys and
//! indexes on either engine, so a schema version names one data model.
//!
//! Identifier columns are `COLLATE "C"`: byte order, as SQLite's BINARY
//! collation, whatever locale the database was created with, so paging by
//! id (`id > cursor ORDER BY id`) gives the same pages on both engines.
//!
//! Every replica migrates on start: the whole run is one transaction (DDL
//! is transactional here) under an advisory lock, so replicas starting
//! together apply each migration once, and a failed run leaves the previous
//! version.

use tokio_postgres::Client;

use crate::{Error, Result};

/// The advisory lock migrations hold (an arbitrary constant, "devicetrust migrate").
const MIGRATION_LOCK: i64 = 0x6474_6d69_6772_6174;

/// The migrations, in order. Never edit one that has shipped: add another.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
    CREATE TABLE devices (
        org_id TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        platform TEXT COLLATE "C" NOT NULL,
        hardware_key TEXT COLLATE "C",
        last_seen_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
    );
    CREATE INDEX devices_by_status ON devices (org_id, status, id);
    CREATE INDEX devices_by_hardware ON devices (org_id, hardware_key);
    CREATE INDEX devices_by_last_seen ON devices (org_id, last_seen_ms);

    CREATE TABLE device_users (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id, user_id)
    );
    CREATE INDEX device_users_by_user ON device_users (org_id, user_id, device_id);

    CREATE TABLE sessions (
        id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        method TEXT COLLATE "C" NOT NULL,
        ended_ms BIGINT,
        body TEXT NOT NULL
    );
    CREATE INDEX sessions_by_device ON sessions (org_id, device_id);

    CREATE TABLE factor_enrollments (
        id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX factor_enrollments_by_device ON factor_enrollments (org_id, device_id);

    CREATE TABLE device_certificates (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        serial TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, device_id, serial)
    );

    CREATE TABLE ledger_certificates (
        serial TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        not_after_s BIGINT NOT NULL,
        revoked BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX ledger_revoked ON ledger_certificates (revoked, not_after_s);

    CREATE TABLE ledger_counters (
        name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO ledger_counters (name, value) VALUES ('crl_number', 0);

    CREATE TABLE audit_events (
        seq BIGINT NOT NULL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        at_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX audit_by_org ON audit_events (org_id, seq);
    CREATE INDEX audit_by_device ON audit_events (org_id, device_id, seq);
    CREATE INDEX audit_by_time ON audit_events (org_id, at_ms);

    CREATE TABLE audit_users (
        org_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (org_id, user_id, seq)
    );
    "#,
    ),
    (
        2,
        r#"
    CREATE TABLE device_keys (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id)
    );

    CREATE TABLE enrollment_tokens (
        id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        expires_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX enrollment_tokens_by_user ON enrollment_tokens (org_id, user_id);
    CREATE INDEX enrollment_tokens_by_expiry ON enrollment_tokens (expires_ms);
    "#,
    ),
    (
        3,
        r#"
    CREATE TABLE request_nonces (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        nonce TEXT COLLATE "C" NOT NULL,
        expires_ms BIGINT NOT NULL,
        PRIMARY KEY (org_id, device_id, nonce)
    );
    CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_ms);

    CREATE TABLE management_proofs (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id)
    );

    CREATE TABLE certificate_devices (
        org_id TEXT COLLATE "C" NOT NULL,
        cert_sha256 TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, cert_sha256)
    );
    CREATE INDEX certificate_devices_by_device ON certificate_devices (org_id, device_id);
    "#,
    ),
    (
        4,
        r#"
    CREATE TABLE scep_transactions (
        configuration_id TEXT COLLATE "C" NOT NULL,
        transaction_id TEXT COLLATE "C" NOT NULL,
        state TEXT COLLATE "C" NOT NULL,
        updated_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (configuration_id, transaction_id)
    );
    CREATE INDEX scep_transactions_by_state
        ON scep_transactions (configuration_id, state, updated_ms);

    CREATE TABLE scep_challenges (
        configuration_id TEXT COLLATE "C" NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        used BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        PRIMARY KEY (configuration_id, digest)
    );
    CREATE INDEX scep_challenges_by_expiry ON scep_challenges (configuration_id, expires_ms);
    "#,
    ),
    (
        5,
        r#"
    CREATE TABLE signal_reports (
        org_id TEXT COLLATE "C" NOT NULL,
        device_id TEXT COLLATE "C" NOT NULL,
        provider TEXT COLLATE "C" NOT NULL,
        collected_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, device_id, provider)
    );
    "#,
    ),
    (
        6,
        r#"
    CREATE TABLE settings_documents (
        name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        revision BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    "#,
    ),
    (
        7,
        // SQLite's two triggers, as one PL/pgSQL trigger function.
        r#"
    CREATE TABLE scep_transaction_counts (
        configuration_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        held BIGINT NOT NULL
    );
    INSERT INTO scep_transaction_counts (configuration_id, held)
        SELECT configuration_id, COUNT(*) FROM scep_transactions GROUP BY configuration_id;
    CREATE FUNCTION scep_transactions_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO scep_transaction_counts (configuration_id, held)
                VALUES (NEW.configuration_id, 1)
                ON CONFLICT (configuration_id) DO UPDATE
                SET held = scep_transaction_counts.held + 1;
        ELSE
            UPDATE scep_transaction_counts SET held = held - 1
                WHERE configuration_id = OLD.configuration_id;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER scep_transactions_counted AFTER INSERT OR DELETE ON scep_transactions
        FOR EACH ROW EXECUTE FUNCTION scep_transactions_count();
    "#,
    ),
    (
        8,
        r#"
    CREATE TABLE auth_failures (
        org_id TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        last_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
    );
    CREATE INDEX auth_failures_by_time ON auth_failures (org_id, last_ms, id);
    "#,
    ),
];

/// The newest schema version this build knows (the same as SQLite's).
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Checks, without writing, that the schema is [`latest`]: for a command
/// that works beside running replicas and must not migrate under them.
pub(super) async fn check(client: &Client) -> Result<i64> {
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(Error::storage("reading the schema version"))?;
    match current.cmp(&latest()) {
        std::cmp::Ordering::Equal => Ok(current),
        std::cmp::Ordering::Greater => Err(Error::SchemaTooNew {
            found: current,
            supported: latest(),
        }),
        std::cmp::Ordering::Less => Err(Error::SchemaTooOld {
            found: current,
            expected: latest(),
        }),
    }
}

/// Brings the schema up to [`latest`], once across concurrently starting replicas.
pub(super) async fn migrate(client: &mut Client) -> Result<i64> {
    let tx = client
        .transaction()
        .await
        .map_err(Error::storage("starting the migrations"))?;
    // Quiet: "relation already exists, skipping" is every start but the first.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(Error::storage("starting the migrations"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(Error::storage("waiting for another replica's migrations"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT NOT NULL PRIMARY KEY,
            applied_at_ms BIGINT NOT NULL
        )",
    )
    .await
    .map_err(Error::storage("creating the migrations table"))?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(Error::storage("reading the schema version"))?;
    if current > latest() {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    let now = devicetrust_devices::unix_millis(time::OffsetDateTime::now_utc());
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(Error::storage("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
            &[version, &now],
        )
        .await
        .map_err(Error::storage("recording a migration"))?;
    }
    tx.commit()
        .await
        .map_err(Error::storage("committing the migrations"))?;
    Ok(latest())
}
