//! The `devicetrust` command line: argument definitions and the commands
//! behind them. The binary's `main` only parses arguments and calls [`run`].
//!
//! ```
//! use clap::Parser;
//! let cli = devicetrust_cli::Cli::try_parse_from(["devicetrust", "ca", "init", "--dir", "/tmp/ca", "--key", "p256"])
//!     .expect("valid arguments");
//! assert!(matches!(cli.command, devicetrust_cli::Command::Ca(_)));
//! ```

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api_client;
mod attest;
mod ca;
pub mod commands;
mod demo;
mod devices;
mod flows;
mod http_transport;
mod load;
mod output;
mod policy;
mod scep;
mod serve;

pub use attest::AttestCommand;
pub use ca::CaCommand;
pub use demo::DemoArgs;
pub use devices::DevicesCommand;
pub use load::LoadArgs;
pub use policy::PolicyCommand;
pub use scep::ScepCommand;
pub use serve::{
    DATABASE_URL_ENV, INTUNE_SECRET_ENV, InitArgs, IntegrationsCommand, IntuneArgs, MigrateArgs,
    ServeArgs,
};

/// Device context for access decisions: a CA for management attestation, and more.
#[derive(Debug, Parser)]
#[command(name = "devicetrust", version, about, propagate_version = true)]
pub struct Cli {
    /// Crypto backend: `rustcrypto` (pure Rust) or `aws-lc` (when built with the `aws-lc` feature).
    #[arg(long, global = true, default_value = "rustcrypto")]
    pub backend: String,

    /// Log format on stderr: `text`, or `json` (one object per line, for log pipelines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the certificate authority kept in a folder.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Walk through device trust end to end, narrating each step.
    Demo(DemoArgs),
    /// A SCEP client (RFC 8894), usable against any SCEP server.
    #[command(subcommand)]
    Scep(ScepCommand),
    /// Create a deployment once: the CA in a data folder and, with
    /// --database, the schema in PostgreSQL; prints the admin token once.
    Init(InitArgs),
    /// Copy an embedded deployment (a data folder's SQLite database) into an
    /// empty PostgreSQL database, for replicas.
    Migrate(MigrateArgs),
    /// Serve the SCEP endpoints of the configurations in a data folder.
    Serve(ServeArgs),
    /// Add and list device integrations (platform configurations).
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// The device registry: enroll, list, show, and lifecycle transitions.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Management attestation: desktop certificates, nonces, CA uploads.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// App sign-on policies: check, eval (with an explanation), diff.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Load the whole service on loopback: enrollments and authorize calls together.
    Load(LoadArgs),
}

/// A command's failure: a one-line reason and an exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad usage or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The operation failed (exit 1).
    #[error(transparent)]
    Pki(#[from] devicetrust_pki::Error),
    /// A file could not be read or written (exit 1).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A check did not hold (exit 1).
    #[error("{0}")]
    Failed(String),
    /// A SCEP request is pending approval (exit 3).
    #[error("the request is pending approval; poll later")]
    Pending,
}

impl CliError {
    /// The operation failed, for this reason (exit 1).
    pub fn failed(e: impl std::fmt::Display) -> Self {
        Self::Failed(e.to_string())
    }

    /// An error by its kind: bad input is a usage error (exit 2), anything
    /// else a failure (exit 1).
    pub fn from_kind<E: devicetrust_errors::HasKind + std::fmt::Display>(e: &E) -> Self {
        match e.kind() {
            devicetrust_errors::ErrorKind::Invalid => Self::Usage(e.to_string()),
            _ => Self::failed(e),
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Pending => 3,
            _ => 1,
        }
    }
}

fn backend(name: &str) -> Result<&'static dyn devicetrust_pki::Backend, CliError> {
    devicetrust_pki::backend_by_name(name).ok_or_else(|| {
        let known: Vec<&str> = devicetrust_pki::backends()
            .iter()
            .map(|b| b.name())
            .collect();
        CliError::Usage(format!(
            "unknown backend {name:?}; this build has: {}",
            known.join(", ")
        ))
    })
}

/// Runs a parsed command line, printing a one-line reason on failure.
pub fn run(cli: Cli) -> ExitCode {
    // The service logs each request at info; other commands stay quiet, and
    // the demo's narrative is not interleaved with the refusals it provokes.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Demo(_) => "error",
        _ => "warn",
    };
    init_logging(cli.log_format, default_level);
    let result = backend(&cli.backend).and_then(|backend| match cli.command {
        Command::Ca(cmd) => ca::run(cmd, backend),
        Command::Demo(args) => demo::run(&args, backend),
        Command::Scep(cmd) => scep::run(cmd, backend),
        Command::Init(args) => serve::init(&args, backend),
        Command::Migrate(args) => serve::migrate(&args, backend),
        Command::Serve(args) => serve::serve(&args, backend),
        Command::Integrations(cmd) => serve::integrations(cmd, backend),
        Command::Devices(cmd) => devices::run(cmd),
        Command::Attest(cmd) => attest::run(cmd, backend),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Load(args) => load::run(&args, backend),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devicetrust: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to stderr, at `default_level` unless `RUST_LOG` says otherwise,
/// so stdout stays machine-readable.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests calling run twice) is harmless; ignore it.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
