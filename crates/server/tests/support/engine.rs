//! The store the server tests run on: SQLite in each data folder, or, with
//! `DEVICETRUST_TEST_ENGINE=postgres`, a fresh PostgreSQL database per data
//! folder (`scripts/test` runs the engine-agnostic suites both ways). The
//! database a folder got is recorded in the folder, so a restart or a
//! second process finds it again.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: each binary uses part of it, and a panic is a failed test"
)]

use std::path::Path;
use std::sync::Arc;

use devicetrust_service::DataDir;
use devicetrust_store::Database;

#[path = "../../../store/tests/support/postgres.rs"]
mod pg;

/// Whether this run is on PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var("DEVICETRUST_TEST_ENGINE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("DEVICETRUST_TEST_ENGINE={other}: expected sqlite or postgres"),
    }
}

/// Where a folder records its database.
fn marker(dir: &Path) -> std::path::PathBuf {
    dir.join("test-database-url")
}

/// The data folder `dir` on this run's engine: on PostgreSQL, a fresh
/// database the first time (initialised with the folder's CA), the same one after.
pub fn data_dir(dir: &Path) -> DataDir {
    if !on_postgres() {
        return DataDir::new(dir);
    }
    if let Ok(url) = std::fs::read_to_string(marker(dir)) {
        return DataDir::new(dir).with_database(url);
    }
    let url = pg::fresh_database();
    std::fs::create_dir_all(dir).unwrap();
    // Private, as everything in a data folder is (the folder test checks).
    let mut file = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    std::io::Write::write_all(
        &mut file.write(true).create_new(true).open(marker(dir)).unwrap(),
        url.as_bytes(),
    )
    .unwrap();
    DataDir::new(dir).with_database(url).initializing()
}

/// The folder's database through a connection of its own, as another
/// process (or replica) would see it.
pub fn open_store(dir: &Path) -> Arc<Database> {
    if on_postgres() {
        let url = std::fs::read_to_string(marker(dir)).expect("the folder's database");
        return Arc::new(Database::Postgres(
            devicetrust_store::PostgresStore::open(&url).unwrap(),
        ));
    }
    Arc::new(Database::Sqlite(
        devicetrust_store::SqliteStore::open(&devicetrust_store::database_path(dir)).unwrap(),
    ))
}

/// Everything the folder's database holds at rest, as bytes: the SQLite
/// files (database and WAL), or a data dump of the PostgreSQL database.
pub fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    if on_postgres() {
        let url = std::fs::read_to_string(marker(dir)).expect("the folder's database");
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .expect("running pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        all = out.stdout;
    } else {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("devices.sqlite3") {
                all.extend(std::fs::read(&path).unwrap());
            }
        }
    }
    assert!(!all.is_empty(), "no database for {}", dir.display());
    all
}
