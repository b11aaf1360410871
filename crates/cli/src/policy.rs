//! `devicetrust policy …`: lint, evaluate with an explanation, and diff
//! app sign-on policies in Okta's JSON shapes.

use std::path::{Path, PathBuf};

use crate::commands::policy as commands;
use clap::Subcommand;

use crate::CliError;
use crate::output::read_input;

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load and lint a policy document; exit 1 on errors.
    Check {
        /// The document (`{policy, rules, zones, deviceAssurances}`).
        document: PathBuf,
    },
    /// Evaluate a document for a context and explain the decision (exit 0 whatever it is).
    Eval {
        /// The document.
        #[arg(long)]
        policy: PathBuf,
        /// The context (user, device, network, risk).
        #[arg(long)]
        context: PathBuf,
    },
    /// Who gains or loses access between two versions, over a fleet of contexts (JSON lines).
    Diff {
        /// The current version.
        old: PathBuf,
        /// The proposed version.
        new: PathBuf,
        /// One context per line.
        #[arg(long)]
        contexts: PathBuf,
    },
}

fn text(path: &Path) -> Result<String, CliError> {
    String::from_utf8(read_input(path)?)
        .map_err(|_| CliError::Usage(format!("{}: not UTF-8", path.display())))
}

pub(crate) fn run(cmd: PolicyCommand) -> Result<(), CliError> {
    let output = match cmd {
        PolicyCommand::Check { document } => commands::check(&text(&document)?),
        PolicyCommand::Eval { policy, context } => {
            commands::eval(&text(&policy)?, &text(&context)?)
        }
        PolicyCommand::Diff { old, new, contexts } => {
            commands::diff(&text(&old)?, &text(&new)?, &text(&contexts)?)
        }
    }
    .map_err(|e| CliError::Usage(e.to_string()))?;
    print!("{}", output.stdout);
    match output.exit_code {
        0 => Ok(()),
        2 => Err(CliError::Usage("bad input".into())),
        _ => Err(CliError::Failed("the policy has errors".into())),
    }
}
