//! Shared helpers for the interoperability tests.
//!
//! [`Broker::start`] starts a fresh `warren` process (the binary built by this
//! package) on an OS-chosen loopback port with a temporary data directory, and
//! kills it when the value is dropped. If `WARREN_TEST_AMQP_URL` is set, no
//! process is started and the tests talk to that broker instead; this is how
//! the very same tests are validated against RabbitMQ:
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway
//! ```
//!
//! The started warren also listens on an OS-chosen loopback HTTP port
//! ([`Broker::http_url`], for the WebSocket tests); an external broker's is
//! taken from `WARREN_TEST_HTTP_URL` (e.g. `http://127.0.0.1:15672`), if set;
//! likewise the metrics port ([`Broker::prometheus_url`]) and
//! `WARREN_TEST_PROMETHEUS_URL`.
//!
//! Every test uses [`unique`] names so that many tests can share one broker.

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long warren may take to print `warren: ready`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Failure guard for any single awaited step in a test.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Broker {
    /// `amqp://user:pass@host:port/vhost` with the vhost percent-encoded.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Decoded virtual host name (e.g. `/`).
    pub vhost: String,
    /// `http://host:port` of the HTTP port (AMQP over WebSocket), if known.
    pub http_url: Option<String>,
    /// `http://host:port` of the Prometheus metrics port, if known.
    pub prometheus_url: Option<String>,
    /// What a started warren logged up to `warren: ready` (listener lines
    /// such as `warren: AMQPS listening on 127.0.0.1:PORT`).
    pub startup: Vec<String>,
    child: Option<Child>,
    log_path: Option<std::path::PathBuf>,
    // Kept alive until drop (data dir and stderr log live here).
    _dir: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts warren, or uses `WARREN_TEST_AMQP_URL` if it is set.
    pub fn start() -> Broker {
        match std::env::var("WARREN_TEST_AMQP_URL") {
            Ok(url) if !url.is_empty() => {
                let http = std::env::var("WARREN_TEST_HTTP_URL").ok().filter(|u| !u.is_empty());
                Self::from_url(url, http, None, None, None)
            }
            _ => Self::spawn_warren(),
        }
    }

    /// Like [`Broker::start`], but a started warren also gets `extra`
    /// command-line arguments (e.g. `--user`, `--vhost`, `--permission`,
    /// `--no-guest`, `--consumer-timeout-ms`). An `--amqp-bind` in `extra`
    /// replaces the default `127.0.0.1:0`; the URL then still names
    /// `127.0.0.1` and the first port warren prints. Against an external
    /// broker `extra` is ignored: the test file documents how to configure
    /// that broker the same way.
    pub fn start_with_args(extra: &[&str]) -> Broker {
        match std::env::var("WARREN_TEST_AMQP_URL") {
            Ok(url) if !url.is_empty() => Self::start(),
            _ => Self::spawn_warren_with(extra),
        }
    }

    /// `amqp://user:password@host:port/vhost` for this broker with other
    /// credentials and virtual host (all percent-encoded).
    pub fn url_for(&self, user: &str, password: &str, vhost: &str) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("amqp://{}:{}@{host}:{}/{}", percent_encode(user), percent_encode(password), self.port, percent_encode(vhost))
    }

    fn spawn_warren() -> Broker {
        Self::spawn_warren_with(&[])
    }

    fn spawn_warren_with(extra: &[&str]) -> Broker {
        let dir = tempfile::Builder::new().prefix("warren-test-").tempdir().expect("create temp dir");
        let data_dir = dir.path().join("data");
        Self::spawn_in(dir, &data_dir, extra)
    }

    /// Starts warren on `data_dir`, which the caller owns and may reuse for
    /// the next start (restart and crash tests). Never uses an external
    /// broker. Stderr goes to a fresh log ([`Broker::stderr`]).
    pub fn start_on(data_dir: &std::path::Path, extra: &[&str]) -> Broker {
        let dir = tempfile::Builder::new().prefix("warren-log-").tempdir().expect("create temp dir");
        Self::spawn_in(dir, data_dir, extra)
    }

    /// `dir` holds the stderr log and lives as long as the broker.
    fn spawn_in(dir: tempfile::TempDir, data_dir: &std::path::Path, extra: &[&str]) -> Broker {
        let log_path = dir.path().join("warren.stderr.log");
        let mut log = std::fs::File::create(&log_path).expect("create stderr log");
        let default_bind: &[&str] = if extra.contains(&"--amqp-bind") { &[] } else { &["--amqp-bind", "127.0.0.1:0"] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(default_bind)
            // Never the default 0.0.0.0:15672: tests run many warrens at once.
            .arg("--http-bind")
            .arg("127.0.0.1:0")
            // Nor the default 0.0.0.0:15692 for metrics.
            .arg("--prometheus-bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn warren");

        // warren logs to stderr. Read it on a thread so that the wait for
        // `warren: ready` has a timeout, copy every line to the log file
        // (`stderr()`), and keep draining so warren never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            use std::io::Write as _;
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = log.write_all(line.as_bytes());
                        // The receiver is gone once startup is over; ignore.
                        let _ = tx.send(line.trim_end().to_string());
                    }
                }
            }
        });

        let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
        let mut port = None;
        let mut http_url = None;
        let mut prometheus_url = None;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("warren: AMQP listening on ") {
                        let p = addr
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.parse::<u16>().ok())
                            .unwrap_or_else(|| panic!("cannot parse port from {line:?}"));
                        port.get_or_insert(p);
                    }
                    if let Some(addr) = line.strip_prefix("warren: HTTP listening on ") {
                        http_url.get_or_insert(format!("http://{addr}"));
                    }
                    if let Some(addr) = line.strip_prefix("warren: Prometheus listening on ") {
                        prometheus_url.get_or_insert(format!("http://{addr}"));
                    }
                    let ready = line == "warren: ready";
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "warren did not log `warren: ready` within {STARTUP_TIMEOUT:?} \
                         (exit status: {status:?}); its log:\n{}",
                        read_tail(&log_path)
                    );
                }
            }
        }
        let port = port.unwrap_or_else(|| panic!("warren printed `warren: ready` but no `AMQP listening on` line: {seen:?}"));
        let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let mut broker = Self::from_url(url, http_url, Some(child), Some(log_path), Some(dir));
        broker.prometheus_url = prometheus_url;
        broker.startup = seen;
        broker
    }

    fn from_url(
        url: String,
        http_url: Option<String>,
        child: Option<Child>,
        log_path: Option<std::path::PathBuf>,
        dir: Option<tempfile::TempDir>,
    ) -> Broker {
        let parsed = parse_amqp_url(&url);
        Broker {
            url,
            host: parsed.host,
            port: parsed.port,
            user: parsed.user,
            password: parsed.password,
            vhost: parsed.vhost,
            http_url,
            prometheus_url: std::env::var("WARREN_TEST_PROMETHEUS_URL").ok().filter(|u| !u.is_empty()),
            startup: Vec::new(),
            child,
            log_path,
            _dir: dir,
        }
    }

    /// True when the tests run against an external broker (e.g. RabbitMQ).
    pub fn is_external(&self) -> bool {
        self.child.is_none()
    }

    /// The started warren's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the started warren (a crash) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the started warren cleanly (SIGTERM) and returns its exit
    /// status; fails the test if it takes longer than `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a warren started by this test");
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait for warren") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("warren did not exit within {timeout:?} of SIGTERM; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the started warren wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.log_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }
}

