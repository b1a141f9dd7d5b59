//! Per-instance memory limits through Linux control groups: each instance runs in a cgroup of
//! its own whose memory limit is the function's `memory`, so a function that allocates past its
//! size is killed by the kernel's OOM killer (and only that instance), and eddy can say so.
//!
//! Layout: under eddy's own cgroup (read from `/proc/self/cgroup`), a directory
//! `eddy-<pid>/` for this eddy process with one child per instance (`i<N>`). cgroup v1 (the
//! `memory` hierarchy) and v2 (where the memory controller is delegated to eddy's cgroup) are
//! detected once; where neither is usable eddy runs without memory limits and says why once.
//!
//! The process joins its cgroup between `fork` and `exec` (see `child.rs`), so everything it
//! ever allocates is charged to it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Which cgroup interface holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The per-eddy-process parent cgroup in which instance cgroups are created.
#[derive(Debug)]
pub(crate) struct Cgroups {
    version: Version,
    parent: PathBuf,
}

/// What [`Cgroups::get`] found, once per process.
static DETECTED: OnceLock<Result<Cgroups, String>> = OnceLock::new();

impl Cgroups {
    /// The machine's cgroups, detected (and the parent directory created) on first use. `None`
    /// where memory limits cannot be enforced; the reason is logged once, as a warning.
    pub(crate) fn get() -> Option<&'static Cgroups> {
        let detected = DETECTED.get_or_init(|| {
            let detected = if std::env::var_os("EDDY_NO_CGROUPS").is_some() {
                Err("EDDY_NO_CGROUPS is set".to_string())
            } else {
                detect(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup"))
            };
            match &detected {
                Ok(cgroups) => tracing::info!(
                    name: "cgroups",
                    version = ?cgroups.version,
                    parent = %cgroups.parent.display(),
                    "function memory limits are enforced through cgroups"
                ),
                Err(reason) => tracing::warn!(
                    name: "cgroups",
                    "function memory limits are NOT enforced: {reason}"
                ),
            }
            detected
        });
        detected.as_ref().ok()
    }

    /// Creates the cgroup of one instance with a memory limit of `memory_mb` (swap included
    /// where the kernel accounts it).
    pub(crate) fn create(&self, name: &str, memory_mb: u32) -> io::Result<InstanceCgroup> {
        let dir = self.parent.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            // Left over from an instance whose cleanup failed: reuse it if it is empty.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        let limit = u64::from(memory_mb) << 20;
        let cgroup = InstanceCgroup {
            version: self.version,
            dir,
            limit_mb: memory_mb,
        };
        let result = match self.version {
            Version::V1 => write(&cgroup.dir, "memory.limit_in_bytes", limit).and_then(|()| {
                // Without swap accounting the file is absent: nothing to limit then.
                write_if_present(&cgroup.dir, "memory.memsw.limit_in_bytes", limit)
            }),
            Version::V2 => write(&cgroup.dir, "memory.max", limit)
                .and_then(|()| write_if_present(&cgroup.dir, "memory.swap.max", 0)),
        };
        match result {
            Ok(()) => Ok(cgroup),
            // Dropping the cgroup removes its directory.
            Err(error) => Err(error),
        }
    }
}

/// One instance's cgroup. Removed by [`InstanceCgroup::remove`] once the instance has exited.
#[derive(Debug)]
pub(crate) struct InstanceCgroup {
    version: Version,
    dir: PathBuf,
    limit_mb: u32,
}

impl Drop for InstanceCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

impl InstanceCgroup {
    /// `cgroup.procs`, opened for the child to write `0` into between fork and exec. The file
    /// is opened close-on-exec, so the function never holds it.
    pub(crate) fn procs_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.procs"))
    }

    pub(crate) fn limit_mb(&self) -> u32 {
        self.limit_mb
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub(crate) fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        fs::read_to_string(self.dir.join(file))
            .ok()
            .and_then(|text| counter(&text, "oom_kill"))
            .is_some_and(|kills| kills > 0)
    }

    /// Kills whatever is left in the cgroup (processes the function started and left behind)
    /// and removes it. Best effort: a failure is logged, never fatal.
    fn remove(&self) {
        for attempt in 0..50 {
            let pids = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return,
                // Busy while killed processes are still being reaped.
                Err(_) if attempt < 49 => std::thread::sleep(Duration::from_millis(10)),
                Err(error) => {
                    tracing::warn!(name: "cgroups", "could not remove {}: {error}", self.dir.display());
                }
            }
        }
    }
}

