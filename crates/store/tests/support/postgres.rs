//! A fresh PostgreSQL database per test, on one throwaway cluster.
//!
//! `scripts/test` starts the cluster once (`scripts/postgres-scratch`) and
//! names it in `DEVICETRUST_TEST_POSTGRES`; a test binary run on its own
//! (`cargo test`) starts its own, which stops when the binary exits. There
//! is no fallback that skips: without PostgreSQL these tests fail, saying why.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: each binary uses part of it, and a panic is a failed test"
)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The cluster's URL (its `postgres` database).
pub fn server_url() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DEVICETRUST_TEST_POSTGRES") {
            return url;
        }
        // The workspace's scripts, from whichever package includes this file.
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/postgres-scratch"))
            .find(|script| script.exists())
            .expect("scripts/postgres-scratch above the package");
        let pid = std::process::id().to_string();
        let out = Command::new(&script)
            .args(["start", "--watch", &pid])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "starting a scratch PostgreSQL failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// Runs `sql` on the cluster with `psql`.
pub fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qXc", sql])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new, empty database on the cluster; its URL.
pub fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Unique across processes and across copies of this module in one binary.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "t{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let server = server_url();
    psql(server, &format!("CREATE DATABASE {name}"));
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// A store on a fresh database.
pub fn store() -> devicetrust_store::PostgresStore {
    devicetrust_store::PostgresStore::open(&fresh_database()).unwrap()
}
