//! The allocator's setting that gives memory back. mimalloc keeps freed pages for a
//! while before it returns them to the OS, and only when the freeing thread allocates
//! again: after 2,000 idle connections closed, marketgate run without the setting
//! stayed at 19.6 MiB from 12.9 before them (bench/passthrough.sh, `idle`). With
//! `MIMALLOC_PURGE_DELAY=0` it returns them at once, for no CPU cost measured. The
//! variable is read when the allocator starts, before `main`, so a process started
//! without it runs itself again with it (the same binary, arguments and PID).

/// The variable.
pub const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// When the variable is not set, replaces this process with itself run with
/// `MIMALLOC_PURGE_DELAY=0`. Returns only when it did not (the variable was set, or
/// the exec failed: then the process goes on as it is, and says why).
pub fn purge_at_once() {
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // The running binary, even if the file was replaced since it started.
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(std::env::args_os().next().unwrap_or_default())
            .args(std::env::args_os().skip(1))
            .env(PURGE_DELAY, "0")
            .exec();
        eprintln!("marketgate: could not restart with {PURGE_DELAY}=0 ({err}); idle memory is given back later");
    }
}
