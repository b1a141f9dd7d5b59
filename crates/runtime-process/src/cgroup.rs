//! Per-instance resource limits through Linux control groups. Each instance runs in a cgroup of
//! its own: memory limited to the function's `memory` (a function that allocates past it is
//! killed by the kernel's OOM killer, only that instance, and eddy says so), CPU limited to the
//! instance size's vCPUs, a cap on processes and threads (a fork bomb stays inside it), and CPU
//! time accounted per instance (children included) for metrics and metering.
//!
//! Layout: under eddy's own cgroup (read from `/proc/self/cgroup`), a directory `eddy-<pid>/`
//! for this eddy process with one child per instance (`i<N>`). cgroup v1 (one hierarchy per
//! controller: `memory`, `pids`, `cpu`, `cpuacct`) and v2 (one hierarchy, where the controllers
//! are delegated to eddy's cgroup) are detected once. Memory is required; the other
//! controllers are used where present. Where no memory controller is usable eddy runs without
//! limits and says why, once.
//!
//! The process joins its cgroups between `fork` and `exec` (see `child.rs`), so everything it
//! ever does is charged to them.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The controllers eddy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    Memory,
    Pids,
    Cpu,
    Cpuacct,
}

impl Controller {
    const ALL: [Controller; 4] = [Self::Memory, Self::Pids, Self::Cpu, Self::Cpuacct];

    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Pids => "pids",
            Self::Cpu => "cpu",
            Self::Cpuacct => "cpuacct",
        }
    }
}

/// Which cgroup interface eddy found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The per-eddy-process parent cgroups in which instance cgroups are created: one directory
/// per controller (v1), or one for all (v2).
#[derive(Debug)]
pub(crate) struct Cgroups {
    version: Version,
    parents: Vec<(Controller, PathBuf)>,
}

/// What an instance may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub memory_mb: u32,
    pub vcpus: u32,
    /// Processes and threads together.
    pub tasks: u32,
}

impl Limits {
    /// Processes and threads per instance: room for a thread per concurrent request of a
    /// threaded server at the default concurrency, far below what hurts the machine.
    pub(crate) const TASKS: u32 = 2048;

    /// The limits of an instance of `memory_mb`: Vercel's sizes are Standard (1 vCPU, 2 GB)
    /// and Performance (2 vCPU, 4 GB); a function configured above 2 GB gets 2 vCPUs.
    pub(crate) fn for_memory(memory_mb: u32) -> Self {
        Self {
            memory_mb,
            vcpus: if memory_mb > 2048 { 2 } else { 1 },
            tasks: Self::TASKS,
        }
    }
}

/// What [`Cgroups::get`] found, once per process.
static DETECTED: OnceLock<Result<Cgroups, String>> = OnceLock::new();

/// The CFS period eddy writes with its quotas.
const CPU_PERIOD_US: u64 = 100_000;

impl Cgroups {
    /// The machine's cgroups, detected (and the parent directories created) on first use.
    /// `None` where limits cannot be enforced; the reason is logged once, as a warning.
    pub(crate) fn get() -> Option<&'static Cgroups> {
        let detected = DETECTED.get_or_init(|| {
            let detected = if std::env::var_os("EDDY_NO_CGROUPS").is_some() {
                Err("EDDY_NO_CGROUPS is set".to_string())
            } else {
                detect(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup"))
            };
            match &detected {
                Ok(cgroups) => {
                    let controllers: Vec<_> =
                        cgroups.parents.iter().map(|(c, _)| c.name()).collect();
                    tracing::info!(
                        name: "cgroups",
                        version = ?cgroups.version,
                        "function limits are enforced through cgroups ({})",
                        controllers.join(", ")
                    );
                }
                Err(reason) => tracing::warn!(
                    name: "cgroups",
                    "function memory, CPU and process limits are NOT enforced: {reason}"
                ),
            }
            detected
        });
        detected.as_ref().ok()
    }

    /// Creates the cgroup(s) of one instance, with `limits` written.
    pub(crate) fn create(&self, name: &str, limits: Limits) -> io::Result<InstanceCgroup> {
        let mut cgroup = InstanceCgroup {
            version: self.version,
            dirs: Vec::new(),
            limit_mb: limits.memory_mb,
        };
        for (controller, parent) in &self.parents {
            let dir = parent.join(name);
            // v2 has one directory for every controller.
            if !cgroup.dirs.iter().any(|(_, d)| d == &dir) {
                match fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Left over from an instance whose cleanup failed: reuse it.
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(error),
                }
            }
            cgroup.dirs.push((*controller, dir));
        }
        // From here on, dropping `cgroup` removes what was created.
        for (controller, dir) in &cgroup.dirs {
            write_limit(self.version, *controller, dir, limits)?;
        }
        Ok(cgroup)
    }
}

