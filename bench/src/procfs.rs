//! What the harness reads about processes: a broker's CPU time, resident
//! memory and disk writes from `/proc/<pid>/…`, and the generator's own CPU
//! time from `getrusage`. Linux only; every reader returns `None` when the
//! process is gone or the file cannot be parsed.

use std::time::Instant;

/// Fields of `/proc/<pid>/stat` after the command name, 0-based: field 3 of
/// the man page (state) is index 0.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds of all threads of `pid` (utime + stime).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks_per_sec())
}

/// Parent pid and command name of `pid`.
pub fn parent_and_name(pid: u32) -> Option<(u32, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let name = s[open + 1..close].to_string();
    let ppid = s[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
    Some((ppid, name))
}

/// Children of `parent` whose command name is `name`.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| matches!(parent_and_name(pid), Some((pp, n)) if pp == parent && n == name))
        .collect()
}

/// Every process below `root` (children, their children, …), parents
/// before their children.
pub fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let all: Vec<(u32, u32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| parent_and_name(pid).map(|(pp, _)| (pid, pp)))
        .collect();
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, pp) in &all {
            if pp == p {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// Whether `pid` exists and has not exited (a zombie has).
pub fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|state| state != "Z" && state != "X"))
}

/// Resident set size (VmRSS) in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Octets the process caused to be sent to storage (`write_bytes` of
/// `/proc/<pid>/io`); needs the same user or root.
pub fn disk_write_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = s.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's user + system CPU seconds, all threads.
pub fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft open-files limit to the hard limit (1,000 connections
/// need more than the usual 1,024). Children inherit it.
pub fn raise_nofile_limit() {
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A snapshot of a process's counters, to take differences over a window.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub self_cpu: f64,
    pub broker_cpu: Option<f64>,
    pub broker_disk: Option<u64>,
}

impl Sample {
    pub fn take(broker: Option<u32>) -> Sample {
        Sample {
            at: Instant::now(),
            self_cpu: self_cpu_secs(),
            broker_cpu: broker.and_then(cpu_secs),
            broker_disk: broker.and_then(disk_write_bytes),
        }
    }
}

/// Nanoseconds since an epoch shared by the whole process: what producers
/// stamp into bodies and consumers subtract from.
pub fn now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}
