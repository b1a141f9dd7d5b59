//! The filesystem sandbox of an instance (opt-in, [`SandboxConfig`]): each instance gets mount,
//! PID, IPC and UTS namespaces of its own and a minimal root built for it, so that tenants'
//! code sees only what it needs:
//!
//! | path | what |
//! |---|---|
//! | `/var/task` | the function's root, read-only; the working directory |
//! | `/usr`, `/bin`, `/lib*`, `/sbin` | the host's toolchain, read-only |
//! | `/etc/...` | a few host files (DNS, TLS certificates, time zones, loader cache), read-only; `passwd`, `group`, `hostname` written for the sandbox |
//! | interpreter prefix | the interpreter's own install (e.g. a pyenv under `/root`) at its host path, read-only |
//! | `/opt/eddy/launcher` | the launcher's assets, read-only |
//! | `/run/eddy` | the IPC socket's directory |
//! | `/tmp` | a private tmpfs of [`SandboxConfig::tmp_mb`] |
//! | `/dev` | `null`, `zero`, `full`, `random`, `urandom`, a small `/dev/shm` |
//! | `/proc` | a fresh proc of the instance's PID namespace (`/proc/sys` and the like read-only) |
//!
//! Nothing else of the host is visible (eddy's data dir, other deployments, other instances'
//! `/tmp`). The network is the host's. The process runs as eddy's user, but with every
//! capability dropped, `no_new_privs` set, and Landlock denying writes outside `/tmp`,
//! `/dev/shm` and the devices where the kernel has it. This module plans the layout in eddy's process
//! (every path and string prepared there); `child/namespaces.rs` carries it out between fork
//! and exec, where nothing may allocate. See `docs/security.md`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use nix::libc;

/// Where the function's root appears inside the sandbox (as on AWS Lambda and Vercel).
pub(crate) const TASK_DIR: &str = "/var/task";
/// Where the launcher's assets appear.
const LAUNCHER_DIR: &str = "/opt/eddy/launcher";
/// Where the IPC socket's directory appears.
pub(crate) const IPC_DIR: &str = "/run/eddy";

/// The host's toolchain directories, shown read-only where they exist (a symlink such as a
/// merged-`/usr` `/bin` is recreated as the same symlink).
const TOOLCHAIN: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/var/lib/gems",
];

/// What of the host's `/etc` an instance sees: name resolution, TLS certificates, time zones,
/// the dynamic loader's cache, `alternatives` (symlinks of Debian's toolchains), MIME types.
/// Not `passwd`/`shadow` and the like: those are written for the sandbox.
const ETC: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/mime.types",
    "/etc/os-release",
];

/// Files written into the sandbox's `/etc`.
const ETC_FILES: &[(&str, &str)] = &[
    (
        "/etc/passwd",
        "root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    ),
    ("/etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ("/etc/hostname", "localhost\n"),
];

/// Device nodes bound from the host's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Symlinks of a usual `/dev`.
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// `/proc` entries made read-only (writing them as uid 0 needs no capability).
const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// `/proc` entries hidden behind `/dev/null` (kernel memory and state of the whole host).
const PROC_MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
];

/// Size of `/dev/shm` (POSIX semaphores and shared memory, e.g. Python's `multiprocessing`).
const SHM_MB: u32 = 64;

/// How instances are sandboxed. Off unless a [`crate::ProcessRuntime`] is built
/// `with_sandbox`: `eddy dev` runs the user's code in their project like `vercel dev`, `eddy
/// serve` turns it on.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Size of the private `/tmp` in MB (Vercel's 500 MB scratch space). Writing more fails
    /// with `ENOSPC` inside the function, nothing else.
    pub tmp_mb: u32,
    /// Further host paths shown read-only at the same path (e.g. a toolchain installed
    /// outside `/usr` that the interpreter's own prefix does not cover).
    pub read_only: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            tmp_mb: 500,
            read_only: Vec::new(),
        }
    }
}

