//! The `devicetrust devices …` commands, as functions returning JSON, so the
//! CLI only parses arguments and prints. Each opens the registry where
//! [`Location`] says: the data folder's SQLite database, or a shared
//! PostgreSQL one.

use std::path::{Path, PathBuf};

use devicetrust_devices::{
    Actor, Cursor, DeviceError, DeviceFilter, DeviceId, DeviceProfile, DeviceStatus,
    EnrollmentRequest, Operation, OrgId, PageRequest, Platform, UserId,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

use devicetrust_store::{
    Database, Error, PostgresStore, Registry, Result, SqliteStore, database_path,
};

/// Where the registry is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Location {
    /// The data folder, whose SQLite database holds the registry.
    #[arg(long, required_unless_present = "database")]
    pub data: Option<PathBuf>,
    /// A shared PostgreSQL database (`serve --database`), which holds the
    /// registry instead; the folder is not needed.
    #[arg(long, env = crate::DATABASE_URL_ENV, hide_env_values = true)]
    pub database: Option<String>,
}

impl Location {
    /// The SQLite database of data folder `data`.
    pub fn folder(data: impl Into<PathBuf>) -> Self {
        Self {
            data: Some(data.into()),
            database: None,
        }
    }
}

/// Opens the registry: the PostgreSQL database if one is named (as it is:
/// a command beside running replicas never migrates their schema), else
/// the folder's SQLite database (creating it if needed; a new folder is
/// made private, 0700 on Unix, since the registry names users and devices).
pub fn open(at: &Location) -> Result<Registry<Database>> {
    match (&at.database, &at.data) {
        (Some(url), _) => Ok(Registry::new(Database::Postgres(
            PostgresStore::open_current(url)?,
        ))),
        (None, Some(data)) => Ok(Registry::new(Database::Sqlite(open_folder(data)?))),
        (None, None) => Err(Error::Config {
            what: "registry location",
            reason: "give --data DIR or --database URL".into(),
        }),
    }
}

fn open_folder(data: &Path) -> Result<SqliteStore> {
    if !data.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(data)
            .map_err(Error::storage("creating the data folder"))?;
    }
    SqliteStore::open(&database_path(data))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Corrupt {
        what: "command output",
        reason: e.to_string(),
    })
}

/// Parses a platform name (`MACOS`, `macos`).
pub fn parse_platform(s: &str) -> Result<Platform> {
    serde_json::from_value(Value::String(s.to_ascii_uppercase())).map_err(|_| {
        DeviceError::UnknownValue {
            field: "platform",
            value: s.chars().take(32).collect(),
        }
        .into()
    })
}

/// Arguments of `devices enroll`.
#[derive(Debug, Clone)]
pub struct EnrollArgs<'a> {
    /// `--org`.
    pub org: &'a str,
    /// `--user`.
    pub user: &'a str,
    /// `--platform`.
    pub platform: &'a str,
    /// `--display-name`.
    pub display_name: &'a str,
    /// `--udid`: recognises the same device enrolling again.
    pub udid: Option<&'a str>,
}

/// `devices enroll`: what an Okta Verify enrollment does; prints the device.
pub fn enroll(at: &Location, args: &EnrollArgs<'_>, actor: &str) -> Result<Value> {
    let mut profile = DeviceProfile::new(args.display_name, parse_platform(args.platform)?);
    profile.udid = args.udid.map(str::to_owned);
    let request = EnrollmentRequest::new(UserId::new(args.user)?, profile);
    let device = open(at)?.enroll(
        &OrgId::new(args.org)?,
        &Actor::new(actor)?,
        &request,
        OffsetDateTime::now_utc(),
    )?;
    to_json(&device)
}

/// Arguments of `devices list`.
#[derive(Debug, Clone, Default)]
pub struct ListArgs<'a> {
    /// `--status`.
    pub status: Option<&'a str>,
    /// `--platform`.
    pub platform: Option<&'a str>,
    /// `--user`.
    pub user: Option<&'a str>,
    /// `--after`: the `next` cursor of the previous page.
    pub after: Option<&'a str>,
    /// `--limit` (0: the maximum, 200).
    pub limit: usize,
}

/// `devices list --org ORG`: one page, `{"devices": [...], "next": cursor}`.
pub fn list(at: &Location, org: &str, args: &ListArgs<'_>) -> Result<Value> {
    let filter = DeviceFilter {
        status: args.status.map(str::parse::<DeviceStatus>).transpose()?,
        platform: args.platform.map(parse_platform).transpose()?,
        user: args.user.map(UserId::new).transpose()?,
    };
    let page = PageRequest {
        after: args.after.map(Cursor::parse).transpose()?,
        limit: args.limit,
    };
    to_json(&open(at)?.list(&OrgId::new(org)?, &filter, &page)?)
}

/// `devices stale --org ORG --days N`: devices with no users, or not seen
/// for `days` days; one page, as `list`.
pub fn stale(
    at: &Location,
    org: &str,
    days: u32,
    after: Option<&str>,
    limit: usize,
) -> Result<Value> {
    let page = PageRequest {
        after: after.map(Cursor::parse).transpose()?,
        limit,
    };
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    to_json(&open(at)?.stale(&OrgId::new(org)?, cutoff, &page)?)
}

/// `devices show --org ORG --id ID`: the device with its users, sessions,
/// factor enrollments, certificates and audit trail.
pub fn show(at: &Location, org: &str, id: &str) -> Result<Value> {
    let registry = open(at)?;
    let org = OrgId::new(org)?;
    let id = DeviceId::new(id)?;
    let device = registry.device(&org, &id)?;
    let query = devicetrust_devices::AuditQuery {
        device_id: Some(id.clone()),
        ..Default::default()
    };
    Ok(json!({
        "device": to_json(&device)?,
        "users": to_json(&registry.users(&org, &id)?)?,
        "sessions": to_json(&registry.sessions(&org, &id)?)?,
        "factorEnrollments": to_json(&registry.enrollments(&org, &id)?)?,
        "certificates": to_json(&registry.certificates(&org, &id)?.iter().map(|c| json!({
            "serial": c.serial.to_string(),
            "subject": c.subject,
            "revocation": c.revocation,
        })).collect::<Vec<_>>())?,
        "audit": to_json(&registry.audit(&org, &query)?)?,
    }))
}

/// `devices suspend|unsuspend|deactivate|activate|delete --org ORG --id ID`:
/// `{"device": ... or null, "event": audit event}`. An illegal transition is
/// an `Err` whose message names the from-state, operation and to-state.
pub fn transition(
    at: &Location,
    org: &str,
    id: &str,
    operation: &str,
    actor: &str,
) -> Result<Value> {
    let operation: Operation = operation.parse()?;
    let outcome = open(at)?.transition(
        &OrgId::new(org)?,
        &Actor::new(actor)?,
        &DeviceId::new(id)?,
        operation,
        OffsetDateTime::now_utc(),
    )?;
    to_json(&outcome)
}
