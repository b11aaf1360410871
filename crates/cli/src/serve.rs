//! `devicetrust serve` and `devicetrust integrations …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use devicetrust_pki::scep::{ContentEncryption, ScepConfig};
use devicetrust_pki::{Backend, KeyPolicy};
use devicetrust_server::api::router_with;
use devicetrust_server::ops;
use devicetrust_service::integrations::{self, IntegrationPlatform};
use devicetrust_service::intune::IntuneSettings;
use devicetrust_service::{DataDir, NewChallenge, Service, ServiceOptions};
use serde_json::json;
use zeroize::Zeroizing;

use crate::CliError;
use crate::output::print_json;

/// The environment variable `--database` may come from (it may hold a
/// password, which a command line would show to every user of the machine).
pub const DATABASE_URL_ENV: &str = "DEVICETRUST_DATABASE_URL";

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The data folder: the CA's keys are created in it.
    #[arg(long)]
    pub data: PathBuf,
    /// A PostgreSQL database (`postgres://user@host/db`) to keep everything
    /// but the keys in, shared by every replica; without it, SQLite in the folder.
    #[arg(long, env = DATABASE_URL_ENV, hide_env_values = true)]
    pub database: Option<String>,
}

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The data folder whose SQLite database is copied (left as it is).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into; it must hold no data yet.
    #[arg(long, env = DATABASE_URL_ENV, hide_env_values = true)]
    pub to: String,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data folder (created on first start when there is no --database).
    #[arg(long)]
    pub data: PathBuf,
    /// The PostgreSQL database this replica shares with the others, made by
    /// `devicetrust init --database`; without it, SQLite in the folder.
    #[arg(long, env = DATABASE_URL_ENV, hide_env_values = true)]
    pub database: Option<String>,
    /// Address to listen on (`:0` picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address `/metrics` is served on, apart from the API: loopback by
    /// default, since request counts and outcomes are for the operator
    /// (`:0` picks a free port, printed at start as `metrics`).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,
    /// The URL devices reach the service at (default: `http(s)://<listen address>`).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Connections open at once; past it, new ones get 503 and are closed.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Requests in flight for a route family, as FAMILY=N (admin, device,
    /// decision, scep or other; repeatable); past it, 503 with Retry-After.
    /// Defaults: admin=64 device=512 decision=512 scep=64 other=64.
    #[arg(long, value_name = "FAMILY=N", value_parser = family_cap)]
    pub max_requests: Vec<(ops::admission::Family, usize)>,
    /// A load balancer or proxy (ADDRESS or ADDRESS/PREFIX; repeatable)
    /// whose X-Forwarded-For is believed: the client is then the rightmost
    /// address it lists that is not a trusted proxy. Without one, the
    /// failure limits and the System Log see the balancer as the source.
    #[arg(long, value_name = "RANGE")]
    pub trusted_proxy: Vec<ops::proxy::IpRange>,
}

/// `FAMILY=N` of `--max-requests`.
fn family_cap(value: &str) -> Result<(ops::admission::Family, usize), String> {
    let (family, cap) = value
        .split_once('=')
        .ok_or_else(|| format!("expected FAMILY=N, got {value:?}"))?;
    let family = family.parse().map_err(|e| format!("{e}"))?;
    let cap = cap
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{cap:?} is not a positive number"))?;
    Ok((family, cap))
}

/// Device-integration commands.
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Add a platform configuration; prints its URL and secrets once.
    Add {
        /// The platform.
        #[arg(value_enum)]
        platform: Platform,
        /// The desktop operating system this configuration is for.
        #[arg(long, value_enum, default_value_t = DesktopOs::Macos)]
        os: DesktopOs,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// The deployment's shared PostgreSQL database, if it has one (as `serve --database`).
        #[arg(long, env = DATABASE_URL_ENV, hide_env_values = true)]
        database: Option<String>,
        /// How devices are admitted.
        #[arg(long, value_enum, default_value_t = ChallengeArg::Static)]
        challenge: ChallengeArg,
        /// The URL devices reach the service at.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// Accept SHA-1 digests and signatures (old clients such as micromdm's scepclient).
        #[arg(long)]
        allow_sha1: bool,
        /// Accept single DES (old clients). Refused by default.
        #[arg(long)]
        allow_des: bool,
        /// Hold each request for an admin's approval.
        #[arg(long)]
        manual_approval: bool,
        /// Intune settings (with `--challenge intune`).
        #[command(flatten)]
        intune: IntuneArgs,
    },
    /// List the configurations (without secrets).
    List {
        /// The data folder.
        #[arg(long, required_unless_present = "database")]
        data: Option<PathBuf>,
        /// A shared PostgreSQL database (as `serve --database`), read instead of the folder.
        #[arg(long, env = DATABASE_URL_ENV, hide_env_values = true)]
        database: Option<String>,
    },
}

