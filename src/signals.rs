//! Signals and codever's helper threads.
//!
//! A signal sent to a process (`kill PID`, a scheduler's preemption, Ctrl-C, a
//! `multiprocessing` pool's `terminate()`) is delivered to *one* of its threads that does not
//! block it, usually but not always the main one. A program that handles it there — Python
//! runs its signal handlers only in its main thread, and only once that thread wakes up — can
//! miss it when the kernel picks a helper thread instead: the main thread stays asleep in a
//! blocking call and the process never ends. So every long-lived thread codever starts (its
//! thread pools, the S3 client's runtime) blocks SIGINT, SIGTERM and SIGHUP, and those signals
//! always reach a thread of the program's own.

/// The signals helper threads leave to the program's own threads.
#[cfg(unix)]
pub const LEFT_TO_THE_PROGRAM: [nix::sys::signal::Signal; 3] = [
    nix::sys::signal::Signal::SIGINT,
    nix::sys::signal::Signal::SIGTERM,
    nix::sys::signal::Signal::SIGHUP,
];

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread; for the start of a helper thread.
/// (It cannot fail with a valid set; if it did, the thread would only share signals as before.)
pub fn block_in_helper_thread() {
    #[cfg(unix)]
    {
        use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
        let mut set = SigSet::empty();
        for s in LEFT_TO_THE_PROGRAM {
            set.add(s);
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    }
}

/// Makes rayon's global thread pool, whose threads block the signals above. Call it before
/// anything else uses rayon (the Python extension does, when it is loaded); once the pool
/// exists, this changes nothing.
pub fn init_global_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| block_in_helper_thread())
        .build_global();
}

/// Set by the first SIGINT or SIGTERM once [`stop_transfers_on_interrupt`] was called.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For a command-line program: the first SIGINT (Ctrl-C) or SIGTERM asks a transfer under way
/// (`push`, `pull`, `sync`) to stop at its next piece of data, remove its temp files and report
/// [`crate::Error::Interrupted`] (what it finished stays; nothing half-written is visible either
/// way); a second one ends the process at once, as the signal would have (exit 130, 143).
/// Without it (the Python extension: Python has its own handlers), signals act as before.
pub fn stop_transfers_on_interrupt() {
    #[cfg(unix)]
    for (signal, status) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        // The shutdown first: it acts only once the flag is set, by the first signal.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, status, &INTERRUPTED);
        let _ = signal_hook::flag::register(signal, &INTERRUPTED);
    }
}

/// Whether a transfer was asked to stop (see [`stop_transfers_on_interrupt`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A rayon pool builder whose threads block the signals above.
pub fn pool_builder() -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new().start_handler(|_| block_in_helper_thread())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The signals blocked in the calling thread, from the kernel's own report.
    fn blocked_here() -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
    }

    fn bit(signal: nix::sys::signal::Signal) -> u64 {
        1 << (signal as i32 - 1)
    }

    #[test]
    fn helper_threads_block_termination_signals_and_only_those() {
        let (before, after) = std::thread::spawn(|| {
            let before = blocked_here();
            block_in_helper_thread();
            (before, blocked_here())
        })
        .join()
        .unwrap();
        for s in LEFT_TO_THE_PROGRAM {
            assert_eq!(before & bit(s), 0);
            assert_ne!(after & bit(s), 0, "{s} not blocked");
        }
        assert_eq!(
            after & !before,
            (1 << 1) | (1 << 14) | 1,
            "SIGINT, SIGTERM, SIGHUP only"
        );
        // A pool made by `pool_builder` runs its work on such threads.
        let pool = pool_builder().num_threads(2).build().unwrap();
        let in_pool = pool.install(|| rayon::join(blocked_here, blocked_here));
        for mask in [in_pool.0, in_pool.1] {
            for s in LEFT_TO_THE_PROGRAM {
                assert_ne!(mask & bit(s), 0, "a pool thread leaves {s} unblocked");
            }
        }
    }
}