/// Writes the limit of one controller.
fn write_limit(
    version: Version,
    controller: Controller,
    dir: &Path,
    limits: Limits,
) -> io::Result<()> {
    let memory = u64::from(limits.memory_mb) << 20;
    let quota = u64::from(limits.vcpus) * CPU_PERIOD_US;
    match (version, controller) {
        (Version::V1, Controller::Memory) => {
            write(dir, "memory.limit_in_bytes", &memory.to_string())?;
            // Without swap accounting the file is absent: nothing to limit then.
            write_if_present(dir, "memory.memsw.limit_in_bytes", &memory.to_string())
        }
        (Version::V1, Controller::Pids) | (Version::V2, Controller::Pids) => {
            write(dir, "pids.max", &limits.tasks.to_string())
        }
        (Version::V1, Controller::Cpu) => {
            write(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write(dir, "cpu.cfs_quota_us", &quota.to_string())
        }
        (Version::V2, Controller::Memory) => {
            write(dir, "memory.max", &memory.to_string())?;
            write_if_present(dir, "memory.swap.max", "0")
        }
        (Version::V2, Controller::Cpu) => {
            write(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))
        }
        // Accounting only.
        (_, Controller::Cpuacct) => Ok(()),
    }
}

/// One instance's cgroups. Removed when dropped (once the instance has exited).
#[derive(Debug)]
pub(crate) struct InstanceCgroup {
    version: Version,
    dirs: Vec<(Controller, PathBuf)>,
    limit_mb: u32,
}

impl Drop for InstanceCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

impl InstanceCgroup {
    /// Every `cgroup.procs` to join (one per v1 hierarchy, one in v2), opened for the child to
    /// write `0` into between fork and exec. The files are opened close-on-exec, so the
    /// function never holds them.
    pub(crate) fn procs_files(&self) -> io::Result<Vec<File>> {
        let mut files = Vec::new();
        for dir in self.distinct_dirs() {
            files.push(
                OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))?,
            );
        }
        Ok(files)
    }

    pub(crate) fn limit_mb(&self) -> u32 {
        self.limit_mb
    }

    fn dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, dir)| dir.as_path())
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub(crate) fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        self.dir(Controller::Memory)
            .and_then(|dir| fs::read_to_string(dir.join(file)).ok())
            .and_then(|text| counter(&text, "oom_kill"))
            .is_some_and(|kills| kills > 0)
    }

    /// CPU time used by every process of the instance so far.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        match self.version {
            Version::V1 => {
                let text = fs::read_to_string(self.dir(Controller::Cpuacct)?.join("cpuacct.usage"))
                    .ok()?;
                Some(Duration::from_nanos(text.trim().parse().ok()?))
            }
            Version::V2 => {
                let text = fs::read_to_string(self.dir(Controller::Cpu)?.join("cpu.stat")).ok()?;
                Some(Duration::from_micros(counter(&text, "usage_usec")?))
            }
        }
    }

    /// Memory charged to the instance (page cache included).
    pub(crate) fn memory_bytes(&self) -> Option<u64> {
        let file = match self.version {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        };
        let text = fs::read_to_string(self.dir(Controller::Memory)?.join(file)).ok()?;
        text.trim().parse().ok()
    }

    /// Kills whatever is left in the cgroup (processes the function started and left behind)
    /// and removes it; may block briefly while those are reaped. Idempotent. Best effort: a
    /// failure is logged, never fatal.
    pub(crate) fn remove(&self) {
        for dir in self.distinct_dirs() {
            remove_dir(dir);
        }
    }

    /// Each cgroup directory once: one per v1 hierarchy; v2's one directory serves every
    /// controller.
    fn distinct_dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for (_, dir) in &self.dirs {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

fn remove_dir(dir: &Path) {
    for attempt in 0..50 {
        let pids = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return,
            // Busy while killed processes are still being reaped.
            Err(_) if attempt < 49 => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => {
                tracing::warn!(name: "cgroups", "could not remove {}: {error}", dir.display());
            }
        }
    }
}

/// Finds the controllers and eddy's place in them, and creates `eddy-<pid>/` there.
fn detect(proc_self_cgroup: &Path, mount: &Path) -> Result<Cgroups, String> {
    let membership = fs::read_to_string(proc_self_cgroup)
        .map_err(|e| format!("cannot read {}: {e}", proc_self_cgroup.display()))?;
    let (version, own) = locate(&membership, mount)?;
    let name = format!("eddy-{}", std::process::id());
    let mut parents = Vec::new();
    for (controller, dir) in own {
        let parent = dir.join(&name);
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) if controller == Controller::Memory => {
                return Err(format!(
                    "cannot create {}: {error} (eddy needs write access to its own cgroup; run it as root or delegate the cgroup)",
                    parent.display()
                ));
            }
            Err(error) => {
                tracing::debug!(name: "cgroups", "the {} controller is not used: cannot create {}: {error}", controller.name(), parent.display());
                continue;
            }
        }
        if !parents.iter().any(|(_, p)| p == &parent) {
            remove_stale_siblings(&dir);
        }
        if controller == Controller::Cpu {
            weigh_like_the_machine(version, &parent);
        }
        parents.push((controller, parent));
    }
    Ok(Cgroups { version, parents })
}

