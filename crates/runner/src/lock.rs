//! One run, one owner: an exclusive lock on `<run>/run.lock`, released by the OS when its owner
//! exits (also when it dies), so a crashed run never leaves a stuck lock.

use std::fs::{File, TryLockError};
use std::path::Path;

use anyhow::{Context, Result};

/// A held run lock; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of the run folder `dir`; `None` when another process holds it.
    pub fn try_acquire(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("run.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}