/// Where and as whom to reach Intune (`--challenge intune`).
#[derive(Debug, Default, clap::Args)]
pub struct IntuneArgs {
    /// The Entra ID tenant (ID or domain, e.g. contoso.onmicrosoft.com).
    #[arg(long)]
    pub intune_tenant: Option<String>,
    /// The registered application's client ID.
    #[arg(long)]
    pub intune_client_id: Option<String>,
    /// A file holding the application's client secret (else the
    /// DEVICETRUST_INTUNE_CLIENT_SECRET environment variable). Never on the command line.
    #[arg(long)]
    pub intune_client_secret_file: Option<PathBuf>,
    /// Entra ID's authority (default `https://login.microsoftonline.com`).
    #[arg(long)]
    pub intune_authority_url: Option<String>,
    /// Microsoft Graph, for service discovery (default `https://graph.microsoft.com`).
    #[arg(long)]
    pub intune_graph_url: Option<String>,
    /// A fixed validation-service URL, skipping discovery.
    #[arg(long)]
    pub intune_service_url: Option<String>,
    /// A PEM bundle to trust for the Intune endpoints instead of the system's roots.
    #[arg(long)]
    pub intune_ca_file: Option<PathBuf>,
}

/// The environment variable the Intune client secret may come from.
pub const INTUNE_SECRET_ENV: &str = "DEVICETRUST_INTUNE_CLIENT_SECRET";

impl IntuneArgs {
    fn challenge(self) -> Result<NewChallenge, CliError> {
        let missing = |flag: &str| CliError::Failed(format!("--challenge intune needs {flag}"));
        let tenant = self
            .intune_tenant
            .ok_or_else(|| missing("--intune-tenant"))?;
        let client_id = self
            .intune_client_id
            .ok_or_else(|| missing("--intune-client-id"))?;
        let client_secret = match &self.intune_client_secret_file {
            Some(path) => {
                let raw = Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?,
                );
                Zeroizing::new(raw.trim().to_owned())
            }
            None => Zeroizing::new(std::env::var(INTUNE_SECRET_ENV).map_err(|_| {
                missing(&format!(
                    "--intune-client-secret-file or {INTUNE_SECRET_ENV}"
                ))
            })?),
        };
        let mut settings = IntuneSettings::new(tenant, client_id);
        if let Some(url) = self.intune_authority_url {
            settings.authority_url = url;
        }
        if let Some(url) = self.intune_graph_url {
            settings.graph_url = url;
        }
        settings.service_url = self.intune_service_url;
        settings.ca_file = self
            .intune_ca_file
            .map(|p| p.to_string_lossy().into_owned());
        Ok(NewChallenge::Intune {
            settings,
            client_secret,
        })
    }

    fn any(&self) -> bool {
        self.intune_tenant.is_some()
            || self.intune_client_id.is_some()
            || self.intune_client_secret_file.is_some()
            || self.intune_authority_url.is_some()
            || self.intune_graph_url.is_some()
            || self.intune_service_url.is_some()
            || self.intune_ca_file.is_some()
    }
}

/// A platform.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Platform {
    /// Windows and macOS, with SCEP.
    Desktop,
}

/// A desktop operating system.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DesktopOs {
    /// macOS.
    Macos,
    /// Windows.
    Windows,
}

/// A challenge type.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChallengeArg {
    /// One secret key.
    Static,
    /// NDES-style one-time challenges.
    Dynamic,
    /// Delegated to Microsoft Intune's SCEP validation service.
    Intune,
}

pub(crate) fn integrations(
    cmd: IntegrationsCommand,
    backend: &'static dyn Backend,
) -> Result<(), CliError> {
    match cmd {
        IntegrationsCommand::Add {
            platform: Platform::Desktop,
            os,
            data,
            database,
            challenge,
            base_url,
            allow_sha1,
            allow_des,
            manual_approval,
            intune,
        } => {
            let mut scep = ScepConfig {
                manual_approval,
                ..ScepConfig::default()
            };
            scep.policy.key_policy = KeyPolicy {
                allow_sha1,
                ..KeyPolicy::default()
            };
            if allow_des {
                scep.policy.minimum_encryption = ContentEncryption::DesCbc;
            }
            if !matches!(challenge, ChallengeArg::Intune) && intune.any() {
                return Err(CliError::Failed(
                    "the --intune-* options go with --challenge intune".into(),
                ));
            }
            let new = match challenge {
                ChallengeArg::Static => NewChallenge::Static,
                ChallengeArg::Dynamic => NewChallenge::Dynamic,
                ChallengeArg::Intune => intune.challenge()?,
            };
            // Through the service, as the admin API does, so the admin API
            // lists it and attestation trusts it. A running service picks it
            // up at its next start; while it runs, use the admin API instead.
            let options = ServiceOptions {
                base_url,
                ..ServiceOptions::default()
            };
            let opened = Service::open(data_dir(&data, database.as_deref()), backend, options)
                .map_err(CliError::failed)?;
            let platform = match os {
                DesktopOs::Macos => IntegrationPlatform::Macos,
                DesktopOs::Windows => IntegrationPlatform::Windows,
            };
            let now = time::OffsetDateTime::now_utc();
            let (_, created) = opened
                .service
                .add_scep_integration(platform, new, scep, "cli", now)
                .map_err(CliError::failed)?;
            let mut out = serde_json::to_value(&created).map_err(CliError::failed)?;
            if let (Some(token), Some(map)) = (&opened.admin_token, out.as_object_mut()) {
                // The data folder was new: its admin token, shown this once.
                map.insert("adminToken".into(), json!(token.as_str()));
            }
            print_json(&out);
        }
        IntegrationsCommand::List { data, database } => {
            let list = match (&database, &data) {
                (Some(url), _) => integrations::read_shared_integrations(url),
                (None, Some(data)) => integrations::read_integrations(data),
                (None, None) => {
                    return Err(CliError::Usage("give --data DIR or --database URL".into()));
                }
            }
            .map_err(CliError::failed)?;
            print_json(&serde_json::to_value(&list).map_err(CliError::failed)?);
        }
    }
    Ok(())
}

