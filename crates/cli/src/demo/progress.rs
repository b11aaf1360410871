//! A progress indicator for steps that take longer than a moment: after
//! 300 ms a spinner with the elapsed time appears on stderr (when it is a
//! terminal), and is erased when the step ends.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Runs `work`, showing `label` with a spinner while it lasts.
pub(crate) fn with_progress<T>(label: &str, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let label = label.to_owned();
    let spinner = std::thread::spawn(move || {
        let started = Instant::now();
        let mut shown = false;
        let mut frame = 0usize;
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(80));
            if started.elapsed() < Duration::from_millis(300) {
                continue;
            }
            shown = true;
            frame = frame.wrapping_add(1);
            let glyph = FRAMES.get(frame % FRAMES.len()).copied().unwrap_or("*");
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r   {glyph} {label} ({:.1} s)\x1b[K",
                started.elapsed().as_secs_f64()
            );
            let _ = err.flush();
        }
        if shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    });
    let out = work();
    done.store(true, Ordering::Relaxed);
    let _ = spinner.join();
    out
}