/// Finds the memory controller and eddy's place in it, and creates `eddy-<pid>/` there.
fn detect(proc_self_cgroup: &Path, mount: &Path) -> Result<Cgroups, String> {
    let membership = fs::read_to_string(proc_self_cgroup)
        .map_err(|e| format!("cannot read {}: {e}", proc_self_cgroup.display()))?;
    let (version, own) = locate(&membership, mount)?;
    if version == Version::V2 {
        let controllers =
            fs::read_to_string(own.join("cgroup.subtree_control")).unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(format!(
                "cgroup v2 is mounted but the memory controller is not enabled for the children of {} \
                 (delegate it, e.g. run eddy in a systemd unit with Delegate=yes and enable +memory in its cgroup.subtree_control)",
                own.display()
            ));
        }
    }
    let parent = own.join(format!("eddy-{}", std::process::id()));
    match fs::create_dir(&parent) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(format!(
                "cannot create {}: {error} (eddy needs write access to its own cgroup; run it as root or delegate the cgroup)",
                parent.display()
            ));
        }
    }
    remove_stale_siblings(&own);
    Ok(Cgroups { version, parent })
}

/// Picks the memory controller's mount and eddy's cgroup in it from `/proc/self/cgroup`:
/// a v1 line `N:memory:/path` wins; else the v2 line `0::/path` with the unified mount at
/// `mount` itself or at `mount/unified`.
fn locate(membership: &str, mount: &Path) -> Result<(Version, PathBuf), String> {
    let mut unified = None;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let dir = mount.join("memory").join(relative);
            if dir.join("memory.limit_in_bytes").exists() {
                return Ok((Version::V1, dir));
            }
        } else if controllers.is_empty() {
            unified = Some(relative.to_string());
        }
    }
    let Some(relative) = unified else {
        return Err("no memory cgroup controller is mounted".to_string());
    };
    for root in [mount.to_path_buf(), mount.join("unified")] {
        let dir = root.join(&relative);
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory") && dir.is_dir() {
            return Ok((Version::V2, dir));
        }
    }
    Err("no memory cgroup controller is mounted (cgroup v2 is present without the memory controller)".to_string())
}

/// Removes `eddy-<pid>` directories of eddy processes that are gone (they are empty once their
/// instances have exited).
fn remove_stale_siblings(own: &Path) {
    let Ok(entries) = fs::read_dir(own) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("eddy-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            if let Ok(children) = fs::read_dir(entry.path()) {
                for child in children.flatten().filter(|c| c.path().is_dir()) {
                    let _ = fs::remove_dir(child.path());
                }
            }
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// The value of `key` in a flat-keyed file such as `memory.events` (`oom_kill 3`).
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

fn write(dir: &Path, file: &str, value: u64) -> io::Result<()> {
    fs::write(dir.join(file), value.to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.join(file).display())))
}

fn write_if_present(dir: &Path, file: &str, value: u64) -> io::Result<()> {
    if dir.join(file).exists() {
        write(dir, file, value)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_from_flat_keyed_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(counter(v1, "oom_kill"), Some(2));
        assert_eq!(counter(v1, "oom_kill_disable"), Some(0));
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n";
        assert_eq!(counter(v2, "oom_kill"), Some(1));
        assert_eq!(counter("", "oom_kill"), None);
    }

    #[test]
    fn prefers_the_v1_memory_hierarchy_and_falls_back_to_a_delegated_unified_one() {
        let mount = tempfile::tempdir().unwrap();
        let v1 = mount.path().join("memory/jobs/a");
        fs::create_dir_all(&v1).unwrap();
        fs::write(v1.join("memory.limit_in_bytes"), "max").unwrap();
        let membership = "4:memory:/jobs/a\n1:cpu:/\n0::/\n";
        let (version, dir) = locate(membership, mount.path()).unwrap();
        assert_eq!((version, dir), (Version::V1, v1));

        let unified = mount.path().join("unified");
        fs::create_dir_all(unified.join("svc")).unwrap();
        fs::write(unified.join("cgroup.controllers"), "cpu memory pids").unwrap();
        let (version, dir) = locate("0::/svc\n", mount.path()).unwrap();
        assert_eq!((version, dir), (Version::V2, unified.join("svc")));

        fs::write(unified.join("cgroup.controllers"), "hugetlb").unwrap();
        let error = locate("0::/svc\n", mount.path()).unwrap_err();
        assert!(error.contains("without the memory controller"), "{error}");
    }
}