/// The data folder with its database, if any.
fn data_dir(data: &std::path::Path, database: Option<&str>) -> DataDir {
    let dir = DataDir::new(data);
    match database {
        Some(url) => dir.with_database(url),
        None => dir,
    }
}

/// `devicetrust init`: creates the CA and the schema once and prints the
/// admin token, shown this once.
pub(crate) fn init(args: &InitArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let dir = data_dir(&args.data, args.database.as_deref()).initializing();
    let opened = Service::open(dir, backend, ServiceOptions::default())
        .map_err(|e| CliError::from_kind(&e))?;
    let Some(token) = &opened.admin_token else {
        return Err(CliError::Failed(format!(
            "{} is already initialised; its admin token was shown when it was",
            args.data.display()
        )));
    };
    print_json(&json!({
        "adminToken": token.as_str(),
        "database": opened.service.database_engine(),
        "caRootSha256": opened.service.ca_root_sha256(),
    }));
    Ok(())
}

/// `devicetrust migrate`: copies the folder's embedded database into
/// PostgreSQL; prints the rows copied per table.
pub(crate) fn migrate(args: &MigrateArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let report = DataDir::new(&args.from)
        .migrate_to_postgres(backend, &args.to)
        .map_err(|e| CliError::from_kind(&e))?;
    print_json(&json!({
        "copied": report.rows,
        "next": format!(
            "devicetrust serve --data {} --database URL (or {DATABASE_URL_ENV}) on each replica",
            args.from.display()
        ),
    }));
    Ok(())
}

pub(crate) fn serve(args: &ServeArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::failed)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ops::tls_config(cert, key).map_err(CliError::failed)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    runtime.block_on(async move {
        let listener = ops::bind(args.listen).map_err(CliError::failed)?;
        let addr = listener.local_addr().map_err(CliError::failed)?;
        let metrics_listener = tokio::net::TcpListener::bind(args.metrics_listen)
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "--metrics-listen {}: {e} (another serve on this machine? give each its own, or :0)",
                    args.metrics_listen
                ))
            })?;
        let metrics_addr = metrics_listener.local_addr().map_err(CliError::failed)?;
        let options = ServiceOptions {
            base_url: args
                .base_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{addr}")),
            ..ServiceOptions::default()
        };
        let dir = data_dir(&args.data, args.database.as_deref());
        let opened = Service::open(dir, backend, options).map_err(CliError::failed)?;
        let ids = opened.service.endpoints().ids();
        let mut started = json!({
            "listening": addr.to_string(),
            "metrics": metrics_addr.to_string(),
            "scep": ids.iter().map(|id| format!("{scheme}://{addr}/scep/{id}/pkiclient.exe")).collect::<Vec<_>>(),
        });
        if let (Some(token), Some(map)) = (&opened.admin_token, started.as_object_mut()) {
            // Shown this once; only its SHA-256 is kept.
            map.insert("adminToken".into(), json!(token.as_str()));
        }
        print_json(&started);
        tracing::info!(%addr, "serving");
        let metrics = std::sync::Arc::new(ops::Metrics::new());
        let listen = ops::ListenOptions {
            tls,
            max_connections: args.max_connections as usize,
            metrics: Some(metrics.clone()),
            trusted_proxies: std::sync::Arc::new(ops::proxy::TrustedProxies::new(
                args.trusted_proxy.clone(),
            )),
            ..ops::ListenOptions::default()
        };
        let mut limits = ops::Limits::default();
        for (family, cap) in &args.max_requests {
            limits.concurrency.set(*family, *cap);
        }
        let failures = opened.service.auth_failures().clone();
        let app = router_with(opened.service, metrics.clone(), limits);
        let (served, metrics_served) = tokio::join!(
            ops::serve_until(listener, app, listen, ops::shutdown_signal()),
            ops::serve_until(
                metrics_listener,
                ops::metrics_router(metrics),
                ops::ListenOptions::default(),
                ops::shutdown_signal(),
            ),
        );
        // Failed authentications still being folded are written before exit.
        if let Err(e) = failures.flush(time::OffsetDateTime::now_utc()) {
            tracing::warn!(error = %e, "could not record the last failed authentications");
        }
        served.map_err(CliError::failed)?;
        metrics_served.map_err(CliError::failed)
    })
}
