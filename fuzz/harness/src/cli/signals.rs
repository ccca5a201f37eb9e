//! SIGINT and SIGTERM: the first one asks the running command to stop cleanly (a campaign
//! prints its summary, a minimization keeps its best trace, a finding already on disk stays
//! there) and to exit with status 130 or 143; a second one ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// SIGINT's number.
pub const SIGINT: i32 = 2;
/// SIGTERM's number.
pub const SIGTERM: i32 = 15;

/// Flags set by the signal handlers.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    /// Install the handlers (a failure to install leaves the default behaviour: the process
    /// dies at the first signal, which loses nothing already written).
    pub fn install() -> Signals {
        let s = Signals::default();
        #[cfg(unix)]
        for (sig, flag) in [(SIGINT, &s.int), (SIGTERM, &s.term)] {
            // The exit-on-second-signal hook is registered first, so it sees the flag the
            // first signal set.
            let status = 128 + sig;
            let _ = signal_hook::flag::register_conditional_shutdown(sig, status, flag.clone());
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        s
    }

    /// The signal that arrived, if any (SIGINT first).
    pub fn received(&self) -> Option<i32> {
        if self.int.load(Ordering::Relaxed) {
            Some(SIGINT)
        } else if self.term.load(Ordering::Relaxed) {
            Some(SIGTERM)
        } else {
            None
        }
    }
}
