//! A gatekeeper that many threads of a service share, and whose policies a reviewed
//! deployment swaps in atomically.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use crate::{Gatekeeper, LoadError};

/// A [`Gatekeeper`] shared by every thread of a service, reloadable while they decide.
/// Cloning it is cheap: clones share the policies in force.
///
/// ```
/// use gatekeeper::{Gatekeeper, SharedGatekeeper};
///
/// let shared = SharedGatekeeper::new(Gatekeeper::bundled()?);
/// let worker = shared.clone();
/// std::thread::spawn(move || {
///     let gate = worker.current(); // decisions made with `gate` finish on these policies
///     drop(gate);
/// })
/// .join()
/// .unwrap();
/// // A directory that fails to load changes nothing and says why, with file:line.
/// assert!(shared.reload_from_dir(std::path::Path::new("/nonexistent")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedGatekeeper {
    current: Arc<RwLock<Arc<Gatekeeper>>>,
}

impl SharedGatekeeper {
    /// Shares `gate`.
    pub fn new(gate: Gatekeeper) -> Self {
        SharedGatekeeper {
            current: Arc::new(RwLock::new(Arc::new(gate))),
        }
    }

    /// The policies in force now. A decision made with them finishes on them, whatever a
    /// reload does meanwhile.
    pub fn current(&self) -> Arc<Gatekeeper> {
        // The lock only guards a pointer swap, which can't panic halfway: a poisoned lock
        // still holds a whole policy set.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Loads the policies of `dir` and puts them in force for every later [`current`]. On any
    /// problem, the policies in force stay, and every problem is returned with file:line.
    ///
    /// [`current`]: SharedGatekeeper::current
    pub fn reload_from_dir(&self, dir: &Path) -> Result<(), LoadError> {
        let gate = Arc::new(Gatekeeper::from_dir(dir)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = gate;
        Ok(())
    }
}
