//! Upgrade: a data folder written by the release before issue #12 (commit
//! 16c7867, schema version 2; see `tests/data/upgrade-16c7867/README.md`)
//! opens with today's `devicetrust serve`: the schema is migrated to the
//! latest version, the old admin token, device, user, SCEP integration and
//! issued certificate are all still there, the folder is made private, and
//! a second start changes nothing.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use devicetrust_pki::SerialNumber;
use devicetrust_store::{SqliteStore, Store, latest_schema_version};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devicetrust");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/upgrade-16c7867");
/// The schema the 16c7867 release wrote.
const OLD_SCHEMA_VERSION: i64 = 2;

/// What `make.sh` recorded about the folder it made.
fn facts() -> BTreeMap<String, String> {
    std::fs::read_to_string(Path::new(FIXTURE).join("FACTS"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A copy of `from`, world-readable (folders 0755, files 0644) as a
/// checkout or a careless copy may leave it.
fn copy_world_readable(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let copy = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_world_readable(&entry.path(), &copy);
        } else {
            std::fs::copy(entry.path(), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// `devicetrust serve` on `data`; stopped with SIGTERM by [`Served::stop`].
struct Served {
    child: Child,
    base: String,
    first_line: Value,
    agent: ureq::Agent,
}

impl Served {
    fn start(data: &Path) -> Self {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        if first.is_empty() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve did not start on the old folder: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let first_line: Value = serde_json::from_str(&first).unwrap();
        assert!(first_line["listening"].is_string(), "{first}");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            first_line,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("SSWS {token}"));
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn admin_json(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, Some(token));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A clean stop (SIGTERM), as an operator's service manager does.
    fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only when a check failed before `stop`: no stray server.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The applied migrations: version → when.
fn migrations(data: &Path) -> BTreeMap<i64, i64> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("devices.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The mode of `path` and of everything under it.
fn modes(path: &Path, out: &mut BTreeMap<PathBuf, u32>) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    out.insert(path.to_owned(), meta.permissions().mode() & 0o777);
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            modes(&entry.unwrap().path(), out);
        }
    }
}

fn assert_private(data: &Path) {
    let mut all = BTreeMap::new();
    modes(data, &mut all);
    for (path, mode) in all {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

/// What an admin sees of the old state, to compare two starts.
fn admin_view(served: &Served, facts: &BTreeMap<String, String>) -> Value {
    let token = &facts["adminToken"];
    let device = &facts["deviceId"];
    let view = serde_json::json!({
        "devices": served.admin_json("/api/v1/devices", token),
        "users": served.admin_json(&format!("/api/v1/devices/{device}/users"), token),
        "integrations": served.admin_json("/api/v1/device-integrations", token),
    });
    // Links name the server they came from (its port changes per start).
    let text = view.to_string().replace(&served.base, "BASE");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_data_folder_of_the_16c7867_release_opens_migrated_with_everything_in_it() {
    let facts = facts();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_world_readable(&Path::new(FIXTURE).join("data"), &data);
    assert_eq!(
        migrations(&data).keys().max(),
        Some(&OLD_SCHEMA_VERSION),
        "the fixture is not the old schema"
    );
    assert!(latest_schema_version() > OLD_SCHEMA_VERSION);

    let served = Served::start(&data);
    // An existing folder: no new admin token is made.
    assert!(
        served.first_line.get("adminToken").is_none(),
        "{}",
        served.first_line
    );
    // Private while running, the database's -wal and -shm included.
    assert_private(&data);

    // The old admin token still works, and the device is there with its user.
    let view = admin_view(&served, &facts);
    let devices = view["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let device = &devices[0];
    assert_eq!(device["id"], facts["deviceId"].as_str());
    assert_eq!(device["status"], "ACTIVE");
    assert_eq!(device["profile"]["platform"], "WINDOWS");
    assert_eq!(device["profile"]["sid"], facts["sid"].as_str());
    let users = view["users"].to_string();
    assert!(users.contains(&facts["userId"]), "{users}");
    // A wrong token is still refused (the check is not simply gone).
    let (status, _) = served.get("/api/v1/devices", Some("not-the-token"));
    assert_eq!(status, 401);

    // The SCEP integration is listed and still served.
    let integrations = view["integrations"].as_array().unwrap();
    assert_eq!(integrations.len(), 1, "{integrations:?}");
    assert_eq!(integrations[0]["id"], facts["integrationId"].as_str());
    assert_eq!(integrations[0]["status"], "ACTIVE");
    let (status, caps) = served.get(&format!("{}?operation=GetCACaps", facts["scepPath"]), None);
    assert_eq!(status, 200, "{caps}");
    assert!(caps.contains("POSTPKIOperation"), "{caps}");
    served.stop();

    // Migrated to the latest schema, every step recorded once.
    let applied = migrations(&data);
    let versions: Vec<i64> = applied.keys().copied().collect();
    assert_eq!(versions, (1..=latest_schema_version()).collect::<Vec<_>>());
    assert_private(&data);

    // The certificate enrolled over SCEP is still in the issuance ledger.
    let serial: SerialNumber = facts["scepSerial"].parse().unwrap();
    let ledger_count = {
        let store = SqliteStore::open(&data.join("devices.sqlite3")).unwrap();
        let issued = store
            .read(|tx| tx.ledger_get(&serial))
            .unwrap()
            .unwrap_or_else(|| panic!("{serial} is no longer in the ledger"));
        assert_eq!(issued.serial, serial);
        assert!(
            issued.subject.contains("upgrade-fixture"),
            "{}",
            issued.subject
        );
        assert!(issued.revocation.is_none());
        store.ledger_count().unwrap()
    };

    // The settings and desktop configuration files were imported into the
    // database, once: the folder keeps only key material.
    assert!(!data.join("service.json").exists());
    assert!(data.join("service.json.imported").exists());
    assert!(!data.join("integrations.json").exists());
    assert!(data.join("integrations.json.imported").exists());
    let imported = std::fs::read(data.join("service.json.imported")).unwrap();

    // A second start changes nothing.
    let served = Served::start(&data);
    assert!(served.first_line.get("adminToken").is_none());
    assert_eq!(admin_view(&served, &facts), view);
    let (status, _) = served.get(&format!("{}?operation=GetCACaps", facts["scepPath"]), None);
    assert_eq!(status, 200);
    served.stop();
    assert_eq!(migrations(&data), applied, "a second start migrated again");
    let store = SqliteStore::open(&data.join("devices.sqlite3")).unwrap();
    assert_eq!(store.ledger_count().unwrap(), ledger_count);
    assert!(store.read(|tx| tx.ledger_get(&serial)).unwrap().is_some());
    drop(store);
    assert_eq!(
        std::fs::read(data.join("service.json.imported")).unwrap(),
        imported,
        "the imported file is left as it was"
    );
    assert_private(&data);
}
