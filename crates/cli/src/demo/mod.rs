//! `devicetrust demo`: the README's main job. It starts the service in
//! process on a loopback port with a temporary data folder, then tells the
//! guide's story over real HTTP (an admin, a managed Mac, alice, an
//! iPhone), checks every expectation on the way, and exits 0 only if all of
//! them held.

pub(crate) mod policies;
mod progress;
mod service;
mod steps;

use std::path::PathBuf;

use clap::Args;
use devicetrust_pki::Backend;

use crate::CliError;

/// Options of the demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the service's data folder here instead of a temporary one (must not exist yet).
    #[arg(long)]
    pub dir: Option<PathBuf>,
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
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().join("data"));
    println!(
        "devicetrust demo: device context end to end over HTTP (crypto backend: {})",
        backend.name()
    );
    let running = progress::with_progress("starting the service and creating its CA", || {
        service::start(&dir, backend)
    })?;
    println!(
        "service at {} with data in {} (admin token printed once at first start; stored hashed)",
        running.base_url,
        dir.display()
    );
    let mut n = Narrator {
        step: 0,
        checks: 0,
        failures: Vec::new(),
    };
    let story = steps::Story::new(&running, &dir, backend);
    let told = story.tell(&mut n);
    running.stop()?;
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
