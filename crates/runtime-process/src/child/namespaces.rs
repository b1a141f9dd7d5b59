//! Entering the sandbox between fork and exec (the plan comes from `sandbox.rs`). Three
//! processes per sandboxed instance:
//!
//! ```text
//! eddy ── keeper (eddy's child; host namespaces) ── init (pid 1 of the new namespaces)
//!                                                     └── the function (pid 2, exec'd)
//! ```
//!
//! The keeper is the process eddy knows: it forwards signals to init and exits as init does
//! (re-raising the signal that killed the function). Init builds the root (mounts, then
//! `pivot_root`), forks the function's process, forwards signals to it and reaps orphans:
//! the function itself must not be pid 1, which ignores signals it has no handler for
//! (SIGTERM would never stop a Go binary). When init ends, the kernel kills every process
//! left in the namespace; when the keeper dies, init gets SIGKILL (parent-death signal).
//!
//! Everything here runs in a forked copy of a multi-threaded process: only system calls,
//! no allocation, no locks. Forks are raw `clone` system calls (glibc's `fork` runs atfork
//! handlers).

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;

use crate::sandbox::{Plan, Step};

/// The namespaces of an instance; the network namespace stays the host's.
const NAMESPACES: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;

/// Signals the keeper and init pass on (SIGKILL cannot be caught: the parent-death signal
/// carries it down instead).
const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The process a keeper or init forwards signals to (each has its own copy).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Enters the sandbox of `plan`. Returns in the function's process only, ready to exec; the
/// keeper and init never return. An error is returned from the process that failed (std
/// reports it to eddy as the spawn's error); a message naming the step goes to stderr.
#[expect(
    unsafe_code,
    reason = "raw clone, mount and signal system calls between fork and exec"
)]
pub(super) fn enter(plan: &Plan) -> io::Result<()> {
    // SAFETY: a fork-like clone (no new stack, no shared memory) in a single-threaded process.
    let init = unsafe { clone(NAMESPACES) }?;
    if init != 0 {
        keep(init);
    }
    // init: pid 1 of the new namespaces.
    set_parent_death_signal()?;
    build_root(plan)?;
    // SAFETY: as above.
    let function = unsafe { clone(0) }?;
    if function != 0 {
        keep(function);
    }
    // The function's process.
    set_parent_death_signal()?;
    drop_privileges()?;
    restrict_writes()
}

/// Tells whether the kernel lets eddy create an instance's namespaces and mount in them.
#[expect(unsafe_code, reason = "a raw clone that only exits")]
pub(crate) fn probe() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "eddy runs as uid {}, and the sandbox needs root (run eddy as root, or pass --no-sandbox to say it knowingly)",
            nix::unistd::geteuid()
        ));
    }
    // SAFETY: the child makes two system calls and exits; it touches no memory of eddy's.
    let pid = unsafe { clone(NAMESPACES) }.map_err(|error| {
        format!("the kernel refused new mount/pid/ipc/uts namespaces ({error})")
    })?;
    if pid == 0 {
        // SAFETY: mount(2) with static strings, then _exit(2).
        unsafe {
            let private = libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            libc::_exit(if private == 0 { 0 } else { 1 });
        }
    }
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
        Ok(other) => Err(format!(
            "mounts cannot be made private in a new mount namespace ({other:?})"
        )),
        Err(error) => Err(format!("waiting for the namespace probe failed: {error}")),
    }
}

/// A fork with `flags` (namespaces) through the raw system call: 0 in the child, its pid in
/// the parent.
///
/// # Safety
/// The caller must not be multi-threaded or must only make system calls in the child.
#[expect(unsafe_code, reason = "the raw clone system call")]
unsafe fn clone(flags: libc::c_int) -> io::Result<libc::pid_t> {
    let flags = libc::c_ulong::try_from(flags | libc::SIGCHLD).unwrap_or(0);
    // SAFETY: clone without CLONE_VM and with a null stack behaves as fork.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(libc::pid_t::try_from(pid).unwrap_or(0))
}

