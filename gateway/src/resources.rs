//! Measuring what RabbitMQ's resource alarms watch: the process's memory
//! (resident set) against a high watermark, and free disk space under the
//! data directory against a limit. The core decides who is blocked; this
//! module only measures (Linux: /proc and statvfs).

use std::path::{Path, PathBuf};

/// Limits, in octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub memory_high_watermark: u64,
    pub disk_free_limit: u64,
}

/// Total physical memory, from /proc/meminfo.
pub fn total_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This process's resident set size, from /proc/self/statm.
pub fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(4096) as u64)
}

/// Free space available to us on the filesystem holding `path`.
pub fn free_disk(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// One measurement: what was measured, against which limits, and the
/// alarms in force. The core acts on the alarms; the HTTP API and the
/// metrics show the rest (they read the latest one, never the core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Resident set size, in octets (0 if it cannot be measured).
    pub memory_used: u64,
    /// Free space under the data directory, in octets (0 if unknown).
    pub disk_free: u64,
    pub limits: Limits,
    pub memory_alarm: bool,
    pub disk_alarm: bool,
}

pub struct Monitor {
    limits: Limits,
    data_dir: PathBuf,
}

impl Monitor {
    pub fn new(limits: Limits, data_dir: PathBuf) -> Self {
        Monitor { limits, data_dir }
    }

    /// Measures once now (so the first value is real: an alarm that holds
    /// at start is in force before the broker is ready), then every
    /// `interval` on a thread of its own (trimming a large heap can take
    /// longer than the core may stall) until every receiver is dropped.
    /// Receivers see every measurement, not only alarm changes.
    pub fn spawn(self, interval: std::time::Duration) -> tokio::sync::watch::Receiver<Reading> {
        let (tx, rx) = tokio::sync::watch::channel(self.measure());
        std::thread::Builder::new()
            .name("warren-monitor".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                if tx.is_closed() {
                    break;
                }
                tx.send_replace(self.measure());
            })
            .expect("spawn the resource monitor thread");
        rx
    }

    pub fn measure(&self) -> Reading {
        let limits = self.limits;
        let mut memory_used = resident_memory().unwrap_or(0);
        if memory_used > limits.memory_high_watermark {
            // glibc keeps freed memory mapped: without handing it back, RSS
            // would stay above the watermark after the queues drained, and
            // the alarm would never clear.
            // SAFETY: malloc_trim only releases free heap memory.
            unsafe { libc::malloc_trim(0) };
            memory_used = resident_memory().unwrap_or(0);
        }
        let disk_free = free_disk(&self.data_dir);
        Reading {
            memory_used,
            disk_free: disk_free.unwrap_or(0),
            limits,
            memory_alarm: memory_used > limits.memory_high_watermark,
            disk_alarm: disk_free.is_some_and(|f| f < limits.disk_free_limit),
        }
    }
}

/// Parses a size: a plain number of octets, or with a kB/MB/GB/KiB/MiB/GiB
/// suffix; for memory also a fraction of RAM such as `0.4`.
pub fn parse_size(text: &str, fraction_of: Option<u64>) -> Result<u64, String> {
    let t = text.trim();
    if let (Some(total), Ok(f)) = (fraction_of, t.parse::<f64>()) {
        if f > 0.0 && f < 1.0 && t.contains('.') {
            return Ok((total as f64 * f) as u64);
        }
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size '{text}'"))?;
    let mult = match unit.trim() {
        "" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' in '{text}'")),
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_fractions() {
        assert_eq!(parse_size("50MB", None), Ok(50_000_000));
        assert_eq!(parse_size("2GiB", None), Ok(2 << 30));
        assert_eq!(parse_size("0.4", Some(1000)), Ok(400));
        assert_eq!(parse_size("1024", Some(1000)), Ok(1024));
        assert!(parse_size("lots", None).is_err());
    }

    #[test]
    fn measurements_work_here() {
        assert!(total_memory().unwrap() > resident_memory().unwrap());
        assert!(free_disk(Path::new(".")).is_some());
    }
}