/// Whether this machine can sandbox instances, checked once; the answer (and, when not, why
/// instances run unsandboxed) is logged once.
pub(crate) fn available() -> bool {
    static CHECKED: OnceLock<bool> = OnceLock::new();
    *CHECKED.get_or_init(|| match crate::child::probe_namespaces() {
        Ok(()) => {
            let landlock = match crate::child::landlock_abi() {
                0 => "no landlock (the kernel has none)".to_string(),
                abi => format!("landlock (ABI {abi})"),
            };
            tracing::info!(
                name: "sandbox",
                "instances are sandboxed: mount, pid, ipc and uts namespaces; function files read-only at /var/task; private /tmp; no capabilities, no_new_privs, {landlock}"
            );
            true
        }
        Err(reason) => {
            tracing::warn!(
                name: "sandbox",
                "instances run UNSANDBOXED (they see the whole filesystem as eddy's user): {reason}"
            );
            false
        }
    })
}

/// One action of the set-up, carried out in order by the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Mkdir(CString),
    /// Creates an empty file (the mount point of a file bind).
    Touch(CString),
    Write {
        path: CString,
        contents: Vec<u8>,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
}

/// Everything the child does to enter its sandbox, prepared in eddy's process.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Steps before `pivot_root`, with host paths (the new root mounted at `root`).
    pub before_pivot: Vec<Step>,
    /// The (empty) host directory the new root is mounted on.
    pub root: CString,
    /// Steps after `pivot_root`, with sandbox paths (`/proc`).
    pub after_pivot: Vec<Step>,
    /// The working directory inside the sandbox.
    pub workdir: CString,
    pub hostname: CString,
}

/// Host paths to sandbox paths: what the launcher's program, arguments and variables name.
#[derive(Debug)]
pub(crate) struct Layout {
    /// `(host, inside)`, the longest host path first.
    map: Vec<(PathBuf, PathBuf)>,
    /// Read-only binds `(host source, inside target)`.
    binds: Vec<(PathBuf, PathBuf)>,
    tmp_mb: u32,
}

impl Layout {
    /// The layout of one instance of the function rooted at `root`, run by `program` with the
    /// launcher's assets in `assets` (if any) and its IPC socket in `ipc_dir`.
    pub(crate) fn new(
        config: &SandboxConfig,
        root: &Path,
        program: &Path,
        assets: Option<&Path>,
        ipc_dir: &Path,
    ) -> Self {
        let mut layout = Self {
            map: Vec::new(),
            binds: Vec::new(),
            tmp_mb: config.tmp_mb,
        };
        layout.mount(root, Path::new(TASK_DIR));
        if let Some(assets) = assets {
            layout.mount(assets, Path::new(LAUNCHER_DIR));
        }
        layout.mount(ipc_dir, Path::new(IPC_DIR));
        if !layout.covers(program) {
            // The interpreter's own install, e.g. `~/.pyenv/versions/3.11.9` for its `bin/`.
            let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
            if let Some(dir) = real.parent() {
                let prefix = match dir.file_name() {
                    Some(name) if name == "bin" => dir.parent().unwrap_or(dir),
                    _ => dir,
                };
                layout.mount(prefix, prefix);
            }
        }
        for path in &config.read_only {
            if path.exists() {
                layout.mount(path, path);
            } else {
                tracing::warn!(name: "sandbox", "the sandbox's read-only path {} does not exist; it is left out", path.display());
            }
        }
        layout
    }

    /// Shows `host` read-only at `inside`.
    fn mount(&mut self, host: &Path, inside: &Path) {
        if !host.is_absolute() || !inside.is_absolute() {
            return;
        }
        self.binds.push((host.to_path_buf(), inside.to_path_buf()));
        self.map.push((host.to_path_buf(), inside.to_path_buf()));
        self.map
            .sort_by_key(|(host, _)| std::cmp::Reverse(host.as_os_str().len()));
    }

    /// Whether `path` is visible inside: under the toolchain or a bind.
    fn covers(&self, path: &Path) -> bool {
        TOOLCHAIN.iter().any(|dir| path.starts_with(dir))
            || self.map.iter().any(|(host, _)| path.starts_with(host))
    }