/// The keeper's and init's life: pass signals on to `child`, reap, and end as `child` ended.
#[expect(unsafe_code, reason = "signal handlers, waitpid and _exit")]
fn keep(child: libc::pid_t) -> ! {
    // Close every descriptor but stdio: among them is std's exec-error pipe, which must close
    // when the function execs (or report its error), not live on in this process.
    // SAFETY: close_range(2) on our own descriptor table.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    FORWARD_TO.store(child, Ordering::SeqCst);
    for &signal in FORWARDED {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    let pid_one = nix::unistd::getpid().as_raw() == 1;
    loop {
        let mut status = 0;
        // SAFETY: waits for any child; as pid 1 this reaps orphans too.
        let reaped = unsafe { libc::waitpid(-1, &mut status, 0) };
        if reaped == child {
            end_as(status, pid_one);
        }
        if reaped < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: exiting without running eddy's destructors or atexit handlers.
            unsafe { libc::_exit(1) }
        }
    }
}

/// Exits with `status` of the process waited for: its code, or 128 + the signal that killed
/// it, which the keeper turns back into that signal (pid 1 cannot be killed by its own
/// signal).
#[expect(unsafe_code, reason = "re-raising a signal and _exit")]
fn end_as(status: libc::c_int, pid_one: bool) -> ! {
    let (code, signal) = if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status), Some(libc::WTERMSIG(status)))
    } else if libc::WEXITSTATUS(status) > 128 && !pid_one {
        let signal = libc::WEXITSTATUS(status) - 128;
        (libc::WEXITSTATUS(status), Some(signal))
    } else {
        (libc::WEXITSTATUS(status), None)
    };
    if let Some(signal) = signal.filter(|_| !pid_one) {
        // SAFETY: default action, unblocked, then sent to ourselves; we die of it.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), signal);
        }
    }
    // SAFETY: as in `keep`.
    unsafe { libc::_exit(code) }
}

extern "C" fn forward(signal: libc::c_int) {
    let to = FORWARD_TO.load(Ordering::SeqCst);
    if to > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        #[expect(unsafe_code, reason = "kill(2) from a signal handler")]
        unsafe {
            libc::kill(to, signal);
        }
    }
}

fn set_parent_death_signal() -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(io::Error::from)
}

/// Mounts the new root (see `sandbox.rs`), pivots into it, mounts `/proc`, enters the working
/// directory.
#[expect(unsafe_code, reason = "mount, pivot_root, umount2, chdir, sethostname")]
fn build_root(plan: &Plan) -> io::Result<()> {
    // SAFETY: system calls on NUL-terminated strings prepared by the parent or static.
    unsafe {
        // Nothing mounted here may propagate back to the host.
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            c"making / private",
        )?;
    }
    for step in &plan.before_pivot {
        run(step)?;
    }
    // SAFETY: as above.
    unsafe {
        check(libc::chdir(plan.root.as_ptr()), &plan.root)?;
        // pivot_root(".", "."): the old root ends up on top of the new one, then is detached.
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
            c"pivot_root",
        )?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), c"old root")?;
        check(libc::chdir(c"/".as_ptr()), c"/")?;
    }
    for step in &plan.after_pivot {
        run(step)?;
    }
    // SAFETY: as above.
    unsafe {
        check(libc::chdir(plan.workdir.as_ptr()), &plan.workdir)?;
        let name = plan.hostname.as_bytes();
        check(
            libc::sethostname(name.as_ptr().cast(), name.len()),
            c"hostname",
        )?;
    }
    Ok(())
}

#[expect(
    unsafe_code,
    reason = "mkdir, open, write, symlink and mount system calls"
)]
fn run(step: &Step) -> io::Result<()> {
    let nullable =
        |s: &Option<std::ffi::CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string owned by the plan, alive for the call.
    unsafe {
        match step {
            Step::Mkdir(path) => check(libc::mkdir(path.as_ptr(), 0o755), path),
            Step::Touch(path) => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                check(fd, path)?;
                libc::close(fd);
                Ok(())
            }
            Step::Write { path, contents } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                check(fd, path)?;
                let written = libc::write(fd, contents.as_ptr().cast(), contents.len());
                libc::close(fd);
                check(if written < 0 { -1 } else { 0 }, path)
            }
            Step::Symlink { target, link } => {
                check(libc::symlink(target.as_ptr(), link.as_ptr()), link)
            }
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => check(
                libc::mount(
                    nullable(source),
                    target.as_ptr(),
                    nullable(fstype),
                    *flags,
                    nullable(data).cast(),
                ),
                target,
            ),
        }
    }
}

