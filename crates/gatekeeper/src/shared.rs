//! A gatekeeper that many threads of a service share, and whose policies a reviewed
//! deployment swaps in atomically; pinned to a digest, it takes only that reviewed set.

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
/// // Pinned to the reviewed set's digest, it refuses any other set.
/// shared.pin(shared.current().digest());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedGatekeeper {
    state: Arc<RwLock<State>>,
}

/// The policies in force and the digest they are pinned to.
struct State {
    current: Arc<Gatekeeper>,
    pinned: Option<String>,
}

/// Why a reload left the policies in force as they were.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The directory did not load: every problem, with file:line.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The handle is pinned to another set.
    #[error(
        "the handle is pinned to `{pinned}` and the new policies are `{found}`; the policies in force stay"
    )]
    NotPinned {
        /// The digest the handle is pinned to.
        pinned: String,
        /// The digest of the set refused.
        found: String,
    },
}

impl SharedGatekeeper {
    /// Shares `gate`.
    pub fn new(gate: Gatekeeper) -> Self {
        SharedGatekeeper {
            state: Arc::new(RwLock::new(State {
                current: Arc::new(gate),
                pinned: None,
            })),
        }
    }

    /// The policies in force now. A decision made with them finishes on them, whatever a
    /// reload does meanwhile.
    pub fn current(&self) -> Arc<Gatekeeper> {
        // The lock only guards a pointer swap, which can't panic halfway: a poisoned lock
        // still holds a whole policy set.
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&state.current)
    }

    /// Pins this handle (and its clones) to the set whose digest is `digest` (see
    /// [`crate::digest`]): every later reload of another set is refused. Pinning again
    /// replaces the pin.
    pub fn pin(&self, digest: impl Into<String>) {
        self.write().pinned = Some(digest.into());
    }

    /// The digest this handle is pinned to, if any.
    pub fn pinned(&self) -> Option<String> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.pinned.clone()
    }

    /// Loads the policies of `dir` and puts them in force for every later [`current`]. On any
    /// problem, the policies in force stay, and every problem is returned with file:line. A
    /// pinned handle takes only the set it is pinned to (checked under the lock that swaps
    /// it in, so a pin and a reload can't cross). The decision log attached to the policies in
    /// force is attached to the new ones.
    ///
    /// [`current`]: SharedGatekeeper::current
    pub fn reload_from_dir(&self, dir: &Path) -> Result<(), ReloadError> {
        let mut gate = Gatekeeper::from_dir(dir)?;
        let mut state = self.write();
        if let Some(pinned) = &state.pinned
            && pinned != gate.digest()
        {
            return Err(ReloadError::NotPinned {
                pinned: pinned.clone(),
                found: gate.digest().to_owned(),
            });
        }
        if let Some(log) = state.current.decision_log() {
            gate = gate.with_decision_log(Arc::clone(log));
        }
        state.current = Arc::new(gate);
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}