    /// The sandbox path of host path `path` (unchanged when it is not under a bind).
    pub(crate) fn inside(&self, path: &Path) -> PathBuf {
        for (host, inside) in &self.map {
            if let Ok(rest) = path.strip_prefix(host) {
                return if rest.as_os_str().is_empty() {
                    inside.clone()
                } else {
                    inside.join(rest)
                };
            }
        }
        path.to_path_buf()
    }

    /// [`Self::inside`] of an argument or variable that is an absolute path; an absolute path
    /// outside every bind (e.g. vendored dependencies outside the function root) is bound
    /// read-only at its own path when it exists. Anything else is returned as is.
    pub(crate) fn rewrite(&mut self, value: &OsStr) -> OsString {
        let path = Path::new(value);
        if !path.is_absolute() {
            return value.to_os_string();
        }
        if !self.covers(path) && path.exists() {
            let dir = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(path)
            };
            self.mount(dir, dir);
        }
        self.inside(path).into_os_string()
    }

    /// The steps that build this layout, with the new root mounted on `new_root` (an empty
    /// host directory). Fails only on a path holding a NUL byte.
    pub(crate) fn plan(&self, new_root: &Path) -> Result<Plan, std::ffi::NulError> {
        let mut steps = Steps::new(new_root);
        let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
        steps.mount_tmpfs(Path::new("/"), "size=16m,mode=0755", nosuid_nodev)?;
        for dir in TOOLCHAIN {
            let dir = Path::new(dir);
            match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = std::fs::read_link(dir).unwrap_or_default();
                    steps.symlink(&target, dir)?;
                }
                Ok(meta) if meta.is_dir() => steps.bind_read_only(dir, dir, true)?,
                _ => {}
            }
        }
        for entry in ETC {
            let path = Path::new(entry);
            if let Ok(meta) = std::fs::metadata(path) {
                steps.bind_read_only(path, path, meta.is_dir())?;
            }
        }
        for (path, contents) in ETC_FILES {
            steps.write(Path::new(path), contents.as_bytes())?;
        }
        // The private /tmp before the binds: a bind whose host path is under /tmp (a project
        // or toolchain that lives there) must land on top of it, not be hidden by it.
        let tmp = format!("size={}m,mode=1777", self.tmp_mb);
        steps.mount_tmpfs(Path::new("/tmp"), &tmp, nosuid_nodev)?;
        for (host, inside) in &self.binds {
            steps.bind_read_only(host, inside, host.is_dir())?;
        }
        for device in DEVICES {
            let path = Path::new("/dev").join(device);
            if path.exists() {
                steps.bind_device(&path)?;
            }
        }
        let shm = format!("size={SHM_MB}m,mode=1777");
        steps.mount_tmpfs(Path::new("/dev/shm"), &shm, nosuid_nodev)?;
        for (link, target) in DEV_LINKS {
            steps.symlink(Path::new(target), Path::new(link))?;
        }
        steps.mkdir_all(Path::new("/proc"))?;
        // The root itself read-only: nothing may be written outside /tmp.
        steps.before.push(Step::Mount {
            source: None,
            target: cstring(new_root)?,
            fstype: None,
            flags: libc::MS_REMOUNT | libc::MS_RDONLY | nosuid_nodev,
            data: None,
        });
        Ok(Plan {
            before_pivot: steps.before,
            root: cstring(new_root)?,
            after_pivot: proc_steps()?,
            workdir: CString::new(TASK_DIR)?,
            hostname: CString::new("localhost")?,
        })
    }
}

