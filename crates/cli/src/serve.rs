//! `devicetrust serve` and `devicetrust integrations …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use devicetrust_pki::scep::{ChallengeKind, ContentEncryption, ScepConfig};
use devicetrust_pki::{Backend, KeyPolicy};
use devicetrust_server::api::router;
use devicetrust_server::ops;
use devicetrust_server::{DataDir, Service, ServiceOptions};
use serde_json::json;

use crate::CliError;
use crate::output::print_json;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data folder (created on first start).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on (`:0` picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL devices reach the service at (default: http(s)://<listen address>).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Device-integration commands.
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Add a platform configuration; prints its URL and secrets once.
    Add {
        /// The platform.
        #[arg(value_enum)]
        platform: Platform,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
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
    },
    /// List the configurations (without secrets).
    List {
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
    },
}

/// A platform.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Platform {
    /// Windows and macOS, with SCEP.
    Desktop,
}

/// A challenge type.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChallengeArg {
    /// One secret key.
    Static,
    /// NDES-style one-time challenges.
    Dynamic,
}

pub(crate) fn integrations(
    cmd: IntegrationsCommand,
    backend: &'static dyn Backend,
) -> Result<(), CliError> {
    match cmd {
        IntegrationsCommand::Add {
            platform: Platform::Desktop,
            data,
            challenge,
            base_url,
            allow_sha1,
            allow_des,
            manual_approval,
        } => {
            let dir = DataDir::new(&data);
            let ca = dir.open_or_init_ca(backend).map_err(failed)?;
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
            let kind = match challenge {
                ChallengeArg::Static => ChallengeKind::Static,
                ChallengeArg::Dynamic => ChallengeKind::Dynamic,
            };
            let created = dir
                .add_desktop(&ca, kind, &base_url, scep)
                .map_err(failed)?;
            print_json(&serde_json::to_value(&created).map_err(failed)?);
        }
        IntegrationsCommand::List { data } => {
            let list = DataDir::new(&data).integrations().map_err(failed)?;
            print_json(&serde_json::to_value(&list).map_err(failed)?);
        }
    }
    Ok(())
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub(crate) fn serve(args: &ServeArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ops::tls_config(cert, key).map_err(failed)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        let options = ServiceOptions {
            base_url: args
                .base_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{addr}")),
            ..ServiceOptions::default()
        };
        let opened = Service::open(DataDir::new(&args.data), backend, options).map_err(failed)?;
        let ids = opened.service.endpoints().ids();
        let mut started = json!({
            "listening": addr.to_string(),
            "scep": ids.iter().map(|id| format!("{scheme}://{addr}/scep/{id}/pkiclient.exe")).collect::<Vec<_>>(),
        });
        if let (Some(token), Some(map)) = (&opened.admin_token, started.as_object_mut()) {
            // Shown this once; only its SHA-256 is kept.
            map.insert("adminToken".into(), json!(token.as_str()));
        }
        print_json(&started);
        tracing::info!(%addr, "serving");
        let listen = ops::ListenOptions {
            tls,
            ..ops::ListenOptions::default()
        };
        ops::serve_until(listener, router(opened.service), listen, ops::shutdown_signal())
            .await
            .map_err(failed)
    })
}
