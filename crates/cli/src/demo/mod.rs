//! `devicetrust demo`: the README's main job. It starts the service in
//! process on a loopback port with a temporary data folder, then tells the
//! guide's story over real HTTP (an admin, a managed Mac, alice, an
//! iPhone), checks every expectation on the way, and exits 0 only if all of
//! them held. With `--url` it tells the same story against a running
//! deployment (a balancer in front of replicas, say) instead.

pub(crate) mod policies;
mod progress;
mod service;
mod steps;

use std::path::PathBuf;

use clap::Args;
use devicetrust_pki::Backend;

use crate::CliError;
use crate::load::ADMIN_TOKEN_ENV;

/// Options of the demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the service's data folder here instead of a temporary one (must not exist yet).
    #[arg(long, conflicts_with = "url")]
    pub dir: Option<PathBuf>,
    /// Tell the story against the service at this URL instead of one of its
    /// own, with the admin token in DEVICETRUST_ADMIN_TOKEN. It adds an
    /// integration, devices and the demo's three policies: use a throwaway deployment.
    #[arg(long)]
    pub url: Option<String>,
}

/// Prints the story and counts expectations that did not hold.
pub(crate) struct Narrator {
    step: usize,
    checks: usize,
    failures: Vec<String>,
}

impl Narrator {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n{}. {title}", self.step);
    }

    fn say(&self, line: &str) {
        println!("   {line}");
    }

    fn check(&mut self, ok: bool, expectation: &str) -> bool {
        self.checks += 1;
        if ok {
            println!("   ✓ {expectation}");
        } else {
            self.failures
                .push(format!("step {}: {expectation}", self.step));
            println!("   ✗ {expectation}");
        }
        ok
    }
}

pub(crate) fn run(args: &DemoArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let temp = tempfile::tempdir().map_err(|source| CliError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    println!(
        "devicetrust demo: device context end to end over HTTP (crypto backend: {})",
        backend.name()
    );
    // A service of its own, unless pointed at a running deployment.
    let (running, story) = match &args.url {
        Some(url) => {
            let token = std::env::var(ADMIN_TOKEN_ENV).map_err(|_| {
                CliError::Usage(format!("--url needs the admin token in {ADMIN_TOKEN_ENV}"))
            })?;
            let base_url = url.trim_end_matches('/');
            println!("service at {base_url} (its data folder is on its own machines)");
            (None, steps::Story::new(base_url, &token, None, backend))
        }
        None => {
            let dir = args.dir.clone().unwrap_or_else(|| temp.path().join("data"));
            let running =
                progress::with_progress("starting the service and creating its CA", || {
                    service::start(&dir, backend)
                })?;
            println!(
                "service at {} with data in {} (admin token printed once at first start; stored hashed)",
                running.base_url,
                dir.display()
            );
            let story =
                steps::Story::new(&running.base_url, &running.admin_token, Some(dir), backend);
            (Some(running), story)
        }
    };
    let mut n = Narrator {
        step: 0,
        checks: 0,
        failures: Vec::new(),
    };
    let told = story.tell(&mut n);
    if let Some(running) = running {
        running.stop()?;
    }
    told?;
    println!();
    if n.failures.is_empty() {
        println!("All {} checks in {} steps held.", n.checks, n.step);
        Ok(())
    } else {
        for f in &n.failures {
            println!("did not hold: {f}");
        }
        Err(CliError::Failed(format!(
            "{} of {} expectation(s) did not hold",
            n.failures.len(),
            n.checks
        )))
    }
}
