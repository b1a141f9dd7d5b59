//! What an instance's process does between `fork` and `exec`, before any user code runs:
//! join its cgroups (it writes `0`, "myself", to the cgroup's `cgroup.procs`), ask the
//! kernel to kill it when eddy dies (so a `kill -9` of eddy leaves no instance behind), and
//! cap its open files at the platform's 1,024 descriptors shared by its concurrent requests.
//!
//! The kernel sends the parent-death signal when the *thread* that forked the child ends, not
//! only the process: instances are spawned from the async runtime's worker threads, which live
//! as long as eddy's runtime does (never from `spawn_blocking` threads, which retire when idle).
//!
//! A sandboxed instance then enters its namespaces and minimal root (`child/namespaces.rs`).

mod namespaces;

use std::fs::File;
use std::io;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;

use crate::sandbox::Plan;

/// File descriptors per instance, shared by all its concurrent invocations (the seeds' figure).
pub(crate) const MAX_OPEN_FILES: u64 = 1024;

/// The set-up of one child, prepared in the parent (nothing in the hook may allocate).
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// The instance cgroups' `cgroup.procs` files, opened for writing.
    pub cgroup_procs: Vec<File>,
    /// `RLIMIT_NOFILE` for the child: [`MAX_OPEN_FILES`], or eddy's own hard limit if lower
    /// (an unprivileged child cannot raise it).
    pub open_files: u64,
    /// The sandbox to enter last, if the instance is sandboxed (see `crate::sandbox`).
    pub sandbox: Option<Plan>,
}

impl ChildSetup {
    pub(crate) fn new(cgroup_procs: Vec<File>) -> Self {
        let hard = getrlimit(Resource::RLIMIT_NOFILE).map_or(MAX_OPEN_FILES, |(_, hard)| hard);
        Self {
            cgroup_procs,
            open_files: MAX_OPEN_FILES.min(hard),
            sandbox: None,
        }
    }
}

/// Whether instances can be sandboxed here (root, and the kernel allows the namespaces);
/// the reason when not.
pub(crate) fn probe_namespaces() -> Result<(), String> {
    namespaces::probe()
}

/// The Landlock ABI version of this kernel, 0 where it has none.
pub(crate) fn landlock_abi() -> i64 {
    namespaces::landlock_abi()
}

/// Installs `setup` to run in the child between fork and exec.
#[expect(
    unsafe_code,
    reason = "pre_exec is the only way to act between fork and exec; the hook makes three system calls and nothing else"
)]
pub(crate) fn install(command: &mut tokio::process::Command, setup: ChildSetup) {
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // that are async-signal-safe (write(2) on a descriptor the parent opened, prctl(2),
    // setrlimit(2), and for a sandbox the clone/mount/prctl calls of `namespaces`, on strings
    // the parent prepared); it allocates nothing and takes no lock. The file moves into the closure,
    // so the descriptor stays open until the fork; it is closed in the parent when the command
    // is dropped and in the child at exec (std opens files close-on-exec).
    unsafe {
        command.pre_exec(move || {
            for procs in &setup.cgroup_procs {
                nix::unistd::write(procs, b"0").map_err(io::Error::from)?;
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            setrlimit(Resource::RLIMIT_NOFILE, setup.open_files, setup.open_files)
                .map_err(io::Error::from)?;
            if let Some(plan) = &setup.sandbox {
                namespaces::enter(plan)?;
            }
            Ok(())
        });
    }
}