/// The error of a failed system call (result < 0), after writing `eddy: sandbox set-up
/// failed at <what>` to stderr, which eddy logs with the instance.
#[expect(unsafe_code, reason = "write(2) to stderr")]
fn check(result: libc::c_int, what: &std::ffi::CStr) -> io::Result<()> {
    if result >= 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    let prefix = b"eddy: sandbox set-up failed at ";
    let what = what.to_bytes();
    // SAFETY: writes of borrowed buffers to descriptor 2.
    unsafe {
        libc::write(2, prefix.as_ptr().cast(), prefix.len());
        libc::write(2, what.as_ptr().cast(), what.len());
        libc::write(2, b"\n".as_ptr().cast(), 1);
    }
    Err(error)
}

/// No capability, now or after exec (an empty bounding set, nothing inheritable), and no way
/// to gain one through a set-uid binary.
#[expect(unsafe_code, reason = "prctl and capset system calls")]
fn drop_privileges() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    // SAFETY: prctl(2) and capset(2) with valid, owned arguments.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            c"no_new_privs",
        )?;
        for cap in 0..64 {
            // Capabilities this kernel does not know fail with EINVAL: nothing to drop.
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        let header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let data = [
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        check(
            libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int,
            c"capset",
        )
    }
}

/// The Landlock ABI version of this kernel, 0 where it has none.
#[expect(unsafe_code, reason = "the landlock_create_ruleset system call")]
pub(crate) fn landlock_abi() -> i64 {
    // SAFETY: the version query takes no pointer.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) };
    abi.max(0)
}

/// Landlock's filesystem rights that change something (ABI 1), then `REFER` (ABI 2) and
/// `TRUNCATE` (ABI 3).
const LANDLOCK_WRITES: u64 = (1 << 1) | (0b1111_1111 << 4) | (1 << 12);
const LANDLOCK_REFER: u64 = 1 << 13;
const LANDLOCK_TRUNCATE: u64 = 1 << 14;
/// The rights that apply to a file rather than a directory.
const LANDLOCK_FILE_WRITES: u64 = (1 << 1) | LANDLOCK_TRUNCATE;

/// Where the function may write, under Landlock: its `/tmp` and `/dev/shm` (anything), and the
/// writable devices.
const WRITABLE_DIRS: &[&std::ffi::CStr] = &[c"/tmp", c"/dev/shm"];
const WRITABLE_FILES: &[&std::ffi::CStr] = &[
    c"/dev/null",
    c"/dev/zero",
    c"/dev/full",
    c"/dev/random",
    c"/dev/urandom",
    c"/dev/tty",
];

/// A second layer under the read-only mounts: Landlock denies every write outside `/tmp`,
/// `/dev/shm` and the devices (e.g. `/proc/self/*`, or a mount a kernel bug made writable).
/// Where the kernel has no Landlock, the mounts alone hold.
#[expect(unsafe_code, reason = "the landlock system calls and open(2)")]
fn restrict_writes() -> io::Result<()> {
    #[repr(C, packed)]
    struct PathBeneath {
        allowed_access: u64,
        parent_fd: libc::c_int,
    }
    // SAFETY: landlock system calls with owned arguments; open(2) of static paths.
    unsafe {
        let abi = libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32);
        if abi < 1 {
            return Ok(());
        }
        let mut handled = LANDLOCK_WRITES;
        if abi >= 2 {
            handled |= LANDLOCK_REFER;
        }
        if abi >= 3 {
            handled |= LANDLOCK_TRUNCATE;
        }
        let ruleset = libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &handled as *const u64,
            std::mem::size_of::<u64>(),
            0u32,
        ) as libc::c_int;
        check(ruleset, c"landlock ruleset")?;
        let rules = WRITABLE_DIRS.iter().map(|path| (path, handled)).chain(
            WRITABLE_FILES
                .iter()
                .map(|path| (path, handled & LANDLOCK_FILE_WRITES)),
        );
        for (path, allowed) in rules {
            let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd < 0 {
                continue;
            }
            let rule = PathBeneath {
                allowed_access: allowed,
                parent_fd: fd,
            };
            let added = libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset,
                1u32, // LANDLOCK_RULE_PATH_BENEATH
                &rule as *const PathBeneath,
                0u32,
            ) as libc::c_int;
            libc::close(fd);
            check(added, path)?;
        }
        let restricted =
            libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) as libc::c_int;
        libc::close(ruleset);
        check(restricted, c"landlock")
    }
}