/// A fresh `/proc` of the instance's PID namespace, with the host-wide knobs read-only or
/// hidden.
fn proc_steps() -> Result<Vec<Step>, std::ffi::NulError> {
    let mut steps = vec![Step::Mount {
        source: Some(CString::new("proc")?),
        target: CString::new("/proc")?,
        fstype: Some(CString::new("proc")?),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: None,
    }];
    // The host's /proc tells which entries this kernel has.
    for entry in PROC_READ_ONLY {
        if Path::new(entry).exists() {
            let path = CString::new(*entry)?;
            steps.push(bind(path.clone(), path.clone(), libc::MS_REC));
            steps.push(read_only(path));
        }
    }
    for entry in PROC_MASKED {
        if Path::new(entry).exists() {
            steps.push(bind(CString::new("/dev/null")?, CString::new(*entry)?, 0));
        }
    }
    Ok(steps)
}

fn bind(source: CString, target: CString, extra: libc::c_ulong) -> Step {
    Step::Mount {
        source: Some(source),
        target,
        fstype: None,
        flags: libc::MS_BIND | extra,
        data: None,
    }
}

/// A bind mount's second half: only a remount makes a bind read-only.
fn read_only(target: CString) -> Step {
    Step::Mount {
        source: None,
        target,
        fstype: None,
        flags: libc::MS_REMOUNT
            | libc::MS_BIND
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV,
        data: None,
    }
}

/// Builds the steps before `pivot_root`, creating every mount point once.
struct Steps {
    new_root: PathBuf,
    before: Vec<Step>,
    made: Vec<PathBuf>,
}

impl Steps {
    fn new(new_root: &Path) -> Self {
        Self {
            new_root: new_root.to_path_buf(),
            before: Vec::new(),
            made: vec![PathBuf::from("/")],
        }
    }

    /// `inside` (an absolute sandbox path) under the new root, on the host.
    fn host(&self, inside: &Path) -> PathBuf {
        let mut path = self.new_root.clone();
        for component in inside.components() {
            if let Component::Normal(name) = component {
                path.push(name);
            }
        }
        path
    }

    fn mkdir_all(&mut self, inside: &Path) -> Result<(), std::ffi::NulError> {
        let mut current = PathBuf::from("/");
        for component in inside.components() {
            if let Component::Normal(name) = component {
                current.push(name);
                if !self.made.contains(&current) {
                    self.made.push(current.clone());
                    self.before
                        .push(Step::Mkdir(cstring(&self.host(&current))?));
                }
            }
        }
        Ok(())
    }

    fn parent_of(&mut self, inside: &Path) -> Result<(), std::ffi::NulError> {
        match inside.parent() {
            Some(parent) => self.mkdir_all(parent),
            None => Ok(()),
        }
    }

    fn mount_tmpfs(
        &mut self,
        inside: &Path,
        data: &str,
        flags: libc::c_ulong,
    ) -> Result<(), std::ffi::NulError> {
        self.mkdir_all(inside)?;
        self.before.push(Step::Mount {
            source: Some(CString::new("tmpfs")?),
            target: cstring(&self.host(inside))?,
            fstype: Some(CString::new("tmpfs")?),
            flags,
            data: Some(CString::new(data)?),
        });
        Ok(())
    }

    fn bind_read_only(
        &mut self,
        host: &Path,
        inside: &Path,
        is_dir: bool,
    ) -> Result<(), std::ffi::NulError> {
        if is_dir {
            self.mkdir_all(inside)?;
        } else {
            self.parent_of(inside)?;
            self.before.push(Step::Touch(cstring(&self.host(inside))?));
        }
        let target = cstring(&self.host(inside))?;
        self.before
            .push(bind(cstring(host)?, target.clone(), libc::MS_REC));
        self.before.push(read_only(target));
        Ok(())
    }

    /// A device node keeps its host mount's flags: a read-only or `nodev` mount would refuse
    /// to open it.
    fn bind_device(&mut self, path: &Path) -> Result<(), std::ffi::NulError> {
        self.parent_of(path)?;
        let target = cstring(&self.host(path))?;
        self.before.push(Step::Touch(target.clone()));
        self.before.push(bind(cstring(path)?, target, 0));
        Ok(())
    }

