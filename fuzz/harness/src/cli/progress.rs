//! Progress while a command works: a live line on a terminal, a plain line every 10 seconds
//! otherwise (CI logs are read by people too), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed when standard error is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// A progress display on standard error.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last_plain: Instant,
}

impl Progress {
    /// A display: a spinner on a terminal, plain lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b
        });
        Progress {
            bar,
            plain: !quiet && !terminal,
            last_plain: Instant::now(),
        }
    }

    /// Show `msg` (on a terminal at once; as a plain line at most every 10 s).
    pub fn update(&mut self, elapsed: Duration, msg: impl FnOnce() -> String) {
        if let Some(b) = &self.bar {
            b.set_message(msg());
            b.tick();
        } else if self.plain && self.last_plain.elapsed() >= PLAIN_EVERY {
            self.last_plain = Instant::now();
            let line = msg().replace('\n', " ");
            super::output::note!("[{}s] {line}", elapsed.as_secs());
        }
    }

    /// Clear the live line.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