/// Gives eddy's parent CPU group the weight of as many busy processes as the machine has cores.
/// A new group weighs like one process against its siblings, so under load every instance
/// together would get one process's share of the CPU; each instance keeps the default weight
/// among the others.
fn weigh_like_the_machine(version: Version, parent: &Path) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let result = match version {
        Version::V1 => write(parent, "cpu.shares", &(1024 * cores).to_string()),
        Version::V2 => write(parent, "cpu.weight", &(100 * cores).min(10_000).to_string()),
    };
    if let Err(error) = result {
        tracing::debug!(name: "cgroups", "could not set the CPU weight of {}: {error}", parent.display());
    }
}

/// Picks eddy's cgroup directory per controller from `/proc/self/cgroup`: v1 lines
/// `N:memory:/path` (mounted at `mount/<controller>`) when the memory hierarchy is there, else
/// the v2 line `0::/path` with the unified mount at `mount` itself or at `mount/unified`, where
/// the memory controller is delegated to eddy's children.
fn locate(membership: &str, mount: &Path) -> Result<(Version, Vec<(Controller, PathBuf)>), String> {
    let mut v1 = Vec::new();
    let mut unified = None;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.is_empty() {
            unified = Some(relative.to_string());
            continue;
        }
        for controller in Controller::ALL {
            if controllers.split(',').any(|c| c == controller.name()) {
                let dir = mount.join(controller.name()).join(relative);
                if dir.join("cgroup.procs").exists() {
                    v1.push((controller, dir));
                }
            }
        }
    }
    if v1.iter().any(|(c, _)| *c == Controller::Memory) {
        return Ok((Version::V1, v1));
    }
    let Some(relative) = unified else {
        return Err("no memory cgroup controller is mounted".to_string());
    };
    for root in [mount.to_path_buf(), mount.join("unified")] {
        let dir = root.join(&relative);
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if !available.split_whitespace().any(|c| c == "memory") || !dir.is_dir() {
            continue;
        }
        let delegated = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        let delegated: Vec<&str> = delegated.split_whitespace().collect();
        if !delegated.contains(&"memory") {
            return Err(format!(
                "cgroup v2 is mounted but the memory controller is not enabled for the children of {} \
                 (delegate it, e.g. run eddy in a systemd unit with Delegate=yes and enable +memory in its cgroup.subtree_control)",
                dir.display()
            ));
        }
        let controllers = [Controller::Memory, Controller::Pids, Controller::Cpu]
            .into_iter()
            .filter(|c| delegated.contains(&c.name()))
            .map(|c| (c, dir.clone()))
            .collect();
        return Ok((Version::V2, controllers));
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

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.join(file).display())))
}

fn write_if_present(dir: &Path, file: &str, value: &str) -> io::Result<()> {
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
    fn instance_sizes_follow_vercels_standard_and_performance() {
        assert_eq!(Limits::for_memory(1024).vcpus, 1);
        assert_eq!(Limits::for_memory(2048).vcpus, 1);
        assert_eq!(Limits::for_memory(4096).vcpus, 2);
    }

    fn hierarchy(mount: &Path, controller: &str, path: &str) -> PathBuf {
        let dir = mount.join(controller).join(path);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.procs"), "").unwrap();
        dir
    }

    #[test]
    fn finds_each_v1_hierarchy_and_falls_back_to_a_delegated_unified_one() {
        let mount = tempfile::tempdir().unwrap();
        let memory = hierarchy(mount.path(), "memory", "jobs/a");
        let pids = hierarchy(mount.path(), "pids", "");
        let membership = "4:memory:/jobs/a\n8:pids:/\n1:cpu:/\n0::/\n";
        let (version, dirs) = locate(membership, mount.path()).unwrap();
        assert_eq!(version, Version::V1);
        assert_eq!(
            dirs,
            vec![(Controller::Memory, memory), (Controller::Pids, pids)],
            "cpu is listed but not mounted, so it is left out"
        );

        let unified = mount.path().join("unified");
        fs::create_dir_all(unified.join("svc")).unwrap();
        fs::write(unified.join("cgroup.controllers"), "cpu memory pids").unwrap();
        fs::write(unified.join("svc/cgroup.subtree_control"), "memory pids").unwrap();
        let (version, dirs) = locate("0::/svc\n", mount.path()).unwrap();
        assert_eq!(version, Version::V2);
        let svc = unified.join("svc");
        assert_eq!(
            dirs,
            vec![
                (Controller::Memory, svc.clone()),
                (Controller::Pids, svc.clone())
            ]
        );

        fs::write(unified.join("svc/cgroup.subtree_control"), "pids").unwrap();
        let error = locate("0::/svc\n", mount.path()).unwrap_err();
        assert!(error.contains("not enabled for the children"), "{error}");

        fs::write(unified.join("cgroup.controllers"), "hugetlb").unwrap();
        let error = locate("0::/svc\n", mount.path()).unwrap_err();
        assert!(error.contains("without the memory controller"), "{error}");
    }
}