    fn write(&mut self, inside: &Path, contents: &[u8]) -> Result<(), std::ffi::NulError> {
        self.parent_of(inside)?;
        self.before.push(Step::Write {
            path: cstring(&self.host(inside))?,
            contents: contents.to_vec(),
        });
        Ok(())
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> Result<(), std::ffi::NulError> {
        self.parent_of(link)?;
        self.made.push(link.to_path_buf());
        self.before.push(Step::Symlink {
            target: cstring(target)?,
            link: cstring(&self.host(link))?,
        });
        Ok(())
    }
}

fn cstring(path: &Path) -> Result<CString, std::ffi::NulError> {
    CString::new(path.as_os_str().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new(
            &SandboxConfig::default(),
            Path::new("/srv/deploy/fn.func"),
            Path::new("/usr/bin/node"),
            Some(Path::new("/tmp/eddy-0/node-1234")),
            Path::new("/tmp/eddy-ipc-x"),
        )
    }

    fn mounts(plan: &Plan) -> Vec<(String, String, libc::c_ulong)> {
        plan.before_pivot
            .iter()
            .filter_map(|step| match step {
                Step::Mount {
                    source,
                    target,
                    flags,
                    ..
                } => Some((
                    source
                        .as_ref()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    target.to_string_lossy().into_owned(),
                    *flags,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn maps_the_function_root_launcher_and_socket_to_fixed_paths() {
        let layout = layout();
        assert_eq!(
            layout.inside(Path::new("/srv/deploy/fn.func/.vercel/bootstrap")),
            Path::new("/var/task/.vercel/bootstrap")
        );
        assert_eq!(
            layout.inside(Path::new("/srv/deploy/fn.func")),
            Path::new("/var/task")
        );
        assert_eq!(
            layout.inside(Path::new("/tmp/eddy-0/node-1234/launcher.mjs")),
            Path::new("/opt/eddy/launcher/launcher.mjs")
        );
        assert_eq!(
            layout.inside(Path::new("/tmp/eddy-ipc-x/ipc.sock")),
            Path::new("/run/eddy/ipc.sock")
        );
        // A sibling whose name merely starts the same is not under the root.
        assert_eq!(
            layout.inside(Path::new("/srv/deploy/fn.funcs")),
            Path::new("/srv/deploy/fn.funcs")
        );
    }

    #[test]
    fn binds_the_function_root_read_only_and_tmp_as_a_sized_tmpfs() {
        let plan = layout().plan(Path::new("/r")).unwrap();
        let mounts = mounts(&plan);
        let task = mounts
            .iter()
            .position(|(source, target, _)| {
                source == "/srv/deploy/fn.func" && target == "/r/var/task"
            })
            .expect("the function root is bound");
        let (_, target, flags) = &mounts[task + 1];
        assert_eq!(target, "/r/var/task");
        assert_ne!(flags & libc::MS_RDONLY, 0, "remounted read-only");
        let tmp = plan
            .before_pivot
            .iter()
            .find_map(|step| match step {
                Step::Mount { target, data, .. } if target.as_bytes() == b"/r/tmp" => data.clone(),
                _ => None,
            })
            .expect("a tmpfs on /tmp");
        assert_eq!(tmp.to_str().unwrap(), "size=500m,mode=1777");
        let (_, last, flags) = mounts.last().unwrap();
        assert_eq!(last, "/r", "the new root is made read-only last");
        assert_ne!(flags & libc::MS_RDONLY, 0);
    }

    #[test]
    fn creates_every_mount_point_before_mounting_on_it_and_only_once() {
        let plan = layout().plan(Path::new("/r")).unwrap();
        let mut made: Vec<&CString> = Vec::new();
        for step in &plan.before_pivot {
            match step {
                Step::Mkdir(path) | Step::Touch(path) => {
                    assert!(!made.contains(&path), "{path:?} made twice");
                    made.push(path);
                }
                Step::Mount { target, .. } if target.as_bytes() != b"/r" => {
                    assert!(
                        made.contains(&target),
                        "{target:?} mounted before it was made"
                    );
                }
                _ => {}
            }
        }
    }

    #[test]
    fn shows_an_interpreter_outside_the_toolchain_at_its_own_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("versions/3.11/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("python3.11"), "").unwrap();
        let prefix = std::fs::canonicalize(dir.path().join("versions/3.11")).unwrap();
        let layout = Layout::new(
            &SandboxConfig::default(),
            Path::new("/srv/fn"),
            &bin.join("python3.11"),
            None,
            Path::new("/tmp/ipc"),
        );
        assert!(
            layout
                .binds
                .iter()
                .any(|(host, inside)| host == &prefix && inside == &prefix),
            "{:?}",
            layout.binds
        );
    }

    #[test]
    fn shows_configured_paths_that_exist_and_leaves_out_the_others() {
        let extra = tempfile::tempdir().unwrap();
        let config = SandboxConfig {
            read_only: vec![
                extra.path().to_path_buf(),
                PathBuf::from("/nonexistent/eddy"),
            ],
            ..SandboxConfig::default()
        };
        let layout = Layout::new(
            &config,
            Path::new("/srv/fn"),
            Path::new("/usr/bin/node"),
            None,
            Path::new("/tmp/ipc"),
        );
        assert!(
            layout
                .binds
                .iter()
                .any(|(host, inside)| host == extra.path() && inside == extra.path())
        );
        assert!(
            !layout
                .binds
                .iter()
                .any(|(host, _)| host == Path::new("/nonexistent/eddy"))
        );
    }

    #[test]
    fn rewrites_absolute_values_and_binds_outside_paths_that_exist() {
        let mut layout = layout();
        assert_eq!(
            layout.rewrite(OsStr::new("/srv/deploy/fn.func/_vendor")),
            OsString::from("/var/task/_vendor")
        );
        assert_eq!(
            layout.rewrite(OsStr::new("api/index.py")),
            OsString::from("api/index.py")
        );
        let vendor = tempfile::tempdir().unwrap();
        let value = vendor.path().as_os_str();
        assert_eq!(layout.rewrite(value), value.to_os_string());
        assert!(layout.binds.iter().any(|(host, _)| host == vendor.path()));
        // A path that does not exist is left alone and bound nowhere.
        let before = layout.binds.len();
        layout.rewrite(OsStr::new("/nonexistent/eddy/x"));
        assert_eq!(layout.binds.len(), before);
    }

    #[test]
    fn a_path_under_tmp_is_bound_after_the_private_tmp_so_it_stays_visible() {
        let dir = tempfile::tempdir().unwrap();
        let interpreter = dir.path().join("bin/tool");
        std::fs::create_dir_all(interpreter.parent().unwrap()).unwrap();
        std::fs::write(&interpreter, "").unwrap();
        let layout = Layout::new(
            &SandboxConfig::default(),
            Path::new("/srv/fn"),
            &interpreter,
            None,
            Path::new("/tmp/ipc"),
        );
        let plan = layout.plan(Path::new("/r")).unwrap();
        let targets: Vec<String> = mounts(&plan)
            .into_iter()
            .map(|(_, target, _)| target)
            .collect();
        let tmp = targets
            .iter()
            .position(|t| t == "/r/tmp")
            .expect("a /tmp mount");
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let bound = format!("/r{}", real.display());
        let tool = targets
            .iter()
            .position(|t| *t == bound)
            .expect("the tool's prefix is bound");
        assert!(tmp < tool, "{targets:?}");
    }

    #[test]
    fn hides_host_wide_proc_entries() {
        let steps = proc_steps().unwrap();
        assert!(
            matches!(&steps[0], Step::Mount { fstype: Some(t), .. } if t.as_bytes() == b"proc")
        );
        if Path::new("/proc/sysrq-trigger").exists() {
            assert!(steps.iter().any(|step| matches!(step,
                Step::Mount { target, flags, .. }
                    if target.as_bytes() == b"/proc/sysrq-trigger" && flags & libc::MS_RDONLY != 0)));
        }
    }
}