/// Runs warren on `data_dir` with `extra` arguments (and loopback port 0
/// for every listener) and expects it to exit by itself, e.g. because it
/// refuses to start; returns its exit status, stdout and stderr. Kills it
/// and fails the test if it is still running after `timeout`.
pub fn run_to_exit(data_dir: &std::path::Path, extra: &[&str], timeout: Duration) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warren");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for warren") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "warren was still running after {timeout:?}; stdout: {:?}; stderr: {:?}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                if let Some(path) = &self.log_path {
                    eprintln!("---- warren stderr (tail) ----\n{}", read_tail(path));
                }
            }
        }
    }
}

fn read_tail(path: &std::path::Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(60);
    lines[start..].join("\n")
}

struct ParsedUrl {
    host: String,
    port: u16,
    user: String,
    password: String,
    vhost: String,
}

/// Minimal `amqp://user:pass@host:port/vhost` parser (vhost percent-decoded;
/// a missing path means `/`).
fn parse_amqp_url(url: &str) -> ParsedUrl {
    let rest = url.strip_prefix("amqp://").unwrap_or_else(|| panic!("only amqp:// URLs are supported, got {url:?}"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(ui) => match ui.find(':') {
            Some(i) => (percent_decode(&ui[..i]), percent_decode(&ui[i + 1..])),
            None => (percent_decode(ui), String::new()),
        },
        None => ("guest".to_string(), "guest".to_string()),
    };
    let (host, port) = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => (hostport[..i].to_string(), hostport[i + 1..].parse().expect("port")),
        _ => (hostport.to_string(), 5672),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let vhost = match path {
        None => "/".to_string(),
        Some(p) => percent_decode(p.split('?').next().unwrap_or("")),
    };
    ParsedUrl { host, port, user, password, vhost }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 url component")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A name that no other test (or earlier run) uses: `prefix-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Awaits `fut`, failing the test if it takes longer than [`STEP_TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {STEP_TIMEOUT:?} waiting for: {what}"),
    }
}

/// The tutorial's recursive Fibonacci, used by the RPC server and to check answers.
pub fn fib(n: u64) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let p = parse_amqp_url("amqp://guest:guest@127.0.0.1:5673/%2f");
        assert_eq!(
            (p.host.as_str(), p.port, p.user.as_str(), p.password.as_str(), p.vhost.as_str()),
            ("127.0.0.1", 5673, "guest", "guest", "/")
        );
        let p = parse_amqp_url("amqp://u:p%40ss@[::1]/vh");
        assert_eq!((p.host.as_str(), p.port, p.password.as_str(), p.vhost.as_str()), ("::1", 5672, "p@ss", "vh"));
        assert_eq!(parse_amqp_url("amqp://localhost").vhost, "/");
    }
}
