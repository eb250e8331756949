//! Lock helpers shared by every module: a poisoned mutex is recovered, not a panic
//! (the data behind our locks are counters and state machines that stay consistent
//! between calls).

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering from poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
