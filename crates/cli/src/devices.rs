//! `devicetrust devices …`: the device registry, in a data folder or a shared database.

use crate::commands::devices as commands;
use clap::Subcommand;

use crate::CliError;
use crate::output::print_json;

/// Device registry commands (JSON shaped like Okta's Devices API).
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Do what an Okta Verify enrollment does: create or update the device and bind the user.
    Enroll {
        /// Where the registry is.
        #[command(flatten)]
        at: commands::Location,
        /// The org.
        #[arg(long)]
        org: String,
        /// The user.
        #[arg(long)]
        user: String,
        /// ANDROID, IOS, MACOS, WINDOWS or CHROMEOS.
        #[arg(long)]
        platform: String,
        /// The device's display name.
        #[arg(long)]
        display_name: String,
        /// The device's UDID (re-enrolling the same UDID updates the device).
        #[arg(long)]
        udid: Option<String>,
    },
    /// List an org's devices.
    List {
        /// Where the registry is.
        #[command(flatten)]
        at: commands::Location,
        /// The org.
        #[arg(long)]
        org: String,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this platform.
        #[arg(long)]
        platform: Option<String>,
        /// Only this user's devices.
        #[arg(long)]
        user: Option<String>,
        /// The cursor from a previous page.
        #[arg(long)]
        after: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one device with its users, sessions, factors, certificates and audit trail.
    Show {
        /// Where the registry is.
        #[command(flatten)]
        at: commands::Location,
        /// The org.
        #[arg(long)]
        org: String,
        /// The device ID.
        #[arg(long)]
        id: String,
    },
    /// ACTIVE → SUSPENDED.
    Suspend(Target),
    /// SUSPENDED → ACTIVE.
    Unsuspend(Target),
    /// ACTIVE or SUSPENDED → DEACTIVATED (revokes the device's certificates).
    Deactivate(Target),
    /// DEACTIVATED → ACTIVE.
    Activate(Target),
    /// Delete a DEACTIVATED device.
    Delete(Target),
}

/// Which device.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Where the registry is.
    #[command(flatten)]
    pub at: commands::Location,
    /// The org.
    #[arg(long)]
    pub org: String,
    /// The device ID.
    #[arg(long)]
    pub id: String,
}

fn store_error(e: devicetrust_store::Error) -> CliError {
    CliError::from_kind(&e)
}

pub(crate) fn run(cmd: DevicesCommand) -> Result<(), CliError> {
    const ACTOR: &str = "cli";
    let value = match cmd {
        DevicesCommand::Enroll {
            at,
            org,
            user,
            platform,
            display_name,
            udid,
        } => commands::enroll(
            &at,
            &commands::EnrollArgs {
                org: &org,
                user: &user,
                platform: &platform,
                display_name: &display_name,
                udid: udid.as_deref(),
            },
            ACTOR,
        ),
        DevicesCommand::List {
            at,
            org,
            status,
            platform,
            user,
            after,
            limit,
        } => commands::list(
            &at,
            &org,
            &commands::ListArgs {
                status: status.as_deref(),
                platform: platform.as_deref(),
                user: user.as_deref(),
                after: after.as_deref(),
                limit,
            },
        ),
        DevicesCommand::Show { at, org, id } => commands::show(&at, &org, &id),
        DevicesCommand::Suspend(t) => commands::transition(&t.at, &t.org, &t.id, "suspend", ACTOR),
        DevicesCommand::Unsuspend(t) => {
            commands::transition(&t.at, &t.org, &t.id, "unsuspend", ACTOR)
        }
        DevicesCommand::Deactivate(t) => {
            commands::transition(&t.at, &t.org, &t.id, "deactivate", ACTOR)
        }
        DevicesCommand::Activate(t) => {
            commands::transition(&t.at, &t.org, &t.id, "activate", ACTOR)
        }
        DevicesCommand::Delete(t) => commands::transition(&t.at, &t.org, &t.id, "delete", ACTOR),
    }
    .map_err(store_error)?;
    print_json(&value);
    Ok(())
}
