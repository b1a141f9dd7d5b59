//! CPU time and resident memory of an instance's process, read from Linux's `/proc`.

use std::time::Duration;

use nix::unistd::{SysconfVar, sysconf};

/// `utime + stime` of process `pid`, or `None` if it is gone or `/proc` is unavailable.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    let per_second = sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|hz| u64::try_from(hz).ok())
        .filter(|hz| *hz > 0)
        .unwrap_or(100);
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// Resident set size of process `pid` in bytes.
pub(crate) fn memory_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages = parse_resident_pages(&statm)?;
    let page_size = sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|size| u64::try_from(size).ok())
        .unwrap_or(4096);
    Some(pages * page_size)
}

/// Fields 14 and 15 (`utime`, `stime`, in clock ticks) of `/proc/<pid>/stat`. The second field
/// (the command name) may hold spaces and parentheses, so counting starts after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, the 12th from here.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Second field of `/proc/<pid>/statm`: resident pages.
fn parse_resident_pages(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_even_when_the_command_name_has_spaces_and_parens() {
        let stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 2093 0 0 0 37 12 0 0 20 0 11 0";
        assert_eq!(parse_cpu_ticks(stat), Some(49));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_resident_pages() {
        assert_eq!(parse_resident_pages("1000 250 100 5 0 300 0\n"), Some(250));
        assert_eq!(parse_resident_pages(""), None);
    }

    #[test]
    fn measures_this_process() {
        let pid = std::process::id();
        assert!(memory_bytes(pid).is_some_and(|bytes| bytes > 0));
        assert!(cpu_time(pid).is_some());
    }
}
