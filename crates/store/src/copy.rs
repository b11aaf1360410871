//! Copying an embedded deployment's database into PostgreSQL, table by
//! table, row by row, as stored: `devicetrust migrate`. Both engines share
//! the schema (the same version means the same tables and columns), so a
//! copy is a faithful one; the target must be empty, and the whole copy is
//! one transaction, so a failed copy leaves nothing behind.

/// A stored value, as both engines hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Int,
    Text,
}

/// Every table a deployment's data lives in, with its columns, in an order
/// that keeps references valid. Not copied: `schema_migrations` (each
/// engine records its own) and `scep_transaction_counts` (the target's
/// trigger counts the copied rows).
pub(crate) const TABLES: &[(&str, &[(&str, Column)])] = {
    use Column::{Int, Text};
    &[
        (
            "settings_documents",
            &[("name", Text), ("revision", Int), ("body", Text)],
        ),
        (
            "devices",
            &[
                ("org_id", Text),
                ("id", Text),
                ("status", Text),
                ("platform", Text),
                ("hardware_key", Text),
                ("last_seen_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "device_users",
            &[
                ("org_id", Text),
                ("device_id", Text),
                ("user_id", Text),
                ("body", Text),
            ],
        ),
        (
            "sessions",
            &[
                ("id", Text),
                ("org_id", Text),
                ("device_id", Text),
                ("method", Text),
                ("ended_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "factor_enrollments",
            &[
                ("id", Text),
                ("org_id", Text),
                ("device_id", Text),
                ("status", Text),
                ("body", Text),
            ],
        ),
        (
            "device_certificates",
            &[("org_id", Text), ("device_id", Text), ("serial", Text)],
        ),
        (
            "ledger_certificates",
            &[
                ("serial", Text),
                ("not_after_s", Int),
                ("revoked", Int),
                ("body", Text),
            ],
        ),
        ("ledger_counters", &[("name", Text), ("value", Int)]),
        (
            "audit_events",
            &[
                ("seq", Int),
                ("org_id", Text),
                ("device_id", Text),
                ("at_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "audit_users",
            &[("org_id", Text), ("user_id", Text), ("seq", Int)],
        ),
        (
            "device_keys",
            &[("org_id", Text), ("device_id", Text), ("body", Text)],
        ),
        (
            "enrollment_tokens",
            &[
                ("id", Text),
                ("org_id", Text),
                ("user_id", Text),
                ("expires_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "request_nonces",
            &[
                ("org_id", Text),
                ("device_id", Text),
                ("nonce", Text),
                ("expires_ms", Int),
            ],
        ),
        (
            "management_proofs",
            &[("org_id", Text), ("device_id", Text), ("body", Text)],
        ),
        (
            "certificate_devices",
            &[("org_id", Text), ("cert_sha256", Text), ("device_id", Text)],
        ),
        (
            "signal_reports",
            &[
                ("org_id", Text),
                ("device_id", Text),
                ("provider", Text),
                ("collected_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "scep_transactions",
            &[
                ("configuration_id", Text),
                ("transaction_id", Text),
                ("state", Text),
                ("updated_ms", Int),
                ("body", Text),
            ],
        ),
        (
            "scep_challenges",
            &[
                ("configuration_id", Text),
                ("digest", Text),
                ("used", Int),
                ("expires_ms", Int),
            ],
        ),
        (
            "auth_failures",
            &[
                ("org_id", Text),
                ("id", Text),
                ("last_ms", Int),
                ("body", Text),
            ],
        ),
    ]
};

/// What a copy moved: the rows of each table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Table name → rows copied.
    pub rows: std::collections::BTreeMap<String, u64>,
}
